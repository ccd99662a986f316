package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/afsync/afsync/internal/devstack"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/workflows"
)

// A backlog larger than a lane holds: people register while the org's
// daily allocation is spent, and a backfill hands the same people (and the
// rest) beside them. The lane keeps at most its Hold; the others wait in
// its queue, several queue workflows long. Once the allocation returns,
// everyone is paired exactly once; no lane run carries more than its Hold
// into the next, and every history stays short.
func TestIntegrationABacklogBeyondWhatALaneHoldsWaitsInItsQueue(t *testing.T) {
	t.Parallel()
	const users, registrations, hold, segment = 400, 120, 40, 100
	stack := startStackOptions(t, devstack.Options{
		Sandbox:    sandbox.Options{Seed: sandbox.SeedOptions{Users: users, Seed: 31}},
		QuotaPause: 2 * time.Second, LaneHold: hold, LaneQueueSegment: segment, LaneBatchesPerRun: 4,
	})
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	before := contactsByEmail(sf.Records("Contact"))
	webhooks := webhookServer(t, stack)
	sf.SpendAllocation()

	var fresh []string
	for i := range registrations {
		fresh = append(fresh, af.AddUser(afsim.User{Email: fmt.Sprintf("queued.%d@example.org", i), FirstName: "Q", LastName: fmt.Sprintf("Ueued%d", i)}).Slug)
	}
	out := &syncBuffer{}
	o := &backfillOptions{globalOptions: &globalOptions{temporal: configFor(stack)}, concurrency: 2, pagesPerChunk: 1, json: true, stdout: out}
	backfill := make(chan error, 1)
	go func() { backfill <- runBackfill(context.Background(), o) }()
	var wg sync.WaitGroup
	for _, slug := range fresh {
		wg.Go(func() {
			postWebhook(t, webhooks, `{"event":"membership_registered","source":"ui","user":{"slug":"`+slug+`"}}`)
		})
	}
	wg.Wait()

	// The lane holds its Hold; the rest wait in its queue.
	var st workflows.LaneStatus
	waitForLong(t, func() bool {
		st = laneStatus(t, stack, 0)
		return st.Queued >= users/2
	}, "half the people in the lane's queue", 2*time.Minute)
	if st.Waiting > hold {
		t.Fatalf("the lane holds %d people, more than its %d: %+v", st.Waiting, hold, st)
	}

	sf.RestoreAllocation()
	awaitBackfill(t, backfill, out, 3*time.Minute, func() string {
		return fmt.Sprintf("lane %+v; where its requests went:\n%s", laneStatus(t, stack, 0), trail(t, stack, "afsync-backfill-"))
	})
	for _, slug := range fresh {
		if res, err := syncResult(t, stack.Client, slug, time.Minute); err != nil || res.Outcome == workflows.OutcomeFailed {
			t.Fatalf("the sync of %s: %s %s (%v); lane %+v; where its request went:\n%s", slug, res.Outcome, res.Error, err, laneStatus(t, stack, 0), trail(t, stack, "afsync-user-"+slug))
		}
	}
	assertPairedOnce(t, stack, before)
	if st := laneStatus(t, stack, 0); st.Queued != 0 || st.Waiting != 0 {
		t.Errorf("the lane still counts people: %+v", st)
	} else if st.LedgerVouched["contact"] < 2*registrations {
		// Its chain began the ledger: every run since vouches for it
		// (a continued run is not a reset one).
		t.Errorf("the lane's last run vouches for %d keys of the ledger its chain began: %+v", st.LedgerVouched["contact"], st)
	}

	// Every run of the lane carried at most its Hold, and every history,
	// the lane's and its queue's, stayed short.
	runs, segments := assertLaneHistoriesBounded(t, stack, hold)
	saveHistory(t, stack.Client, workflows.LaneQueueWorkflowID(0, 0), "lane-queue.json")
	if runs < 3 {
		t.Errorf("%d lane runs: the lane should have continued as new with people waiting", runs)
	}
	if segments < 2 {
		t.Errorf("%d queue workflows: the backlog should have needed several of %d", segments, segment)
	}
}

// Tens of thousands wait in front of a lane that cannot write: the org's
// daily allocation is spent while a backfill of 20,000 hands everyone at
// once (20 chunks of 1,000, a run's worth), the lane with its defaults (Hold 600, queue
// segments of 2,000). Once the allocation returns, everyone is paired
// once, and no run of the lane or of its queue passes 10,000 events or
// carries a payload over 256 KB.
func TestIntegrationTensOfThousandsWaitWithinTemporalsLimits(t *testing.T) {
	t.Parallel()
	const users = 20_000
	stack := startStackOptions(t, devstack.Options{
		Sandbox:    sandbox.Options{Seed: sandbox.SeedOptions{Users: users, Seed: 77}},
		QuotaPause: 2 * time.Second, LaneBatchesPerRun: 10,
	})
	sf := stack.Sandbox.Salesforce
	before := contactsByEmail(sf.Records("Contact"))
	sf.SpendAllocation()

	out := &syncBuffer{}
	o := &backfillOptions{globalOptions: &globalOptions{temporal: configFor(stack)}, concurrency: workflows.DefaultChunksPerRun, pagesPerChunk: 10, json: true, stdout: out}
	backfill := make(chan error, 1)
	go func() { backfill <- runBackfill(context.Background(), o) }()
	var st workflows.LaneStatus
	waitForLong(t, func() bool {
		st = laneStatus(t, stack, 0)
		return st.Queued >= users*9/10
	}, "nine in ten of the users in the lane's queue", 5*time.Minute)
	t.Logf("waiting in front of the lane: %d held, %d queued", st.Waiting, st.Queued)

	sf.RestoreAllocation()
	awaitBackfill(t, backfill, out, 10*time.Minute, func() string { return fmt.Sprintf("lane %+v", laneStatus(t, stack, 0)) })
	assertPairedOnce(t, stack, before)
	runs, segments := assertLaneHistoriesBounded(t, stack, workflows.DefaultLaneHold)
	if segments < users/workflows.DefaultQueueSegment {
		t.Errorf("%d queue workflows for %d people queued", segments, st.Queued)
	}
	if runs < 3 {
		t.Errorf("%d lane runs: the lane should have continued as new with people waiting", runs)
	}
}

