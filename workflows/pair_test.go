package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// fakeLanes stands in for the pairing lanes on the requester side: it takes
// the requests handed to Submit and answers them, a second later, with what
// answer says (nil: no answer at all).
type fakeLanes struct {
	mu       sync.Mutex
	requests []PairRequest
	lanes    []int
	answer   func(PairRequest) []UserSyncResult
}

// grantPermits makes the Award Force budget grant every permit at once.
func grantPermits(env *testsuite.TestWorkflowEnvironment, seen ...func(PermitRequest)) {
	env.OnActivity(coord.RequestPermits, mock.Anything, mock.Anything).Return(func(_ context.Context, req PermitRequest) error {
		for _, f := range seen {
			f(req)
		}
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflowByID(req.ReplyTo, PermitGrantSignal, PermitGrant{Request: req.ID, N: req.N})
		}, 0)
		return nil
	})
}

func (f *fakeLanes) install(env *testsuite.TestWorkflowEnvironment) {
	env.RegisterActivity(&Coordinator{})
	grantPermits(env)
	f.answerSubmits(env)
}

// answerSubmits mocks coord.Submit in env (whose Coordinator is registered
// already) with f's answers.
func (f *fakeLanes) answerSubmits(env *testsuite.TestWorkflowEnvironment) {
	env.OnActivity(coord.Submit, mock.Anything, mock.Anything, mock.Anything).Return(func(_ context.Context, n int, req PairRequest) error {
		f.mu.Lock()
		f.requests = append(f.requests, req)
		f.lanes = append(f.lanes, n)
		f.mu.Unlock()
		if res := f.answer(req); res != nil {
			env.RegisterDelayedCallback(func() {
				env.SignalWorkflowByID(req.ReplyTo, PairedSignal, PairReply{Request: req.ID, Results: res, Calls: 1})
			}, time.Second)
		}
		return nil
	})
}

// laneEnv is a UserSync test environment on the code of the pairing lanes.
func laneEnv(t *testing.T, f *fakeLanes) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	env := bareLaneEnv(f)
	env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil)
	return env
}

// bareLaneEnv is laneEnv with the search attributes left for the test to mock.
func bareLaneEnv(f *fakeLanes) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.AwardForce{})
	env.RegisterActivity(&activities.Salesforce{})
	env.RegisterWorkflow(UserSync)
	f.install(env)
	return env
}

func TestUserSyncHandsTheUserToItsLaneAndWritesBackItsAnswer(t *testing.T) {
	spec := pairing.Default()
	spec.RecordIDField = "SfRecord"
	p := profile("AbCdEfGh", "ada@example.org", "Ada", "Lovelace")
	p.Updated = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	f := &fakeLanes{answer: func(req PairRequest) []UserSyncResult {
		d := pairing.Decision{Action: pairing.ActionCreate, CRM: []pairing.Change{{Field: "LastName", After: "Lovelace"}},
			AwardForce: []pairing.Change{{Field: "SfRecord", Source: pairing.SourceRecordID, After: "003000000000001AAA"}}}
		return []UserSyncResult{{Slug: req.Items[0].Profile.Slug, Outcome: OutcomeCreated, Decision: d, RecordID: "003000000000001AAA"}}
	}}
	env := laneEnv(t, f)
	env.OnActivity(af.GetUser, mock.Anything, "AbCdEfGh").Return(p, nil).Once()
	env.OnActivity(af.UpdateUser, mock.Anything, activities.UpdateUserInput{Slug: "AbCdEfGh", SkipRefused: true,
		Changes: []pairing.Change{{Field: "SfRecord", Source: pairing.SourceRecordID, After: "003000000000001AAA"}}}).Return(activities.UpdateUserResult{}, nil).Once()

	start := env.Now()
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: UserSyncWorkflowID("AbCdEfGh")})
	env.ExecuteWorkflow(UserSync, UserSyncInput{Slug: "AbCdEfGh", Trigger: pairing.TriggerRegistration, Spec: *spec})
	require.NoError(t, env.GetWorkflowError())
	var res UserSyncResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, OutcomeCreated, res.Outcome)
	require.Equal(t, "003000000000001AAA", res.RecordID)
	env.AssertExpectations(t)

	require.Len(t, f.requests, 1)
	req := f.requests[0]
	require.Equal(t, LaneOf("AbCdEfGh"), f.lanes[0], "the person's own lane")
	require.Equal(t, pairing.TriggerRegistration, req.Trigger)
	require.Len(t, req.Items, 1)
	require.Equal(t, p.Updated, req.Items[0].Profile.Updated, "the version travels with the profile")
	require.False(t, req.Items[0].ReadAt.After(start), "ReadAt is no later than the read")
	require.Equal(t, UserSyncWorkflowID("AbCdEfGh"), req.ReplyTo)
	// No Salesforce activity of its own: the lane writes.
	env.AssertActivityNotCalled(t, "FindRecords", mock.Anything, mock.Anything)
}

