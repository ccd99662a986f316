package workflows

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// Activity receivers: workflows refer to activity methods through nil
// pointers; the worker registers the real instances.
var (
	af *activities.AwardForce
	sf *activities.Salesforce
)

// ErrTypeSyncFailed is the type of the error a UserSync fails with when a
// write was refused; its details carry the UserSyncResult audit record.
const ErrTypeSyncFailed = "SyncFailed"

// awardForceOptions bounds Award Force activities. Each attempt waits for
// a permit of the Award Force budget, which may take long when a backfill
// shares it, so the overall bound is generous; permanent errors are
// non-retryable and end at once.
func awardForceOptions(ctx workflow.Context) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:              namesOf(ctx).AwardForceTaskQueue(),
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
		},
	}
}

// salesforceOptions bounds Salesforce activities. StartToClose is short:
// the client gives up on a call after 20 s, and a worker that died mid-call
// is noticed, and the call retried elsewhere, within 30 s.
func salesforceOptions(ctx workflow.Context) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:              namesOf(ctx).TaskQueue(),
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 15 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
		},
	}
}

// UserSync pairs one Award Force user with a CRM record: look up the user
// and the CRM records holding its unique identifier, decide, write the CRM
// and pull values back into Award Force. Its result is the audit record.
func UserSync(ctx workflow.Context, in UserSyncInput) (*UserSyncResult, error) {
	s := &userSync{in: in, result: &UserSyncResult{Slug: in.Slug}, af: newAFGate(ctx, ClassEvents)}
	s.sameSecond = workflow.GetVersion(ctx, ChangeSameSecondEdits, workflow.DefaultVersion, 1) >= 1
	// Changes signalled so far are read with the profile, in this pass.
	resync := workflow.GetSignalChannel(ctx, ResyncSignal)
	if r := pendingResync(resync); r.got {
		r.sameSecond = s.sameSecond
		s.in.Profile = r.newest(s.in.Profile)
		if r.recordID != "" {
			s.in.RecordID = r.recordID
		}
	}
	err := s.run(ctx)
	if err != nil {
		s.result.Outcome = OutcomeFailed
		s.result.Error = errorMessage(err)
	}
	if saErr := s.recordSearchAttributes(ctx); saErr != nil {
		workflow.GetLogger(ctx).Warn("Could not record search attributes", "error", saErr)
	}
	countSyncs(ctx, in.Trigger, s.result.Outcome, 1)
	if err == nil {
		s.recordSynced(ctx)
	}
	if next, again := s.nextPass(ctx, pendingResync(resync), in, err); again {
		workflow.GetLogger(ctx).Info("The user changed during the sync; syncing again", "slug", next.Slug, "trigger", next.Trigger)
		return nil, workflow.NewContinueAsNewError(ctx, UserSync, next)
	}
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("sync of %s failed: %s", in.Slug, s.result.Error), ErrTypeSyncFailed, err, s.result)
	}
	return s.result, nil
}

// run is one pass: the spec checked, the user read and paired by their
// lane, the lane's pulls written back into Award Force.
func (s *userSync) run(ctx workflow.Context) error {
	afCtx := workflow.WithActivityOptions(ctx, awardForceOptions(ctx))
	err := s.in.Spec.Validate()
	switch {
	case err != nil:
		return temporal.NewNonRetryableApplicationError(err.Error(), activities.ErrTypeInvalidSpec, nil)
	case !s.in.Spec.Handles(s.in.Trigger):
		// Every option this trigger applies is off: Decide skips with the
		// reason, and no API is called.
		s.profile = pairing.Profile{Slug: s.in.Slug}
		s.decide()
	default:
		// Syncs that wrote Salesforce themselves, before the lanes, are
		// retired (CHANGELOG): the marker stays, its old branch is gone.
		workflow.GetVersion(ctx, ChangePairThroughLanes, 1, 1)
		if err := s.pair(ctx, afCtx); err != nil {
			return err
		}
	}
	return s.writeBack(ctx, afCtx)
}

