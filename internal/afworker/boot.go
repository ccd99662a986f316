package afworker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/internal/metrics"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/workflows"
)

// BootOptions configures Boot.
type BootOptions struct {
	// Config is the worker's configuration, already loaded (config.FromEnv
	// and the flags). Config.HTTPAddr, when set, is where the HTTP
	// endpoints are served.
	Config config.Config
	// Spec is the pairing spec, already loaded (Config.Spec). Required
	// unless Integrations is set.
	Spec *pairing.Spec
	// Integrations, when set, are the integrations the node serves, each
	// with its own clients, spec, task queues, budget, lanes and webhook
	// (/webhooks/awardforce/<id>); Config still holds the process's own
	// settings (HTTP address, stop timeout, codec). Unset: Config and Spec
	// are the one integration, the default.
	Integrations []Served
	// Temporal holds the client options (config.Temporal.ClientOptions);
	// Boot sets their MetricsHandler.
	Temporal client.Options
	// TemporalSetting names what chose Temporal.HostPort, for the error
	// when it does not answer (e.g. "TEMPORAL_ADDRESS or --address").
	TemporalSetting string
	// Listener, when set, serves the HTTP endpoints instead of a listener
	// on Config.HTTPAddr (the tests pass one on a free port).
	Listener net.Listener
	// Preflight tunes the start-up check's backoff and can watch its waits
	// (OnWait); its Status and Logger are Boot's own.
	Preflight PreflightOptions
	// Logger receives the boot's and the HTTP endpoints' logs; nil discards
	// them. The SDK logs through Temporal.Logger.
	Logger *slog.Logger
}

// Node is a booted worker process: its Temporal client, metrics, HTTP
// endpoints and task-queue workers. Close it when done.
type Node struct {
	// Client is the Temporal client the worker and the webhook use.
	Client client.Client
	// Metrics records the SDK's and afsync's metrics (served at /metrics).
	Metrics *metrics.Metrics
	// Status is where the start-up check stands (served at /healthz).
	Status *Status
	// HTTPAddr is the address the HTTP endpoints listen on; empty when
	// they are off.
	HTTPAddr string
	// CodecAddr is the address the codec server listens on, apart from the
	// webhook; empty when it is off.
	CodecAddr string

	mu        sync.Mutex // guards served and serialises StartWorker, StopWorker and Reload's swap
	served    []Served
	workers   atomic.Pointer[[]*Worker] // aligned with served
	routes    webhookRoutes
	orgs      map[string]string // the org each integration served reaches, by id (guarded by reloadMu)
	reloadMu  sync.Mutex        // serialises Reload
	logger    *slog.Logger
	preflight PreflightOptions // Reload's checks, without the start-up Status

	life      context.Context
	end       context.CancelCauseFunc
	httpDone  chan struct{} // closed when the HTTP server has stopped; nil when off
	codecDone chan struct{} // likewise for the codec server
	closeOnce sync.Once
}

