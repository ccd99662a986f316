package workflows

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
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

// grantLog records the permits a budget hands out, with when.
type grantLog struct {
	at    []time.Time
	to    []string // request IDs
	n     []int
	total int
	// moments are when each permit may be used, in grant order: the
	// grant's time, or for a paced grant its From + i×Every.
	moments []time.Time
	// momentTo is the request ID of each moment's grant.
	momentTo []string
}

// budgetTest runs a budget with the given rate that receives requests at
// the given times; it ends the run after stopAfter permits (the budget's
// own bound is far larger), through a continue-as-new.
func budgetTest(t *testing.T, rate float64, requests map[time.Duration][]PermitRequest) (*grantLog, *BudgetState) {
	t.Helper()
	return budgetTestFrom(t, rate, nil, requests)
}

// budgetTestFrom is budgetTest for a budget that starts with state (the
// requests waiting in it are owed too).
func budgetTestFrom(t *testing.T, rate float64, state *BudgetState, requests map[time.Duration][]PermitRequest) (*grantLog, *BudgetState) {
	t.Helper()
	owed := wanted(requests)
	if state != nil {
		for _, reqs := range state.Waiting {
			for _, r := range reqs {
				owed += r.N
			}
		}
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(AwardForceBudget)
	env.RegisterActivity(&Coordinator{})
	env.OnActivity(coord.CurrentBudget, mock.Anything).Return(BudgetSettings{RatePerMinute: rate, GrantsPerRun: owed}, nil)
	log := &grantLog{}
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, PermitGrantSignal, mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		g := args.Get(4).(PermitGrant)
		log.at = append(log.at, env.Now())
		log.to = append(log.to, g.Request)
		log.n = append(log.n, g.N)
		log.total += g.N
		for i := range g.N {
			m := env.Now()
			if g.Every > 0 {
				m = g.From.Add(time.Duration(i) * g.Every)
			}
			log.moments = append(log.moments, m)
			log.momentTo = append(log.momentTo, g.Request)
		}
	})
	for at, reqs := range requests {
		env.RegisterDelayedCallback(func() {
			for _, r := range reqs {
				env.SignalWorkflow(PermitSignal, r)
			}
		}, at)
	}
	env.SetTestTimeout(time.Minute)
	env.ExecuteWorkflow(AwardForceBudget, BudgetInput{State: state})
	var can *workflow.ContinueAsNewError
	err := env.GetWorkflowError()
	require.True(t, errors.As(err, &can), "the run ends at its bound: %v", err)
	var next BudgetInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	return log, next.State
}

// wanted counts the permits requests ask for.
func wanted(requests map[time.Duration][]PermitRequest) int {
	n := 0
	for _, reqs := range requests {
		for _, r := range reqs {
			n += r.N
		}
	}
	return n
}

func permits(id, class string, n int) PermitRequest {
	return PermitRequest{ID: id, ReplyTo: "asker-" + id, ReplyRun: "run", Class: class, N: n}
}

func TestTheBudgetPacesPermitsBelowTheRate(t *testing.T) {
	log, _ := budgetTest(t, 60, map[time.Duration][]PermitRequest{
		0:               {permits("a", ClassBackfill, 30)},
		5 * time.Second: {permits("b", ClassBackfill, 30)},
	})
	require.Equal(t, 60, log.total)
	// Never more than 60 in any minute: at least 60/60 s apart, with the
	// margin, and not much more (the whole budget is used).
	for i := 1; i < len(log.at); i++ {
		gap := log.at[i].Sub(log.at[i-1])
		require.GreaterOrEqual(t, gap, time.Second, "permits %d and %d", i-1, i)
		require.LessOrEqual(t, gap, 1100*time.Millisecond, "permits %d and %d", i-1, i)
	}
	for i := range log.at {
		inMinute := 0
		for j := i; j < len(log.at) && log.at[j].Sub(log.at[i]) < time.Minute; j++ {
			inMinute++
		}
		require.LessOrEqual(t, inMinute, 60)
	}
	span := log.at[len(log.at)-1].Sub(log.at[0])
	require.Less(t, span.Seconds(), 59/0.97, "≥ 97%% of the rate")
}

func TestTheBudgetTakesTurnsBetweenWebhooksAndBackfills(t *testing.T) {
	log, _ := budgetTest(t, 60, map[time.Duration][]PermitRequest{
		0:               {permits("backfill", ClassBackfill, 50)},
		3 * time.Second: {permits("webhook-1", ClassEvents, 1), permits("webhook-2", ClassEvents, 1)},
	})
	first := map[string]int{}
	for i, id := range log.to {
		if _, ok := first[id]; !ok {
			first[id] = i
		}
	}
	// The webhooks' permits come within a turn or two of their arrival, not
	// after the backfill's fifty.
	require.LessOrEqual(t, first["webhook-1"], 6, "order %v", log.to[:10])
	require.LessOrEqual(t, first["webhook-2"], 8, "order %v", log.to[:10])
}

