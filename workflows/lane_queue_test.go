package workflows

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/pairing"
)

// onAnswers hands got each answer a workflow of env sends through
// Coordinator.Answer.
func onAnswers(env *testsuite.TestWorkflowEnvironment, got func(Answer)) {
	env.RegisterActivity(&Coordinator{})
	env.OnActivity(coord.Answer, mock.Anything, mock.Anything).Return(func(_ context.Context, as []Answer) (int, error) {
		for _, a := range as {
			got(a)
		}
		return 0, nil
	})
}

// queued is a request of n people for a queue segment.
func queued(id string, n int) QueuedRequest {
	r := QueuedRequest{ID: id, ReplyTo: "requester-" + id, ReplyRun: "run-" + id, Spec: "fp", Trigger: pairing.TriggerBackfill}
	for i := range n {
		r.Items = append(r.Items, &LaneItem{Request: id, Profile: pairing.Profile{Slug: fmt.Sprintf("%s-%d", id, i)}})
	}
	return r
}

// A queue segment gives its people back in arrival order, a refill at a
// time (splitting a request when it must), counts a batch handed twice
// once, tells each requester its people wait, and ends once empty.
func TestALaneQueueGivesItsPeopleBackInOrderAndEnds(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(LaneQueue)
	var refills []QueueBatch
	var notified []string
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		switch args.String(3) {
		case RefillSignal:
			require.Equal(t, LaneWorkflowID(2), args.String(1))
			refills = append(refills, args.Get(4).(QueueBatch))
		case PairedSignal:
			t.Errorf("a requester told it waits by a signal command: %v", args)
		}
	})
	onAnswers(env, func(a Answer) {
		require.True(t, a.Reply.Queued)
		notified = append(notified, a.Reply.Request)
	})
	spec := map[string]pairing.Spec{"fp": *pairing.Default()}
	first := QueueBatch{ID: "run/1", Seq: 7, Specs: spec, Requests: []QueuedRequest{queued("a", 3), queued("b", 2)}}
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(QueueSignal, first)
		env.SignalWorkflow(QueueSignal, first) // a retried local activity
		env.SignalWorkflow(QueueSignal, QueueBatch{ID: "run/2", Seq: 7, Specs: spec, Requests: []QueuedRequest{queued("c", 1)}})
	}, 0)
	for i := range 3 {
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(TakeSignal, QueueTake{Max: 4}) }, time.Duration(i+1)*time.Minute)
	}
	env.ExecuteWorkflow(LaneQueue, LaneQueueInput{Lane: 2, Seq: 7})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	require.ElementsMatch(t, []string{"a", "b", "c"}, notified, "each requester told once (the signals go together)")
	require.Len(t, refills, 2, "the segment ends once it gave everyone back")
	var order []string
	for _, r := range refills {
		require.Equal(t, 7, r.Seq)
		for _, q := range r.Requests {
			require.Contains(t, r.Specs, q.Spec)
			for _, it := range q.Items {
				order = append(order, it.Profile.Slug)
			}
		}
	}
	require.Equal(t, []string{"a-0", "a-1", "a-2", "b-0", "b-1", "c-0"}, order, "arrival order, the duplicate batch counted once")
	require.False(t, refills[0].Done)
	require.True(t, refills[1].Done, "the last refill says the segment is done")
}

