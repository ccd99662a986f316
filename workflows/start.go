package workflows

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/pairing"
)

// ErrAlreadySynced is StartUserSync's answer to a version of a user that
// the user's last sync already paired: nothing is started.
var ErrAlreadySynced = errors.New("this version of the user is already synced")

// StartUserSync is the one way to ask for a user's sync, whoever asks (a
// webhook, starter sync, starter retry): it starts UserSync, or, when one is
// running for the user, signals it (ResyncSignal) so that it syncs again if
// it read the profile before this request. A user never has two syncs at
// once, and no change is lost. The run's Get follows the continue-as-new
// of such a second pass to the final audit.
//
// profile is the user as a webhook carried it (nil when the caller has
// none): a version the last sync already paired starts nothing and returns
// ErrAlreadySynced, so that a replayed webhook costs no API call.
func StartUserSync(ctx context.Context, c client.Client, spec *pairing.Spec, slug string, trigger pairing.Trigger, profile *pairing.Profile) (client.WorkflowRun, error) {
	id := UserSyncWorkflowID(slug)
	if profile != nil && !profile.Updated.IsZero() {
		if synced, ok := syncedVersion(ctx, c, id); ok && profile.Updated.Unix() <= synced {
			return nil, ErrAlreadySynced
		}
	}
	opts := StartOptions(id, UserSyncTimeout)
	opts.StaticSummary = fmt.Sprintf("Sync Award Force user %s (%s)", slug, trigger)
	return c.SignalWithStartWorkflow(ctx, opts.ID, ResyncSignal, Resync{Trigger: trigger, Profile: profile}, opts,
		UserSync, UserSyncInput{Slug: slug, Trigger: trigger, Spec: *spec, Profile: profile})
}

// syncedVersion is the version the user's last sync paired, when that sync
// has completed and recorded it.
func syncedVersion(ctx context.Context, c client.Client, id string) (int64, bool) {
	d, err := c.DescribeWorkflow(ctx, id, "")
	if err != nil || d.Status != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		return 0, false
	}
	var v int64
	if err := d.GetMemoValue(MemoSyncedVersion, &v); err != nil {
		return 0, false
	}
	return v, true
}
