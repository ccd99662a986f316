package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/internal/devstack"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/sandbox/sfsim"
	"github.com/afsync/afsync/workflows"
)

// editUser changes a user as a profile edit in Award Force does: the values
// and the `updated` time.
func editUser(af *afsim.Server, slug string, edit func(*afsim.User)) afsim.User {
	u, _ := af.User(slug)
	edit(&u)
	u.Updated = time.Now()
	return af.AddUser(u)
}

// syncResult waits for the user's sync to end and returns its audit.
func syncResult(t *testing.T, c client.Client, slug string, within time.Duration) (workflows.UserSyncResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var res workflows.UserSyncResult
	err := c.GetWorkflow(ctx, workflows.UserSyncWorkflowID(slug), "").Get(ctx, &res)
	return res, err
}

// Webhooks, manual syncs and a backfill touch the same people at the same
// moment, while Salesforce locks rows, loses answers and commits late: every
// person ends with exactly one record holding the latest values, and nobody
// is reported failed.
func TestIntegrationConcurrentTriggersPairEachPersonOnce(t *testing.T) {
	t.Parallel()
	const users = 400
	stack := startStack(t, sandbox.Options{
		Seed:                     sandbox.SeedOptions{Users: users, Seed: 21},
		Latency:                  3 * time.Millisecond,
		SalesforceMaxRequestTime: 2 * time.Second,
	})
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	before := contactsByEmail(sf.Records("Contact"))
	sf.SetChaos(sfsim.Chaos{Transient: 0.1, RecordLock: 0.1, LostResponse: 0.05, LateCommit: 0.05, LateCommitDelay: time.Second, Seed: 3})
	// And, whatever the dice say, the first writes lose their answers.
	sf.InjectLateCommits(2, time.Second)
	sf.InjectLostResponses(2)
	af.SetChaos(afsim.Chaos{Unavailable: 0.1, Seed: 4})
	webhooks := webhookServer(t, stack)

	// People with no record yet, who register again (a webhook) while the
	// backfill creates them; people who edit their profile meanwhile; and
	// people someone syncs by hand.
	var fresh, edited, manual []string
	for i, u := range af.Users() {
		switch {
		case u.Email == "":
		case len(before[strings.ToLower(u.Email)]) == 0 && len(fresh) < 60:
			fresh = append(fresh, u.Slug)
		case i%5 == 0 && len(edited) < 40:
			edited = append(edited, u.Slug)
		case i%7 == 0 && len(manual) < 20:
			manual = append(manual, u.Slug)
		}
	}

	out := &syncBuffer{}
	o := &backfillOptions{
		globalOptions: &globalOptions{temporal: configFor(stack)},
		concurrency:   2, pagesPerChunk: 1, json: true, stdout: out,
	}
	backfill := make(chan error, 1)
	go func() { backfill <- runBackfill(context.Background(), o) }()

	var wg sync.WaitGroup
	for _, slug := range fresh {
		wg.Go(func() {
			postWebhook(t, webhooks, `{"event":"membership_registered","source":"ui","user":{"slug":"`+slug+`"}}`)
		})
	}
	for i, slug := range edited {
		wg.Go(func() {
			u := editUser(af, slug, func(u *afsim.User) { u.LastName = fmt.Sprintf("Edited-%d", i) })
			postWebhook(t, webhooks, `{"event":"user_updated","source":"ui","user":{"slug":"`+u.Slug+`"}}`)
		})
	}
	for _, slug := range manual {
		wg.Go(func() {
			if _, err := syncJSON(t, stack, slug); err != nil {
				t.Errorf("starter sync %s: %v", slug, err)
			}
		})
	}
	wg.Wait()
	awaitBackfill(t, backfill, out, 4*time.Minute, func() string { return "" })
	var p workflows.Progress
	if err := json.Unmarshal([]byte(out.String()), &p); err != nil {
		t.Fatalf("summary: %v\n%s", err, out.String())
	}
	if p.Failed != 0 || len(p.FailedChunks) != 0 {
		t.Errorf("the backfill reports failures under transient faults: %+v", p)
	}
	for _, slug := range append(append(fresh, edited...), manual...) {
		res, err := syncResult(t, stack.Client, slug, 2*time.Minute)
		if err != nil || res.Outcome == workflows.OutcomeFailed {
			t.Errorf("the sync of %s: %s %s (%v)", slug, res.Outcome, res.Error, err)
		}
	}

	assertPairedOnce(t, stack, before)
	st := sf.Stats()
	if st.Faults["record_lock"] == 0 || st.Faults["lost_response"] < 2 || st.Faults["late_commit"] < 2 {
		t.Errorf("the drill injected too few faults to prove anything: %v", st.Faults)
	}
	t.Logf("faults injected: Salesforce %v, Award Force %d", st.Faults, af.Stats().Faults)
}

