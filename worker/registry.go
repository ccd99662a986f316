package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/afsync/afsync/internal/afworker"
)

// reloader serves a new list of integrations: afworker.Node.
type reloader interface {
	Reload(context.Context, []afworker.Served) (afworker.Reloaded, error)
}

// followRegistry serves what the registry lists as it changes, without a
// restart: it loads it again on every signal on hup (SIGHUP) and every
// every (0: on signals only), and hands it to node, which starts the
// integrations added or changed and retires those removed
// (afworker.Node.Reload). A registry that does not load, or a reload
// refused (an integration whose key is rejected or whose spec does not fit
// its org), is logged with its error and the worker serves on as before;
// a periodic load logs an error only when it differs from the last one
// logged, a signal always. It returns when ctx ends.
func followRegistry(ctx context.Context, load func() ([]afworker.Served, error), node reloader, every time.Duration, hup <-chan os.Signal, logger *slog.Logger) {
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	lastErr := ""
	for {
		asked := false
		select {
		case <-ctx.Done():
			return
		case <-hup:
			asked = true
		case <-tick:
		}
		r, err := reloadRegistry(ctx, load, node)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if asked || err.Error() != lastErr {
				logger.Error("The registry of integrations was not reloaded: the worker serves on as before", "error", err.Error())
			}
			lastErr = err.Error()
		case !r.None():
			logger.Info("Reloaded the registry of integrations", "added", r.Added, "removed", r.Removed, "changed", r.Changed)
			lastErr = ""
		default:
			if asked {
				logger.Info("Reloaded the registry of integrations: nothing changed")
			}
			lastErr = ""
		}
	}
}

// reloadRegistry loads the registry and serves it.
func reloadRegistry(ctx context.Context, load func() ([]afworker.Served, error), node reloader) (afworker.Reloaded, error) {
	served, err := load()
	if err != nil {
		return afworker.Reloaded{}, err
	}
	return node.Reload(ctx, served)
}
