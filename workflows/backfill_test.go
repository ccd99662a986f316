package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// world is a fake pair of APIs behind the mocked activities: users in Award
// Force, contacts in Salesforce, and a log of every write.
type world struct {
	mu       sync.Mutex
	users    []pairing.Profile
	contacts map[string][]pairing.CRMRecord // by identifier key
	creates  map[string]int                 // by slug: records created
	updates  map[string]int                 // by record id
	lists    int
	finds    int    // dry runs' lookups
	requests int    // requests the lanes answered
	reject   string // slug whose create Salesforce refuses
	nextID   int
}

func newWorld(n int) *world {
	w := &world{contacts: map[string][]pairing.CRMRecord{}, creates: map[string]int{}, updates: map[string]int{}}
	for i := range n {
		email := fmt.Sprintf("user%05d@example.org", i)
		if i%50 == 49 {
			email = "" // registered with a mobile number only
		}
		p := pairing.Profile{Slug: fmt.Sprintf("U%07d", i), Values: map[string]string{"email": email, "first_name": "F", "last_name": fmt.Sprintf("L%d", i)}}
		w.users = append(w.users, p)
		switch {
		case email == "":
		case i%10 == 0: // already there, up to date
			w.contacts[activities.IdentifierKey(email)] = []pairing.CRMRecord{{ID: fmt.Sprintf("003-%d", i), Values: map[string]string{"Email": email, "FirstName": "F", "LastName": p.Values["last_name"]}}}
		case i%10 == 1: // already there, stale
			w.contacts[activities.IdentifierKey(email)] = []pairing.CRMRecord{{ID: fmt.Sprintf("003-%d", i), Values: map[string]string{"Email": email, "FirstName": "F", "LastName": "Old"}}}
		}
	}
	return w
}

// onReads answers env's profile reads (GetUser, and a chunk's GetUsers)
// from the world's users.
func (w *world) onReads(env *testsuite.TestWorkflowEnvironment) {
	env.OnActivity(af.GetUser, mock.Anything, mock.Anything).Return(w.getUser)
	env.OnActivity(af.GetUsers, mock.Anything, mock.Anything).Return(w.getUsers)
}

// getUser is GetUser on the world's users.
func (w *world) getUser(_ context.Context, slug string) (pairing.Profile, error) {
	for _, u := range w.users {
		if u.Slug == slug {
			return u, nil
		}
	}
	return pairing.Profile{}, fmt.Errorf("no user %s", slug)
}

// getUsers is GetUsers on the world's users.
func (w *world) getUsers(ctx context.Context, in activities.GetUsersInput) ([]activities.UserRead, error) {
	return activities.ReadEach(ctx, in, w.getUser)
}

func (w *world) listUsers(_ context.Context, in activities.ListUsersInput) (activities.ListUsersResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lists++
	res := activities.ListUsersResult{Total: len(w.users), LastPage: (len(w.users) + in.PerPage - 1) / in.PerPage}
	for i := (in.Page - 1) * in.PerPage; i < len(w.users) && i < in.Page*in.PerPage; i++ {
		res.Users = append(res.Users, w.users[i])
	}
	return res, nil
}

func (w *world) findRecords(_ context.Context, in activities.FindRecordsInput) (activities.FindRecordsResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.finds++
	res := activities.FindRecordsResult{Matches: map[string][]pairing.CRMRecord{}, Queries: 1}
	for _, id := range in.Identifiers {
		if m, ok := w.contacts[activities.IdentifierKey(id)]; ok {
			res.Matches[activities.IdentifierKey(id)] = m
		}
	}
	return res, nil
}

