package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
	"golang.org/x/sync/errgroup"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// CRMWatchWorkflowID names the CRM watch: one per namespace, whatever the
// spec (a new spec reaches the running watch as a signal).
const CRMWatchWorkflowID = "afsync-crm-watch"

// CRMWatchSpecSignal carries a new spec (a pairing.Spec) to the running
// watch: the worker sends it at every start. A spec that does not watch
// the CRM ends the watch.
const CRMWatchSpecSignal = "spec"

// CRMWatchQuery is the name of the watch's query that returns a
// CRMWatchStatus.
const CRMWatchQuery = "watch"

// Bounds of the watch.
const (
	// minWindow is the narrowest window Salesforce reports changes for.
	minWindow = time.Minute
	// maxLookBack is how far back Salesforce reports changes (30 days),
	// less a margin for the time a request takes.
	maxLookBack = 30*24*time.Hour - time.Hour
	// maxChangesPerPoll bounds the people one poll hands to syncs; the
	// rest are handed at the next polls, which follow at once (the
	// high-water mark stops before them), so that a mass update in
	// Salesforce keeps each poll's workflow task and history small.
	maxChangesPerPoll = 200
	// legacyChangesPerPoll is the bound of runs that began before
	// ChangeWatchCatchesUp, which waited the spec's period between polls.
	legacyChangesPerPoll = 500
	// pollsPerRun bounds a run's polls before it continues as new.
	pollsPerRun = 500
)

// CRMWatchInput starts (or continues, after continue-as-new) the watch.
type CRMWatchInput struct {
	Spec  pairing.Spec  `json:"spec"`
	State CRMWatchState `json:"state"`
}