func TestAValueAwardForceRefusesIsLeftOutAndTheRestWritten(t *testing.T) {
	spec := pairing.Default()
	p := profile("AbCdEfGh", "ada@example.org", "Ada", "Lovelace")
	mobile := pairing.Change{Field: "mobile", Source: "Phone", After: "+14155552671"}
	title := pairing.Change{Field: "JobTitle", Source: "Title", After: "Countess"}
	f := &fakeLanes{answer: func(req PairRequest) []UserSyncResult {
		d := pairing.Decision{Action: pairing.ActionNoChange, RecordID: "003000000000001AAA", AwardForce: []pairing.Change{mobile, title}}
		return []UserSyncResult{{Slug: "AbCdEfGh", Outcome: OutcomeUnchanged, Decision: d, RecordID: d.RecordID}}
	}}
	env := laneEnv(t, f)
	env.OnActivity(af.GetUser, mock.Anything, "AbCdEfGh").Return(p, nil).Once()
	refused := pairing.SkippedField{Field: "mobile", Value: mobile.After, Reason: "Award Force refused it: The mobile has already been taken."}
	env.OnActivity(af.UpdateUser, mock.Anything, activities.UpdateUserInput{Slug: "AbCdEfGh", SkipRefused: true, Changes: []pairing.Change{mobile, title}}).
		Return(activities.UpdateUserResult{Refused: []pairing.SkippedField{refused}}, nil).Once()
	written := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	env.OnActivity(af.UpdateUser, mock.Anything, activities.UpdateUserInput{Slug: "AbCdEfGh", Changes: []pairing.Change{title}}).
		Return(activities.UpdateUserResult{Updated: written}, nil).Once()

	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: UserSyncWorkflowID("AbCdEfGh")})
	env.ExecuteWorkflow(UserSync, UserSyncInput{Slug: "AbCdEfGh", Trigger: pairing.TriggerManual, Spec: *spec})
	require.NoError(t, env.GetWorkflowError())
	var res UserSyncResult
	require.NoError(t, env.GetWorkflowResult(&res))
	env.AssertExpectations(t)
	require.Equal(t, OutcomeUpdated, res.Outcome, "the rest was written")
	require.Equal(t, []pairing.SkippedField{refused}, res.Decision.SkippedFields, "the audit says what was left out, with Award Force's message")
	require.Equal(t, []pairing.Change{title}, res.Decision.AwardForce)
}

