package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/workflows"
)

// syncBuffer is a bytes.Buffer safe to read while the backfill writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestIntegrationBackfillSurvivesAWorkerKilledMidRun(t *testing.T) {
	t.Parallel()
	const users = 600
	stack := startStack(t, sandbox.Options{
		Seed:    sandbox.SeedOptions{Users: users, Seed: 7},
		Latency: 40 * time.Millisecond, // long enough to kill the worker mid-run
		// A write whose answer is lost commits within 2 s at most: the
		// people it held wait that long, then are looked up again.
		SalesforceMaxRequestTime: 2 * time.Second,
	})
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	before := contactsByEmail(sf.Records("Contact"))
	// The first writes commit in Salesforce but their answers are lost: the
	// retries must not create those records again.
	sf.InjectLostResponses(3)

	out := &syncBuffer{}
	o := &backfillOptions{
		globalOptions: &globalOptions{temporal: configFor(stack)},
		// One page a chunk, one chunk at a time, two chunks a run: the kill
		// lands mid-run and the backfill continues as new several times.
		concurrency: 1, pagesPerChunk: 1, chunksPerRun: 2, out: t.TempDir() + "/plan.csv",
		interval: 200 * time.Millisecond, stdout: out,
	}
	errc := make(chan error, 1)
	go func() { errc <- runBackfill(context.Background(), o) }()

	// Kill the worker twice, each time while it waits on a page request: once
	// after two pages, once two pages after the restart. The trigger is the
	// simulator's own request count, which needs no worker to answer (a
	// progress query does, and it can stall for seconds after a restart while
	// the rest of the backfill finishes). A page request takes 40 ms, so the
	// kill lands with that page's activity in flight.
	const listRoute = "GET /user" // the probe, then one request per page
	pages := 0
	for _, more := range []int{3, 2} {
		pages = waitForRequests(t, af, listRoute, pages+more, out)
		select {
		case err := <-errc:
			t.Fatalf("the backfill ended (%v) before the worker could be killed\n%s", err, out.String())
		default:
		}
		stack.StopWorker()
		t.Logf("worker killed at Award Force page request %d of %d", pages-1, users/activities.PageSize)
		time.Sleep(time.Second)
		if err := stack.StartWorker(); err != nil {
			t.Fatal(err)
		}
	}

	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("backfill: %v\n%s", err, out.String())
		}
	case <-time.After(4 * time.Minute):
		t.Fatalf("backfill did not finish after the restart\n%s", out.String())
	}
	if !strings.Contains(out.String(), "users seen") || !strings.Contains(out.String(), "progress:") {
		t.Fatalf("want plain progress lines and a summary, got:\n%s", out.String())
	}

	assertPairedOnce(t, stack, before)
}