func TestWithoutALimitTheBudgetGrantsAtOnce(t *testing.T) {
	// Both requests wait when the budget starts (two signals may reach it
	// in two workflow tasks, and the first would be granted alone).
	a, b := permits("a", ClassBackfill, 500), permits("b", ClassEvents, 3)
	log, _ := budgetTestFrom(t, 0, &BudgetState{Waiting: map[string][]*PermitRequest{ClassBackfill: {&a}, ClassEvents: {&b}}}, nil)
	// The test environment may run the two grants' signals in either
	// order: the order they are sent in is take's (below).
	require.ElementsMatch(t, []int{3, 500}, log.n, "one grant a request, all its permits")
	require.Equal(t, log.at[0], log.at[1])
}

func TestWithoutALimitEventsAreGrantedFirst(t *testing.T) {
	a, b := permits("a", ClassBackfill, 500), permits("b", ClassEvents, 3)
	bud := newBudget(&BudgetState{Waiting: map[string][]*PermitRequest{ClassBackfill: {&a}, ClassEvents: {&b}}})
	first, n := bud.take(math.MaxInt)
	require.Equal(t, "b", first.ID)
	require.Equal(t, 3, n, "all its permits at once")
	second, n := bud.take(math.MaxInt)
	require.Equal(t, "a", second.ID)
	require.Equal(t, 500, n)
	require.Zero(t, bud.due())
}

func TestTheBudgetCarriesWhatIsOwedAcrossContinueAsNew(t *testing.T) {
	// The run's bound is 5 permits, while 10 are asked for and a duplicate
	// of the request comes again.
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(AwardForceBudget)
	env.RegisterActivity(&Coordinator{})
	env.OnActivity(coord.CurrentBudget, mock.Anything).Return(BudgetSettings{RatePerMinute: 60, GrantsPerRun: 5}, nil)
	granted := 0
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, PermitGrantSignal, mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		granted += args.Get(4).(PermitGrant).N
	})
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(PermitSignal, permits("a", ClassBackfill, 10))
		env.SignalWorkflow(PermitSignal, permits("a", ClassBackfill, 10)) // a resubmission
	}, 0)
	env.ExecuteWorkflow(AwardForceBudget, BudgetInput{})
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(env.GetWorkflowError(), &can))
	var next BudgetInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.Equal(t, 5, granted)
	require.Len(t, next.State.Waiting[ClassBackfill], 1, "the duplicate was ignored")
	require.Equal(t, 5, next.State.Waiting[ClassBackfill][0].N, "five permits still owed")
	require.False(t, next.State.Next.IsZero(), "the pace carries over")
}

// chunkEnv is a BackfillChunk test environment with the activities it
// calls registered, for the test to mock.
func chunkEnv() *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(BackfillChunk)
	env.RegisterActivity(&activities.AwardForce{})
	env.RegisterActivity(&activities.Salesforce{})
	env.RegisterActivity(&Coordinator{})
	return env
}

// onePerPage is page in.Page of a list of three pages, a user each.
func onePerPage(in activities.ListUsersInput) activities.ListUsersResult {
	users := []pairing.Profile{{Slug: fmt.Sprintf("Page%dUsr", in.Page), Values: map[string]string{"email": ""}}}
	return activities.ListUsersResult{Users: users, Total: 3, LastPage: 3}
}

// runDryChunk runs a dry-run chunk of onePerPage's three pages, whose
// users have no record.
func runDryChunk(t *testing.T, env *testsuite.TestWorkflowEnvironment) {
	t.Helper()
	env.OnActivity(sf.FindRecords, mock.Anything, mock.Anything).Return(activities.FindRecordsResult{}, nil)
	env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil)
	env.ExecuteWorkflow(BackfillChunk, ChunkInput{Spec: *pairing.Default(), FirstPage: 1, LastPage: 3, DryRun: true})
	require.NoError(t, env.GetWorkflowError())
}

// A workflow's Award Force calls take permits: calls made together share
// one request, a 429 takes a new permit after its Retry-After, and a
// permanent refusal takes none.
func TestAwardForceCallsTakePermits(t *testing.T) {
	env := chunkEnv()
	var asked []PermitRequest
	env.OnActivity(coord.RequestPermits, mock.Anything, mock.Anything).Return(func(_ context.Context, req PermitRequest) error {
		asked = append(asked, req)
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflowByID(req.ReplyTo, PermitGrantSignal, PermitGrant{Request: req.ID, N: req.N})
		}, 0)
		return nil
	})
	tries := map[int]int{}
	env.OnActivity(af.ListUsers, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ListUsersInput) (activities.ListUsersResult, error) {
		tries[in.Page]++
		if in.Page == 2 && tries[2] == 1 {
			return activities.ListUsersResult{}, temporal.NewApplicationErrorWithOptions("Too Many Attempts.", activities.ErrTypeAwardForceRateLimited,
				temporal.ApplicationErrorOptions{NextRetryDelay: 3 * time.Second})
		}
		return onePerPage(in), nil
	})
	runDryChunk(t, env)
	var res ChunkResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Len(t, res.Users, 3)
	require.Equal(t, map[int]int{1: 1, 2: 2, 3: 1}, tries, "the 429 is tried again, once")
	require.Len(t, asked, 2, "the three pages share one request; the retry takes another")
	require.Equal(t, 3, asked[0].N)
	require.Equal(t, 1, asked[1].N)
	require.Equal(t, ClassBackfill, asked[0].Class)
}

