package afworker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/internal/codec"
	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/internal/webhook"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/workflows"
)

// SyncStarter starts UserSync workflows for webhook events.
type SyncStarter struct {
	Client client.Client
	Spec   *pairing.Spec
}

// StartUserSync starts the sync of one user, or tells the running one to
// sync again (workflows.StartUserSync).
func (s *SyncStarter) StartUserSync(ctx context.Context, slug string, trigger pairing.Trigger) error {
	_, err := workflows.StartUserSync(ctx, s.Client, s.Spec, slug, trigger)
	return err
}

// HTTPHandler serves the worker's endpoints: GET /healthz always (200 while
// the Temporal frontend answers, 503 otherwise); GET
// /metrics when metrics is not nil; POST /webhooks/awardforce when a signing
// key is configured; the codec server under /codec/ when payload encryption
// is on.
func HTTPHandler(c client.Client, cfg config.Config, spec *pairing.Spec, metrics http.Handler, logger *slog.Logger) (http.Handler, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		// Healthy means able to work: the Temporal frontend answers.
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			logger.Warn("Health check: Temporal unreachable", "error", err)
			http.Error(w, "temporal unreachable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	if cfg.WebhookSigningKey != "" {
		h, err := webhook.NewHandler(webhook.Options{
			SigningKey: cfg.WebhookSigningKey,
			Starter:    &SyncStarter{Client: c, Spec: spec},
			Logger:     logger,
		})
		if err != nil {
			return nil, err
		}
		mux.Handle("/webhooks/awardforce", h)
	}
	cd, err := codec.FromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	if cd != nil {
		mux.Handle("/codec/", http.StripPrefix("/codec", codec.Handler(cd, codec.HandlerOptions{
			AllowedOrigins: cfg.CodecCORSOrigins, Token: cfg.CodecToken,
		})))
	}
	return mux, nil
}

// ServeHTTP serves h on addr until ctx ends.
func ServeHTTP(ctx context.Context, addr string, h http.Handler) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("AFSYNC_HTTP_ADDR / --http-addr %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