// assertPairedOnce checks the invariant: every Award Force user with an
// email has exactly one Contact holding the user's current values (seeded
// duplicates stay as they were: ambiguous, never written), and no record
// was created beyond one per person.
func assertPairedOnce(t *testing.T, stack *devstack.Stack, before map[string][]map[string]any) {
	t.Helper()
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	after := contactsByEmail(sf.Records("Contact"))
	created := 0
	for _, u := range af.Users() {
		if u.Email == "" {
			continue
		}
		key := strings.ToLower(u.Email)
		recs := after[key]
		switch n := len(before[key]); {
		case n > 1:
			if len(recs) != n {
				t.Errorf("%s: %d records, was %d: an ambiguous user must not be written", u.Slug, len(recs), n)
			}
			continue
		case n == 0:
			created++
		}
		if len(recs) != 1 {
			t.Errorf("%s: %d records, want exactly 1", u.Slug, len(recs))
			continue
		}
		if r := recs[0]; r["FirstName"] != u.FirstName || r["LastName"] != u.LastName {
			t.Errorf("%s: the record holds %v %v, want the latest %s %s", u.Slug, r["FirstName"], r["LastName"], u.FirstName, u.LastName)
		} else if u.Mobile != "" && r["Phone"] != u.Mobile {
			t.Errorf("%s: Phone %v, want %s", u.Slug, r["Phone"], u.Mobile)
		}
	}
	if total := len(sf.Records("Contact")); total != countRecords(before)+created {
		t.Errorf("%d contacts, want %d before + %d created", total, countRecords(before), created)
	}
}