func TestUserSyncFailsWithTheRefusalItsLaneReports(t *testing.T) {
	f := &fakeLanes{answer: func(req PairRequest) []UserSyncResult {
		return []UserSyncResult{{Slug: req.Items[0].Profile.Slug, Outcome: OutcomeFailed,
			Decision:  pairing.Decision{Action: pairing.ActionCreate},
			Error:     "SalesforceRejected: STRING_TOO_LONG: Last Name: data value too large (LastName)",
			ErrorType: activities.ErrTypeSalesforceRejected}}
	}}
	env := laneEnv(t, f)
	env.OnActivity(af.GetUser, mock.Anything, "AbCdEfGh").Return(profile("AbCdEfGh", "ada@example.org", "Ada", "L"), nil)
	env.ExecuteWorkflow(UserSync, UserSyncInput{Slug: "AbCdEfGh", Trigger: pairing.TriggerManual, Spec: *pairing.Default()})
	err := env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr))
	require.Equal(t, ErrTypeSyncFailed, appErr.Type())
	var audit UserSyncResult
	require.NoError(t, appErr.Details(&audit))
	require.Equal(t, OutcomeFailed, audit.Outcome)
	require.Equal(t, "SalesforceRejected: STRING_TOO_LONG: Last Name: data value too large (LastName)", audit.Error, "Salesforce's own message, once")
	require.Equal(t, pairing.ActionCreate, audit.Decision.Action, "the audit keeps the decision")
}

func TestUserSyncWithoutAnIdentifierNeedsNoLane(t *testing.T) {
	f := &fakeLanes{answer: func(PairRequest) []UserSyncResult { panic("no lane may be asked") }}
	env := laneEnv(t, f)
	env.OnActivity(af.GetUser, mock.Anything, "AbCdEfGh").Return(profile("AbCdEfGh", "", "Mo", "Bile"), nil)
	env.ExecuteWorkflow(UserSync, UserSyncInput{Slug: "AbCdEfGh", Trigger: pairing.TriggerManual, Spec: *pairing.Default()})
	require.NoError(t, env.GetWorkflowError())
	var res UserSyncResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, OutcomeSkipped, res.Outcome)
	require.Empty(t, f.requests)
}

func TestARequesterHandsItsPeopleAgainWhenNoLaneAnswers(t *testing.T) {
	asked := 0
	f := &fakeLanes{}
	f.answer = func(req PairRequest) []UserSyncResult {
		asked++
		if asked == 1 {
			return nil // the lane was terminated by hand: silence
		}
		return []UserSyncResult{{Slug: req.Items[0].Profile.Slug, Outcome: OutcomeUnchanged, RecordID: "003000000000003AAA"}}
	}
	env := laneEnv(t, f)
	env.OnActivity(af.GetUser, mock.Anything, "AbCdEfGh").Return(profile("AbCdEfGh", "ada@example.org", "Ada", "L"), nil)
	env.ExecuteWorkflow(UserSync, UserSyncInput{Slug: "AbCdEfGh", Trigger: pairing.TriggerManual, Spec: *pairing.Default()})
	require.NoError(t, env.GetWorkflowError())
	require.Len(t, f.requests, 2)
	require.Equal(t, f.requests[0].ID, f.requests[1].ID, "the same request again: a lane that holds it ignores it")
}

