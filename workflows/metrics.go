package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/pairing"
)

// countSyncs adds n syncs with outcome o to MetricUserSyncs, labelled with
// the integration.
func countSyncs(ctx workflow.Context, trigger pairing.Trigger, o Outcome, n int) {
	if n <= 0 {
		return
	}
	tags := map[string]string{"outcome": string(o), "trigger": string(trigger), "integration": namesOf(ctx).Integration()}
	workflow.GetMetricsHandler(ctx).WithTags(tags).
		Counter(MetricUserSyncs).Inc(int64(n))
}

// countChunk adds a chunk's users to MetricUserSyncs, outcome by outcome.
func countChunk(ctx workflow.Context, n Counts) {
	for _, o := range Outcomes {
		countSyncs(ctx, pairing.TriggerBackfill, o, n.Of(o))
	}
}