// Without an external id, a create whose answer is lost and which commits
// a second later is not made again: the person waits until Salesforce can
// no longer commit it, then finds the record. A profile edit arriving
// meanwhile waits too, then updates that record.
func TestIntegrationALateCommitIsNeverCreatedTwice(t *testing.T) {
	t.Parallel()
	stack := startStack(t, sandbox.Options{SalesforceMaxRequestTime: 3 * time.Second})
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	u := af.AddUser(afsim.User{Slug: "LateComm", Email: "late.commit@example.org", FirstName: "Lena", LastName: "Late"})
	webhooks := webhookServer(t, stack)
	sf.InjectLateCommits(1, time.Second)

	start := time.Now()
	postWebhook(t, webhooks, `{"event":"membership_registered","user":{"slug":"LateComm"}}`)
	// The create's connection drops at once and it commits a second later;
	// meanwhile the person edits the profile.
	waitFor(t, func() bool { return sf.Stats().Faults["late_commit"] == 1 }, "the create to be dropped")
	editUser(af, u.Slug, func(u *afsim.User) { u.LastName = "Later" })
	postWebhook(t, webhooks, `{"event":"user_updated","user":{"slug":"LateComm"}}`)

	res, err := syncResult(t, stack.Client, u.Slug, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < 3*time.Second {
		t.Errorf("the sync ended after %v, before the commit horizon (3 s) had passed", elapsed)
	}
	recs := contactsByEmail(sf.Records("Contact"))[u.Email]
	if len(recs) != 1 || recs[0]["LastName"] != "Later" {
		t.Fatalf("records of the user: %v; want one, holding the edit", recs)
	}
	if res.RecordID != recs[0]["Id"] {
		t.Errorf("the audit names record %s, the org holds %v", res.RecordID, recs[0]["Id"])
	}
}

// A spent daily allocation makes webhook syncs wait, as backfills do: they
// are not failed, and they pair once the allocation returns.
func TestIntegrationWebhookSyncsWaitOutASpentAllocation(t *testing.T) {
	t.Parallel()
	stack := startStackOptions(t, devstack.Options{Sandbox: sandbox.Options{}, QuotaPause: 2 * time.Second})
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	webhooks := webhookServer(t, stack)
	slugs := []string{"QuotaOne", "QuotaTwo", "QuotaTre"}
	for i, slug := range slugs {
		af.AddUser(afsim.User{Slug: slug, Email: fmt.Sprintf("quota.%d@example.org", i), FirstName: "Q", LastName: slug})
	}
	sf.SpendAllocation()
	for _, slug := range slugs {
		postWebhook(t, webhooks, `{"event":"membership_registered","user":{"slug":"`+slug+`"}}`)
	}
	// Several pauses pass (the lane pauses, tries again and is refused,
	// pauses anew): the syncs still wait, and the lane says why.
	var pauses []time.Time
	waitForLong(t, func() bool {
		if p := laneStatus(t, stack, workflows.LaneOf(slugs[0])).PausedUntil; !p.IsZero() && !slices.Contains(pauses, p) {
			pauses = append(pauses, p)
		}
		return len(pauses) >= 3
	}, "three pauses of the lane", time.Minute)
	for _, slug := range slugs {
		d, err := stack.Client.DescribeWorkflowExecution(context.Background(), workflows.UserSyncWorkflowID(slug), "")
		if err != nil {
			t.Fatal(err)
		}
		if st := d.GetWorkflowExecutionInfo().GetStatus().String(); st != "Running" {
			t.Fatalf("%s: sync %s while the allocation is spent, want it waiting", slug, st)
		}
	}
	if lane := laneStatus(t, stack, workflows.LaneOf(slugs[0])); !strings.Contains(lane.LastError, "TotalRequests") {
		t.Errorf("the lane's status does not say it waits for the allocation: %+v", lane)
	}

	sf.RestoreAllocation()
	for _, slug := range slugs {
		res, err := syncResult(t, stack.Client, slug, time.Minute)
		if err != nil || res.Outcome != workflows.OutcomeCreated {
			t.Errorf("%s: %s (%v), want created once the allocation is back", slug, res.Outcome, err)
		}
	}
}

// waitFor polls cond for up to a minute.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestIntegrationAHandOverRetriedWithANewerEditKeepsTheEdit: a sync's first
// workflow task hands the person to their lane, then its worker dies before
// the task completes; a second edit's webhook arrives meanwhile. The task
// is retried by the next worker with both webhooks and hands the newer
// version: the lane must pair it, not take it for the first hand-over
// again (before requests-named-by-content it did, and answered with the
// first version's outcome: the record kept the older last name; the small
// drill met it under load).
func TestIntegrationAHandOverRetriedWithANewerEditKeepsTheEdit(t *testing.T) {
	t.Parallel()
	stack := startStack(t, sandbox.Options{})
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	first := af.AddUser(afsim.User{Slug: "RetriedT", Email: "retried.task@example.org", FirstName: "Rita", LastName: "Tpyo", Updated: time.Now().Add(-time.Minute)})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	afClient, err := awardforce.New(stack.Config.AwardForce)
	if err != nil {
		t.Fatal(err)
	}
	reader := &activities.AwardForce{Client: afClient}
	read := func() pairing.Profile {
		t.Helper()
		p, err := reader.GetUser(ctx, first.Slug)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	older := read()

	// A worker of the sync's task queue whose hand-over signals the lane
	// and then never returns: its task cannot complete.
	stack.StopWorker()
	handed, never := make(chan workflows.PairRequest, 1), make(chan struct{})
	t.Cleanup(func() { close(never) })
	coord := &workflows.Coordinator{Client: stack.Client}
	dying := worker.New(stack.Client, workflows.TaskQueue, worker.Options{})
	workflows.RegisterWorkflows(dying)
	dying.RegisterActivityWithOptions(func(ctx context.Context, n int, req workflows.PairRequest) error {
		if err := coord.Submit(ctx, n, req); err != nil {
			return err
		}
		select {
		case handed <- req:
		default:
		}
		<-never
		return nil
	}, activity.RegisterOptions{Name: "Submit"})
	if err := dying.Start(); err != nil {
		t.Fatal(err)
	}

	if _, err := workflows.StartUserSync(ctx, stack.Client, workflows.DefaultNames, stack.Spec, workflows.SyncRequest{Slug: first.Slug, Trigger: pairing.TriggerRegistration, Profile: &older}); err != nil {
		t.Fatal(err)
	}
	var req workflows.PairRequest
	select {
	case req = <-handed:
	case <-ctx.Done():
		t.Fatal("the sync never handed the person to their lane")
	}
	dying.Stop()
	if got := req.Items[0].Profile.Values["last_name"]; got != "Tpyo" {
		t.Fatalf("the first hand-over carried %q, want the registration's Tpyo", got)
	}

	// The typo fixed; its webhook reaches the running sync.
	editUser(af, first.Slug, func(u *afsim.User) { u.LastName = "Typo" })
	newer := read()
	if _, err := workflows.StartUserSync(ctx, stack.Client, workflows.DefaultNames, stack.Spec, workflows.SyncRequest{Slug: first.Slug, Trigger: pairing.TriggerProfileUpdate, Profile: &newer}); err != nil {
		t.Fatal(err)
	}
	if err := stack.StartWorker(); err != nil {
		t.Fatal(err)
	}
	res, err := syncResult(t, stack.Client, first.Slug, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	recs := contactsByEmail(sf.Records("Contact"))[first.Email]
	if len(recs) != 1 || recs[0]["LastName"] != "Typo" {
		t.Fatalf("records of the corrected user: %v (the sync said %s: %s); want one, holding Typo", recs, res.Outcome, res.Decision.Reason)
	}
	// The scenario happened as told: the sync's first task did not complete.
	d, err := stack.Client.DescribeWorkflowExecution(ctx, workflows.UserSyncWorkflowID(first.Slug), "")
	if err != nil {
		t.Fatal(err)
	}
	timedOut := false
	it := stack.Client.GetWorkflowHistory(ctx, workflows.UserSyncWorkflowID(first.Slug), d.GetWorkflowExecutionInfo().GetFirstRunId(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetEventType() == enums.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT || ev.GetEventType() == enums.EVENT_TYPE_WORKFLOW_TASK_FAILED {
			timedOut = true
		}
	}
	if !timedOut {
		t.Fatal("the sync's first workflow task completed: the test proves nothing")
	}
}