// TestARequestIsNamedByWhatItCarries: a workflow task that timed out after
// its Submit had handed one version of a person was retried with a second
// edit's signal and handed the newer version under the same request ID;
// the lane dropped it as a duplicate and answered with the older one's
// outcome, which the sync took (a broken promise seen in the small drill
// under load). Named by content, the two are two requests, and the sync
// takes only the answer to its own.
func TestARequestIsNamedByWhatItCarries(t *testing.T) {
	older := profile("AbCdEfGh", "ada@example.org", "Ada", "Lovelace-q1a")
	newer := profile("AbCdEfGh", "ada@example.org", "Ada", "Lovelace-q1b")
	older.Updated = time.Date(2026, 12, 6, 16, 4, 36, 0, time.UTC)
	newer.Updated = older.Updated // two edits within one second
	item := func(p pairing.Profile, readAt time.Time) []PairItem { return []PairItem{{Profile: p, ReadAt: readAt}} }
	require.Equal(t, requestDigest(pairing.TriggerProfileUpdate, item(older, older.Updated)),
		requestDigest(pairing.TriggerProfileUpdate, item(older, older.Updated.Add(time.Minute))),
		"the same people read at another moment: the same request")
	require.NotEqual(t, requestDigest(pairing.TriggerProfileUpdate, item(older, older.Updated)),
		requestDigest(pairing.TriggerProfileUpdate, item(newer, older.Updated)), "other values: another request")
	require.NotEqual(t, requestDigest(pairing.TriggerProfileUpdate, item(older, older.Updated)),
		requestDigest(pairing.TriggerRegistration, item(older, older.Updated)), "another trigger: another request")

	// The lane answers the request the timed-out task handed (the older
	// values, under the ID the run's first request has without a digest)
	// before it answers the sync's own.
	stale := UserSyncResult{Slug: "AbCdEfGh", Outcome: OutcomeUnchanged, RecordID: "003000000000001AAA",
		Decision: pairing.Decision{Action: pairing.ActionNoChange, Reason: "the Contact is up to date (Lovelace-q1a)"}}
	own := UserSyncResult{Slug: "AbCdEfGh", Outcome: OutcomeUpdated, RecordID: "003000000000001AAA",
		Decision: pairing.Decision{Action: pairing.ActionUpdate, CRM: []pairing.Change{{Field: "LastName", Before: "Lovelace-q1a", After: "Lovelace-q1b"}}}}
	f := &fakeLanes{}
	env := laneEnv(t, f)
	f.answer = func(req PairRequest) []UserSyncResult {
		timedOut := req.ID[:strings.LastIndex(req.ID, "-")]
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflowByID(req.ReplyTo, PairedSignal, PairReply{Request: timedOut, Results: []UserSyncResult{stale}})
		}, 0)
		return []UserSyncResult{own}
	}
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: UserSyncWorkflowID("AbCdEfGh")})
	env.ExecuteWorkflow(UserSync, UserSyncInput{Slug: "AbCdEfGh", Trigger: pairing.TriggerProfileUpdate, Spec: *pairing.Default(), Profile: &newer})
	require.NoError(t, env.GetWorkflowError())
	var res UserSyncResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, own.Decision, res.Decision, "the answer to the request the sync handed, not to the one a timed-out task handed")

	require.Len(t, f.requests, 1)
	req := f.requests[0]
	require.Equal(t, newer, req.Items[0].Profile)
	require.True(t, strings.HasSuffix(req.ID, "-"+requestDigest(req.Trigger, req.Items)), "the ID %s ends with the digest of what it carries", req.ID)
}

// laneBackfillEnv is a backfill test environment on the code of the
// pairing lanes, with w's Award Force list and a fake lane that decides
// against w's contacts and creates in it.
func laneBackfillEnv(w *world, f *fakeLanes) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(Backfill)
	env.RegisterWorkflow(BackfillChunk)
	env.RegisterActivity(&activities.AwardForce{})
	env.RegisterActivity(&activities.Salesforce{})
	env.OnActivity(af.ListUsers, mock.Anything, mock.Anything).Return(w.listUsers)
	if f.answer == nil {
		f.answer = func(req PairRequest) []UserSyncResult {
			w.mu.Lock()
			defer w.mu.Unlock()
			var out []UserSyncResult
			for _, it := range req.Items {
				key := activities.IdentifierKey(it.Profile.Values["email"])
				d := req.Spec.Decide(req.Trigger, it.Profile, w.contacts[key])
				res := UserSyncResult{Slug: it.Profile.Slug, Outcome: outcomeOf(d), Decision: d, RecordID: d.RecordID}
				if d.Action == pairing.ActionCreate {
					w.nextID++
					res.RecordID = fmt.Sprintf("003-new-%d", w.nextID)
					w.contacts[key] = []pairing.CRMRecord{{ID: res.RecordID, Values: map[string]string{"Email": key}}}
					w.creates[it.Profile.Slug]++
				}
				out = append(out, res)
			}
			return out
		}
	}
	f.install(env)
	return env
}

