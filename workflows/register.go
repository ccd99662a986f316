package workflows

// Registry is what workflows are registered on: a worker, or the replayer
// of the replay test.
type Registry interface {
	RegisterWorkflow(w any)
}

// RegisterWorkflows registers every afsync workflow on r: the one list the
// worker and the replay test share.
func RegisterWorkflows(r Registry) {
	r.RegisterWorkflow(UserSync)
	r.RegisterWorkflow(ResolveUser)
	r.RegisterWorkflow(ResolveRole)
	r.RegisterWorkflow(CountUsers)
	r.RegisterWorkflow(Backfill)
	r.RegisterWorkflow(BackfillChunk)
	r.RegisterWorkflow(PairingLane)
	r.RegisterWorkflow(LedgerPage)
	r.RegisterWorkflow(LaneQueue)
	r.RegisterWorkflow(AwardForceBudget)
	r.RegisterWorkflow(CRMWatch)
}
