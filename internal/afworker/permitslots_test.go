package afworker

import (
	"context"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
)

// The Award Force worker's interceptor holds an activity until its
// permit's moment (the header a paced call carries).
func TestAnAwardForceActivityStartsAtItsPermitsMoment(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{&permitSlots{}}})
	env.SetContextPropagators([]workflow.ContextPropagator{activities.PermitSlotPropagator{}})
	slot := time.Now().Add(400 * time.Millisecond)
	p, err := converter.GetDefaultDataConverter().ToPayload(slot)
	if err != nil {
		t.Fatal(err)
	}
	env.SetHeader(&commonpb.Header{Fields: map[string]*commonpb.Payload{"afsync-permit-slot": p}})
	env.RegisterActivityWithOptions(func(context.Context) (time.Time, error) { return time.Now(), nil }, activity.RegisterOptions{Name: "Call"})
	v, err := env.ExecuteActivity("Call")
	if err != nil {
		t.Fatal(err)
	}
	var ran time.Time
	if err := v.Get(&ran); err != nil {
		t.Fatal(err)
	}
	if ran.Before(slot.Add(-50 * time.Millisecond)) {
		t.Fatalf("the call ran at %s, before its moment %s", ran.Format(time.StampMilli), slot.Format(time.StampMilli))
	}
}