func TestAChunkHandsItsUsersToTheirLanes(t *testing.T) {
	w := newWorld(250)
	f := &fakeLanes{}
	env := laneBackfillEnv(w, f)
	env.ExecuteWorkflow(Backfill, BackfillInput{Spec: *pairing.Default(), PagesPerChunk: 3})
	require.NoError(t, env.GetWorkflowError())
	var p Progress
	require.NoError(t, env.GetWorkflowResult(&p))
	noEmail := 250 / 50
	require.Equal(t, 250, p.Seen)
	require.Equal(t, noEmail, p.Skipped, "users without email are skipped by the chunk, not handed to a lane")
	require.Equal(t, 25, p.Unchanged)
	require.Equal(t, 25, p.Updated)
	require.Equal(t, 250-noEmail-50, p.Created)
	handed := map[string]int{}
	for i, req := range f.requests {
		require.LessOrEqual(t, len(req.Items), maxItemsPerRequest)
		require.Equal(t, pairing.TriggerBackfill, req.Trigger)
		for _, it := range req.Items {
			handed[it.Profile.Slug]++
			require.Equal(t, LaneOf(it.Profile.Slug), f.lanes[i], "%s went to another lane", it.Profile.Slug)
		}
	}
	require.Len(t, handed, 250-noEmail)
	for slug, n := range handed {
		require.Equal(t, 1, n, "%s handed %d times", slug, n)
	}
	require.Equal(t, len(f.requests), p.SalesforceCalls, "each reply's share of calls is tallied")
}

func TestTheBackfillsCountIsTheFirstChunksFirstPage(t *testing.T) {
	w := newWorld(250)
	f := &fakeLanes{}
	env := laneBackfillEnv(w, f)
	env.ExecuteWorkflow(Backfill, BackfillInput{Spec: *pairing.Default(), PagesPerChunk: 2})
	require.NoError(t, env.GetWorkflowError())
	var p Progress
	require.NoError(t, env.GetWorkflowResult(&p))
	require.Equal(t, 250, p.Seen)
	require.Equal(t, 3, w.lists, "three pages of 100, each listed once: the count is page 1")
	require.Equal(t, 3, p.AwardForceCalls)
}

func TestUsersSharingAnIdentifierGoToOneLane(t *testing.T) {
	w := newWorld(0)
	for i, slug := range []string{"SharerAa", "SharerBb", "SharerCc", "AloneDdd"} {
		email := "shared@example.org"
		if i == 3 {
			email = "alone@example.org"
		}
		w.users = append(w.users, pairing.Profile{Slug: slug, Values: map[string]string{"email": email, "last_name": slug}})
	}
	f := &fakeLanes{}
	env := laneBackfillEnv(w, f)
	env.ExecuteWorkflow(Backfill, BackfillInput{Spec: *pairing.Default()})
	require.NoError(t, env.GetWorkflowError())
	laneOf := map[string]int{}
	for i, req := range f.requests {
		for _, it := range req.Items {
			laneOf[it.Profile.Slug] = f.lanes[i]
		}
	}
	require.Equal(t, LaneOf("SharerAa"), laneOf["SharerAa"])
	require.Equal(t, laneOf["SharerAa"], laneOf["SharerBb"], "a lane must see every holder of an identifier")
	require.Equal(t, laneOf["SharerAa"], laneOf["SharerCc"])
	require.Equal(t, LaneOf("AloneDdd"), laneOf["AloneDdd"])
}