// CRMWatchState is what the watch carries from run to run.
type CRMWatchState struct {
	// Object is the sObject Covered is for: a spec for another object
	// starts afresh.
	Object string `json:"object,omitempty"`
	// Covered is the high-water mark: every change made in Salesforce
	// before it has been handed to a sync. The next window starts there.
	Covered time.Time `json:"covered,omitzero"`
	// Seen holds the changes already handed to a sync whose time is near
	// Covered (record id → last-modified time, Unix milliseconds): windows
	// overlap, since Salesforce wants them a minute wide, and a change is
	// handed over once.
	Seen map[string]int64 `json:"seen,omitempty"`
	// LastPoll is when the last poll ended; LastError its error, if any.
	LastPoll  time.Time `json:"last_poll,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	// Counts add up since the watch began.
	Counts CRMWatchCounts `json:"counts"`
}

// CRMWatchCounts add up what the watch did.
type CRMWatchCounts struct {
	// Polls counts the windows asked about.
	Polls int `json:"polls"`
	// Changes counts the records changed, deleted or merged in Salesforce
	// by someone else, handed to their people's syncs.
	Changes int `json:"changes"`
	// Echoes counts records afsync itself changed last: not brought back.
	Echoes int `json:"echoes"`
	// Unmatched counts changed records no Award Force user matches (no
	// external id, and no user has the record's identifier).
	Unmatched int `json:"unmatched"`
	// SalesforceCalls and AwardForceCalls count the watch's own requests
	// (the syncs it starts count theirs).
	SalesforceCalls int `json:"salesforce_calls"`
	AwardForceCalls int `json:"award_force_calls"`
	// Gaps counts the times the watch was stopped longer than Salesforce
	// keeps changes (30 days): a backfill catches up what it missed.
	Gaps int `json:"gaps,omitempty"`
}

// CRMWatchStatus is what the watch query answers.
type CRMWatchStatus struct {
	Object string `json:"object"`
	// Every is the time between polls.
	Every string `json:"every"`
	// Covered is the high-water mark (see CRMWatchState); Behind is how far
	// it is behind the workflow's clock.
	Covered time.Time `json:"covered,omitzero"`
	Behind  string    `json:"behind"`
	// LastPoll, NextPoll and LastError describe the polling.
	LastPoll  time.Time      `json:"last_poll,omitzero"`
	NextPoll  time.Time      `json:"next_poll,omitzero"`
	LastError string         `json:"last_error,omitempty"`
	Counts    CRMWatchCounts `json:"counts"`
}

// CRMWatch asks Salesforce, every spec.WatchEvery, which records of the
// spec's object someone other than afsync created, changed, deleted or
// merged since the high-water mark (the changed-records resources, which
// need no extra licence), and starts a crm_change sync for each of their
// Award Force users: the sync pulls what the CRM owns into Award Force,
// follows a merge to its survivor and applies the deletion policy. The
// high-water mark moves only past changes handed over, so a restart, a
// fault or a long outage (up to Salesforce's 30 days) skips nothing.
func CRMWatch(ctx workflow.Context, in CRMWatchInput) error {
	w := &watch{spec: in.Spec, st: in.State, af: newAFGate(ctx, ClassEvents)}
	if w.st.Seen == nil {
		w.st.Seen = map[string]int64{}
	}
	if err := workflow.SetQueryHandler(ctx, CRMWatchQuery, func() (CRMWatchStatus, error) {
		return w.status(workflow.Now(ctx)), nil
	}); err != nil {
		return err
	}
	specs := workflow.GetSignalChannel(ctx, CRMWatchSpecSignal)
	for polls := 0; ; polls++ {
		if w.newSpecs(ctx, specs) && !w.spec.Watches() {
			workflow.GetLogger(ctx).Info("The spec no longer watches the CRM: the watch ends")
			return nil
		}
		if polls == pollsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return workflow.NewContinueAsNewError(ctx, CRMWatch, CRMWatchInput{Spec: w.spec, State: w.st})
		}
		if wait := w.nextPoll(workflow.Now(ctx)).Sub(workflow.Now(ctx)); wait > 0 {
			timerCtx, cancel := workflow.WithCancel(ctx)
			timer := workflow.NewTimer(timerCtx, wait)
			sel := workflow.NewSelector(ctx)
			sel.AddFuture(timer, func(workflow.Future) {})
			sel.AddReceive(specs, func(workflow.ReceiveChannel, bool) {})
			sel.Select(ctx)
			cancel()
			if !timer.IsReady() {
				polls-- // a new spec: look at it, then wait again
				continue
			}
		}
		w.poll(ctx)
	}
}

// watch is one run's state.
type watch struct {
	spec pairing.Spec
	st   CRMWatchState
	af   *afGate
	// behind says the last poll left changes for the next: it comes at once.
	behind bool
}

// newSpecs takes the specs signalled so far, reporting whether one came.
// A spec for another object starts the high-water mark afresh.
func (w *watch) newSpecs(ctx workflow.Context, ch workflow.ReceiveChannel) bool {
	got := false
	for {
		var spec pairing.Spec
		if !ch.ReceiveAsync(&spec) {
			break
		}
		w.spec, got = spec, true
	}
	if w.st.Object != w.spec.Object {
		w.st.Object, w.st.Covered, w.st.Seen = w.spec.Object, time.Time{}, map[string]int64{}
	}
	return got
}

// nextPoll is when the next poll is due.
func (w *watch) nextPoll(now time.Time) time.Time {
	if w.st.LastPoll.IsZero() || w.behind {
		return now
	}
	return w.st.LastPoll.Add(w.spec.WatchEvery())
}

func (w *watch) status(now time.Time) CRMWatchStatus {
	s := CRMWatchStatus{Object: w.st.Object, Every: w.spec.WatchEvery().String(), Covered: w.st.Covered,
		LastPoll: w.st.LastPoll, NextPoll: w.nextPoll(now), LastError: w.st.LastError, Counts: w.st.Counts}
	if !w.st.Covered.IsZero() {
		s.Behind = now.Sub(w.st.Covered).Round(time.Second).String()
	}
	return s
}

// window is the span the next poll asks about: from the high-water mark
// (the previous poll's period on the first) to now, at least a minute wide
// and at most Salesforce's 30 days back.
func (w *watch) window(now time.Time) (start, end time.Time, gap bool) {
	start, end = w.st.Covered, now
	if start.IsZero() {
		start = now.Add(-w.spec.WatchEvery())
	}
	if end.Sub(start) < minWindow {
		start = end.Add(-minWindow)
	}
	if now.Sub(start) > maxLookBack {
		start, gap = now.Add(-maxLookBack), true
	}
	return start, end, gap
}

// poll asks about one window and hands its changes to syncs. A failure
// leaves the high-water mark where it was: the next poll asks again.
func (w *watch) poll(ctx workflow.Context) {
	start, end, gap := w.window(workflow.Now(ctx))
	if gap {
		w.st.Counts.Gaps++
		workflow.GetLogger(ctx).Warn("The watch was stopped longer than Salesforce keeps changes: run a backfill to catch up",
			"covered", w.st.Covered, "start", start)
	}
	w.behind = false
	err := w.handOver(ctx, start, end)
	w.st.Counts.Polls++
	w.st.LastPoll, w.st.LastError = workflow.Now(ctx), ""
	if err != nil {
		w.behind = false // a failing poll waits its period before asking again
		w.st.LastError = errorMessage(err)
		workflow.GetLogger(ctx).Warn("A poll of the CRM failed; the next one asks again", "error", w.st.LastError)
	}
}

// handOver asks what changed between start and end and starts the syncs.
func (w *watch) handOver(ctx workflow.Context, start, end time.Time) error {
	sfCtx := workflow.WithActivityOptions(ctx, watchSalesforceOptions(ctx))
	sfCtx = summarized(sfCtx, "Ask Salesforce which %s records changed since %s", w.spec.Object, start.Format(time.RFC3339))
	var res activities.ChangesResult
	err := workflow.ExecuteActivity(sfCtx, sf.ChangedRecords, activities.ChangesInput{Spec: w.spec, Start: start, End: end}).Get(sfCtx, &res)
	w.st.Counts.SalesforceCalls += res.Calls
	if err != nil {
		return err
	}
	w.st.Counts.Echoes += res.Echoes
	covered := res.Covered
	if covered.After(end) || covered.IsZero() {
		covered = end
	}

	// The changes not handed over yet, oldest first, as many as a poll takes.
	var fresh []activities.CRMChange
	for _, c := range res.Changes {
		if seen, ok := w.st.Seen[c.RecordID]; ok && seen >= c.Modified.UnixMilli() {
			continue
		}
		fresh = append(fresh, c)
	}
	slices.SortStableFunc(fresh, func(a, b activities.CRMChange) int { return a.Modified.Compare(b.Modified) })
	if n := w.share(ctx, len(fresh)); n < len(fresh) {
		covered = minTime(covered, fresh[n].Modified)
		fresh = fresh[:n]
	}

	requests, unmatched, held, err := w.people(ctx, fresh)
	if len(requests) > 0 {
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{ScheduleToCloseTimeout: 5 * time.Minute})
		var started int
		if sErr := workflow.ExecuteLocalActivity(lctx, coord.StartSyncs, StartSyncsInput{Spec: w.spec, Requests: requests}).Get(lctx, &started); sErr != nil {
			return sErr // nothing marked seen: the next poll hands them over again
		}
	}
	w.st.Counts.Changes += len(requests)
	w.st.Counts.Unmatched += unmatched
	for _, c := range fresh {
		if !held[c.RecordID] {
			w.st.Seen[c.RecordID] = c.Modified.UnixMilli()
		}
	}
	for _, c := range fresh {
		if held[c.RecordID] {
			covered = minTime(covered, c.Modified) // asked again next poll
		}
	}
	if covered.After(w.st.Covered) {
		w.st.Covered = covered
	}
	// Seen need only reach back as far as windows overlap.
	horizon := w.st.Covered.Add(-2 * minWindow).UnixMilli()
	for id, at := range w.st.Seen {
		if at < horizon {
			delete(w.st.Seen, id)
		}
	}
	return err
}

// share is how many of n fresh changes this poll hands over: all of them
// when they fit, else maxChangesPerPoll and the next poll comes at once.
// Runs from before ChangeWatchCatchesUp took up to legacyChangesPerPoll and
// waited the spec's period.
func (w *watch) share(ctx workflow.Context, n int) int {
	if n <= maxChangesPerPoll {
		return n
	}
	if workflow.GetVersion(ctx, ChangeWatchCatchesUp, workflow.DefaultVersion, 1) >= 1 {
		w.behind = true
		return maxChangesPerPoll
	}
	return min(n, legacyChangesPerPoll)
}

// people finds the Award Force user of each change: the slug the record
// holds in the external id, or the user whose email (or slug) is the
// record's identifier (one budgeted Award Force request each, whose answer
// the sync then uses). Changes whose user could not be read for a
// transient fault are held, to be asked about again.
func (w *watch) people(ctx workflow.Context, changes []activities.CRMChange) (requests []SyncRequest, unmatched int, held map[string]bool, err error) {
	held = map[string]bool{}
	type lookup struct {
		c activities.CRMChange
		f workflow.Future
	}
	var lookups []lookup
	afCtx := workflow.WithActivityOptions(ctx, awardForceOptions(ctx))
	// Runs of the watch's first version asked GetUser, which fails (and
	// logs an error) for a person who is not an Award Force user.
	find := workflow.GetVersion(ctx, ChangeWatchFindsUsers, workflow.DefaultVersion, 1) >= 1
	owners := w.ledgerOwners(ctx, changes)
	for _, c := range changes {
		switch {
		case c.Slug != "":
			requests = append(requests, SyncRequest{Slug: c.Slug, Trigger: pairing.TriggerCRMChange, RecordID: c.RecordID})
		case len(owners[normalID(c.RecordID)]) > 0:
			// The identity ledger pairs the record with its people, whatever
			// its identifier holds now (an address edited in Salesforce).
			for _, who := range owners[normalID(c.RecordID)] {
				if slug, ours := namesOf(ctx).Slug(who); ours {
					requests = append(requests, SyncRequest{Slug: slug, Trigger: pairing.TriggerCRMChange, RecordID: c.RecordID})
				}
			}
		case c.Identifier != "":
			actx := summarized(afCtx, "Find the Award Force user of %s %s", w.spec.Object, c.RecordID)
			if find {
				lookups = append(lookups, lookup{c, w.af.call(actx, af.FindUser, c.Identifier)})
			} else {
				lookups = append(lookups, lookup{c, w.af.call(actx, af.GetUser, c.Identifier)})
			}
		default:
			unmatched++
		}
	}
	for _, l := range lookups {
		var p pairing.Profile
		var lErr error
		found := true
		if find {
			var fu activities.FoundUser
			lErr = l.f.Get(ctx, &fu)
			p, found = fu.Profile, fu.Found
		} else {
			lErr = l.f.Get(ctx, &p)
		}
		w.st.Counts.AwardForceCalls++
		var appErr *temporal.ApplicationError
		switch {
		case lErr == nil && found:
			requests = append(requests, SyncRequest{Slug: p.Slug, Trigger: pairing.TriggerCRMChange, Profile: &p, RecordID: l.c.RecordID})
		case lErr == nil, errors.As(lErr, &appErr) && appErr.Type() == activities.ErrTypeAwardForceNotFound:
			unmatched++ // a CRM person who is not an Award Force user
		default:
			held[l.c.RecordID] = true
			err = cmpErr(err, lErr)
		}
	}
	return requests, unmatched, held, err
}

// ledgerOwners asks the identity ledger (specs without an external id,
// since ChangeWatchReadsLedger) who is paired with the changed records
// that carry no slug, by 18-character record id. A failed read is logged
// and the changes are matched by identifier, as before the ledger.
func (w *watch) ledgerOwners(ctx workflow.Context, changes []activities.CRMChange) map[string][]string {
	var ids []string
	for _, c := range changes {
		if c.Slug == "" {
			ids = append(ids, c.RecordID)
		}
	}
	if len(ids) == 0 || w.spec.ExternalID.CRM != "" ||
		workflow.GetVersion(ctx, ChangeWatchReadsLedger, workflow.DefaultVersion, 1) < 1 {
		return nil
	}
	var out Recalled
	lctx := ledgerOptions(ctx)
	if err := workflow.ExecuteLocalActivity(lctx, coord.RecallPairings, RecallInput{Object: w.spec.Object, Records: ids}).Get(lctx, &out); err != nil {
		workflow.GetLogger(ctx).Warn("Could not read the identity ledger: changed records are matched by identifier", "records", len(ids), "error", err)
		return nil
	}
	return out.Owners
}

// cmpErr keeps the first error.
func cmpErr(first, next error) error {
	if first != nil {
		return first
	}
	return next
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// watchSalesforceOptions bounds the watch's Salesforce requests: a poll
// that cannot finish in a few minutes gives way to the next.
func watchSalesforceOptions(ctx workflow.Context) workflow.ActivityOptions {
	o := salesforceOptions(ctx)
	o.StartToCloseTimeout = 2 * time.Minute
	o.HeartbeatTimeout = 30 * time.Second
	o.ScheduleToCloseTimeout = 5 * time.Minute
	return o
}

// StartSyncsInput asks the coordinator to start syncs.
type StartSyncsInput struct {
	Spec     pairing.Spec  `json:"spec"`
	Requests []SyncRequest `json:"requests"`
	// Integration is the dependent integration whose users they are, when
	// a lane starts them; "" for the asker's own.
	Integration string `json:"integration,omitempty"`
}

// startSyncsAtOnce bounds the syncs StartSyncs starts at the same time.
const startSyncsAtOnce = 16

// StartSyncs starts (or signals) the sync of each request's user, as
// StartUserSync does, up to startSyncsAtOnce at a time (each start is two
// requests to Temporal: one after the other, a poll's 200 took seconds);
// it returns how many it asked for. On an error some may have started: the
// watch hands them all over again, and a second start of a running sync is
// a signal to it.
func (l *Coordinator) StartSyncs(ctx context.Context, in StartSyncsInput) (int, error) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(startSyncsAtOnce)
	for _, r := range in.Requests {
		g.Go(func() error {
			if _, err := StartUserSync(gctx, l.Client, l.Names.of(in.Integration), &in.Spec, r); err != nil && !errors.Is(err, ErrAlreadySynced) {
				return fmt.Errorf("start the sync of %s: %w", r.Slug, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return len(in.Requests), nil
}

// StartCRMWatch starts the CRM watch with spec, or hands spec to the
// running one (which ends if spec does not watch the CRM).
func (l *Coordinator) StartCRMWatch(ctx context.Context, spec *pairing.Spec) error {
	opts := l.Names.coordinatorOptions(l.Names.CRMWatch(), fmt.Sprintf("CRM watch: %s records changed in Salesforce, brought back to Award Force", spec.Object))
	opts.TaskQueue = l.Names.TaskQueue() // a poller: nothing waits on its tasks
	_, err := l.Client.SignalWithStartWorkflow(ctx, opts.ID, CRMWatchSpecSignal, spec, opts, CRMWatch, CRMWatchInput{Spec: *spec})
	return err
}
