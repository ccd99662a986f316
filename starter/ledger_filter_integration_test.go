package main

import (
	"context"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/workflows"
)

// On the real server, a lane that began its org's identity ledger vouches
// for it (it does not ask about a newcomer), and a run reset from the UI
// does not: its replay rebuilt a filter without what the run wrote after
// the reset point, so it asks about everyone again.
func TestIntegrationALaneResetFromTheUIAsksTheLedgerAboutEveryone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stack := identityStack(t, "", sandbox.Options{})
	registered(t, stack, afsim.User{Email: "ada@example.org", FirstName: "Ada", LastName: "Lovelace"})
	st := laneStatus(t, stack, 0)
	if st.LedgerVouched["contact"] == 0 || st.Counts.LedgerNotAsked == 0 {
		t.Fatalf("a fresh lane should vouch for the ledger it began and not ask about a newcomer: %+v", st)
	}

	// Reset the lane's run to its last completed workflow task.
	lane := workflows.LaneWorkflowID(0)
	desc, err := stack.Client.DescribeWorkflowExecution(ctx, lane, "")
	if err != nil {
		t.Fatal(err)
	}
	run := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	var last int64
	it := stack.Client.GetWorkflowHistory(ctx, lane, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
			last = e.GetEventId()
		}
	}
	reset, err := stack.Client.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{
		Namespace:                 stack.Server.Namespace,
		WorkflowExecution:         &commonpb.WorkflowExecution{WorkflowId: lane, RunId: run},
		Reason:                    "test: a lane reset from the UI",
		WorkflowTaskFinishEventId: last,
		RequestId:                 "reset-" + run,
	})
	if err != nil {
		t.Fatal(err)
	}
	var before workflows.LaneStatus
	waitForLong(t, func() bool {
		v, err := stack.Client.QueryWorkflow(ctx, lane, reset.GetRunId(), workflows.LaneQuery)
		return err == nil && v.Get(&before) == nil
	}, "the reset run to answer its query", time.Minute)

	_, bobRec := registered(t, stack, afsim.User{Email: "bob@example.org", FirstName: "Bob", LastName: "Bobbo"})
	if bobRec == "" {
		t.Fatal("Bob was not paired")
	}
	var after workflows.LaneStatus
	waitForLong(t, func() bool {
		after = laneStatus(t, stack, 0)
		return after.Counts.Batches > before.Counts.Batches && after.InFlight == 0
	}, "the reset run to end Bob's batch", time.Minute)
	if after.LedgerAsked <= before.LedgerAsked {
		t.Fatalf("the reset run asked the ledger about %d keys (%d before Bob): it trusted a filter its replay rebuilt",
			after.LedgerAsked, before.LedgerAsked)
	}
	if len(after.LedgerVouched) != 0 {
		t.Fatalf("a reset run says it vouches for %v", after.LedgerVouched)
	}
}