// Boot brings a worker up, in the order that lets it receive webhooks while
// the APIs fail:
//
//  1. dial Temporal (with the metrics pipeline) and register the search
//     attributes;
//  2. serve the HTTP endpoints (health, metrics, webhook, codec server);
//     webhooks start workflows on the server, which wait for a worker;
//  3. run the start-up check (Preflight), which waits through transient
//     API faults and reports its waits on /healthz;
//  4. only then poll the task queues;
//  5. start the CRM watch when the spec watches Salesforce, or hand the
//     running one the new spec (one that does not watch ends it).
//
// It returns once the worker polls. Loading the configuration and the spec
// comes before it, and Boot first validates the API settings: those errors
// need no server. A permanent fault of the
// check, or ctx ending, stops whatever was started and returns the error.
// Both `worker` and the dev stack (`worker --dev`, the integration tests)
// boot this way.
func Boot(ctx context.Context, opts BootOptions) (_ *Node, err error) {
	served := opts.Integrations
	if len(served) == 0 {
		served = []Served{{Names: workflows.DefaultNames, Config: opts.Config, Spec: opts.Spec}}
	}
	served = bindDependents(served)
	for _, s := range served {
		if s.Spec == nil {
			return nil, fmt.Errorf("afworker: Boot needs the pairing spec of integration %s", s.Names.Integration())
		}
		if _, _, err := apiClients(s.Config); err != nil {
			return nil, s.Named(err) // a setting missing or malformed: no server needed to say so
		}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{Status: NewStatus(), served: served, logger: logger, preflight: opts.Preflight}
	n.life, n.end = context.WithCancelCause(context.Background())
	defer func() {
		if err != nil {
			n.Close()
		}
	}()

	if n.Metrics, err = metrics.New(logger); err != nil {
		return nil, err
	}
	if err = ObserveSalesforceUsage(n.Metrics, n.runningWorkers); err != nil {
		return nil, err
	}
	copts := opts.Temporal
	copts.MetricsHandler = n.Metrics.Handler
	copts.ContextPropagators = append(slices.Clone(copts.ContextPropagators), activities.PermitSlotPropagator{})
	if n.Client, err = client.DialContext(ctx, copts); err != nil {
		where := copts.HostPort
		if opts.TemporalSetting != "" {
			where += " (" + opts.TemporalSetting + ")"
		}
		return nil, fmt.Errorf("connecting to Temporal at %s: %w", where, err)
	}
	if err = EnsureSearchAttributes(ctx, n.Client, copts.Namespace); err != nil {
		return nil, err
	}

	if err = n.serveHTTP(opts, logger); err != nil {
		return nil, err
	}
	if err = n.serveCodec(opts.Config, logger); err != nil {
		return nil, err
	}

	// The check also ends if the HTTP server fails meanwhile.
	checkCtx, stopCheck := context.WithCancelCause(ctx)
	defer stopCheck(nil)
	stopWatching := context.AfterFunc(n.life, func() { stopCheck(context.Cause(n.life)) })
	defer stopWatching()
	popts := opts.Preflight
	popts.Status, popts.Logger = n.Status, logger
	n.orgs = map[string]string{}
	for _, s := range served {
		org, err := preflight(checkCtx, s.Config, s.Spec, popts)
		if err != nil {
			if cause := n.Err(); cause != nil {
				return nil, cause
			}
			return nil, s.Named(err)
		}
		n.orgs[s.Names.Integration()] = org
		logger.Info("Start-up check passed", "integration", s.Names.Integration(), "object", s.Spec.Object)
		if s.Spec.ExternalID.CRM == "" {
			logger.Info("The pairing spec has no external_id: who is paired with which record is kept in Temporal only, in the identity ledger"+
				" (LedgerPage workflows: never terminate them); an external_id, a Unique case-sensitive text field holding the Award Force slug, also writes it on the record",
				"integration", s.Names.Integration())
		}
	}

	if err = oneLanePerOrg(served, n.orgs); err != nil {
		return nil, err
	}
	if err = n.StartWorker(); err != nil {
		return nil, err
	}
	for _, s := range served {
		logger.Info("Worker started", "integration", s.Names.Integration(), "address", copts.HostPort, "namespace", copts.Namespace,
			"taskQueue", s.Names.TaskQueue(), "object", s.Spec.Object, "awardForceRatePerMinute", s.Config.AwardForceRatePerMinute)
		if err = WatchCRM(ctx, n.Client, s.Names, s.Spec); err != nil {
			return nil, s.Named(err)
		}
		if s.Spec.Watches() {
			logger.Info("Watching Salesforce for changes", "integration", s.Names.Integration(), "workflow", s.Names.CRMWatch(), "every", s.Spec.WatchEvery().String())
		}
	}
	return n, nil
}

// Served is one integration a node serves: its names, its configuration
// and its pairing spec.
type Served struct {
	Names  workflows.Names
	Config config.Config
	Spec   *pairing.Spec

	// dependents are the specs of the integrations served that depend on
	// this one (bindDependents): its Salesforce activities accept them,
	// since the org's lanes, which pair their people, run here.
	dependents []*pairing.Spec
}

// bindDependents returns served with each integration's dependents set.
func bindDependents(served []Served) []Served {
	out := slices.Clone(served)
	at := map[string]int{}
	for i := range out {
		out[i].dependents = nil
		at[out[i].Names.Integration()] = i
	}
	for _, d := range out {
		if i, ok := at[d.Names.Org()]; ok && d.Names.Dependent() {
			out[i].dependents = append(out[i].dependents, d.Spec)
		}
	}
	return out
}

// Named prefixes err with the integration's id, when it is not the default.
func (s Served) Named(err error) error {
	if err == nil || s.Names.IsDefault() {
		return err
	}
	return fmt.Errorf("integration %s: %w", s.Names.Integration(), err)
}

// serveHTTP serves the endpoints in the background, when configured. A
// failure to listen is returned; a later failure ends the node (Done, Err).
func (n *Node) serveHTTP(opts BootOptions, logger *slog.Logger) error {
	l := opts.Listener
	if l == nil && opts.Config.HTTPAddr == "" {
		return nil
	}
	if err := n.routes.set(n.Client, n.served, n.Metrics, logger); err != nil {
		if l != nil {
			_ = l.Close()
		}
		return err
	}
	h := httpHandler(n.Client, &n.routes, n.Metrics, logger, n.Status)
	if l == nil {
		var err error
		if l, err = listen(opts.Config.HTTPAddr); err != nil {
			return err
		}
	}
	n.HTTPAddr = l.Addr().String()
	n.httpDone = make(chan struct{})
	go func() {
		defer close(n.httpDone)
		if err := serve(n.life, l, h); err != nil {
			n.end(fmt.Errorf("serving HTTP on %s: %w", n.HTTPAddr, err))
		}
	}()
	logger.Info("Serving HTTP", "address", n.HTTPAddr)
	n.logWebhooks(n.served)
	return nil
}

// logWebhooks says where served's webhooks are received.
func (n *Node) logWebhooks(served []Served) {
	if n.HTTPAddr == "" {
		return
	}
	for _, s := range served {
		if s.Config.WebhookSigningKey != "" {
			n.logger.Info("Receiving Award Force webhooks", "integration", s.Names.Integration(), "path", webhookPath(s.Names))
		}
	}
}

// serveCodec serves the payload codec for the Temporal UI on its own
// address (Config.CodecAddr), apart from the webhook, when a codec key is
// set: the UI decodes payloads through it.
func (n *Node) serveCodec(cfg config.Config, logger *slog.Logger) error {
	h, err := codecHandler(cfg)
	if err != nil || h == nil {
		return err
	}
	if cfg.CodecAddr == "" {
		logger.Info("Payloads are encrypted and no codec server runs: the Temporal UI shows them encrypted (set " + config.EnvCodecAddr + " to serve one)")
		return nil
	}
	l, err := net.Listen("tcp", cfg.CodecAddr)
	if err != nil {
		return fmt.Errorf("%s %s: %w", config.EnvCodecAddr, cfg.CodecAddr, err)
	}
	n.CodecAddr = l.Addr().String()
	n.codecDone = make(chan struct{})
	go func() {
		defer close(n.codecDone)
		if err := serve(n.life, l, h); err != nil {
			n.end(fmt.Errorf("serving the codec on %s: %w", n.CodecAddr, err))
		}
	}()
	logger.Info("Serving the payload codec for the Temporal UI", "address", n.CodecAddr, "token", cfg.CodecToken != "")
	return nil
}

// Worker returns the first integration's running task-queue workers, nil
// while they are stopped.
func (n *Node) Worker() *Worker {
	if ws := n.workers.Load(); ws != nil {
		return (*ws)[0]
	}
	return nil
}

// runningWorkers returns every integration's running workers (none while
// they are stopped).
func (n *Node) runningWorkers() []*Worker {
	if ws := n.workers.Load(); ws != nil {
		return *ws
	}
	return nil
}

// StartWorker starts polling every integration's task queues (again, after
// StopWorker: the integration tests kill and restart the worker mid-run).
func (n *Node) StartWorker() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.workers.Load() != nil {
		return errors.New("afworker: the worker is already running")
	}
	ws, err := n.startWorkers(n.served, len(n.served) > 1)
	if err != nil {
		return err
	}
	n.workers.Store(&ws)
	return nil
}