// A lane whose workflow task was refused (a signal came while it continued
// as new) spills again, under the same batch ID, people the first attempt
// did not hand: the segment holds each person once, none dropped. Someone
// given back and handed again later is held again.
func TestALaneQueueHoldsEveryoneOfABatchHandedAgainWithOthers(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(LaneQueue)
	var refills []QueueBatch
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		if args.String(3) == RefillSignal {
			refills = append(refills, args.Get(4).(QueueBatch))
		}
	})
	onAnswers(env, func(Answer) {})
	spec := map[string]pairing.Spec{"fp": *pairing.Default()}
	a := queued("a", 5)
	firstTry := QueuedRequest{ID: a.ID, ReplyTo: a.ReplyTo, ReplyRun: a.ReplyRun, Spec: a.Spec, Trigger: a.Trigger, Items: a.Items[:2]}
	secondTry := QueuedRequest{ID: a.ID, ReplyTo: a.ReplyTo, ReplyRun: a.ReplyRun, Spec: a.Spec, Trigger: a.Trigger, Items: a.Items[1:]}
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(QueueSignal, QueueBatch{ID: "run/9", Seq: 1, Specs: spec, Requests: []QueuedRequest{firstTry}})
		env.SignalWorkflow(QueueSignal, QueueBatch{ID: "run/9", Seq: 1, Specs: spec, Requests: []QueuedRequest{secondTry}})
	}, 0)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(TakeSignal, QueueTake{Max: 3}) }, time.Minute)
	// a-0 comes back to the lane, fails, and is handed again.
	env.RegisterDelayedCallback(func() {
		again := QueuedRequest{ID: a.ID, ReplyTo: a.ReplyTo, ReplyRun: a.ReplyRun, Spec: a.Spec, Trigger: a.Trigger, Items: a.Items[:1]}
		env.SignalWorkflow(QueueSignal, QueueBatch{ID: "run/10", Seq: 1, Specs: spec, Requests: []QueuedRequest{again}})
	}, 2*time.Minute)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(TakeSignal, QueueTake{Max: 10}) }, 3*time.Minute)
	env.ExecuteWorkflow(LaneQueue, LaneQueueInput{Lane: 0, Seq: 1})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var order []string
	for _, r := range refills {
		for _, q := range r.Requests {
			for _, it := range q.Items {
				order = append(order, it.Profile.Slug)
			}
		}
	}
	require.Equal(t, []string{"a-0", "a-1", "a-2", "a-3", "a-4", "a-0"}, order, "all five once, then a-0 handed again")
	require.True(t, refills[len(refills)-1].Done)
}

// refillOnce is a workflow holding a-0 and a-1 (in flight) that takes one
// refill, and returns the slugs it then holds waiting.
func refillOnce(ctx workflow.Context, onceEach bool) ([]string, error) {
	a := queued("a", 3)
	l := &lane{st: LaneState{Items: []*LaneItem{a.Items[0]}, Queue: &LaneQueueState{Queued: 3}}, flying: map[*LaneItem]bool{a.Items[1]: true}, onceEach: onceEach}
	l.init()
	ch := workflow.GetSignalChannel(ctx, RefillSignal)
	if err := workflow.Await(ctx, func() bool { return ch.Len() > 0 }); err != nil {
		return nil, err
	}
	l.refill(ctx, ch)
	var out []string
	for _, it := range l.st.Items {
		out = append(out, it.Profile.Slug)
	}
	return out, nil
}

func TestALaneDoesNotTakeBackSomeoneItHolds(t *testing.T) {
	for _, tc := range []struct {
		onceEach bool
		want     []string
	}{
		{true, []string{"a-0", "a-2"}},
		{false, []string{"a-0", "a-0", "a-1", "a-2"}}, // lanes from before queue-holds-a-person-once
	} {
		var suite testsuite.WorkflowTestSuite
		env := suite.NewTestWorkflowEnvironment()
		env.RegisterWorkflow(refillOnce)
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(RefillSignal, QueueBatch{Specs: map[string]pairing.Spec{"fp": *pairing.Default()}, Requests: []QueuedRequest{queued("a", 3)}})
		}, time.Second)
		env.ExecuteWorkflow(refillOnce, tc.onceEach)
		require.NoError(t, env.GetWorkflowError())
		var got []string
		require.NoError(t, env.GetWorkflowResult(&got))
		require.Equal(t, tc.want, got, "onceEach %v", tc.onceEach)
	}
}

// askOnce is a workflow whose lane, with people in its queue's only
// segment, asks that segment for people and returns where its queue then
// stands.
func askOnce(ctx workflow.Context, closeAsked bool) (LaneQueueState, error) {
	l := &lane{n: 0, st: LaneState{Queue: &LaneQueueState{Head: 3, Tail: 3, TailHeld: 500, Queued: 500}}, flying: map[*LaneItem]bool{}, closeAsked: closeAsked}
	l.init()
	l.settings = LaneSettings{Hold: 600, Refill: 300}
	l.askRefill(ctx)
	return *l.st.Queue, nil
}

