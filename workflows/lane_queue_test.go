package workflows

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/afsync/afsync/pairing"
)

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
			rp := args.Get(4).(PairReply)
			require.True(t, rp.Queued)
			notified = append(notified, rp.Request)
		}
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