// pair is the pairing lanes as w's org answers one request: a lookup by
// identifier, a decision each (pairing.Decide), the creates and updates
// carried out, a refused create for w.reject, and the record id of a new
// record written back when the spec has record_id_field.
func (w *world) pair(req PairRequest) []UserSyncResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.requests++
	var out []UserSyncResult
	for _, it := range req.Items {
		key := activities.IdentifierKey(it.Profile.Values[req.Spec.UniqueIdentifier.AwardForce])
		d := req.Spec.Decide(req.Trigger, it.Profile, w.contacts[key])
		res := UserSyncResult{Slug: it.Profile.Slug, Outcome: outcomeOf(d), Decision: d, RecordID: d.RecordID}
		switch d.Action {
		case pairing.ActionCreate:
			if it.Profile.Slug == w.reject {
				res.Outcome, res.ErrorType = OutcomeFailed, activities.ErrTypeSalesforceRejected
				res.Error = activities.ErrTypeSalesforceRejected + ": REQUIRED_FIELD_MISSING: Required fields are missing: [LastName] (LastName)"
				break
			}
			w.nextID++
			w.creates[it.Profile.Slug]++
			res.RecordID = fmt.Sprintf("003-new-%d", w.nextID)
			if c := req.Spec.RecordIDChange(it.Profile, res.RecordID); c != nil {
				res.Decision.AwardForce = append(res.Decision.AwardForce, *c)
			}
		case pairing.ActionUpdate:
			w.updates[d.RecordID]++
		}
		out = append(out, res)
	}
	return out
}

// lanes installs w's pairing lanes in env.
func (w *world) lanes(env *testsuite.TestWorkflowEnvironment) {
	(&fakeLanes{answer: w.pair}).answerSubmits(env)
}

// bareBackfillEnv is a test environment with the backfill's workflows and
// activities registered and nothing mocked yet.
func bareBackfillEnv() *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(Backfill)
	env.RegisterWorkflow(BackfillChunk)
	env.RegisterActivity(&activities.AwardForce{})
	env.RegisterActivity(&activities.Salesforce{})
	env.RegisterActivity(&Coordinator{})
	grantPermits(env)
	return env
}

// listingEnv is a test environment whose Award Force list is w's; the
// Salesforce activities are left for the test to mock.
func listingEnv(w *world) *testsuite.TestWorkflowEnvironment {
	env := bareBackfillEnv()
	env.OnActivity(af.ListUsers, mock.Anything, mock.Anything).Return(w.listUsers)
	return env
}

// mockSalesforce makes w answer the Salesforce activities (a dry run's
// lookups) and stand in for the pairing lanes.
func mockSalesforce(env *testsuite.TestWorkflowEnvironment, w *world) *testsuite.TestWorkflowEnvironment {
	env.OnActivity(sf.FindRecords, mock.Anything, mock.Anything).Return(w.findRecords)
	w.lanes(env)
	return env
}

// backfillEnv is a test environment whose APIs are w.
func backfillEnv(w *world) *testsuite.TestWorkflowEnvironment {
	return mockSalesforce(listingEnv(w), w)
}

// runBackfill runs a backfill to the end, following continue-as-new the
// way the server would, and returns the final progress and the number of runs.
func runBackfill(t *testing.T, w *world, in BackfillInput) (Progress, int) {
	t.Helper()
	for runs := 1; runs < 100; runs++ {
		env := backfillEnv(w)
		env.ExecuteWorkflow(Backfill, in)
		require.True(t, env.IsWorkflowCompleted())
		err := env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if errors.As(err, &can) {
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &in))
			require.NotNil(t, in.State, "continue-as-new must carry the state")
			continue
		}
		require.NoError(t, err)
		var p Progress
		require.NoError(t, env.GetWorkflowResult(&p))
		return p, runs
	}
	t.Fatal("backfill never finished")
	return Progress{}, 0
}

func TestBackfillPairsEveryUserOnceAcrossContinueAsNew(t *testing.T) {
	w := newWorld(1234)
	p, runs := runBackfill(t, w, BackfillInput{Spec: *pairing.Default(), PagesPerChunk: 2, Concurrency: 3, ChunksPerRun: 2})

	require.True(t, p.Done)
	require.Equal(t, 1234, p.Total)
	require.Equal(t, 1234, p.Seen)
	require.Equal(t, 4, runs, "13 pages, 2 per chunk, 2 chunks per run: 7 chunks in 4 runs")
	require.Equal(t, 7, p.Chunks)
	noEmail := 1234 / 50
	require.Equal(t, noEmail, p.Skipped)
	require.Equal(t, 124, p.Unchanged) // i%10 == 0
	require.Equal(t, 124, p.Updated)   // i%10 == 1
	require.Equal(t, 1234-noEmail-124-124, p.Created)
	require.Zero(t, p.Failed)
	for slug, n := range w.creates {
		require.Equal(t, 1, n, "user %s created %d times", slug, n)
	}
	require.Len(t, w.creates, p.Created)
	require.Equal(t, 13, w.lists, "each page once, the first also counting the users")
	require.Equal(t, w.requests, p.SalesforceCalls, "the lanes' calls are tallied (the fake counts one a request)")
}

