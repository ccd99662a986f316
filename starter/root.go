package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/workflows"
)

// globalOptions are the flags every command that talks to Temporal shares.
type globalOptions struct {
	temporal config.Temporal
	specPath string
	// integration is --integration (or AFSYNC_INTEGRATION): which of the
	// registry's integrations the command acts on.
	integration string
	// names are that integration's, once spec or pick has resolved it;
	// picked is its registry entry.
	names  workflows.Names
	picked *config.Integration
	wait   time.Duration
	stderr io.Writer // warnings; stdout stays machine-readable with --json
	// dialer connects to Temporal: client.DialContext, or in unit tests a
	// function returning the SDK's mock client.
	dialer func(context.Context, client.Options) (client.Client, error)
}

// warnIfNoWorker says so when no worker polls afsync's task queue: what the
// starter starts would wait for one.
func (g *globalOptions) warnIfNoWorker(ctx context.Context, c client.Client) {
	if g.stderr == nil {
		return
	}
	// A worker that has just started (make dev starts both at once) needs
	// a moment to poll: look a few times before warning.
	for range 6 {
		live, err := workerPolls(ctx, c, g.names)
		if err != nil || live {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
	fmt.Fprintf(g.stderr, "warning: no worker polls the %q task queue yet; this waits until one does (start one with `worker`, or `make dev`)\n", g.names.TaskQueue())
}

// workerPolls reports whether a live worker polls afsync's task queue. The
// server lists pollers for minutes after they stop; a live one polls again
// at least every long-poll (about a minute).
func workerPolls(ctx context.Context, c client.Client, names workflows.Names) (bool, error) {
	d, err := c.DescribeTaskQueue(ctx, names.TaskQueue(), enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return false, err
	}
	for _, p := range d.GetPollers() {
		if time.Since(p.GetLastAccessTime().AsTime()) < 2*time.Minute {
			return true, nil
		}
	}
	return false, nil
}

// dial connects to Temporal with the SDK's standard settings and the flags,
// once it knows which integration the command acts on (pick).
func (g *globalOptions) dial(ctx context.Context) (client.Client, client.Options, error) {
	if _, err := g.pick(); err != nil {
		return nil, client.Options{}, err
	}
	copts, err := g.temporal.ClientOptions(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, copts, err
	}
	dial := g.dialer
	if dial == nil {
		dial = client.DialContext
	}
	deadline := time.Now().Add(g.wait)
	c, err := dial(ctx, copts)
	for err != nil && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(500 * time.Millisecond)
		c, err = dial(ctx, copts)
	}
	if err != nil {
		return nil, copts, fmt.Errorf("connecting to Temporal at %s (%s or --address; is a worker stack running? try `go run ./worker --dev`): %w", copts.HostPort, config.EnvTemporalAddress, err)
	}
	return c, copts, nil
}

func newRootCmd() *cobra.Command {
	g := &globalOptions{}
	cmd := &cobra.Command{
		Use:   "starter",
		Short: "Trigger and inspect afsync syncs on a running worker",
		Long: `starter is afsync's ops CLI. It talks to Temporal only (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE and the SDK's other standard settings): the API keys stay
with the worker. The pairing spec is AFSYNC_CONFIG or --config (the built-in
default when neither is set).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			g.stderr = cmd.ErrOrStderr()
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&g.temporal.Address, "address", "", "Temporal frontend host:port (overrides TEMPORAL_ADDRESS)")
	pf.StringVar(&g.temporal.Namespace, "namespace", "", "Temporal namespace (overrides TEMPORAL_NAMESPACE)")
	pf.StringVar(&g.specPath, "config", "", "pairing spec file (overrides AFSYNC_CONFIG)")
	pf.StringVar(&g.integration, "integration", "", "the integration to act on, when AFSYNC_INTEGRATIONS lists several (overrides AFSYNC_INTEGRATION; `starter integrations` lists them)")
	pf.DurationVar(&g.wait, "wait", 0, "keep trying to reach Temporal this long (for scripts that start the worker at the same time)")
	cmd.AddCommand(newCmdSync(g), newCmdBackfill(g), newCmdStatus(g), newCmdSchedule(g), newCmdRetry(g), newCmdReport(g), newCmdFind(g), newCmdWatch(g), newCmdIntegrations(), newCmdSandbox())
	return cmd
}

// exitError carries a specific exit code (for example 2 when a sync ended
// in failure) through cobra to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}