// recordSynced records, in the memo, the version this pass paired and when
// it handed the user over: a webhook replaying that version later (the echo
// of this sync's own write-back among them) starts nothing
// (StartUserSync), and the next sync knows what this one paired.
func (s *userSync) recordSynced(ctx workflow.Context) {
	version := s.syncedVersion()
	if version.IsZero() || workflow.GetVersion(ctx, ChangeSyncedVersionMemo, workflow.DefaultVersion, 1) < 1 {
		return
	}
	memo := map[string]any{MemoSyncedVersion: version.Unix()}
	if s.sameSecond {
		memo[MemoSyncedDigest] = ProfileDigest(&s.in.Spec, s.syncedProfile())
	}
	if workflow.GetVersion(ctx, ChangeCRMChanges, workflow.DefaultVersion, 1) >= 1 {
		memo[MemoSyncedAt] = workflow.Now(ctx).Unix()
		if baselines(ctx) && !s.handedAt.IsZero() {
			// From when the CRM was read on: an edit made there while
			// this sync ran is a change to the next one.
			memo[MemoSyncedAt] = s.handedAt.Unix()
		}
	}
	if mErr := workflow.UpsertMemo(ctx, memo); mErr != nil {
		workflow.GetLogger(ctx).Warn("Could not record the synced version", "error", mErr)
	}
}

// nextPass says whether the user changed after this pass read the profile
// (perhaps to fix what made it fail), from the signals r that came during
// the pass and an edit its write-back met, and the input of the pass for
// that change. A failed registration stays a registration: the record still
// has to be created. Signals that carry no newer version than this pass's
// (a replayed webhook, a flood of one edit) are coalesced into nothing.
func (s *userSync) nextPass(ctx workflow.Context, r resyncs, in UserSyncInput, err error) (UserSyncInput, bool) {
	if s.edited != nil {
		// An edit landed between this pass's read and its write-back: the
		// next pass syncs the user as the write-back's answer showed them.
		r.got = true
		if !r.trigger.Known() {
			r.trigger = pairing.TriggerProfileUpdate
		}
		if r.profile == nil || s.edited.Updated.After(r.profile.Updated) {
			r.profile = s.edited
		}
	}
	r.sameSecond = s.sameSecond
	if !r.got || !r.newerThan(s.syncedVersion()) && !s.sameVersionChanged(r) {
		return in, false
	}
	if r.trigger.Known() && (err == nil || in.Trigger != pairing.TriggerRegistration) {
		in.Trigger = r.trigger
	}
	in.Profile = r.newest(nil)
	if s.sameVersionChanged(r) {
		// The version this pass paired, with other values: which of the
		// two is the later only Award Force knows.
		in.Profile = nil
	}
	if r.crm && in.Profile != nil && !in.Profile.Updated.After(s.syncedVersion()) {
		in.Profile = nil // the record changed, not the profile: read it afresh
	}
	if r.recordID != "" {
		in.RecordID = r.recordID
	}
	if err == nil && !s.handedAt.IsZero() && baselines(ctx) {
		// The next pass compares with what this one paired.
		in.LastSynced, in.LastVersion = s.handedAt.Truncate(time.Second), s.syncedVersion()
		if s.sameSecond {
			in.LastDigest = ProfileDigest(&s.in.Spec, s.syncedProfile())
		}
	}
	return in, true
}

// resyncs sums up the resync signals received so far.
type resyncs struct {
	got bool
	// trigger is the last signal's.
	trigger pairing.Trigger
	// profile is the newest version a signal carried; unknown is set when
	// a signal carried none (a manual sync, an older payload): its version
	// can only be read from Award Force.
	profile *pairing.Profile
	unknown bool
	// recordID is the last record a CRM change named; crm is set when a
	// signal was a CRM change (the record changed, not the profile).
	recordID string
	crm      bool
	// tied is set when two signals carried one version with different
	// values (two edits within one second); sameSecond when the run
	// heeds it (ChangeSameSecondEdits).
	tied, sameSecond bool
}