func TestBackfillIsolatesARefusedRecord(t *testing.T) {
	w := newWorld(300)
	w.reject = "U0000005"
	p, _ := runBackfill(t, w, BackfillInput{Spec: *pairing.Default()})
	require.Equal(t, 1, p.Failed)
	require.Equal(t, []Failure{{Slug: "U0000005", Error: "SalesforceRejected: REQUIRED_FIELD_MISSING: Required fields are missing: [LastName] (LastName)"}}, p.Failures)
	require.Equal(t, 300-1-p.Skipped-p.Updated-p.Unchanged, p.Created, "the rest of the batch is created")
}

func TestBackfillDryRunWritesNothingAndDecidesTheSame(t *testing.T) {
	w := newWorld(450)
	env := listingEnv(w)
	env.OnActivity(sf.FindRecords, mock.Anything, mock.Anything).Return(w.findRecords)
	env.ExecuteWorkflow(BackfillChunk, ChunkInput{Spec: *pairing.Default(), FirstPage: 1, LastPage: 5, DryRun: true})
	require.NoError(t, env.GetWorkflowError())
	var plan ChunkResult
	require.NoError(t, env.GetWorkflowResult(&plan))
	env.AssertActivityNotCalled(t, "Write", mock.Anything, mock.Anything)
	env.AssertActivityNotCalled(t, "Submit", mock.Anything, mock.Anything, mock.Anything)
	env.AssertActivityNotCalled(t, "UpdateUser", mock.Anything, mock.Anything)
	require.Len(t, plan.Users, 450)

	stale := plan.Users[1] // i%10 == 1: LastName is stale
	require.Equal(t, pairing.ActionUpdate, stale.Decision.Action)
	require.Equal(t, []pairing.Change{{Field: "LastName", Source: "last_name", Before: "Old", After: "L1"}}, stale.Decision.CRM)
	// The same Decide as a single sync.
	key := activities.IdentifierKey(w.users[1].Values["email"])
	require.Equal(t, pairing.Default().Decide(pairing.TriggerBackfill, w.users[1], w.contacts[key]), stale.Decision)

	// And the real run does what the plan said.
	real, _ := runBackfill(t, w, BackfillInput{Spec: *pairing.Default(), Limit: 450})
	require.Equal(t, plan.Counts.Created, real.Created)
	require.Equal(t, plan.Counts.Updated, real.Updated)
	require.Equal(t, plan.Counts.Unchanged, real.Unchanged)
}

func TestBackfillHonoursTheLimit(t *testing.T) {
	w := newWorld(1000)
	p, _ := runBackfill(t, w, BackfillInput{Spec: *pairing.Default(), Limit: 250, PagesPerChunk: 2})
	require.Equal(t, 250, p.Total)
	require.Equal(t, 250, p.Seen)
	require.Equal(t, 3, w.lists, "pages 1 to 3 only, the first also counting the users")
}

func TestIsFatal(t *testing.T) {
	spec := temporal.NewNonRetryableApplicationError("no field Surname", activities.ErrTypeInvalidSpec, nil)
	cases := []struct {
		err  error
		want bool
	}{
		{spec, true},
		{fmt.Errorf("chunk: %w", spec), true},
		{temporal.NewNonRetryableApplicationError("sync failed", ErrTypeSyncFailed, spec), true},
		{temporal.NewNonRetryableApplicationError("bad key", activities.ErrTypeSalesforceAuth, nil), true},
		{temporal.NewNonRetryableApplicationError("422", activities.ErrTypeAwardForceValidation, nil), false},
		{temporal.NewNonRetryableApplicationError("refused", activities.ErrTypeSalesforceRejected, nil), false},
		{errors.New("network"), false},
		{nil, false},
	}
	for i, tc := range cases {
		if got := isFatal(tc.err); got != tc.want {
			t.Errorf("%d: isFatal(%v) = %v, want %v", i, tc.err, got, tc.want)
		}
	}
}