func TestABackfillStopsWhenALaneReportsAnOrgWideRefusal(t *testing.T) {
	w := newWorld(300)
	f := &fakeLanes{answer: func(req PairRequest) []UserSyncResult {
		out := make([]UserSyncResult, len(req.Items))
		for i, it := range req.Items {
			out[i] = UserSyncResult{Slug: it.Profile.Slug, Outcome: OutcomeFailed, ErrorType: activities.ErrTypeSalesforceOrgRefused,
				Error: "SalesforceOrgRefused: salesforce: 403 API_DISABLED_FOR_ORG: The REST API is not enabled for this Organization."}
		}
		return out
	}}
	env := laneBackfillEnv(w, f)
	env.ExecuteWorkflow(Backfill, BackfillInput{Spec: *pairing.Default(), PagesPerChunk: 1, Concurrency: 1})
	err := env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "got %v", err)
	require.Equal(t, ErrTypeBackfillStopped, appErr.Type())
	require.Contains(t, err.Error(), "API_DISABLED_FOR_ORG")
	chunks := map[string]bool{}
	for _, req := range f.requests {
		chunks[req.ReplyTo] = true
	}
	require.Len(t, chunks, 1, "the first chunk's refusal stops the backfill: no other chunk runs")
}

func TestUserSyncWithAWholeProfileReadsNothingFromAwardForce(t *testing.T) {
	p := profile("AbCdEfGh", "ada@example.org", "Ada", "Lovelace")
	p.Updated = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	f := &fakeLanes{answer: func(req PairRequest) []UserSyncResult {
		return []UserSyncResult{{Slug: req.Items[0].Profile.Slug, Outcome: OutcomeCreated, RecordID: "003000000000001AAA"}}
	}}
	env := laneEnv(t, f)
	var memo map[string]any
	env.OnUpsertMemo(mock.Anything).Return(nil).Run(func(args mock.Arguments) { memo = args.Get(0).(map[string]any) })
	env.ExecuteWorkflow(UserSync, UserSyncInput{Slug: "AbCdEfGh", Trigger: pairing.TriggerRegistration, Spec: *pairing.Default(), Profile: &p})
	require.NoError(t, env.GetWorkflowError())
	env.AssertActivityNotCalled(t, "GetUser", mock.Anything, mock.Anything)
	require.Len(t, f.requests, 1)
	it := f.requests[0].Items[0]
	require.Equal(t, p.Values, it.Profile.Values)
	require.Equal(t, p.Updated, it.ReadAt, "the payload was taken no earlier than its updated time")
	require.Equal(t, p.Updated.Unix(), memo[MemoSyncedVersion], "the synced version is recorded for replays")
	require.Equal(t, ProfileDigest(pairing.Default(), p), memo[MemoSyncedDigest], "and what it held, for an edit of the same second")
}

func TestUserSyncReadsAwardForceWhenThePayloadLacksAFieldTheSpecReads(t *testing.T) {
	spec := pairing.Default()
	spec.Fields = append(spec.Fields, pairing.FieldPair{AwardForce: "JobTitle", CRM: "Title"})
	partial := profile("AbCdEfGh", "ada@example.org", "Ada", "Lovelace") // no JobTitle: the webhook did not include it
	partial.Updated = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	full := partial
	full.Values = map[string]string{"email": "ada@example.org", "first_name": "Ada", "last_name": "Lovelace", "JobTitle": "Analyst"}
	f := &fakeLanes{answer: func(req PairRequest) []UserSyncResult {
		return []UserSyncResult{{Slug: req.Items[0].Profile.Slug, Outcome: OutcomeUpdated}}
	}}
	env := laneEnv(t, f)
	env.OnActivity(af.GetUser, mock.Anything, "AbCdEfGh").Return(full, nil).Once()
	env.ExecuteWorkflow(UserSync, UserSyncInput{Slug: "AbCdEfGh", Trigger: pairing.TriggerProfileUpdate, Spec: *spec, Profile: &partial})
	require.NoError(t, env.GetWorkflowError())
	env.AssertExpectations(t)
	require.Equal(t, "Analyst", f.requests[0].Items[0].Profile.Values["JobTitle"])
}

