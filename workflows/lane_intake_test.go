package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/pairing"
)

// TestALaneTakesRequestsHandedInOneSignal: several requesters' requests in
// one PairBatchSignal are held, paired and answered each to its own
// requester as if they had come one a signal; a request the lane already
// holds (a retried Submit) is taken once, whichever signal brings it again.
// A lane run on the code before (ChangeLaneTakesBatches) leaves batches
// unread, as that code did.
func TestALaneTakesRequestsHandedInOneSignal(t *testing.T) {
	ada := pairRequest("webhook-ada", pairing.TriggerRegistration, person("AdaLovel", "ada@example.org", "Ada", "Lovelace"))
	grace := pairRequest("webhook-grace", pairing.TriggerProfileUpdate, person("GraceHop", "grace@example.org", "Grace", "Hopper"))
	alan := pairRequest("webhook-alan", pairing.TriggerRegistration, person("AlanTuri", "alan@example.org", "Alan", "Turing"))
	run := func(t *testing.T, old bool) *laneTest {
		lt := newLaneTest(t, testLaneSettings())
		if old {
			lt.env.OnGetVersion(ChangeLaneTakesBatches, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
		}
		lt.crm.add("003000000000000UPD", "grace@example.org", "Grace", "Murray")
		lt.env.RegisterDelayedCallback(func() {
			lt.env.SignalWorkflow(PairBatchSignal, PairBatch{Requests: []PairRequest{ada, grace}})
			lt.env.SignalWorkflow(PairSignal, alan)
			// Sent again, alone and within a batch, after a Submit was retried.
			lt.env.SignalWorkflow(PairSignal, ada)
			lt.env.SignalWorkflow(PairBatchSignal, PairBatch{Requests: []PairRequest{grace, alan}})
		}, 0)
		lt.runUntil(LaneInput{Lane: 0}, time.Hour)
		return lt
	}

	t.Run("batches", func(t *testing.T) {
		lt := run(t, false)
		require.Len(t, lt.crm.lookups(), 1, "the three gathered into one batch")
		require.Equal(t, OutcomeCreated, lt.answers.one(t, "AdaLovel").Outcome)
		require.Equal(t, OutcomeUpdated, lt.answers.one(t, "GraceHop").Outcome)
		require.Equal(t, OutcomeCreated, lt.answers.one(t, "AlanTuri").Outcome)
		for _, id := range []string{"webhook-ada", "webhook-grace", "webhook-alan"} {
			replies := lt.answers.to(id)
			require.Len(t, replies, 1, "%s is answered once", id)
			require.Equal(t, "requester-"+id, replies[0].to)
			require.Len(t, replies[0].reply.Results, 1)
		}
		require.Len(t, lt.crm.holding("ada@example.org"), 1)
		require.Len(t, lt.crm.holding("alan@example.org"), 1)
	})
	t.Run("a lane run before batches", func(t *testing.T) {
		lt := run(t, true)
		require.Equal(t, OutcomeCreated, lt.answers.one(t, "AdaLovel").Outcome, "Ada came alone too")
		require.Equal(t, OutcomeCreated, lt.answers.one(t, "AlanTuri").Outcome)
		require.Empty(t, lt.answers.of("GraceHop"), "Grace came only in batches")
		require.Equal(t, "Murray", lt.crm.holding("grace@example.org")[0].Values["LastName"])
	})
}

// sentBatches records what an intake sends, holding each send until told.
type sentBatches struct {
	mu      sync.Mutex
	batches [][]PairRequest
	lanes   []int
	release chan struct{}
	fail    error
}

func (s *sentBatches) send(_ context.Context, n int, reqs []PairRequest) error {
	<-s.release
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, reqs)
	s.lanes = append(s.lanes, n)
	return s.fail
}

// TestSubmitsHandedMeanwhileGoInOneSignal: while a signal to a lane is
// under way, what is handed to that lane waits and goes in as few signals
// as the batch bounds allow; each request goes exactly once and each Submit
// returns when its own signal is accepted.
func TestSubmitsHandedMeanwhileGoInOneSignal(t *testing.T) {
	var in intake
	s := &sentBatches{release: make(chan struct{})}
	ctx := context.Background()

	first := make(chan error, 1)
	go func() { first <- in.hand(ctx, 0, intakeRequest(0, 10), s.send) }()
	// The first signal is under way (its sender waits on release) while
	// 200 more are handed, to the same lane.
	require.Eventually(t, func() bool {
		in.mu.Lock()
		defer in.mu.Unlock()
		return in.lanes[0] != nil && in.lanes[0].sending && len(in.lanes[0].waiting) == 0
	}, 5*time.Second, time.Millisecond)
	const more = 200
	var wg sync.WaitGroup
	errs := make(chan error, more)
	for i := 1; i <= more; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- in.hand(ctx, 0, intakeRequest(i, 10), s.send)
		}()
	}
	require.Eventually(t, func() bool {
		in.mu.Lock()
		defer in.mu.Unlock()
		return len(in.lanes[0].waiting) == more
	}, 5*time.Second, time.Millisecond)
	select {
	case err := <-first:
		t.Fatalf("a Submit returned before its signal was accepted: %v", err)
	default:
	}
	close(s.release)
	require.NoError(t, <-first)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	require.Len(t, s.batches, 1+(more+maxBatchRequests-1)/maxBatchRequests, "the first alone, then batches of at most %d", maxBatchRequests)
	require.Len(t, s.batches[0], 1)
	seen := map[string]int{}
	for _, b := range s.batches {
		require.LessOrEqual(t, len(b), maxBatchRequests)
		for _, r := range b {
			seen[r.ID]++
		}
	}
	require.Len(t, seen, more+1)
	for id, n := range seen {
		require.Equal(t, 1, n, "%s sent once", id)
	}
}