func TestALaneHandsNoMoreToTheSegmentItAsked(t *testing.T) {
	for _, tc := range []struct {
		closeAsked bool
		tail       int
	}{
		{true, 4},  // people handed from now on go to the next segment
		{false, 3}, // lanes from before queue-closes-asked-segment
	} {
		var suite testsuite.WorkflowTestSuite
		env := suite.NewTestWorkflowEnvironment()
		env.RegisterWorkflow(askOnce)
		env.RegisterActivity(&Coordinator{})
		env.OnActivity(coord.Take, mock.Anything, 0, 3, QueueTake{Max: 300}).Return(true, nil).Once()
		env.ExecuteWorkflow(askOnce, tc.closeAsked)
		require.NoError(t, env.GetWorkflowError())
		var q LaneQueueState
		require.NoError(t, env.GetWorkflowResult(&q))
		require.True(t, q.Asked)
		require.Equal(t, 3, q.Head, "the lane takes from the segment it asked")
		require.Equal(t, tc.tail, q.Tail, "closeAsked %v", tc.closeAsked)
		if tc.closeAsked {
			require.Zero(t, q.TailHeld, "the new tail holds nobody yet")
		}
		env.AssertExpectations(t)
	}
}

// headKeepsOne is a workflow whose lane counts 300 people in its queue,
// all of them in head segment 28 which it asked (the tail moved on to 29);
// the segment gives 300 and says it holds more (it held 200 the lane
// counted nowhere). The lane takes them, asks for people again if it
// still counts some, and returns where its queue then stands.
func headKeepsOne(ctx workflow.Context, trust bool) (LaneQueueState, error) {
	return refillThenAsk(ctx, LaneQueueState{Head: 28, Tail: 29, Queued: 300, Asked: true}, trust, false)
}

// refillThenAsk is a lane whose queue stands at start, with the versions
// trustSegments and trustTail: it takes the refill it receives, asks for
// more with room to spare, and returns where its queue then stands.
func refillThenAsk(ctx workflow.Context, start LaneQueueState, trustSegments, trustTail bool) (LaneQueueState, error) {
	l := &lane{n: 0, st: LaneState{Queue: &start}, flying: map[*LaneItem]bool{}, trustSegments: trustSegments, trustTail: trustTail, onceEach: true}
	l.init()
	l.settings = LaneSettings{Hold: 600, Refill: 300}
	return takeRefillsThenAsk(ctx, l, 1)
}

// takeRefillsThenAsk has l take n refills as they come, then ask for more
// with room to spare, and returns where l's queue then stands.
func takeRefillsThenAsk(ctx workflow.Context, l *lane, n int) (LaneQueueState, error) {
	ch := workflow.GetSignalChannel(ctx, RefillSignal)
	for range n {
		if err := workflow.Await(ctx, func() bool { return ch.Len() > 0 }); err != nil {
			return LaneQueueState{}, err
		}
		l.refill(ctx, ch)
	}
	l.st.Items = nil // written meanwhile: room for more
	l.askRefill(ctx)
	return *l.st.Queue, nil
}

func TestALaneAsksItsHeadSegmentUntilItSaysItIsDone(t *testing.T) {
	for _, tc := range []struct {
		trust bool
		asks  int
	}{
		{true, 1},  // the head said it holds more: asked again
		{false, 0}, // lanes from before queue-trusts-segments: the 200 are left
	} {
		var suite testsuite.WorkflowTestSuite
		env := suite.NewTestWorkflowEnvironment()
		env.RegisterWorkflow(headKeepsOne)
		env.RegisterActivity(&Coordinator{})
		asked := 0
		env.OnActivity(coord.Take, mock.Anything, 0, 28, QueueTake{Max: 300}).Return(func(context.Context, int, int, QueueTake) (bool, error) {
			asked++
			return true, nil
		}).Maybe()
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(RefillSignal, QueueBatch{Seq: 28, Specs: map[string]pairing.Spec{"fp": *pairing.Default()}, Requests: []QueuedRequest{queued("a", 300)}})
		}, time.Second)
		env.ExecuteWorkflow(headKeepsOne, tc.trust)
		require.NoError(t, env.GetWorkflowError())
		var q LaneQueueState
		require.NoError(t, env.GetWorkflowResult(&q))
		require.Equal(t, tc.asks, asked, "trust %v: asks of segment 28", tc.trust)
		if tc.trust {
			require.Equal(t, 28, q.Head, "the head is still the segment that holds more")
			require.Positive(t, q.Queued)
			require.True(t, q.Asked)
		} else {
			require.Equal(t, 29, q.Head, "taken for empty")
		}
	}
}

