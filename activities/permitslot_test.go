package activities

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// An Award Force activity waits for its permit's moment, measured from its
// start on the server's clock; a moment past is no wait.
func TestAnActivityWaitsForItsPermitsMoment(t *testing.T) {
	run := func(slot time.Time) time.Duration {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestActivityEnvironment()
		env.SetContextPropagators([]workflow.ContextPropagator{PermitSlotPropagator{}})
		p, err := converter.GetDefaultDataConverter().ToPayload(slot)
		require.NoError(t, err)
		env.SetHeader(&commonpb.Header{Fields: map[string]*commonpb.Payload{permitSlotHeader: p}})
		env.RegisterActivityWithOptions(func(ctx context.Context) (time.Duration, error) {
			start := time.Now()
			err := AwaitPermitSlot(ctx)
			return time.Since(start), err
		}, activity.RegisterOptions{Name: "Waits"})
		v, err := env.ExecuteActivity("Waits")
		require.NoError(t, err)
		var waited time.Duration
		require.NoError(t, v.Get(&waited))
		return waited
	}
	require.GreaterOrEqual(t, run(time.Now().Add(400*time.Millisecond)), 300*time.Millisecond, "a moment ahead is waited for")
	require.Less(t, run(time.Now().Add(-time.Hour)), 300*time.Millisecond, "a moment past is not")
}
