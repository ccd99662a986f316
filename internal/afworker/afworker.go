// Package afworker wires afsync's Temporal workers: the main task queue
// (workflows and Salesforce activities), the coordinating workflows' queue
// and the rate-limited Award Force task queue. Both mains and the integration tests use it, so the tests run
// exactly what production runs.
package afworker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/internal/metrics"
	"github.com/afsync/afsync/salesforce"
	"github.com/afsync/afsync/workflows"
)

// Worker runs afsync's three task-queue workers in one process.
type Worker struct {
	main, coordinators, awardForce worker.Worker
	salesforce                     *salesforce.Client
	names                          workflows.Names
	coord                          *workflows.Coordinator
}

// New builds the API clients and registers workflows and activities of the
// integration names on its task queues. It does not start polling; call
// Start. The worker owns spec: its Salesforce activities refuse a workflow
// that carries another (the credentials are the worker's, and so is the
// choice of objects and fields they touch).
//
// shared says the process serves other integrations too: its pollers then
// scale with its load (pollers), so that many mostly idle integrations stay
// within the namespace's concurrent polls.
func New(c client.Client, s Served, shared bool) (*Worker, error) {
	names, cfg, spec := s.Names, s.Config, s.Spec
	if spec == nil {
		return nil, errors.New("afworker: New needs the worker's pairing spec")
	}
	afCfg := cfg.AwardForce
	if r := cfg.AwardForceRatePerMinute; r > 0 && afCfg.RateLimit == 0 {
		// The budget paces the fleet; this keeps the process's own
		// requests, late ones included, within the key's window.
		afCfg.RateLimit = max(int(r), 1)
		afCfg.RateWindow = time.Duration(float64(time.Minute) * float64(afCfg.RateLimit) / r * requestWindowMargin)
	}
	afClient, err := awardforce.New(afCfg)
	if err != nil {
		return nil, config.NameSettings(err)
	}
	sfClient, err := salesforce.New(cfg.Salesforce)
	if err != nil {
		return nil, config.NameSettings(err)
	}
	// On SIGTERM (a deploy, a scale-down) running activities get this long
	// to finish, so that their writes are reported rather than retried.
	coord := &workflows.Coordinator{
		Client:                  c,
		Names:                   names,
		Settings:                laneSettings(cfg),
		AwardForceRatePerMinute: cfg.AwardForceRatePerMinute,
	}
	sf := &activities.Salesforce{Client: sfClient, Spec: spec, Dependents: s.dependents, Begin: writeBegun(c)}
	// Every sync's tasks come through the main queue (a burst of webhooks
	// is a workflow each, four tasks each): two pollers, the SDK's
	// default, left first tasks 160 s in the queue behind 6,000 webhooks.
	mainWorker := worker.New(c, names.TaskQueue(), pollers(worker.Options{WorkerStopTimeout: cfg.StopTimeout}, mainWorkflowPollers, shared))
	workflows.RegisterWorkflowsFor(mainWorker, names)
	mainWorker.RegisterActivity(sf)
	mainWorker.RegisterActivity(coord)
	// The coordinating workflows' own queue (their local activities run
	// where their tasks do; their other activities name the main queue).
	// Lanes started before it keep running on the main queue until their
	// next continue-as-new.
	coordWorker := worker.New(c, names.CoordinatorTaskQueue(), pollers(worker.Options{WorkerStopTimeout: cfg.StopTimeout}, defaultPollers, shared))
	workflows.RegisterWorkflowsFor(coordWorker, names)
	coordWorker.RegisterActivity(sf)
	coordWorker.RegisterActivity(coord)

	// The fleet-wide Award Force limit is the budget's (workflows.
	// AwardForceBudget), not a task-queue rate limit: the server would split
	// that among the queue's partitions and waste the share of any without
	// backlog.
	// A call granted a permit due later (a paced grant) waits for it here.
	afWorker := worker.New(c, names.AwardForceTaskQueue(), pollers(worker.Options{
		WorkerStopTimeout: cfg.StopTimeout, Interceptors: []interceptor.WorkerInterceptor{&permitSlots{}},
	}, defaultPollers, shared))
	afWorker.RegisterActivity(&activities.AwardForce{Client: afClient})
	return &Worker{main: mainWorker, coordinators: coordWorker, awardForce: afWorker, salesforce: sfClient, names: names, coord: coord}, nil
}

// writeBegun records, through c, that the Write activity running in ctx has
// begun (activities.WriteBegun), and returns once the server holds it.
func writeBegun(c client.Client) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		return c.RecordActivityHeartbeat(ctx, activity.GetInfo(ctx).TaskToken, activities.WriteBegun)
	}
}

// requestWindowMargin widens the window in which a process starts at most
// the key's limit of Award Force requests a little past Award Force's own:
// a request that reaches Award Force a little after it leaves still counts
// in the right window. The budget's own pace is slower still.
const requestWindowMargin = 1.01

// mainWorkflowPollers is how many workflow-task polls the main worker keeps
// open; the others keep the SDK's default, defaultPollers, of each kind.
const (
	mainWorkflowPollers = 8
	defaultPollers      = 2
)