// TestAPermitRequestIsNamedByItsCount: a workflow task that timed out after
// its RequestPermits had asked one permit is retried and asks three under
// the same sequence number. The budget (dedupe while held, as budget.go
// does) holds the first; were the second taken for it, two pages would
// wait 30 minutes for a resubmission. Named by count, it is a request of
// its own.
func TestAPermitRequestIsNamedByItsCount(t *testing.T) {
	env := chunkEnv()
	held := map[string]bool{}
	var asked []PermitRequest
	env.OnActivity(coord.RequestPermits, mock.Anything, mock.Anything).Return(func(_ context.Context, req PermitRequest) error {
		asked = append(asked, req)
		grant := []PermitGrant{}
		if len(asked) == 1 {
			// The timed-out task's request, held and not granted yet.
			orphan := req.ReplyTo + "/" + req.ReplyRun + "/permits-1"
			held[orphan] = true
			grant = append(grant, PermitGrant{Request: orphan, N: 1})
		}
		if !held[req.ID] {
			held[req.ID] = true
			grant = append(grant, PermitGrant{Request: req.ID, N: req.N})
		}
		env.RegisterDelayedCallback(func() {
			for _, g := range grant {
				delete(held, g.Request)
				env.SignalWorkflowByID(req.ReplyTo, PermitGrantSignal, g)
			}
		}, time.Second)
		return nil
	})
	env.OnActivity(af.ListUsers, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ListUsersInput) (activities.ListUsersResult, error) {
		return onePerPage(in), nil
	})
	start := env.Now()
	runDryChunk(t, env)
	require.Len(t, asked, 1, "no resubmission: the three pages had their permits")
	require.Equal(t, 3, asked[0].N)
	require.True(t, strings.HasSuffix(asked[0].ID, "/permits-1x3"), "the ID %s names the count", asked[0].ID)
	require.Less(t, env.Now().Sub(start), resubmitAfter)
}

// A queue of 100,000 requests: each is granted once, in arrival order
// within its class, the classes taking turns, and a resubmission of a
// request held is not queued again. (Counting the queue at every grant, as
// the budget once did, made this quadratic: BenchmarkBudgetPermit shows
// the cost per permit does not grow with the queue.)
func TestTheBudgetGrantsAQueueOf100000InTurnAndOnce(t *testing.T) {
	const n = 100_000
	b := newBudget(nil)
	b.rate = 60
	for i := range n {
		class := ClassEvents
		if i%2 == 1 {
			class = ClassBackfill
		}
		b.enqueue(PermitRequest{ID: fmt.Sprintf("r%d", i), Class: class, N: 1})
		if i%10 == 0 {
			b.enqueue(PermitRequest{ID: fmt.Sprintf("r%d", i), Class: class, N: 1}) // resubmitted
		}
	}
	require.Equal(t, n, b.due())
	next := map[string]int{ClassEvents: 0, ClassBackfill: 1}
	last := ""
	for i := range n {
		req, got := b.take(math.MaxInt)
		require.NotNil(t, req, "grant %d", i)
		require.Equal(t, 1, got)
		class := ClassEvents
		if req.Class == ClassBackfill {
			class = ClassBackfill
		}
		require.NotEqual(t, last, class, "the classes take turns while both wait")
		last = class
		require.Equal(t, fmt.Sprintf("r%d", next[class]), req.ID, "arrival order within a class")
		next[class] += 2
	}
	require.Zero(t, b.due())
	req, _ := b.take(math.MaxInt)
	require.Nil(t, req)
	require.Empty(t, b.held)
}

// BenchmarkBudgetPermit is the cost of one permit (a request queued, one
// granted) with 1,000 and 100,000 requests waiting: the two should be
// about equal.
func BenchmarkBudgetPermit(bm *testing.B) {
	for _, waiting := range []int{1_000, 100_000} {
		bm.Run(fmt.Sprintf("waiting=%d", waiting), func(bm *testing.B) {
			b := newBudget(nil)
			b.rate = 60
			for i := range waiting {
				b.enqueue(PermitRequest{ID: fmt.Sprintf("w%d", i), Class: ClassEvents, N: 1})
			}
			bm.ResetTimer()
			for i := range bm.N {
				b.enqueue(PermitRequest{ID: fmt.Sprintf("b%d", i), Class: ClassEvents, N: 1})
				if req, _ := b.take(math.MaxInt); req == nil || b.due() != waiting {
					bm.Fatal("the queue should stay as long")
				}
			}
		})
	}
}
