// Package devstack starts afsync's embedded default on one machine: the
// official Temporal dev server, the sandbox simulators and the worker. It is
// what `worker --dev` runs, and what the integration tests run.
package devstack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"

	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/internal/afworker"
	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/internal/devserver"
	"github.com/afsync/afsync/internal/metrics"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/workflows"
)

// Options configures the stack.
type Options struct {
	// Temporal configures the dev server (ports, SQLite file, binary).
	Temporal devserver.Options
	// Sandbox configures the simulators and their seed.
	Sandbox sandbox.Options
	// AwardForceRatePerMinute is the worker's fleet-wide Award Force cap;
	// 0 uses the sandbox's own limit (none when the sandbox has none).
	AwardForceRatePerMinute float64
	// Getenv supplies the rest of the configuration (AFSYNC_CONFIG, …); the
	// sandbox's URLs and credentials take precedence. Nil means os.Getenv.
	Getenv config.Getenv
	// Logger is handed to the SDK; nil discards its logs.
	Logger *slog.Logger
	// KillWorker makes StopWorker stop the worker at once, cancelling running
	// activities as a crash would (the integration tests use it).
	KillWorker bool
}

// Stack is a running embedded default.
type Stack struct {
	Server  *devserver.Server
	Sandbox *sandbox.Sandbox
	Client  client.Client
	Worker  *afworker.Worker
	// Metrics records the SDK's and afsync's metrics; serve Metrics.HTTP.
	Metrics *metrics.Metrics
	// Config is the worker's configuration, pointing at the sandbox.
	Config config.Config
	// Spec is the worker's pairing spec (AFSYNC_CONFIG or the default).
	Spec *pairing.Spec

	running atomic.Pointer[afworker.Worker] // Worker, for readers on other goroutines (metrics)
}

// Start brings the stack up in order: Temporal, the sandbox, the worker.
// On error, whatever was started is stopped again.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	s := &Stack{}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	opts.Temporal.SearchAttributes = workflows.SearchAttributeKeys()
	if s.Server, err = devserver.Start(ctx, opts.Temporal); err != nil {
		return nil, err
	}
	if s.Sandbox, err = sandbox.Start(opts.Sandbox); err != nil {
		return nil, err
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	sandboxEnv := s.Sandbox.Env()
	if s.Config, err = config.FromEnv(func(k string) string {
		if v, ok := sandboxEnv[k]; ok {
			return v
		}
		return getenv(k)
	}); err != nil {
		return nil, err
	}
	if opts.KillWorker {
		s.Config.StopTimeout = 0
	}
	s.Config.AwardForceRatePerMinute = opts.AwardForceRatePerMinute
	if s.Config.AwardForceRatePerMinute == 0 {
		s.Config.AwardForceRatePerMinute = float64(opts.Sandbox.AwardForceRateLimit)
	}
	if s.Spec, err = s.Config.Spec(); err != nil {
		return nil, err
	}
	if err = afworker.Preflight(ctx, s.Config, s.Spec); err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	copts, err := config.Temporal{Address: s.Server.Address, Namespace: s.Server.Namespace}.ClientOptions(logger)
	if err != nil {
		return nil, err
	}
	if s.Metrics, err = metrics.New(logger); err != nil {
		return nil, err
	}
	copts.MetricsHandler = s.Metrics.Handler
	if err = afworker.ObserveSalesforceUsage(s.Metrics, s.running.Load); err != nil {
		return nil, err
	}
	if s.Client, err = client.DialContext(ctx, copts); err != nil {
		return nil, fmt.Errorf("connecting to the dev server: %w", err)
	}
	if err = afworker.EnsureSearchAttributes(ctx, s.Client, s.Server.Namespace); err != nil {
		return nil, err
	}
	if err = s.StartWorker(); err != nil {
		return nil, err
	}
	return s, nil
}

// StartWorker starts a worker with the stack's configuration (again, after
// StopWorker: the integration tests kill and restart it mid-run).
func (s *Stack) StartWorker() error {
	w, err := afworker.New(s.Client, s.Config)
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return err
	}
	s.Worker = w
	s.running.Store(w)
	return nil
}

// StopWorker stops the worker, leaving Temporal and the sandbox running.
func (s *Stack) StopWorker() {
	if s.Worker != nil {
		s.running.Store(nil)
		s.Worker.Stop()
		s.Worker = nil
	}
}

// Stop tears everything down, worker first.
func (s *Stack) Stop() {
	s.StopWorker()
	if s.Client != nil {
		s.Client.Close()
	}
	if s.Metrics != nil {
		_ = s.Metrics.Close(context.Background())
	}
	if s.Sandbox != nil {
		s.Sandbox.Close()
	}
	if s.Server != nil {
		_ = s.Server.Stop()
	}
}
