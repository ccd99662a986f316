package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
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
// ErrAlreadySynced, so that a replayed webhook costs no API call. A CRM
// change always syncs: what changed is the record, not the profile.
func StartUserSync(ctx context.Context, c client.Client, n Names, spec *pairing.Spec, r SyncRequest) (client.WorkflowRun, error) {
	id := n.UserSync(r.Slug)
	last := lastSync(ctx, c, id)
	if last.running {
		// The running sync takes the request: it tells a change from what
		// it paired. Should it end meanwhile (a webhook echoing its own
		// write-back comes just then), what it recorded decides below,
		// not a start that would take the echo for a change.
		err := c.SignalWorkflow(ctx, id, "", ResyncSignal, Resync{Trigger: r.Trigger, Profile: r.Profile, RecordID: r.RecordID})
		var notFound *serviceerror.NotFound
		if !errors.As(err, &notFound) {
			if err != nil {
				return nil, err
			}
			return c.GetWorkflow(ctx, id, ""), nil
		}
		last = lastSync(ctx, c, id)
	}
	if r.Trigger != pairing.TriggerCRMChange && r.Profile != nil && !r.Profile.Updated.IsZero() && last.ok {
		switch v := r.Profile.Updated.Unix(); {
		case v < last.version:
			return nil, ErrAlreadySynced
		case v == last.version && last.digest != 0 && ProfileDigest(spec, *r.Profile) != last.digest:
			// An edit within the second the last sync paired: this payload
			// and the one paired are of one version, and only Award Force
			// knows which is the later. The sync reads it.
			r.Profile = nil
		case v == last.version:
			return nil, ErrAlreadySynced
		}
	}
	opts := n.StartOptions(id, UserSyncTimeout)
	opts.StaticSummary = n.Summary(fmt.Sprintf("Sync Award Force user %s (%s)", r.Slug, r.Trigger))
	in := UserSyncInput{Slug: r.Slug, Trigger: r.Trigger, Spec: *spec, Profile: r.Profile, RecordID: r.RecordID, LastSynced: last.at}
	if in.RecordID == "" {
		// The record the last sync paired the user with: the lane follows
		// the person there even when they changed the address it holds
		// (without an external id or record_id_field, this and the lane's
		// memory are what tell the person's record from their address's).
		in.RecordID = last.record
	}
	if last.ok && last.version > 0 {
		in.LastVersion, in.LastDigest = time.Unix(last.version, 0).UTC(), last.digest
	}
	return c.SignalWithStartWorkflow(ctx, opts.ID, ResyncSignal, Resync{Trigger: r.Trigger, Profile: r.Profile, RecordID: r.RecordID}, opts, UserSync, in)
}

// SyncRequest asks for the sync of one user.
type SyncRequest struct {
	Slug    string          `json:"slug"`
	Trigger pairing.Trigger `json:"trigger"`
	// Profile is the user as a webhook carried it (or the CRM watch read
	// it); nil when the asker has none (the sync reads Award Force).
	Profile *pairing.Profile `json:"profile,omitempty"`
	// RecordID is the record a CRM change was seen on.
	RecordID string `json:"record_id,omitempty"`
}

// synced is what the user's last completed sync recorded, or that a sync
// of the user runs.
type synced struct {
	running bool
	ok      bool
	version int64     // the Award Force version paired (Unix seconds)
	at      time.Time // when
	record  string    // the record it paired the user with, if it did
	digest  uint32    // ProfileDigest of what it paired; 0 when unknown
}

// lastSync reads what the user's last sync recorded in its memo, when it
// completed.
func lastSync(ctx context.Context, c client.Client, id string) synced {
	d, err := c.DescribeWorkflow(ctx, id, "")
	if err != nil {
		return synced{}
	}
	if d.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return synced{running: true}
	}
	if d.Status != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		return synced{}
	}
	var s synced
	if d.GetMemoValue(MemoSyncedVersion, &s.version) == nil {
		s.ok = true
	}
	_ = d.GetMemoValue(MemoSyncedDigest, &s.digest)
	var at int64
	if d.GetMemoValue(MemoSyncedAt, &at) == nil && at > 0 {
		s.at = time.Unix(at, 0).UTC()
	}
	switch outcome, _ := d.TypedSearchAttributes.GetKeyword(OutcomeKey); Outcome(outcome) {
	case OutcomeCreated, OutcomeUpdated, OutcomeUnchanged:
		s.record, _ = d.TypedSearchAttributes.GetKeyword(RecordIDKey)
	}
	return s
}
