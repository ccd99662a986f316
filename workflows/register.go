package workflows

import "go.temporal.io/sdk/workflow"

// Registry is what workflows are registered on: a worker, or the replayer
// of the replay test.
type Registry interface {
	RegisterWorkflow(w any)
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// RegisterWorkflows registers every afsync workflow of the default
// integration on r: the one list the worker and the replay test share.
func RegisterWorkflows(r Registry) { RegisterWorkflowsFor(r, DefaultNames) }

// RegisterWorkflowsFor registers every afsync workflow on r, bound to the
// integration n: r must poll n's task queues only. The types keep their
// names (UserSync, PairingLane, …) whatever the integration.
func RegisterWorkflowsFor(r Registry, n Names) {
	as := func(name string) workflow.RegisterOptions { return workflow.RegisterOptions{Name: name} }
	r.RegisterWorkflowWithOptions(bound(n, UserSync), as("UserSync"))
	r.RegisterWorkflowWithOptions(bound(n, ResolveUser), as("ResolveUser"))
	r.RegisterWorkflowWithOptions(bound(n, ResolveRole), as("ResolveRole"))
	r.RegisterWorkflowWithOptions(bound(n, CountUsers), as("CountUsers"))
	r.RegisterWorkflowWithOptions(bound(n, Backfill), as("Backfill"))
	r.RegisterWorkflowWithOptions(bound(n, BackfillChunk), as("BackfillChunk"))
	r.RegisterWorkflowWithOptions(boundErr(n, PairingLane), as("PairingLane"))
	r.RegisterWorkflowWithOptions(boundErr(n, LedgerPage), as("LedgerPage"))
	r.RegisterWorkflowWithOptions(boundErr(n, LaneQueue), as("LaneQueue"))
	r.RegisterWorkflowWithOptions(boundErr(n, AwardForceBudget), as("AwardForceBudget"))
	r.RegisterWorkflowWithOptions(boundErr(n, CRMWatch), as("CRMWatch"))
}

// bound runs workflow f with the names n.
func bound[In, Out any](n Names, f func(workflow.Context, In) (Out, error)) func(workflow.Context, In) (Out, error) {
	return func(ctx workflow.Context, in In) (Out, error) { return f(withNames(ctx, n), in) }
}

// boundErr is bound for a workflow that returns only an error.
func boundErr[In any](n Names, f func(workflow.Context, In) error) func(workflow.Context, In) error {
	return func(ctx workflow.Context, in In) error { return f(withNames(ctx, n), in) }
}