// Webhooks arriving while a sync waits for its lane: a replay of the same
// version, or an older one, starts no other pass; a newer one does, with
// the newer profile and no Award Force read. The same version with other
// values (two edits within one second), or two signals of one version that
// differ, start another pass that reads Award Force: only it knows which
// edit is the later.
func TestUserSyncCoalescesSignalsOfVersionsItAlreadyHas(t *testing.T) {
	base := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	version := func(d time.Duration, last string) *pairing.Profile {
		p := profile("AbCdEfGh", "ada@example.org", "Ada", last)
		p.Updated = base.Add(d)
		return &p
	}
	for _, tc := range []struct {
		name    string
		signals []*pairing.Profile
		again   *pairing.Profile // the next pass's profile; nil: no other pass
		read    bool             // the next pass reads Award Force
	}{
		{"a replay of the same version", []*pairing.Profile{version(0, "V0"), version(0, "V0")}, nil, false},
		{"an older version", []*pairing.Profile{version(-time.Minute, "Old")}, nil, false},
		{"a newer version, then a replay of it", []*pairing.Profile{version(time.Minute, "V1"), version(time.Minute, "V1")}, version(time.Minute, "V1"), false},
		{"the same version with other values", []*pairing.Profile{version(0, "V0b")}, nil, true},
		{"a newer version twice, with other values", []*pairing.Profile{version(time.Minute, "V1"), version(time.Minute, "V1b")}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeLanes{answer: func(req PairRequest) []UserSyncResult {
				return []UserSyncResult{{Slug: req.Items[0].Profile.Slug, Outcome: OutcomeUpdated}}
			}}
			env := laneEnv(t, f)
			env.OnUpsertMemo(mock.Anything).Return(nil)
			for _, p := range tc.signals {
				env.RegisterDelayedCallback(func() {
					env.SignalWorkflow(ResyncSignal, Resync{Trigger: pairing.TriggerProfileUpdate, Profile: p})
				}, 500*time.Millisecond) // while the lane works (it answers after 1 s)
			}
			env.ExecuteWorkflow(UserSync, UserSyncInput{Slug: "AbCdEfGh", Trigger: pairing.TriggerProfileUpdate, Spec: *pairing.Default(), Profile: version(0, "V0")})
			err := env.GetWorkflowError()
			env.AssertActivityNotCalled(t, "GetUser", mock.Anything, mock.Anything)
			if tc.read {
				require.Nil(t, continuedAs(t, env).Profile, "the next pass reads Award Force")
				return
			}
			if tc.again == nil {
				require.NoError(t, err, "no other pass")
				return
			}
			var can *workflow.ContinueAsNewError
			require.True(t, errors.As(err, &can), "want another pass, got %v", err)
			var next UserSyncInput
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
			require.NotNil(t, next.Profile)
			require.Equal(t, tc.again.Updated, next.Profile.Updated)
			require.Equal(t, "V1", next.Profile.Values["last_name"])
		})
	}
}

// requesterOf5 hands five people to the lanes and waits for their answers.
func requesterOf5(ctx workflow.Context) (int, error) {
	var items []PairItem
	for i := range 5 {
		items = append(items, PairItem{Profile: profile(fmt.Sprintf("Person0%d", i), fmt.Sprintf("p%d@example.org", i), "P", "Q")})
	}
	var q requester
	res, err := q.pair(ctx, *pairing.Default(), pairing.TriggerManual, items)
	return len(res), err
}

// answersAt makes the lanes answer each person handed in a reply of its
// own, the i-th (counting every handing) after at(i), and records when
// each request was handed.
func answersAt(env *testsuite.TestWorkflowEnvironment, at func(i int) (time.Duration, bool)) *[]time.Time {
	var handed []time.Time
	n := 0
	env.RegisterActivity(&Coordinator{})
	env.OnActivity(coord.Submit, mock.Anything, mock.Anything, mock.Anything).Return(func(_ context.Context, _ int, req PairRequest) error {
		handed = append(handed, env.Now())
		for _, it := range req.Items {
			d, ok := at(n)
			n++
			if !ok {
				continue
			}
			res := UserSyncResult{Slug: it.Profile.Slug, Outcome: OutcomeUnchanged, RecordID: "003000000000003AAA"}
			env.RegisterDelayedCallback(func() {
				env.SignalWorkflow(PairedSignal, PairReply{Request: req.ID, Results: []UserSyncResult{res}})
			}, d)
		}
		return nil
	})
	return &handed
}