// waitForRequests waits until the Award Force simulator has received at
// least n requests on route, and returns how many it has received.
func waitForRequests(t *testing.T, af *afsim.Server, route string, n int, out *syncBuffer) int {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if got := af.Stats().ByRoute[route]; got >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("Award Force never received %d requests on %s; output:\n%s", n, route, out.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func contactsByEmail(recs []map[string]any) map[string][]map[string]any {
	m := map[string][]map[string]any{}
	for _, r := range recs {
		email, _ := r["Email"].(string)
		m[strings.ToLower(email)] = append(m[strings.ToLower(email)], r)
	}
	return m
}

func countRecords(m map[string][]map[string]any) int {
	n := 0
	for _, rs := range m {
		n += len(rs)
	}
	return n
}

func TestIntegrationBackfillStaysWithinTheAwardForceRateLimit(t *testing.T) {
	t.Parallel()
	// 120 requests a minute on both sides: the simulator refuses the 121st
	// within a window; the worker's task-queue rate limit must never let it.
	const users, perMinute = 1800, 120
	stack := startStack(t, sandbox.Options{
		Seed:                sandbox.SeedOptions{Users: users, Seed: 3},
		AwardForceRateLimit: perMinute,
	})
	af := stack.Sandbox.AwardForce
	af.ResetStats()
	// The estimate first: one request, and no backfill started.
	est := &syncBuffer{}
	eo := &backfillOptions{globalOptions: &globalOptions{temporal: configFor(stack)}, estimateOnly: true, stdout: est}
	if err := runBackfill(context.Background(), eo); err != nil {
		t.Fatalf("--estimate: %v\n%s", err, est.String())
	}
	if want := "Estimate: 1,800 users: 18 Award Force requests to read them (18 pages of the list): about 9 s at 120 requests a minute."; !strings.Contains(est.String(), want) {
		t.Fatalf("--estimate printed:\n%s\nwant %q", est.String(), want)
	}
	if n := af.Stats().Requests; n != 1 {
		t.Fatalf("--estimate made %d Award Force requests, want 1 (the count)", n)
	}
	if running, err := isRunning(context.Background(), stack.Client, workflows.BackfillWorkflowID(pairing.Default(), false)); err != nil || running {
		t.Fatalf("--estimate started the backfill (running %v, %v)", running, err)
	}
	if counts := listWorkflows(t, stack, "WorkflowType = 'CountUsers'"); len(counts) == 1 {
		saveHistory(t, stack.Client, counts[0].GetExecution().GetWorkflowId(), "count-users.json")
	} else {
		t.Errorf("%d CountUsers workflows, want the estimate's one", len(counts))
	}
	af.ResetStats()
	out := &syncBuffer{}
	o := &backfillOptions{
		globalOptions: &globalOptions{temporal: configFor(stack)},
		concurrency:   4, pagesPerChunk: 2, out: t.TempDir() + "/plan.csv", json: true, stdout: out,
	}
	start := time.Now()
	if err := runBackfill(context.Background(), o); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	elapsed := time.Since(start)
	st := af.Stats()
	if st.RateLimited != 0 {
		t.Fatalf("Award Force answered %d × 429 during the backfill", st.RateLimited)
	}
	// The estimate's count, then 18 pages (the first also counting the
	// users for the progress), at 2 a second.
	if st.Requests != 19 {
		t.Fatalf("%d Award Force requests, want 19 (the estimate's count, then a page each)", st.Requests)
	}
	if min := 9 * time.Second; elapsed < min {
		t.Fatalf("19 requests in %v: faster than 2 a second, the budget is not applied", elapsed)
	}
	// Metrics count at least once: a chunk whose last workflow task had to
	// run again (a task timeout on an overloaded machine) counts its 200
	// users twice.
	body := scrapeMetrics(t, stack)
	if n := metricSum(body, "afsync_user_syncs_total", `trigger="backfill"`, `workflow_type="BackfillChunk"`); n < users || n > users+2*200 {
		t.Errorf("afsync_user_syncs_total{trigger=\"backfill\"} = %v, want %d (or a chunk more)", n, users)
	}
	id := workflows.BackfillWorkflowID(pairing.Default(), false)
	saveHistory(t, stack.Client, id, "backfill.json")
	saveHistory(t, stack.Client, workflows.ChunkWorkflowID(id, 1), "backfill-chunk.json")
	saveHistory(t, stack.Client, workflows.BudgetWorkflowID, "budget.json") // a running budget: paced permits
	var summary workflows.Progress
	if err := json.Unmarshal([]byte(out.String()), &summary); err != nil || summary.Seen != 1800 || !summary.Done {
		t.Fatalf("with --json stdout must be the JSON summary alone (%v):\n%s", err, out.String())
	}
}

func TestIntegrationDryRunPlansEverythingAndWritesNothing(t *testing.T) {
	t.Parallel()
	const users = 300
	stack := startStack(t, sandbox.Options{Seed: sandbox.SeedOptions{Users: users, Seed: 11}})
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	// A surname longer than Contact.LastName's 80 characters: the plan
	// says Salesforce will refuse it, before anything is written.
	long := af.AddUser(afsim.User{Slug: "LongName", Email: "long.name@example.org", FirstName: "Lo", LastName: strings.Repeat("N", 100)})
	sf.ResetStats()
	af.ResetStats()
	dir := t.TempDir()
	for _, out := range []string{dir + "/plan.csv", dir + "/plan.jsonl"} {
		buf := &syncBuffer{}
		o := &backfillOptions{
			globalOptions: &globalOptions{temporal: configFor(stack)},
			dryRun:        true, out: out, stdout: buf,
		}
		if err := runBackfill(context.Background(), o); err != nil {
			t.Fatalf("%v\n%s", err, buf.String())
		}
		if !strings.Contains(buf.String(), "nothing was written") || !strings.Contains(buf.String(), fmt.Sprintf("Plan: %d users written to %s", users+1, out)) {
			t.Fatalf("summary:\n%s", buf.String())
		}
	}
	id := workflows.BackfillWorkflowID(pairing.Default(), true)
	saveHistory(t, stack.Client, id, "backfill-dry-run.json")
	saveHistory(t, stack.Client, workflows.ChunkWorkflowID(id, 1), "backfill-chunk-dry-run.json")
	if st := sf.Stats(); st.Writes != 0 {
		t.Fatalf("a dry run wrote %d Salesforce records (%v)", st.Writes, st.ByRoute)
	}
	if st := af.Stats(); st.Writes != 0 {
		t.Fatalf("a dry run wrote %d Award Force users", st.Writes)
	}
	if n := metricSum(scrapeMetrics(t, stack), "afsync_user_syncs_total"); n != 0 {
		t.Fatalf("a dry run synced nobody, but the metrics count %v syncs", n)
	}

	f, err := os.Open(dir + "/plan.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rows[0], ","); got != "slug,action,outcome,record_id,reason,target,field,source,before,after,note" {
		t.Fatalf("header %q", got)
	}
	slugs := map[string]bool{}
	staleSeen, flagged := false, false
	ambiguous := ""
	for _, r := range rows[1:] {
		slugs[r[0]] = true
		if r[0] == long.Slug && r[6] == "LastName" && strings.Contains(r[10], "STRING_TOO_LONG") {
			flagged = true
		}
		if r[1] == "ambiguous" {
			ambiguous = r[0]
		}
		if r[1] == "update" && r[6] == "LastName" && r[8] != r[9] && r[8] != "" {
			staleSeen = true
		}
	}
	if len(slugs) != users+1 {
		t.Fatalf("plan covers %d users, want %d", len(slugs), users+1)
	}
	if !flagged {
		t.Error("the 100-character surname is not flagged in the plan as one Salesforce will refuse (STRING_TOO_LONG)")
	}
	if !staleSeen {
		t.Fatal("no stale surname planned as a before → after update")
	}
	if ambiguous == "" {
		t.Fatal("the seed's duplicates must be planned as ambiguous")
	}
	// Ops find the chunk that holds an ambiguous user by search attribute.
	query := workflows.AmbiguousUsersKey.GetName() + " = '" + ambiguous + "'"
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := stack.Client.ListWorkflow(context.Background(), &workflowListRequest{Namespace: "default", Query: query})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Executions) > 0 && strings.Contains(resp.Executions[0].Execution.WorkflowId, "/chunk-") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s found %d executions, want the chunk", query, len(resp.Executions))
		}
		time.Sleep(300 * time.Millisecond)
	}

	raw, err := os.ReadFile(dir + "/plan.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != users+1 {
		t.Fatalf("%d JSON lines, want one per user (%d)", len(lines), users+1)
	}
	var first workflows.UserSyncResult
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Slug == "" || first.Decision.Action == "" {
		t.Fatalf("JSON line %q: %v", lines[0], err)
	}
}

