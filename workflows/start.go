package workflows

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/pairing"
)

// StartUserSync is the one way to ask for a user's sync, whoever asks (a
// webhook, starter sync, starter retry): it starts UserSync, or, when one is
// running for the user, signals it (ResyncSignal) so that it syncs again if
// it read the profile before this request. A user never has two syncs at
// once, and no change is lost. The run's Get follows the continue-as-new
// of such a second pass to the final audit.
func StartUserSync(ctx context.Context, c client.Client, spec *pairing.Spec, slug string, trigger pairing.Trigger) (client.WorkflowRun, error) {
	opts := StartOptions(UserSyncWorkflowID(slug), UserSyncTimeout)
	opts.StaticSummary = fmt.Sprintf("Sync Award Force user %s (%s)", slug, trigger)
	return c.SignalWithStartWorkflow(ctx, opts.ID, ResyncSignal, Resync{Trigger: trigger}, opts,
		UserSync, UserSyncInput{Slug: slug, Trigger: trigger, Spec: *spec})
}
