package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// pendingTrace is what batches sharing a pending did: the most commands
// outstanding at once, and each batch's done calls in order.
type pendingTrace struct {
	most     int
	done     [][]int
	finished int
}

// runPending runs batches of the given sizes at once, sharing a pending
// of bound; each command is a timer of a minute.
func runPending(t *testing.T, bound int, sizes ...int) pendingTrace {
	t.Helper()
	var trace pendingTrace
	wf := func(ctx workflow.Context) error {
		p := &pending{max: bound}
		outstanding := 0
		trace.done = make([][]int, len(sizes))
		for b, n := range sizes {
			workflow.Go(ctx, func(ctx workflow.Context) {
				p.each(ctx, n, func(int) workflow.Future {
					outstanding++
					trace.most = max(trace.most, outstanding)
					return workflow.NewTimer(ctx, time.Minute)
				}, func(i int, f workflow.Future) {
					require.NoError(t, f.Get(ctx, nil))
					outstanding--
					trace.done[b] = append(trace.done[b], i)
				})
				trace.finished++
			})
		}
		return workflow.Await(ctx, func() bool { return trace.finished == len(sizes) })
	}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(wf, workflow.RegisterOptions{Name: "pending"})
	env.ExecuteWorkflow("pending")
	require.NoError(t, env.GetWorkflowError())
	return trace
}

func TestALaneKeepsItsOutstandingCommandsUnderItsBound(t *testing.T) {
	trace := runPending(t, maxPending, 400, 400, 400, 400, 1200)
	require.Equal(t, maxPending, trace.most, "four batches of 400 and one larger than the bound, at once")
	for b, n := range []int{400, 400, 400, 400, 1200} {
		require.Len(t, trace.done[b], n, "batch %d waits for each of its commands", b)
		for i, j := range trace.done[b] {
			require.Equal(t, i, j, "in order")
		}
	}
}

func TestAnUnboundedLaneStartsEveryCommandFirst(t *testing.T) {
	trace := runPending(t, 0, 40, 40, 40, 40)
	require.Equal(t, 160, trace.most, "what a lane did before lane-bounded-input")
}