func TestIntegrationCtrlCDetachesAndStatusFollowsAgain(t *testing.T) {
	t.Parallel()
	stack := startStack(t, sandbox.Options{
		Seed:    sandbox.SeedOptions{Users: 400, Seed: 5},
		Latency: 30 * time.Millisecond,
	})
	spec := pairing.Default()
	id := workflows.BackfillWorkflowID(spec, false)
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	o := &backfillOptions{
		globalOptions: &globalOptions{temporal: configFor(stack)},
		concurrency:   1, pagesPerChunk: 1, out: t.TempDir() + "/plan.csv", stdout: out,
	}
	errc := make(chan error, 1)
	go func() { errc <- runBackfill(ctx, o) }()
	// Detach once the first page is asked for, with Award Force stalled
	// after it: the backfill cannot end before the second start attaches.
	af := stack.Sandbox.AwardForce
	waitForRequests(t, af, "GET /user", 2, out)
	af.Stall()
	defer af.Resume()
	cancel() // what Ctrl-C does
	if err := <-errc; err != nil {
		t.Fatalf("detaching must not be an error: %v", err)
	}
	if !strings.Contains(out.String(), "Detached: the backfill goes on") {
		t.Fatalf("output:\n%s", out.String())
	}
	if running, err := isRunning(context.Background(), stack.Client, id); err != nil || !running {
		t.Fatalf("the backfill must go on after a detach (running %v, %v)", running, err)
	}

	// A second start attaches instead of starting another; Award Force
	// answers again once it has.
	again := &syncBuffer{}
	o2 := &backfillOptions{globalOptions: o.globalOptions, concurrency: 1, pagesPerChunk: 1, out: o.out, stdout: again}
	go func() {
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if strings.Contains(again.String(), "Attached to the running backfill") {
				break
			}
		}
		af.Resume()
	}()
	if err := runBackfill(context.Background(), o2); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(again.String(), "Attached to the running backfill "+id) || !strings.Contains(again.String(), "users seen                  400") {
		t.Fatalf("second start:\n%s", again.String())
	}

	// status shows the finished backfill's result.
	status := &syncBuffer{}
	o3 := &backfillOptions{globalOptions: o.globalOptions, attach: true, out: o.out, stdout: status}
	if err := runBackfill(context.Background(), o3); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(status.String(), "has finished; its result") || !strings.Contains(status.String(), "users seen                  400") {
		t.Fatalf("status:\n%s", status.String())
	}
}