// newest is the profile the next pass should start from: the newest known
// version, or nil (read Award Force) when a signal's version is unknown.
func (r resyncs) newest(current *pairing.Profile) *pairing.Profile {
	switch {
	case r.unknown, r.sameSecond && (r.tied || sameVersionOtherValues(r.profile, current)):
		return nil
	case r.profile != nil && (current == nil || r.profile.Updated.After(current.Updated)):
		return r.profile
	}
	return current
}

// newerThan reports whether the signals may hold a change the pass did not
// see, the pass having left the user at version synced (the version it
// read, or the one its own write-back made: that write's webhook is no
// change).
func (r resyncs) newerThan(synced time.Time) bool {
	return r.unknown || r.crm || synced.IsZero() || r.profile != nil && r.profile.Updated.After(synced)
}

// pendingResync drains the resync signals received so far.
func pendingResync(ch workflow.ReceiveChannel) resyncs {
	var out resyncs
	for {
		var r Resync
		if !ch.ReceiveAsync(&r) {
			return out
		}
		out.got, out.trigger = true, r.Trigger
		if r.RecordID != "" {
			out.recordID = r.RecordID
		}
		if r.Trigger == pairing.TriggerCRMChange {
			out.crm = true
		}
		switch {
		case r.Profile == nil || r.Profile.Updated.IsZero():
			out.unknown = true
		case out.profile == nil || r.Profile.Updated.After(out.profile.Updated):
			out.profile, out.tied = r.Profile, false
		case sameVersionOtherValues(r.Profile, out.profile):
			out.tied = true
		}
	}
}

// covers reports whether p, as a webhook carried it, holds every Award
// Force field the spec reads, and its version.
func covers(p pairing.Profile, spec *pairing.Spec) bool {
	if p.Updated.IsZero() {
		return false
	}
	for _, slug := range spec.ProfileFieldSlugs() {
		if _, ok := p.Values[slug]; !ok {
			return false
		}
	}
	return true
}

// userSync is one run's state; one method a step.
type userSync struct {
	in      UserSyncInput
	profile pairing.Profile
	result  *UserSyncResult
	lanes   requester
	af      *afGate
	// written is the user's `updated` time after this sync's write-back.
	written time.Time
	// handedAt is when the user was handed to the lane (before the CRM
	// was read); zero when it was not.
	handedAt time.Time
	// edited is the user as the write-back's answer showed them, when
	// someone edited the profile between this pass's read and its
	// write-back (ChangeWriteBackSeesEdits).
	edited *pairing.Profile
	// answered is the user as Award Force answered the write-back.
	answered *pairing.Profile
	// sameSecond is set in runs that tell two edits of one second apart
	// (ChangeSameSecondEdits).
	sameSecond bool
}

// pair reads the user and hands the profile to the user's pairing lane,
// which looks the record up, decides and writes; its answer is the audit.
func (s *userSync) pair(ctx, afCtx workflow.Context) error {
	readAt := workflow.Now(ctx)
	if p := s.in.Profile; p != nil && covers(*p, &s.in.Spec) {
		// The webhook's signed payload carries the user: no Award Force
		// request. It was taken no earlier than its `updated` time.
		s.profile, readAt = *p, p.Updated
	} else {
		afCtx = summarized(afCtx, "Read Award Force user %s", s.in.Slug)
		err := s.af.call(afCtx, af.GetUser, s.in.Slug).Get(afCtx, &s.profile)
		var appErr *temporal.ApplicationError
		switch {
		case errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeAwardForceNotFound &&
			workflow.GetVersion(ctx, ChangeCRMChanges, workflow.DefaultVersion, 1) >= 1:
			// Deleted in Award Force: its record is stamped, or left alone,
			// as the spec says; nothing is deleted in the CRM.
			s.profile = pairing.Profile{Slug: s.in.Slug}
			return s.handOver(ctx, PairItem{Profile: s.profile, ReadAt: readAt, Deleted: true})
		case err != nil:
			return err
		}
	}
	if activities.IdentifierKey(s.profile.Values[s.in.Spec.UniqueIdentifier.AwardForce]) == "" {
		s.decide() // skipped, with the reason: no CRM call, no lane
		return nil
	}
	return s.handOver(ctx, PairItem{Profile: s.profile, ReadAt: readAt, RecordID: s.in.RecordID, LastSynced: s.in.LastSynced, LastVersion: s.in.LastVersion, LastDigest: s.in.LastDigest})
}

