package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"

	"github.com/afsync/afsync/internal/afworker"
	"github.com/afsync/afsync/internal/devstack"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/workflows"
)

// sandboxWebhooks serves the worker's webhook receiver, with the sandbox's
// signing key, and points the sandbox's user events at it, as `worker
// --dev` does; it returns the receiver's URL.
func sandboxWebhooks(t *testing.T, stack *devstack.Stack) string {
	t.Helper()
	h, err := afworker.HTTPHandler(stack.Client, stack.Config, stack.Spec, nil, receiverLog(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	url := srv.URL + "/webhooks/awardforce"
	stack.Sandbox.SetWebhookURL(url)
	return url
}

// deliver posts body to the receiver signed as the sandbox signs, and
// returns the receiver's status and answer.
func deliver(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Signature", afsim.Sign(body, sandbox.WebhookSigningKey))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&answer)
	return resp.StatusCode, answer["status"]
}

// A registration deadline: a burst of people registering, each announced by
// the sandbox as a signed webhook carrying the whole user. Every one is
// paired once, no sync reads Award Force, and the lanes batch them.
func TestIntegrationARegistrationBurstIsPairedOnceEach(t *testing.T) {
	t.Parallel()
	stack := startStack(t, sandbox.Options{})
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	sandboxWebhooks(t, stack)
	af.ResetStats()
	sf.ResetStats()

	const people = 100
	res := stack.Sandbox.Burst(context.Background(), sandbox.Burst{Registrations: people, Over: 2 * time.Second, Seed: 7})
	for _, slug := range res.Registered {
		r, err := syncResult(t, stack.Client, slug, 2*time.Minute)
		if err != nil || r.Outcome != workflows.OutcomeCreated {
			t.Errorf("%s: %s (%v), want created", slug, r.Outcome, err)
		}
	}
	byEmail := contactsByEmail(sf.Records("Contact"))
	for _, slug := range res.Registered {
		u, _ := af.User(slug)
		if recs := byEmail[strings.ToLower(u.Email)]; len(recs) != 1 || recs[0]["LastName"] != u.LastName {
			t.Errorf("%s: %d records (%v), want one with the user's values", slug, len(recs), recs)
		}
	}
	if st := af.Stats(); st.Requests != 0 {
		t.Errorf("%d Award Force requests (%v): the webhooks carry the users, none is needed", st.Requests, st.ByRoute)
	}
	// One lookup and one create a batch (and the describe the worker reads
	// once): a handful of calls, not one a person. How many batches the
	// burst makes depends on how fast the lane goes round: 3 on a quiet
	// machine, 5 with seven other dev-server tests running; the bound is a
	// batch per ten people at most. docs/benchmarks.md has the measured
	// figures.
	if calls := sf.Stats().APICalls; calls > 1+2*people/10 {
		t.Errorf("%d Salesforce calls for %d registrations (%v), want them batched", calls, people, sf.Stats().ByRoute)
	}
	t.Logf("%d registrations: %d Salesforce calls, %d Award Force requests", people, sf.Stats().APICalls, af.Stats().Requests)

	// The syncs reached their lane in bulk (Coordinator.Submit): every
	// registrant's request is in the lane's history, some signals carrying
	// several.
	var signals, most int
	waitForLong(t, func() bool {
		var from map[string]bool
		signals, most, from = laneIntake(t, stack)
		for _, slug := range res.Registered {
			if !from[workflows.UserSyncWorkflowID(slug)] {
				return false
			}
		}
		return true
	}, "every registrant's request in the lane's history", time.Minute)
	if most < 2 {
		t.Errorf("%d requests reached the lane in %d signals, none carrying two: the syncs' requests were not gathered", people, signals)
	}
	t.Logf("the lane took the requests in %d signals, at most %d in one", signals, most)

	// The lane gathered the burst with wakes, each back at its moment on
	// the server's clock, and no timer of less than two seconds: the
	// server fires those up to a second late (LaneSettings.PromptWakes).
	wakes := 0
	for _, run := range listWorkflows(t, stack, fmt.Sprintf("WorkflowId = '%s'", workflows.LaneWorkflowID(0))) {
		due := map[int64]time.Time{}
		eachEvent(t, stack.Client, run.GetExecution().GetWorkflowId(), run.GetExecution().GetRunId(), func(e *historypb.HistoryEvent) {
			if a := e.GetTimerStartedEventAttributes(); a != nil && a.GetStartToFireTimeout().AsDuration() < 2*time.Second {
				t.Errorf("the lane started a timer of %v", a.GetStartToFireTimeout().AsDuration())
			}
			if a := e.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "WakeAt" {
				var at time.Time
				if err := converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &at); err != nil {
					t.Fatal(err)
				}
				due[e.GetEventId()] = at
				wakes++
			}
			if a := e.GetActivityTaskCompletedEventAttributes(); a != nil {
				if at, ok := due[a.GetScheduledEventId()]; ok && e.GetEventTime().AsTime().Before(at) {
					t.Errorf("a wake due at %s came back at %s", at, e.GetEventTime().AsTime())
				}
			}
		})
	}
	if wakes == 0 {
		t.Error("the lane gathered the burst without a wake")
	}
	t.Logf("the lane woke %d times", wakes)
}

// laneIntake reads the requests signalled to lane 0, run by run: how many
// signals (PairSignal and PairBatchSignal), the most requests one carried,
// and the requesters they came from.
func laneIntake(t *testing.T, stack *devstack.Stack) (signals, most int, from map[string]bool) {
	t.Helper()
	from = map[string]bool{}
	dc := converter.GetDefaultDataConverter()
	for _, e := range listWorkflows(t, stack, fmt.Sprintf("WorkflowId = '%s'", workflows.LaneWorkflowID(0))) {
		it := stack.Client.GetWorkflowHistory(context.Background(), e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			a := ev.GetWorkflowExecutionSignaledEventAttributes()
			var reqs []workflows.PairRequest
			switch a.GetSignalName() {
			case workflows.PairSignal:
				var r workflows.PairRequest
				if err := dc.FromPayloads(a.GetInput(), &r); err != nil {
					t.Fatal(err)
				}
				reqs = []workflows.PairRequest{r}
			case workflows.PairBatchSignal:
				var b workflows.PairBatch
				if err := dc.FromPayloads(a.GetInput(), &b); err != nil {
					t.Fatal(err)
				}
				reqs = b.Requests
			default:
				continue
			}
			signals++
			most = max(most, len(reqs))
			for _, r := range reqs {
				from[r.ReplyTo] = true
			}
		}
	}
	return signals, most, from
}

// Two versions of one user delivered out of order end with the newer
// values, and a delivery replayed after its sync starts nothing.
func TestIntegrationOutOfOrderAndReplayedWebhooks(t *testing.T) {
	t.Parallel()
	stack := startStack(t, sandbox.Options{})
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	url := sandboxWebhooks(t, stack)
	stack.Sandbox.SetWebhookURL("") // this test delivers by hand, in its own order
	u := af.AddUser(afsim.User{Slug: "OutOfOrd", Email: "out.of.order@example.org", FirstName: "Otto", LastName: "One"})
	older := af.Payload(afsim.EventUpdated, "ui", u.Slug)
	time.Sleep(1100 * time.Millisecond) // `updated` counts in seconds
	af.Edit(u.Slug, func(u *afsim.User) { u.LastName = "Two" })
	newer := af.Payload(afsim.EventUpdated, "ui", u.Slug)
	af.ResetStats()

	if code, status := deliver(t, url, newer); code != http.StatusAccepted {
		t.Fatalf("the newer version: %d %s", code, status)
	}
	first, err := syncResult(t, stack.Client, u.Slug, time.Minute)
	if err != nil || first.Outcome != workflows.OutcomeCreated {
		t.Fatalf("the newer version's sync: %s (%v)", first.Outcome, err)
	}
	d, err := stack.Client.DescribeWorkflow(context.Background(), workflows.UserSyncWorkflowID(u.Slug), "")
	if err != nil {
		t.Fatal(err)
	}
	calls := sf.Stats().APICalls

	// The older version, late, and the newer one replayed: nothing starts.
	for name, body := range map[string][]byte{"the older version": older, "a replay of the newer": newer} {
		if code, status := deliver(t, url, body); code != http.StatusOK || status != "duplicate" {
			t.Errorf("%s: %d %s, want 200 duplicate", name, code, status)
		}
	}
	again, err := stack.Client.DescribeWorkflow(context.Background(), workflows.UserSyncWorkflowID(u.Slug), "")
	if err != nil {
		t.Fatal(err)
	}
	if again.WorkflowExecution.RunID != d.WorkflowExecution.RunID {
		t.Error("a duplicate started another sync")
	}
	if n := sf.Stats().APICalls; n != calls {
		t.Errorf("%d Salesforce calls for duplicates, want none", n-calls)
	}
	if recs := contactsByEmail(sf.Records("Contact"))[u.Email]; len(recs) != 1 || recs[0]["LastName"] != "Two" {
		t.Fatalf("records: %v, want one holding the newer surname", recs)
	}
	if n := af.Stats().Requests; n != 0 {
		t.Errorf("%d Award Force requests, want none", n)
	}

	// A newer version still goes through.
	time.Sleep(1100 * time.Millisecond)
	af.Edit(u.Slug, func(u *afsim.User) { u.LastName = "Three" })
	if code, _ := deliver(t, url, af.Payload(afsim.EventUpdated, "ui", u.Slug)); code != http.StatusAccepted {
		t.Fatalf("a newer version: %d", code)
	}
	waitFor(t, func() bool {
		recs := contactsByEmail(sf.Records("Contact"))[u.Email]
		return len(recs) == 1 && recs[0]["LastName"] == "Three"
	}, "the newest surname in Salesforce")
}