func TestIntegrationScheduledBackfills(t *testing.T) {
	t.Parallel()
	stack := startStack(t, sandbox.Options{Seed: sandbox.SeedOptions{Users: 120, Seed: 9}})
	var out bytes.Buffer
	o := &scheduleOptions{globalOptions: &globalOptions{temporal: configFor(stack)}, every: time.Hour, out: &out}
	if err := runSchedule(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	o.every = 30 * time.Minute
	if err := runSchedule(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Created schedule") || !strings.Contains(out.String(), "Updated schedule") {
		t.Fatalf("output:\n%s", out.String())
	}
	id := workflows.DefaultNames.BackfillSchedule(pairing.Default())
	h := stack.Client.ScheduleClient().GetHandle(context.Background(), id)
	d, err := h.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Schedule.Spec.Intervals; len(got) != 1 || got[0].Every != 30*time.Minute {
		t.Fatalf("intervals %+v, want every 30m after the update", got)
	}
	// Trigger it now; `starter status` finds the run the schedule started
	// (its id carries the scheduled time) and follows it to the end.
	if err := h.Trigger(context.Background(), client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	status := &syncBuffer{}
	so := &backfillOptions{globalOptions: o.globalOptions, attach: true, out: t.TempDir() + "/plan.csv", stdout: status}
	for i := 0; ; i++ {
		status = &syncBuffer{}
		so.stdout = status
		// Until the schedule's run has started, status says none is
		// running (and exits 0); once it has, it follows it to the end.
		err := runBackfill(context.Background(), so)
		if err == nil && strings.Contains(status.String(), "users seen") {
			break
		} else if i == 300 {
			t.Fatalf("status never found the scheduled backfill: %v\n%s", err, status.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(status.String(), "users seen                  120") {
		t.Fatalf("status:\n%s", status.String())
	}
	deadline := time.Now().Add(time.Minute)
	for {
		d, err = h.Describe(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if recent := d.Info.RecentActions; len(recent) > 0 {
			run := recent[0].StartWorkflowResult
			var p workflows.Progress
			if err := stack.Client.GetWorkflow(context.Background(), run.WorkflowID, run.FirstExecutionRunID).Get(context.Background(), &p); err != nil {
				t.Fatal(err)
			}
			if p.Seen != 120 || !p.Done {
				t.Fatalf("scheduled backfill: %+v", p)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the triggered schedule started nothing")
		}
		time.Sleep(200 * time.Millisecond)
	}
	o.delete = true
	if err := runSchedule(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Describe(context.Background()); err == nil {
		t.Fatal("the schedule survived --delete")
	}
}

func TestIntegrationProgressMovesAPageAtATime(t *testing.T) {
	t.Parallel()
	// One chunk of six pages, read at two pages a second. Without asking
	// the chunk, progress would sit at 0 and then jump to 600. Award Force
	// stalls once two pages are read, until the starter has shown them in
	// progress: slow queries on a loaded machine cannot race the backfill.
	const users = 600
	stack := startStack(t, sandbox.Options{
		Seed:                sandbox.SeedOptions{Users: users, Seed: 11},
		AwardForceRateLimit: 120,
	})
	af := stack.Sandbox.AwardForce
	out := &syncBuffer{}
	o := &backfillOptions{
		globalOptions: &globalOptions{temporal: configFor(stack)},
		concurrency:   1, pagesPerChunk: 6, out: t.TempDir() + "/plan.csv",
		interval: 50 * time.Millisecond, stdout: out,
	}
	errc := make(chan error, 1)
	go func() { errc <- runBackfill(context.Background(), o) }()

	waitForRequests(t, af, "GET /user", 3, out) // the count, then two pages
	af.Stall()                                  // the other four hang
	deadline := time.Now().Add(time.Minute)
	shown := regexp.MustCompile(`progress: 0/600 users \(\+[1-5]00 in progress\)`)
	for !shown.MatchString(out.String()) {
		if time.Now().After(deadline) {
			af.Resume()
			t.Fatalf("two pages read, but the progress never showed them:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	af.Resume()
	if err := <-errc; err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}

	last := 0
	for _, line := range strings.Split(out.String(), "\n") {
		if !strings.HasPrefix(line, "progress: ") {
			continue
		}
		var seen, total, busy int
		fmt.Sscanf(line, "progress: %d/%d users (+%d in progress)", &seen, &total, &busy)
		if pos := seen + busy; pos < last {
			t.Fatalf("progress went back from %d to %d:\n%s", last, pos, out.String())
		} else {
			last = pos
		}
	}
	if last != users {
		t.Fatalf("progress ended at %d, want %d:\n%s", last, users, out.String())
	}
}

func TestIntegrationRetrySyncsTheUsersABackfillFailedOn(t *testing.T) {
	t.Parallel()
	stack := startStack(t, sandbox.Options{Seed: sandbox.SeedOptions{Users: 30, Seed: 13}})
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	tooLong := strings.Repeat("x", 81) // Contact.LastName holds 80
	fixed := af.AddUser(afsim.User{Slug: "FixedUsr", Email: "fixed.later@example.org", FirstName: "Fix", LastName: tooLong})
	broken := af.AddUser(afsim.User{Slug: "BrokenUs", Email: "still.broken@example.org", FirstName: "Bro", LastName: tooLong})
	g := &globalOptions{temporal: configFor(stack)}
	if err := runRetry(context.Background(), &retryOptions{globalOptions: g, concurrency: 2, timeout: time.Minute, stdout: io.Discard}); err == nil ||
		!strings.Contains(err.Error(), "no backfill of this spec was found") {
		t.Fatalf("retry before any backfill: %v", err)
	}

	out := &syncBuffer{}
	err := runBackfill(context.Background(), &backfillOptions{globalOptions: g, out: t.TempDir() + "/plan.csv", stdout: out})
	if code := exitCode(err); code != 2 || !strings.Contains(out.String(), "data value too large") {
		t.Fatalf("backfill: exit %d (%v), want 2 with Salesforce's message:\n%s", code, err, out.String())
	}

	// The report lists them with Salesforce's message; a full one lists everybody.
	dir := t.TempDir()
	rep := &syncBuffer{}
	if err := runReport(context.Background(), &reportOptions{globalOptions: g, out: dir + "/failed.csv", outcomes: []string{"failed"}, timeout: time.Minute, stdout: rep}); err != nil {
		t.Fatalf("report: %v\n%s", err, rep.String())
	}
	raw, err := os.ReadFile(dir + "/failed.csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	reported := map[string]bool{}
	for _, r := range rows[1:] {
		if r[2] != "failed" || !strings.Contains(r[4], "STRING_TOO_LONG") {
			t.Errorf("report row %q: want a failed user with Salesforce's message", r)
		}
		reported[r[0]] = true
	}
	if len(reported) != 2 || !reported[fixed.Slug] || !reported[broken.Slug] || !strings.Contains(rep.String(), "Report: 2 users written") {
		t.Fatalf("failed users in the report: %v\n%s", reported, rep.String())
	}
	if err := runReport(context.Background(), &reportOptions{globalOptions: g, out: dir + "/all.jsonl", timeout: time.Minute, stdout: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if raw, err := os.ReadFile(dir + "/all.jsonl"); err != nil || strings.Count(string(raw), "\n") != 32 {
		t.Fatalf("a full report has one line per user (32): %v\n%s", err, raw)
	}
	if err := runReport(context.Background(), &reportOptions{globalOptions: g, out: dir + "/x.csv", outcomes: []string{"exploded"}, stdout: io.Discard}); err == nil ||
		!strings.Contains(err.Error(), "--outcome \"exploded\"") {
		t.Fatalf("an unknown outcome must be refused by name: %v", err)
	}

	// Past MaxReportedFailures the backfill's result names only some of the
	// failed users: retry then reads them from the chunks.
	c, _, err := g.dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := finishedBackfill(context.Background(), c, workflows.DefaultNames, pairing.Default(), "", false)
	if err != nil {
		t.Fatal(err)
	}
	fromResult, err := failedSlugs(context.Background(), c, p)
	if err != nil {
		t.Fatal(err)
	}
	p.Failures = p.Failures[:1] // as if the others had not fitted
	fromChunks, err := failedSlugs(context.Background(), c, p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fromChunks, fromResult) || len(fromChunks) != 2 {
		t.Fatalf("failed users from the chunks %v, from the result %v: want the same two", fromChunks, fromResult)
	}

	// One user's data is fixed in Award Force; the other's is not.
	fixed.LastName = "Later"
	af.AddUser(fixed)
	out = &syncBuffer{}
	err = runRetry(context.Background(), &retryOptions{globalOptions: g, concurrency: 2, timeout: time.Minute, stdout: out})
	if code := exitCode(err); code != 2 {
		t.Fatalf("retry: exit %d (%v), want 2: one user still fails\n%s", code, err, out.String())
	}
	for _, want := range []string{
		"Retrying 2 users", "FixedUsr  created", "BrokenUs  failed", "data value too large",
		"Retried 2: created 1 · updated 0 · unchanged 0 · skipped 0 · ambiguous 0 · still failing 1",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("retry output lacks %q:\n%s", want, out.String())
		}
	}
	if recs := contactsByEmail(sf.Records("Contact"))[fixed.Email]; len(recs) != 1 || recs[0]["LastName"] != "Later" {
		t.Fatalf("the fixed user's records: %v", recs)
	}

	// --since finds failures by any trigger, the latest sync of each user
	// deciding: the fixed user's retry succeeded, the broken one's failed.
	// Temporal's visibility is eventually consistent: it lists the retry's
	// two syncs a moment after they end (a busy machine showed the lag).
	visible(t, stack, "WorkflowType = 'UserSync' AND ExecutionStatus != 'Running'", 2)
	out = &syncBuffer{}
	err = runRetry(context.Background(), &retryOptions{globalOptions: g, since: time.Hour, concurrency: 2, timeout: time.Minute, stdout: out})
	if code := exitCode(err); code != 2 {
		t.Fatalf("retry --since: exit %d (%v), want 2\n%s", code, err, out.String())
	}
	if !strings.Contains(out.String(), "Retrying 1 users that failed in the syncs of the last 1h0m0s") || !strings.Contains(out.String(), "BrokenUs  failed") ||
		strings.Contains(out.String(), "FixedUsr") {
		t.Errorf("retry --since output:\n%s", out.String())
	}

	// Fixed too: a second retry goes through, and the first user, paired
	// already, costs no write.
	broken.LastName = "Mended"
	af.AddUser(broken)
	out = &syncBuffer{}
	if err := runRetry(context.Background(), &retryOptions{globalOptions: g, concurrency: 2, timeout: time.Minute, json: true, stdout: out}); err != nil {
		t.Fatalf("retry: %v\n%s", err, out.String())
	}
	var audits []workflows.UserSyncResult
	if err := json.Unmarshal([]byte(out.String()), &audits); err != nil {
		t.Fatalf("--json must print the audits alone: %v\n%s", err, out.String())
	}
	got := map[string]workflows.Outcome{}
	for _, a := range audits {
		got[a.Slug] = a.Outcome
	}
	if len(audits) != 2 || got[fixed.Slug] != workflows.OutcomeUnchanged || got[broken.Slug] != workflows.OutcomeCreated {
		t.Fatalf("second retry: %v", got)
	}
}

// --role takes a role's name: the worker looks its slug up (the starter
// holds no Award Force key), the starter says which role it used, and the
// backfill pairs that role's users only. A name no role has is refused with
// the roles there are, before anything starts.
func TestIntegrationBackfillByRoleName(t *testing.T) {
	t.Parallel()
	stack := startStack(t, sandbox.Options{})
	af := stack.Sandbox.AwardForce
	for i, name := range []string{"Ada", "Grace", "Edsger", "Barbara"} {
		roles := []string{"Entrant"}
		if i%2 == 0 {
			roles = []string{"Judge"}
		}
		af.AddUser(afsim.User{FirstName: name, LastName: "Role", Email: strings.ToLower(name) + ".role@example.org", Roles: roles})
	}
	out := &syncBuffer{}
	o := &backfillOptions{globalOptions: &globalOptions{temporal: configFor(stack)}, out: t.TempDir() + "/plan.csv", json: false, stdout: out}
	o.filter.Role = "judge"
	if err := runBackfill(context.Background(), o); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !regexp.MustCompile(`role "Judge" is slug [A-Za-z]{8}`).MatchString(out.String()) {
		t.Errorf("the starter does not say which role it used:\n%s", out.String())
	}
	got := map[string]bool{}
	for _, r := range stack.Sandbox.Salesforce.Records("Contact") {
		got[r["Email"].(string)] = true
	}
	if len(got) != 2 || !got["ada.role@example.org"] || !got["edsger.role@example.org"] {
		t.Errorf("paired %v, want the two judges", got)
	}

	o = &backfillOptions{globalOptions: &globalOptions{temporal: configFor(stack)}, out: t.TempDir() + "/plan.csv", stdout: &syncBuffer{}, fresh: true}
	o.filter.Role = "Jury"
	err := runBackfill(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "Entrant (") || !strings.Contains(err.Error(), "Judge (") {
		t.Fatalf("err %v, want the roles there are", err)
	}
}