// handOver hands the user to the pairing lane and takes its answer as the
// audit.
func (s *userSync) handOver(ctx workflow.Context, item PairItem) error {
	s.handedAt = workflow.Now(ctx)
	results, err := s.lanes.pair(ctx, s.in.Spec, s.in.Trigger, []PairItem{item})
	if err != nil {
		return err
	}
	res, ok := results[s.profile.Slug]
	if !ok {
		return fmt.Errorf("the pairing lane did not answer for %s", s.profile.Slug)
	}
	res.Slug = s.in.Slug
	*s.result = res
	if res.Outcome == OutcomeFailed {
		return temporal.NewNonRetryableApplicationError(trimType(res.Error, res.ErrorType), cmp.Or(res.ErrorType, activities.ErrTypeSalesforceRejected), nil)
	}
	return nil
}

// decide settles a user the pass skips without asking Salesforce (every
// option of the trigger off, no identifier): Decide says why.
func (s *userSync) decide() {
	d := s.in.Spec.Decide(s.in.Trigger, s.profile, nil)
	s.result.Decision = d
	s.result.RecordID = d.RecordID
	s.result.Outcome = outcomeOf(d)
}

func (s *userSync) writeBack(wctx, ctx workflow.Context) error {
	changes := s.result.Decision.AwardForce
	if len(changes) == 0 {
		return nil
	}
	sees := workflow.GetVersion(wctx, ChangeWriteBackSeesEdits, workflow.DefaultVersion, 1) >= 1
	if sees {
		// Wait out an Award Force outage as long as the lane retries the
		// CRM side: the record id and pulled values must reach Award Force.
		o := workflow.GetActivityOptions(ctx)
		o.ScheduleToCloseTimeout = maxWait
		ctx = workflow.WithActivityOptions(ctx, o)
	}
	outcome := s.result.Outcome
	if s.result.Outcome == OutcomeUnchanged {
		s.result.Outcome = OutcomeUpdated
	}
	skip := workflow.GetVersion(ctx, ChangeFieldFormats, workflow.DefaultVersion, 1) >= 1
	in := activities.UpdateUserInput{Slug: s.profile.Slug, Changes: changes, SkipRefused: skip}
	actx := summarized(ctx, "Write %s into Award Force user %s", fieldNames(changes), s.profile.Slug)
	var superseded func(workflow.Context) bool
	if followsTheLane(wctx, s.result) {
		at := s.result.DecidedAt
		superseded = func(ctx workflow.Context) bool { return laneDecidedSince(ctx, s.profile.Slug, at) }
	}
	var out activities.UpdateUserResult
	if err := s.af.callUnless(actx, superseded, af.UpdateUser, in).Get(actx, &out); errors.Is(err, errSuperseded) {
		// The lane decided the user again since: that sync writes back
		// the newer values.
		s.result.Decision.Reason += "; the write-back into Award Force was left to a newer sync of the user"
		s.result.Decision.AwardForce = nil
		s.result.Outcome = outcome
		return nil
	} else if err != nil {
		return err
	}
	if len(out.Refused) > 0 {
		// Award Force refused some values (a mobile another user has, a
		// value that is no option): they are left out, the rest written.
		d := &s.result.Decision
		d.SkippedFields = append(d.SkippedFields, out.Refused...)
		d.AwardForce = activities.Without(d.AwardForce, out.Refused)
		if len(d.AwardForce) == 0 {
			return nil
		}
		in = activities.UpdateUserInput{Slug: s.profile.Slug, Changes: d.AwardForce}
		actx = summarized(ctx, "Write %s into Award Force user %s", fieldNames(d.AwardForce), s.profile.Slug)
		if err := s.af.call(actx, af.UpdateUser, in).Get(actx, &out); err != nil {
			return err
		}
	}
	s.written, s.answered = out.Updated, out.Profile
	if sees && out.Profile != nil && editedSince(&s.in.Spec, s.profile, s.result.Decision.AwardForce, *out.Profile) {
		s.edited, s.written = out.Profile, time.Time{}
	}
	return nil
}