func TestBackfillStopsOnASpecTheOrgRefutes(t *testing.T) {
	w := newWorld(300)
	env := listingEnv(w)
	(&fakeLanes{answer: func(req PairRequest) []UserSyncResult {
		var out []UserSyncResult
		for _, it := range req.Items {
			out = append(out, UserSyncResult{Slug: it.Profile.Slug, Outcome: OutcomeFailed, ErrorType: activities.ErrTypeInvalidSpec,
				Error: activities.ErrTypeInvalidSpec + ": Contact has no field Surname"})
		}
		return out
	}}).answerSubmits(env)
	env.ExecuteWorkflow(Backfill, BackfillInput{Spec: *pairing.Default(), PagesPerChunk: 1})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(env.GetWorkflowError(), &appErr))
	require.Equal(t, ErrTypeBackfillStopped, appErr.Type())
	require.Contains(t, appErr.Error(), "Surname")
	require.Empty(t, w.creates)
}

func TestChunkKeepsGoingWhenOneAwardForceWriteIsRefused(t *testing.T) {
	w := newWorld(100)
	env := backfillEnv(w)
	spec := pairing.Default()
	spec.RecordIDField = "SfRecord" // every created user gets its id written back
	w.onReads(env)
	env.OnActivity(af.UpdateUser, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.UpdateUserInput) (activities.UpdateUserResult, error) {
		if in.Slug == "U0000002" {
			return activities.UpdateUserResult{}, temporal.NewNonRetryableApplicationError("422: The salesforce id may not be greater than 8 characters.", activities.ErrTypeAwardForceValidation, nil)
		}
		return activities.UpdateUserResult{}, nil
	})
	var failedSA []string
	env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		failedSA, _ = args.Get(0).(temporal.SearchAttributes).GetKeywordList(FailedUsersKey)
	})
	env.ExecuteWorkflow(BackfillChunk, ChunkInput{Spec: *spec, FirstPage: 1, LastPage: 1})
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, []string{"U0000002"}, failedSA, "ops find the failed user's chunk by search attribute")
	var res ChunkResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, 1, res.Counts.Failed)
	require.Equal(t, OutcomeFailed, res.Users[2].Outcome)
	require.Contains(t, res.Users[2].Error, "may not be greater")
	require.Equal(t, OutcomeCreated, res.Users[3].Outcome)
	// The spec maps a profile field: one read a user, the 100 granted at
	// once (no limit here) read maxReadGroup to an activity.
	env.AssertActivityNumberOfCalls(t, "GetUsers", 100/maxReadGroup)
	env.AssertActivityNumberOfCalls(t, "GetUser", 0)
	env.AssertActivityNumberOfCalls(t, "UpdateUser", 98) // every user with a record gets its id (2 have no email)
}

// slowPageEnv is a backfill environment whose Award Force takes an hour to
// answer page 3: long enough to look at the backfill while it waits.
func slowPageEnv(w *world) *testsuite.TestWorkflowEnvironment {
	env := bareBackfillEnv()
	// The first matching expectation answers: page 3's goes first.
	page3 := mock.MatchedBy(func(in activities.ListUsersInput) bool { return in.Page == 3 && in.PerPage == activities.PageSize })
	env.OnActivity(af.ListUsers, mock.Anything, page3).After(time.Hour).Return(w.listUsers)
	env.OnActivity(af.ListUsers, mock.Anything, mock.Anything).Return(w.listUsers)
	return mockSalesforce(env, w)
}

// query asks the workflow under test the named query, into out.
func query(t *testing.T, env *testsuite.TestWorkflowEnvironment, name string, out any) {
	t.Helper()
	v, err := env.QueryWorkflow(name)
	require.NoError(t, err)
	require.NoError(t, v.Get(out))
}

// queryAfter asks the named query once d of workflow time has passed.
func queryAfter(t *testing.T, env *testsuite.TestWorkflowEnvironment, d time.Duration, name string, out any) {
	env.RegisterDelayedCallback(func() { query(t, env, name, out) }, d)
}