// afterLastRefill is a lane whose count of queued people (300) ends with
// the refill it receives (see refillThenAsk).
func afterLastRefill(ctx workflow.Context, start LaneQueueState, trustTail bool) (LaneQueueState, error) {
	return refillThenAsk(ctx, start, true, trustTail)
}

// The lane's count can fall short of what its segments hold (a retried
// workflow task handed people again under a batch's ID with others): when
// it reaches zero as a segment gives its last, the next segment, handed 284
// people, is still asked; only the tail's last refill empties the queue.
func TestALaneAsksTheNextSegmentWhenItsCountEndsEarly(t *testing.T) {
	for _, tc := range []struct {
		name      string
		start     LaneQueueState
		done      int // the segment whose last refill arrives
		trustTail bool
		asks      map[int]int
		head      int
		queued    bool
	}{
		{"the next segment holds people", LaneQueueState{Head: 11, Tail: 12, TailHeld: 284, Queued: 300, Asked: true}, 11, true, map[int]int{12: 1}, 12, true},
		{"lanes before queue-trusts-tail: segment 12 is forgotten", LaneQueueState{Head: 11, Tail: 12, TailHeld: 284, Queued: 300, Asked: true}, 11, false, map[int]int{}, 12, false},
		{"the tail gave its last: the queue is empty", LaneQueueState{Head: 12, Tail: 12, TailHeld: 284, Queued: 300, Asked: true}, 12, true, map[int]int{}, 12, false},
		{"the next segment was never handed anyone", LaneQueueState{Head: 11, Tail: 12, Queued: 300, Asked: true}, 11, true, map[int]int{}, 12, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestWorkflowEnvironment()
			env.RegisterWorkflow(afterLastRefill)
			env.RegisterActivity(&Coordinator{})
			asks := map[int]int{}
			env.OnActivity(coord.Take, mock.Anything, 0, mock.Anything, QueueTake{Max: 300}).Return(func(_ context.Context, _ int, seq int, _ QueueTake) (bool, error) {
				asks[seq]++
				return true, nil
			}).Maybe()
			env.RegisterDelayedCallback(func() {
				env.SignalWorkflow(RefillSignal, QueueBatch{Seq: tc.done, Done: true, Specs: map[string]pairing.Spec{"fp": *pairing.Default()}, Requests: []QueuedRequest{queued("a", 300)}})
			}, time.Second)
			env.ExecuteWorkflow(afterLastRefill, tc.start, tc.trustTail)
			require.NoError(t, env.GetWorkflowError())
			var q LaneQueueState
			require.NoError(t, env.GetWorkflowResult(&q))
			require.Equal(t, tc.asks, asks, "segments asked")
			require.Equal(t, tc.head, q.Head)
			require.Equal(t, tc.queued, q.Queued > 0, "queue counted as holding people: %+v", q)
		})
	}
}