// pollers sets o's deadlock detection (deadlockDetection) and its
// pollers: workflowPollers workflow-task polls and
// defaultPollers activity-task polls, always open for a process serving
// one integration; for one serving several (shared), as many as its load
// needs, from one of each up to those. The server takes at most 1,200 polls
// of one kind at once per namespace (frontend.namespaceCount): a fleet of a
// hundred integrations keeping their 12 workflow-task polls each open was
// refused polls ("namespace concurrent poller limit exceeded") and paired
// at about half its Award Force bound (docs/benchmarks.md).
func pollers(o worker.Options, workflowPollers int, shared bool) worker.Options {
	o.DeadlockDetectionTimeout = deadlockDetection
	if !shared {
		o.MaxConcurrentWorkflowTaskPollers = workflowPollers
		return o
	}
	scale := func(most int) worker.PollerBehavior {
		return worker.NewPollerBehaviorAutoscaling(worker.PollerBehaviorAutoscalingOptions{
			InitialNumberOfPollers: 1, MinimumNumberOfPollers: 1, MaximumNumberOfPollers: most,
		})
	}
	o.WorkflowTaskPollerBehavior = scale(workflowPollers)
	o.ActivityTaskPollerBehavior = scale(defaultPollers)
	return o
}

// deadlockDetection is how long a workflow's code may run without
// yielding before the SDK fails its task as deadlocked (the SDK's default
// is one second). It measures wall time: on a saturated machine a
// workflow's code waits for a core that long without being stuck, and a
// task failed for it is run again from its whole history, which saturates
// the machine further. A hundred integrations on two cores spiralled so
// (docs/benchmarks.md, "Workflow tasks on a saturated worker"). Workflow
// code in afsync never blocks outside the SDK; the five seconds stay
// within the ten-second workflow task timeout.
const deadlockDetection = 5 * time.Second

// ObserveSalesforceUsage publishes each integration's org's daily API
// usage, as its running worker (current returns them) last read it from
// Sforce-Limit-Info, as the gauges afsync_salesforce_api_used and
// afsync_salesforce_api_max labelled integration: alert before a backfill
// spends an allocation. An integration reports nothing until its org has
// said.
func ObserveSalesforceUsage(m *metrics.Metrics, current func() []*Worker) error {
	usage := func(pick func(salesforce.Usage) int) func() []metrics.Observation {
		return func() []metrics.Observation {
			var out []metrics.Observation
			for _, w := range current() {
				if u := w.salesforce.Usage(); u.Max > 0 {
					out = append(out, metrics.Observation{Value: int64(pick(u)), Labels: map[string]string{"integration": w.names.Integration()}})
				}
			}
			return out
		}
	}
	if err := m.ObserveGauges("afsync_salesforce_api_used", "Salesforce API requests used in the last 24 hours (Sforce-Limit-Info)",
		usage(func(u salesforce.Usage) int { return u.Used })); err != nil {
		return err
	}
	return m.ObserveGauges("afsync_salesforce_api_max", "the org's Salesforce API allocation for 24 hours (Sforce-Limit-Info)",
		usage(func(u salesforce.Usage) int { return u.Max }))
}

// Start begins polling the three task queues.
func (w *Worker) Start() error {
	if err := w.awardForce.Start(); err != nil {
		return fmt.Errorf("award force worker: %w", err)
	}
	if err := w.main.Start(); err != nil {
		w.awardForce.Stop()
		return fmt.Errorf("main worker: %w", err)
	}
	if err := w.coordinators.Start(); err != nil {
		w.main.Stop()
		w.awardForce.Stop()
		return fmt.Errorf("coordinators worker: %w", err)
	}
	return nil
}

// Stop stops polling and waits for running activities to finish.
func (w *Worker) Stop() {
	w.coordinators.Stop()
	w.main.Stop()
	w.awardForce.Stop()
}

// EnsureSearchAttributes registers afsync's search attributes on the
// namespace when they are missing. Where the caller may not register them
// (Temporal Cloud, or a restricted role), it fails with the exact command an
// operator must run.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	ops := c.OperatorService()
	have, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("listing search attributes of namespace %q: %w", namespace, err)
	}
	missing := map[string]enums.IndexedValueType{}
	for _, k := range workflows.SearchAttributeKeys() {
		if _, ok := have.GetCustomAttributes()[k.GetName()]; !ok {
			missing[k.GetName()] = k.GetValueType()
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	var denied *serviceerror.PermissionDenied
	var unimplemented *serviceerror.Unimplemented
	if errors.As(err, &denied) || errors.As(err, &unimplemented) {
		return fmt.Errorf("namespace %q lacks afsync's search attributes and this worker may not add them: ask an operator to run:\n  %s", namespace, SearchAttributeCommand(namespace))
	}
	if err != nil {
		return fmt.Errorf("registering search attributes on namespace %q: %w (or run: %s)", namespace, err, SearchAttributeCommand(namespace))
	}
	return nil
}

// SearchAttributeCommand is the temporal CLI command that registers afsync's
// search attributes.
func SearchAttributeCommand(namespace string) string {
	var b strings.Builder
	b.WriteString("temporal operator search-attribute create --namespace " + namespace)
	for _, k := range workflows.SearchAttributeKeys() {
		b.WriteString(" --name " + k.GetName() + " --type " + strings.TrimPrefix(k.GetValueType().String(), "INDEXED_VALUE_TYPE_"))
	}
	return b.String()
}

// laneSettings are the settings the lanes this worker runs read at the
// start of each run (Coordinator.CurrentSettings).
func laneSettings(cfg config.Config) workflows.LaneSettings {
	return workflows.LaneSettings{
		CommitHorizon: cfg.CommitHorizon, QuotaPause: cfg.QuotaPause,
		Hold: cfg.LaneHold, QueueSegment: cfg.LaneQueueSegment, BatchesPerRun: cfg.LaneBatchesPerRun,
		Gather: cfg.LaneGather, MaxGather: cfg.LaneMaxGather,
		PromptWakes: true,
	}
}