func TestChunkAnswersHowFarItHasGot(t *testing.T) {
	w := newWorld(450)
	env := slowPageEnv(w)
	var during, after ChunkProgress
	queryAfter(t, env, time.Minute, ChunkProgressQuery, &during)
	env.ExecuteWorkflow(BackfillChunk, ChunkInput{Spec: *pairing.Default(), FirstPage: 1, LastPage: 5})
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, ChunkProgress{Stage: StageListing, Listed: 100 + 100 + 100 + 50}, during, "pages 1, 2, 4 and 5 are in, whatever their order; page 3 is not")

	query(t, env, ChunkProgressQuery, &after)
	require.Equal(t, ChunkProgress{Stage: StageDone, Listed: 450}, after)
}

func TestBackfillProgressNamesTheChunksInFlight(t *testing.T) {
	w := newWorld(450) // pages 1-2, 3-4 and 5: the second chunk waits on page 3
	env := slowPageEnv(w)
	var during Progress
	queryAfter(t, env, time.Minute, ProgressQuery, &during)
	env.ExecuteWorkflow(Backfill, BackfillInput{Spec: *pairing.Default(), PagesPerChunk: 2, Concurrency: 2})
	require.NoError(t, env.GetWorkflowError())
	id := during.BackfillID
	require.Equal(t, []string{ChunkWorkflowID(id, 2)}, during.Running, "chunks 1 and 3 are done, chunk 2 waits")
	require.Equal(t, 200+50, during.Seen, "pages 1-2 and page 5")

	var final Progress
	require.NoError(t, env.GetWorkflowResult(&final))
	require.Empty(t, final.Running)
	require.Equal(t, 450, final.Seen)
}

// TestChunkPairsItsUsersAsItReadsThem: reading profile fields takes a
// request a user (minutes for a chunk at Award Force's pace); the chunk
// hands its users to the lanes every PairEvery reads instead of after its
// last, and still answers for every user once.
func TestChunkPairsItsUsersAsItReadsThem(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pairEvery int
		early     int // users handed before the slow reads end
	}{
		{"every 200 by default", 0, 200},
		{"every 75", 75, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(450)
			env := listingEnv(w)
			// Reads of users from the 200th on take an hour; the first
			// matching expectation answers, so this one goes first.
			slow := mock.MatchedBy(func(in activities.GetUsersInput) bool {
				return slices.ContainsFunc(in.Slugs, func(s string) bool { return s >= "U0000200" })
			})
			env.OnActivity(af.GetUsers, mock.Anything, slow).After(time.Hour).Return(w.getUsers)
			w.onReads(env)
			start := env.Now()
			var mu sync.Mutex // Submits of one hand run at once
			var handedEarly []string
			(&fakeLanes{answer: func(req PairRequest) []UserSyncResult {
				if env.Now().Sub(start) < time.Hour {
					mu.Lock()
					for _, it := range req.Items {
						handedEarly = append(handedEarly, it.Profile.Slug)
					}
					mu.Unlock()
				}
				return w.pair(req)
			}}).answerSubmits(env)
			spec := pairing.Default()
			spec.Fields = append(spec.Fields, pairing.FieldPair{AwardForce: "JobTitle", CRM: "Title"}) // a profile field: one read a user
			env.ExecuteWorkflow(BackfillChunk, ChunkInput{Spec: *spec, FirstPage: 1, LastPage: 5, PairEvery: tc.pairEvery})
			require.NoError(t, env.GetWorkflowError())
			var res ChunkResult
			require.NoError(t, env.GetWorkflowResult(&res))

			var want []string
			for _, u := range w.users[:tc.early] {
				if u.Values["email"] != "" {
					want = append(want, u.Slug)
				}
			}
			// In any order: a hand of several requests submits them at once.
			require.ElementsMatch(t, want, handedEarly, "the users read before the slow reads are handed while those go on, and no one else")
			require.Equal(t, 450, res.Counts.Seen)
			for i, u := range res.Users {
				require.Equal(t, w.users[i].Slug, u.Slug)
				require.NotEmpty(t, u.Outcome, u.Slug)
			}
			for slug, n := range w.creates {
				require.Equal(t, 1, n, "%s created once", slug)
			}
			require.Equal(t, 9, res.Counts.Skipped, "the users without an email are decided by the chunk")
		})
	}
}