// assertLaneHistoriesBounded checks every run of the lanes and their
// queues: at most 10,000 events, no event over 256 KB, and no lane run
// carrying more than hold waiting people into the next. It returns how
// many lane runs and queue workflows there were.
func assertLaneHistoriesBounded(t *testing.T, stack *devstack.Stack, hold int) (runs, segments int) {
	t.Helper()
	most, biggest, carriedMost := 0, 0, 0
	for _, e := range listWorkflows(t, stack, "WorkflowType = 'PairingLane' OR WorkflowType = 'LaneQueue'") {
		events, carried, largest := historyFacts(t, stack, e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId())
		most, biggest = max(most, events), max(biggest, largest)
		if events > 10_000 || largest > 256<<10 {
			t.Errorf("%s run %s: %d events, largest payload %d bytes", e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId(), events, largest)
		}
		if q := e.GetTaskQueue(); q != workflows.CoordinatorTaskQueue {
			t.Errorf("%s run %s ran on task queue %q: want %q, where no other workflow's tasks wait in front of its own", e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId(), q, workflows.CoordinatorTaskQueue)
		}
		if e.GetType().GetName() == "LaneQueue" {
			segments++
			continue
		}
		runs++
		carriedMost = max(carriedMost, carried)
		if carried > hold {
			t.Errorf("lane run %s continued as new with %d waiting people, more than its %d", e.GetExecution().GetRunId(), carried, hold)
		}
	}
	t.Logf("%d lane runs (the most people carried to the next: %d), %d queue workflows; the longest history %d events, the largest event %d bytes", runs, carriedMost, segments, most, biggest)
	return runs, segments
}

// laneStatus queries lane n.
func laneStatus(t *testing.T, stack *devstack.Stack, n int) workflows.LaneStatus {
	t.Helper()
	v, err := stack.Client.QueryWorkflow(context.Background(), workflows.LaneWorkflowID(n), "", workflows.LaneQuery)
	if err != nil {
		return workflows.LaneStatus{}
	}
	var st workflows.LaneStatus
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// listWorkflows lists the executions query finds, every page.
func listWorkflows(t *testing.T, stack *devstack.Stack, query string) []*workflowpb.WorkflowExecutionInfo {
	t.Helper()
	var out []*workflowpb.WorkflowExecutionInfo
	var token []byte
	for {
		resp, err := stack.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, resp.GetExecutions()...)
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out
		}
	}
}

// visible waits until Temporal's visibility lists at least n executions
// for query: it is eventually consistent, a run shows a moment after it
// ends.
func visible(t *testing.T, stack *devstack.Stack, query string, n int) {
	t.Helper()
	waitForLong(t, func() bool { return len(listWorkflows(t, stack, query)) >= n }, fmt.Sprintf("%d executions listed for %s", n, query), time.Minute)
}

// historyFacts reads one run's history: its events, how many waiting
// people its continue-as-new carried (0 when it did not continue), and
// its largest event (an upper bound of the payloads it carries).
func historyFacts(t *testing.T, stack *devstack.Stack, id, run string) (events, carried, largest int) {
	t.Helper()
	it := stack.Client.GetWorkflowHistory(context.Background(), id, run, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events++
		largest = max(largest, proto.Size(e))
		if a := e.GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil && a.GetWorkflowType().GetName() == "PairingLane" {
			var in workflows.LaneInput
			if err := converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &in); err != nil {
				t.Fatalf("%s: the continue-as-new input: %v", id, err)
			}
			if in.State != nil {
				carried = len(in.State.Items)
			}
		}
	}
	return events, carried, largest
}

// trail says where the requests whose payloads hold needle went, run by run
// of the lanes and their queues: signals in and out, markers, carried over.
// A test that waits in vain prints it, so that a lost person is found.
func trail(t *testing.T, stack *devstack.Stack, needle string) string {
	t.Helper()
	var b strings.Builder
	for _, e := range listWorkflows(t, stack, "WorkflowType = 'PairingLane' OR WorkflowType = 'LaneQueue'") {
		x := e.GetExecution()
		it := stack.Client.GetWorkflowHistory(context.Background(), x.GetWorkflowId(), x.GetRunId(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		head := fmt.Sprintf("%s %s (%s)\n", x.GetWorkflowId(), x.GetRunId(), e.GetStatus())
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil || !strings.Contains(ev.String(), needle) {
				continue
			}
			fmt.Fprintf(&b, "%s  %d %s\n", head, ev.GetEventId(), ev.GetEventType())
			head = ""
		}
	}
	return b.String()
}

// awaitBackfill waits for a backfill runBackfill runs (its error on done)
// and fails the test when it fails or does not end within d, with its
// output and what why says.
func awaitBackfill(t *testing.T, done <-chan error, out *syncBuffer, d time.Duration, why func() string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("backfill: %v\n%s", err, out.String())
		}
	case <-time.After(d):
		t.Fatalf("the backfill did not end within %s\n%s\n%s", d, out.String(), why())
	}
}