// startWorkers starts polling served's task queues: all of them, or none
// and the first error; shared says the node serves several integrations
// (New).
func (n *Node) startWorkers(served []Served, shared bool) ([]*Worker, error) {
	var ws []*Worker
	for _, s := range served {
		w, err := New(n.Client, s, shared)
		if err == nil {
			err = w.Start()
		}
		if err != nil {
			for _, started := range ws {
				started.Stop()
			}
			return nil, s.Named(err)
		}
		ws = append(ws, w)
	}
	go n.startLanes(ws)
	return ws, nil
}

// startLanes starts the pairing lanes of the integrations ws serve
// (workflows.Coordinator.StartLanes), in the background and best effort:
// a lane not started here is started by its first sync. It gives up when
// the node ends.
func (n *Node) startLanes(ws []*Worker) {
	ctx, cancel := context.WithTimeout(n.life, time.Minute)
	defer cancel()
	for _, w := range ws {
		if err := w.coord.StartLanes(ctx); err != nil && n.life.Err() == nil {
			n.logger.Warn("Could not start the pairing lanes; the first sync will", "integration", w.names.Integration(), "error", err)
		}
	}
}

// StopWorker stops polling and waits for running activities to finish
// (Config.StopTimeout); the client and the HTTP endpoints stay up.
func (n *Node) StopWorker() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ws := n.workers.Swap(nil); ws != nil {
		for _, w := range *ws {
			w.Stop()
		}
	}
}