// editedSince reports whether after, the user as Award Force answered a
// write-back of changes, holds a value of a field the spec reads that is
// neither what read held nor what the write-back wrote: someone edited
// the profile in between.
func editedSince(spec *pairing.Spec, read pairing.Profile, changes []pairing.Change, after pairing.Profile) bool {
	want := make(map[string]string, len(read.Values))
	for k, v := range read.Values {
		want[k] = v
	}
	for _, c := range changes {
		want[c.Field] = c.After
	}
	for _, f := range readFields(spec) {
		a, b := strings.TrimSpace(want[f]), strings.TrimSpace(after.Values[f])
		if a != b && !(f == pairing.AFEmail && strings.EqualFold(a, b)) {
			return true
		}
	}
	return false
}

// readFields lists the Award Force fields the spec reads.
func readFields(spec *pairing.Spec) []string {
	out := []string{spec.UniqueIdentifier.AwardForce}
	for _, f := range spec.Fields {
		if !f.Static() {
			out = append(out, f.AwardForce)
		}
	}
	if spec.RecordIDField != "" {
		out = append(out, spec.RecordIDField)
	}
	if spec.Account != nil {
		out = append(out, spec.Account.AwardForce)
	}
	return out
}

// sameVersionChanged reports whether the signals r carried the version
// this pass paired with other values (ChangeSameSecondEdits): an edit made
// within the same second as the version paired.
func (s *userSync) sameVersionChanged(r resyncs) bool {
	if !s.sameSecond || r.profile == nil || !r.profile.Updated.Equal(s.syncedVersion()) {
		return false
	}
	return r.tied || ProfileDigest(&s.in.Spec, *r.profile) != ProfileDigest(&s.in.Spec, s.syncedProfile())
}

// syncedProfile is the user as the CRM now matches them: as read, or as
// Award Force answered this sync's write-back (or, without that answer,
// as read with the write-back's changes).
func (s *userSync) syncedProfile() pairing.Profile {
	if !s.written.After(s.profile.Updated) {
		return s.profile
	}
	if s.answered != nil {
		return *s.answered
	}
	p := pairing.Profile{Slug: s.profile.Slug, Updated: s.written, Values: make(map[string]string, len(s.profile.Values))}
	for k, v := range s.profile.Values {
		p.Values[k] = v
	}
	for _, c := range s.result.Decision.AwardForce {
		p.Values[c.Field] = c.After
	}
	return p
}

// syncedVersion is the Award Force version the CRM now matches: the one
// read, or the one this sync's write-back made.
func (s *userSync) syncedVersion() time.Time {
	if s.written.After(s.profile.Updated) {
		return s.written
	}
	return s.profile.Updated
}

func (s *userSync) recordSearchAttributes(ctx workflow.Context) error {
	updates := []temporal.SearchAttributeUpdate{OutcomeKey.ValueSet(string(s.result.Outcome))}
	if s.result.RecordID != "" {
		updates = append(updates, RecordIDKey.ValueSet(s.result.RecordID))
	}
	return workflow.UpsertTypedSearchAttributes(ctx, updates...)
}

// outcomeOf names the outcome a decision leads to when its writes succeed.
func outcomeOf(d pairing.Decision) Outcome {
	switch d.Action {
	case pairing.ActionCreate:
		return OutcomeCreated
	case pairing.ActionUpdate:
		return OutcomeUpdated
	case pairing.ActionSkip:
		return OutcomeSkipped
	case pairing.ActionAmbiguous:
		return OutcomeAmbiguous
	default:
		return OutcomeUnchanged
	}
}

// errorMessage extracts the API's own message from an activity failure.
func errorMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type() + ": " + appErr.Message()
	}
	return err.Error()
}

// baselines reports whether this run records and passes on the baselines
// of ChangeChangeBaselines.
func baselines(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, ChangeChangeBaselines, workflow.DefaultVersion, 1) >= 1
}
