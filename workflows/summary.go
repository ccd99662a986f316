package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/pairing"
)

// Summaries label workflows and activities in the Temporal UI's timeline and
// lists, so that ops read "Create 2 and update 1 Contact records" rather
// than "Write". They name slugs, objects, fields and record ids, never an
// email or a name: they are stored like payloads (encrypted with the codec).

// summarized returns ctx with the summary set on the activities it schedules.
func summarized(ctx workflow.Context, format string, args ...any) workflow.Context {
	o := workflow.GetActivityOptions(ctx)
	o.Summary = fmt.Sprintf(format, args...)
	return workflow.WithActivityOptions(ctx, o)
}

// fieldNames lists the target fields of changes, for a summary.
func fieldNames(changes []pairing.Change) string {
	names := make([]string, len(changes))
	for i, c := range changes {
		names[i] = c.Field
	}
	return strings.Join(names, ", ")
}

// BackfillStartOptions starts the backfill id of spec, labelled in the UI.
func BackfillStartOptions(id string, spec *pairing.Spec, dryRun bool) client.StartWorkflowOptions {
	return DefaultNames.BackfillStartOptions(id, spec, dryRun)
}

// BackfillStartOptions starts the integration's backfill id of spec.
func (n Names) BackfillStartOptions(id string, spec *pairing.Spec, dryRun bool) client.StartWorkflowOptions {
	o := n.StartOptions(id, BackfillTimeout)
	o.StaticSummary = n.Summary(backfillSummary(spec, dryRun))
	return o
}

// backfillSummary is a backfill's label in the UI.
func backfillSummary(spec *pairing.Spec, dryRun bool) string {
	s := fmt.Sprintf("Backfill: pair every Award Force user with a %s by %s", spec.Object, spec.UniqueIdentifier.CRM)
	if dryRun {
		s += " (dry run: nothing is written)"
	}
	return s
}