// Done is closed when the node stops: Close, or its HTTP server failing
// (Err says why).
func (n *Node) Done() <-chan struct{} { return n.life.Done() }

// Err is why the node stopped on its own (its HTTP server failed); nil
// while it runs and after Close.
func (n *Node) Err() error {
	if err := context.Cause(n.life); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// Close stops the HTTP endpoints and the worker, then closes the client
// and the metrics pipeline. It is safe to call more than once.
func (n *Node) Close() {
	n.closeOnce.Do(func() {
		n.end(nil) // the HTTP server starts shutting down
		n.StopWorker()
		if n.httpDone != nil {
			<-n.httpDone
		}
		if n.codecDone != nil {
			<-n.codecDone
		}
		if n.Client != nil {
			n.Client.Close()
		}
		if n.Metrics != nil {
			_ = n.Metrics.Close(context.Background())
		}
	})
}

// WatchCRM starts the CRM watch (workflows.CRMWatch) when spec watches
// Salesforce, or hands spec to the running watch, which ends if spec does
// not: every worker of a fleet does so at start, and the last spec wins.
func WatchCRM(ctx context.Context, c client.Client, names workflows.Names, spec *pairing.Spec) error {
	if spec.Watches() {
		coord := &workflows.Coordinator{Client: c, Names: names}
		if err := coord.StartCRMWatch(ctx, spec); err != nil {
			return fmt.Errorf("starting the CRM watch: %w", err)
		}
		return nil
	}
	err := c.SignalWorkflow(ctx, names.CRMWatch(), "", workflows.CRMWatchSpecSignal, spec)
	var notFound *serviceerror.NotFound
	if err != nil && !errors.As(err, &notFound) {
		return fmt.Errorf("stopping the CRM watch: %w", err)
	}
	return nil
}