// TestABatchStaysUnderThePayloadBound: heavy requests split into signals
// of at most maxBatchBytes; one heavier than that goes alone.
func TestABatchStaysUnderThePayloadBound(t *testing.T) {
	box := &laneOutbox{}
	sizes := []int{maxBatchBytes / 2, maxBatchBytes / 2, 1, maxBatchBytes * 2, 1}
	for i, size := range sizes {
		box.waiting = append(box.waiting, &handing{req: intakeRequest(i, 1), size: size})
	}
	var got [][]int
	for len(box.waiting) > 0 {
		var b []int
		for _, h := range nextHanding(box) {
			b = append(b, h.size)
		}
		got = append(got, b)
	}
	require.Equal(t, [][]int{{maxBatchBytes / 2, maxBatchBytes / 2}, {1}, {maxBatchBytes * 2}, {1}}, got)
}

// TestASignalsFailureReachesEverySubmitItCarried: a refused signal fails
// each Submit it carried (their local activities retry); the next signal
// goes on.
func TestASignalsFailureReachesEverySubmitItCarried(t *testing.T) {
	var in intake
	refused := errors.New("the lane's namespace is unavailable")
	s := &sentBatches{release: make(chan struct{}), fail: refused}
	close(s.release)
	for i := range 3 {
		err := in.hand(context.Background(), 1, intakeRequest(i, 1), s.send)
		require.ErrorIs(t, err, refused)
	}
	require.Equal(t, []int{1, 1, 1}, s.lanes)
	s.mu.Lock()
	s.fail = nil
	s.mu.Unlock()
	require.NoError(t, in.hand(context.Background(), 1, intakeRequest(9, 1), s.send))

	// A Submit whose caller gives up returns at once; its request may
	// still go (a lane ignores one it holds).
	slow := &sentBatches{release: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, in.hand(ctx, 2, intakeRequest(10, 1), slow.send), context.Canceled)
	close(slow.release)
}

// intakeRequest is request i with people profiles of about 100 bytes each.
func intakeRequest(i, people int) PairRequest {
	r := PairRequest{ID: fmt.Sprintf("sync-%d/run/1", i), ReplyTo: fmt.Sprintf("sync-%d", i), ReplyRun: "run"}
	for p := range people {
		r.Items = append(r.Items, PairItem{Profile: pairing.Profile{Slug: fmt.Sprintf("u%d-%d", i, p), Values: map[string]string{"email": strings.Repeat("x", 80)}}})
	}
	return r
}

// A lane that answered requesters since its last commit records the
// answers by a task of its own (a 1 ms timer) before it continues as new
// (lane-commits-answers): a refused continue-as-new task would run the
// answering local activity again, after some requesters had ended. A lane
// run from before goes straight on, as that code did.
func TestALaneRecordsItsAnswersBeforeContinuingAsNew(t *testing.T) {
	for _, tc := range []struct {
		name string
		old  bool
		want []string
	}{
		{"answers committed", false, []string{"answer", "commit"}},
		{"a lane run before lane-commits-answers", true, []string{"answer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testLaneSettings()
			s.BatchesPerRun = 1
			lt := newLaneTest(t, s)
			if tc.old {
				lt.env.OnGetVersion(ChangeLaneCommitsAnswers, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
			}
			steps := commitSteps(lt.env, "Answer", "answer")
			lt.send(0, pairRequest("webhook-ada", pairing.TriggerRegistration, person("AdaLovel", "ada@example.org", "Ada", "Lovelace")))
			next := lt.runToBound(LaneInput{Lane: 0})
			require.Equal(t, OutcomeCreated, lt.answers.one(t, "AdaLovel").Outcome)
			require.Equal(t, tc.want, *steps)
			require.Empty(t, next.State.Items)
		})
	}
}

// commitSteps records, in order, each start of env's local activity named
// la (as step) and each 1 ms timer (as "commit", see commitSignals).
func commitSteps(env *testsuite.TestWorkflowEnvironment, la, step string) *[]string {
	var steps []string
	env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		if info.ActivityType.Name == la {
			steps = append(steps, step)
		}
	})
	env.SetOnTimerScheduledListener(func(_ string, d time.Duration) {
		if d == time.Millisecond {
			steps = append(steps, "commit")
		}
	})
	return &steps
}