// A segment asked for as many people as its lane has room for, a refill at
// most Each (queue-refills-ahead), sends them in several refills one after
// the other, oldest first, all but the last marked More; the last of the segment's
// people says Done. An ask without Each is answered in one refill.
func TestALaneQueueRefillsAheadInSeveralSignals(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(LaneQueue)
	var refills []QueueBatch
	var sentAt []time.Time
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, RefillSignal, mock.Anything).After(time.Second).Return(nil).Run(func(args mock.Arguments) {
		refills = append(refills, args.Get(4).(QueueBatch))
		sentAt = append(sentAt, env.Now())
	})
	onAnswers(env, func(Answer) {})
	spec := map[string]pairing.Spec{"fp": *pairing.Default()}
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(QueueSignal, QueueBatch{ID: "run/1", Seq: 4, Specs: spec, Requests: []QueuedRequest{queued("a", 5), queued("b", 4)}})
	}, 0)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(TakeSignal, QueueTake{Max: 2}) }, time.Minute)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(TakeSignal, QueueTake{Max: 5, Each: 2}) }, 2*time.Minute)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(TakeSignal, QueueTake{Max: 10, Each: 3}) }, 3*time.Minute)
	env.ExecuteWorkflow(LaneQueue, LaneQueueInput{Lane: 0, Seq: 4})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var sizes []int
	var more, done []bool
	var order []string
	for _, r := range refills {
		sizes = append(sizes, r.people())
		more = append(more, r.More)
		done = append(done, r.Done)
		for _, q := range r.Requests {
			for _, it := range q.Items {
				order = append(order, it.Profile.Slug)
			}
		}
	}
	require.Equal(t, []int{2, 2, 2, 1, 2}, sizes, "one refill, then 5 in refills of 2, then the last 2")
	require.Equal(t, []bool{false, true, true, false, false}, more)
	require.Equal(t, []bool{false, false, false, false, true}, done)
	require.Equal(t, []string{"a-0", "a-1", "a-2", "a-3", "a-4", "b-0", "b-1", "b-2", "b-3"}, order)
	// Each refill of an answer is sent once the one before has arrived:
	// the last, which answers the ask, never overtakes the others.
	require.True(t, sentAt[1].Before(sentAt[2]) && sentAt[2].Before(sentAt[3]), "the refills of one ask are sent one after the other: %v", sentAt)
}

// refillsAhead is a lane holding held people of Hold 1,600 (refills of
// 300) with queue-refills-ahead: it asks its head segment, takes the
// refills signalled to it, asks again with room to spare, and returns
// where its queue then stands.
func refillsAhead(ctx workflow.Context, held, refills int) (LaneQueueState, error) {
	l := &lane{n: 0, st: LaneState{Queue: &LaneQueueState{Head: 5, Tail: 6, Queued: 3000}}, flying: map[*LaneItem]bool{}, trustSegments: true, trustTail: true, onceEach: true, refillsAhead: true}
	l.init()
	l.settings = LaneSettings{Hold: 1600, Refill: 300}
	for i := range held {
		l.st.Items = append(l.st.Items, &LaneItem{Request: "held", Profile: pairing.Profile{Slug: fmt.Sprintf("held-%d", i)}})
	}
	l.askRefill(ctx)
	return takeRefillsThenAsk(ctx, l, refills)
}

// A lane with refills ahead asks for all the room it has, and its ask
// stands until the refill not marked More: it does not ask again meanwhile.
func TestALaneAsksForAllItsRoomAndWaitsForTheLastRefill(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refills []bool // More of each refill signalled
		asks    []QueueTake
	}{
		{"the first of three came", []bool{true}, []QueueTake{{Max: 900, Each: 300}}},
		{"all three came", []bool{true, true, false}, []QueueTake{{Max: 900, Each: 300}, {Max: 1600, Each: 300}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestWorkflowEnvironment()
			env.RegisterWorkflow(refillsAhead)
			env.RegisterActivity(&Coordinator{})
			var asks []QueueTake
			env.OnActivity(coord.Take, mock.Anything, 0, 5, mock.Anything).Return(func(_ context.Context, _, _ int, t QueueTake) (bool, error) {
				asks = append(asks, t)
				return true, nil
			})
			for i, more := range tc.refills {
				env.RegisterDelayedCallback(func() {
					env.SignalWorkflow(RefillSignal, QueueBatch{Seq: 5, More: more, Specs: map[string]pairing.Spec{"fp": *pairing.Default()}, Requests: []QueuedRequest{queued(fmt.Sprintf("r%d", i), 300)}})
				}, time.Duration(i+1)*time.Second)
			}
			env.ExecuteWorkflow(refillsAhead, 700, len(tc.refills))
			require.NoError(t, env.GetWorkflowError())
			var q LaneQueueState
			require.NoError(t, env.GetWorkflowResult(&q))
			require.Equal(t, tc.asks, asks, "asked again only once the last refill came")
			require.True(t, q.Asked)
			require.Equal(t, 3000-300*len(tc.refills), q.Queued)
			require.Equal(t, 5, q.Head)
		})
	}
}