// runRequesterOf5 runs requesterOf5 with the lanes lanes installs, and
// returns the timers it set; every one of the five must be answered.
func runRequesterOf5(t *testing.T, lanes func(env *testsuite.TestWorkflowEnvironment)) []time.Duration {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(requesterOf5)
	lanes(env)
	var timers []time.Duration
	env.SetOnTimerScheduledListener(func(_ string, d time.Duration) { timers = append(timers, d) })
	env.ExecuteWorkflow(requesterOf5)
	require.NoError(t, env.GetWorkflowError())
	var answered int
	require.NoError(t, env.GetWorkflowResult(&answered))
	require.Equal(t, 5, answered)
	return timers
}

// A requester keeps one timer for the lanes' silence, whatever the number
// of answers: five answers a second apart, one timer (a timer an answer
// before ChangeOneSilenceTimer).
func TestARequesterKeepsOneTimerForManyAnswers(t *testing.T) {
	var handed *[]time.Time
	timers := runRequesterOf5(t, func(env *testsuite.TestWorkflowEnvironment) {
		handed = answersAt(env, func(i int) (time.Duration, bool) { return time.Duration(i+1) * time.Second, true })
	})
	require.Len(t, *handed, 1, "handed once")
	require.Equal(t, []time.Duration{resubmitAfter}, timers, "one timer for five answers")
}

// The silence is counted from the last answer: one answer 20 minutes in,
// then none; the requester hands the others again 30 minutes after that
// answer, not 30 minutes after it started waiting.
func TestARequesterCountsTheSilenceFromTheLastAnswer(t *testing.T) {
	var handed *[]time.Time
	runRequesterOf5(t, func(env *testsuite.TestWorkflowEnvironment) {
		handed = answersAt(env, func(i int) (time.Duration, bool) {
			switch {
			case i == 0:
				return 20 * time.Minute, true
			case i < 5:
				return 0, false // silence
			default:
				return time.Second, true // handed again: answered
			}
		})
	})
	require.Len(t, *handed, 2, "handed again once, after the silence")
	require.Equal(t, 20*time.Minute+resubmitAfter, (*handed)[1].Sub((*handed)[0]).Round(time.Second), "30 minutes after the last answer")
}

// A lane that says its queue holds the people (Queued) is waited for as
// long as maxWait, with the one silence timer too: answered two hours
// later, they are not handed again.
func TestARequesterWaitsForAQueueBeyondTheSilence(t *testing.T) {
	handed := 0
	timers := runRequesterOf5(t, func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterActivity(&Coordinator{})
		env.OnActivity(coord.Submit, mock.Anything, mock.Anything, mock.Anything).Return(func(_ context.Context, _ int, req PairRequest) error {
			handed++
			env.RegisterDelayedCallback(func() {
				env.SignalWorkflow(PairedSignal, PairReply{Request: req.ID, Queued: true})
			}, time.Second)
			var res []UserSyncResult
			for _, it := range req.Items {
				res = append(res, UserSyncResult{Slug: it.Profile.Slug, Outcome: OutcomeUnchanged, RecordID: "003000000000003AAA"})
			}
			env.RegisterDelayedCallback(func() {
				env.SignalWorkflow(PairedSignal, PairReply{Request: req.ID, Results: res})
			}, 2*time.Hour)
			return nil
		})
	})
	require.Equal(t, 1, handed, "not handed again while the queue holds them")
	require.Len(t, timers, 2, "the silence timer, set again for the queue's wait when it fired: %v", timers)
	require.Equal(t, resubmitAfter, timers[0])
	require.Equal(t, maxWait-resubmitAfter+time.Second, timers[1].Round(time.Second))
}
