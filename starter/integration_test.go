package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/afsync/afsync/internal/afworker"
	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/internal/devserver"
	"github.com/afsync/afsync/internal/devserver/devservertest"
	"github.com/afsync/afsync/internal/devstack"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/workflows"
)

// startStack runs the embedded default with an empty sandbox on free ports:
// a real Temporal dev server, the simulators over real HTTP, the real worker.
func startStack(t *testing.T, sb sandbox.Options) *devstack.Stack {
	t.Helper()
	return startStackOptions(t, devstack.Options{Sandbox: sb})
}

// startStackOptions is startStack with more of the stack's options; the
// Temporal binary, KillWorker and (unless set) an empty environment are
// filled in.
func startStackOptions(t *testing.T, opts devstack.Options) *devstack.Stack {
	t.Helper()
	return startStackUI(t, opts, -1)
}

// startStackUI is startStackOptions with the dev server's web UI on uiPort
// (as devserver.Options.UIPort has it: 0 a free port, chosen again if the
// server must start again; -1 none).
func startStackUI(t *testing.T, opts devstack.Options, uiPort int) *devstack.Stack {
	t.Helper()
	bin := devservertest.Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	opts.Temporal = devserver.Options{Binary: bin, UIPort: uiPort}
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	opts.KillWorker = true
	stack, err := devstack.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stack.Stop)
	return stack
}

func syncJSON(t *testing.T, stack *devstack.Stack, user string) (workflows.UserSyncResult, error) {
	t.Helper()
	return syncJSONWith(t, stack, "", user)
}

// syncJSONWith is `starter sync --json` of user with the spec file at
// specPath (the built-in default when empty), as the worker has it.
func syncJSONWith(t *testing.T, stack *devstack.Stack, specPath, user string) (workflows.UserSyncResult, error) {
	t.Helper()
	var out bytes.Buffer
	o := &syncOptions{
		globalOptions: &globalOptions{temporal: configFor(stack), specPath: specPath},
		user:          user, trigger: string(pairing.TriggerManual), json: true,
		timeout: time.Minute, out: &out,
	}
	err := runSync(context.Background(), o)
	var res workflows.UserSyncResult
	if out.Len() > 0 {
		if jerr := json.Unmarshal(out.Bytes(), &res); jerr != nil {
			t.Fatalf("--json output is not JSON: %v\n%s", jerr, out.String())
		}
	}
	return res, err
}

func TestIntegrationUserSyncOnARealTemporalServer(t *testing.T) {
	t.Parallel()
	stack := startStack(t, sandbox.Options{})
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	newUser := af.AddUser(afsim.User{Slug: "NewUserA", Email: "grace.hopper@example.org", FirstName: "Grace", LastName: "Hopper", Mobile: "+447700900001"})
	staleUser := af.AddUser(afsim.User{Slug: "StaleUsr", Email: "ada.lovelace@example.org", FirstName: "Ada", LastName: "Lovelace"})
	sameUser := af.AddUser(afsim.User{Slug: "SameUser", Email: "alan.turing@example.org", FirstName: "Alan", LastName: "Turing"})
	twinUser := af.AddUser(afsim.User{Slug: "TwinUser", Email: "kay.twin@example.org", FirstName: "Kay", LastName: "Twin"})
	noEmail := af.AddUser(afsim.User{Slug: "NoEmailU", Mobile: "+61491570006", FirstName: "Mo", LastName: "Bile"})

	staleID := sf.Insert("Contact", map[string]any{"Email": "ADA.LOVELACE@EXAMPLE.ORG", "FirstName": "Ada", "LastName": "Byron"})
	sf.Insert("Contact", map[string]any{"Email": "alan.turing@example.org", "FirstName": "Alan", "LastName": "Turing"})
	twinA := sf.Insert("Contact", map[string]any{"Email": "kay.twin@example.org", "FirstName": "Kay", "LastName": "Twin"})
	twinB := sf.Insert("Contact", map[string]any{"Email": "Kay.Twin@example.org", "FirstName": "K", "LastName": "Twin"})
	contactsBefore := len(sf.Records("Contact"))

	t.Run("a new user is created in Salesforce", func(t *testing.T) {
		res, err := syncJSON(t, stack, newUser.Slug)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != workflows.OutcomeCreated || res.RecordID == "" {
			t.Fatalf("outcome %q record %q, want created with an id", res.Outcome, res.RecordID)
		}
		rec, ok := sf.Record("Contact", res.RecordID)
		if !ok {
			t.Fatalf("record %s not in the sandbox", res.RecordID)
		}
		for field, want := range map[string]string{"Email": "grace.hopper@example.org", "FirstName": "Grace", "LastName": "Hopper", "Phone": "+447700900001"} {
			if rec[field] != want {
				t.Errorf("%s = %v, want %q", field, rec[field], want)
			}
		}
	})

	t.Run("an existing user with another email case and a stale name is updated, changed fields only", func(t *testing.T) {
		sf.ResetStats()
		res, err := syncJSON(t, stack, staleUser.Email) // by email: resolved through the worker
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != workflows.OutcomeUpdated || res.RecordID != staleID {
			t.Fatalf("outcome %q record %q, want updated %s", res.Outcome, res.RecordID, staleID)
		}
		want := []pairing.Change{{Field: "LastName", Source: "last_name", Before: "Byron", After: "Lovelace"}}
		if len(res.Decision.CRM) != 1 || res.Decision.CRM[0] != want[0] {
			t.Fatalf("changes %+v, want %+v", res.Decision.CRM, want)
		}
		rec, _ := sf.Record("Contact", staleID)
		if rec["LastName"] != "Lovelace" || rec["Email"] != "ADA.LOVELACE@EXAMPLE.ORG" {
			t.Fatalf("record after sync: %v", rec)
		}
		if st := sf.Stats(); st.ByRoute["PATCH /composite/sobjects"] != 1 || st.Writes != 1 {
			t.Fatalf("%d update calls writing %d records, want exactly 1 of each (%v)", st.ByRoute["PATCH /composite/sobjects"], st.Writes, st.ByRoute)
		}
		saveHistory(t, stack.Client, workflows.UserSyncWorkflowID(staleUser.Slug), "usersync-update.json")
	})

	t.Run("a 429 from Award Force is waited out", func(t *testing.T) {
		af.InjectFaults(1, http.StatusTooManyRequests) // answers Retry-After: 1
		res, err := syncJSON(t, stack, sameUser.Slug)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != workflows.OutcomeUnchanged {
			t.Fatalf("outcome %q, want unchanged after the retry", res.Outcome)
		}
		if n := af.Stats().RateLimited; n != 1 {
			t.Fatalf("%d 429s served, want the injected one", n)
		}
	})

	t.Run("an unchanged user makes no write call", func(t *testing.T) {
		sf.ResetStats()
		res, err := syncJSON(t, stack, sameUser.Slug)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != workflows.OutcomeUnchanged {
			t.Fatalf("outcome %q, want unchanged", res.Outcome)
		}
		assertNoWrites(t, stack)
	})

	t.Run("two matching records are reported as ambiguous and nothing is written", func(t *testing.T) {
		sf.ResetStats()
		res, err := syncJSON(t, stack, twinUser.Slug)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != workflows.OutcomeAmbiguous {
			t.Fatalf("outcome %q, want ambiguous", res.Outcome)
		}
		got := strings.Join(res.Decision.CandidateIDs, ",")
		if !strings.Contains(got, twinA) || !strings.Contains(got, twinB) {
			t.Fatalf("candidates %q, want %s and %s", got, twinA, twinB)
		}
		assertNoWrites(t, stack)
	})

	t.Run("a user with no email is skipped with a reason", func(t *testing.T) {
		sf.ResetStats()
		res, err := syncJSON(t, stack, noEmail.Slug)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != workflows.OutcomeSkipped || !strings.Contains(res.Decision.Reason, "email") {
			t.Fatalf("outcome %q reason %q, want skipped because of the email", res.Outcome, res.Decision.Reason)
		}
		if n := sf.Stats().APICalls; n != 0 {
			t.Fatalf("%d Salesforce calls for a user without email, want 0", n)
		}
	})

	t.Run("an Award Force webhook starts the sync", func(t *testing.T) {
		u := af.AddUser(afsim.User{Slug: "WebHookU", Email: "hedy.lamarr@example.org", FirstName: "Hedy", LastName: "Lamarr"})
		postWebhook(t, webhookServer(t, stack), `{"event":"membership_registered","source":"ui","user":{"slug":"WebHookU","email":"hedy.lamarr@example.org"}}`)
		var res workflows.UserSyncResult
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := stack.Client.GetWorkflow(ctx, workflows.UserSyncWorkflowID(u.Slug), "").Get(ctx, &res); err != nil {
			t.Fatal(err)
		}
		if res.Outcome != workflows.OutcomeCreated {
			t.Fatalf("outcome %q, want created", res.Outcome)
		}
		if rec, ok := sf.Record("Contact", res.RecordID); !ok || rec["LastName"] != "Lamarr" {
			t.Fatalf("record %s: %v", res.RecordID, rec)
		}
		contactsBefore++ // this user adds one too
	})

	t.Run("outcomes are searchable in the UI", func(t *testing.T) {
		query := workflows.OutcomeKey.GetName() + ` = "ambiguous"`
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := stack.Client.ListWorkflow(context.Background(), &workflowListRequest{Namespace: "default", Query: query})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Executions) == 1 && resp.Executions[0].Execution.WorkflowId == workflows.UserSyncWorkflowID(twinUser.Slug) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("search %q found %d executions, want the ambiguous sync", query, len(resp.Executions))
			}
			time.Sleep(300 * time.Millisecond)
		}
	})

	t.Run("the UI labels the sync and each of its steps, without PII", func(t *testing.T) {
		id := workflows.UserSyncWorkflowID(staleUser.Slug)
		d, err := stack.Client.DescribeWorkflowExecution(context.Background(), id, "")
		if err != nil {
			t.Fatal(err)
		}
		var summary string
		if err := converter.GetDefaultDataConverter().FromPayload(d.GetExecutionConfig().GetUserMetadata().GetSummary(), &summary); err != nil {
			t.Fatal(err)
		}
		if summary != "Sync Award Force user StaleUsr (manual)" {
			t.Errorf("workflow summary %q", summary)
		}
		steps := stepSummaries(t, stack, id)
		want := []string{"Ask the Award Force budget for permits", "Read Award Force user StaleUsr", "Hand 1 person to pairing lane " + strconv.Itoa(workflows.LaneOf(staleUser.Slug))}
		if strings.Join(steps, " | ") != strings.Join(want, " | ") {
			t.Errorf("step summaries\n got %q\nwant %q", steps, want)
		}
		// The lane that holds the user shows its lookups and writes.
		laneSteps := stepSummaries(t, stack, workflows.LaneWorkflowID(workflows.LaneOf(staleUser.Slug)))
		for _, want := range []string{"Look up the Contact records of 1 person by Email", "Update 1 Contact record"} {
			if !slices.Contains(laneSteps, want) {
				t.Errorf("the lane's steps %q lack %q", laneSteps, want)
			}
		}
		for _, s := range append(steps, laneSteps...) {
			if strings.Contains(strings.ToLower(s), "lovelace") || strings.Contains(s, "@") {
				t.Errorf("a summary shows PII: %q", s)
			}
		}
	})

	t.Run("the worker's metrics count every outcome and the Salesforce quota", func(t *testing.T) {
		body := scrapeMetrics(t, stack)
		for _, c := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"afsync_user_syncs_total", []string{`outcome="created"`, `trigger="manual"`, `workflow_type="UserSync"`}, 1},
			{"afsync_user_syncs_total", []string{`outcome="created"`, `trigger="registration"`}, 1}, // the webhook's
			{"afsync_user_syncs_total", []string{`outcome="updated"`}, 1},
			{"afsync_user_syncs_total", []string{`outcome="unchanged"`}, 2},
			{"afsync_user_syncs_total", []string{`outcome="ambiguous"`}, 1},
			{"afsync_user_syncs_total", []string{`outcome="skipped"`}, 1},
			{"afsync_user_syncs_total", []string{`outcome="failed"`}, 0},
			{"temporal_workflow_completed_total", []string{`workflow_type="UserSync"`}, 7},
		} {
			// At least once: a workflow task that runs again on an
			// overloaded machine counts its sync again.
			if got := metricSum(body, c.name, c.labels...); got < c.want || got > c.want+1 || (c.want == 0 && got != 0) {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
			}
		}
		if used := metricSum(body, "afsync_salesforce_api_used"); used <= 0 || metricSum(body, "afsync_salesforce_api_max") < used {
			t.Errorf("Salesforce usage %v of %v: want what Sforce-Limit-Info reported", used, metricSum(body, "afsync_salesforce_api_max"))
		}
		if t.Failed() {
			t.Logf("GET /metrics:\n%s", body)
		}
	})

	if got := len(sf.Records("Contact")); got != contactsBefore+1 {
		t.Errorf("%d contacts, want %d: only the new users may add one each", got, contactsBefore+1)
	}
}

// stepSummaries lists the UI summaries of a workflow's activities and local
// activities, in order.
func stepSummaries(t *testing.T, stack *devstack.Stack, id string) []string {
	t.Helper()
	var steps []string
	iter := stack.Client.GetWorkflowHistory(context.Background(), id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		p := ev.GetUserMetadata().GetSummary()
		if p == nil || (ev.GetEventType() != enums.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && ev.GetEventType() != enums.EVENT_TYPE_MARKER_RECORDED) {
			continue
		}
		var step string
		if err := converter.GetDefaultDataConverter().FromPayload(p, &step); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, step)
	}
	return steps
}

// scrapeMetrics reads the worker's /metrics, through the worker's own HTTP
// handler, over HTTP.
func scrapeMetrics(t *testing.T, stack *devstack.Stack) string {
	t.Helper()
	h, err := afworker.HTTPHandler(stack.Client, stack.Config, stack.Spec, stack.Metrics, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s %v\n%s", resp.Status, err, raw)
	}
	return string(raw)
}

// metricSum adds up the samples of the named metric, in Prometheus's text
// format, whose labels include all of labels.
func metricSum(body, name string, labels ...string) float64 {
	sum := 0.0
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue // another metric whose name starts the same
		}
		i := strings.LastIndexByte(rest, ' ')
		if i < 0 {
			continue
		}
		matches := true
		for _, l := range labels {
			matches = matches && strings.Contains(rest[:i], l)
		}
		if v, err := strconv.ParseFloat(rest[i+1:], 64); err == nil && matches {
			sum += v
		}
	}
	return sum
}

func assertNoWrites(t *testing.T, stack *devstack.Stack) {
	t.Helper()
	for route, n := range stack.Sandbox.Salesforce.Stats().ByRoute {
		if n > 0 && !strings.HasPrefix(route, "GET ") {
			t.Errorf("%d × %s: no write was expected", n, route)
		}
	}
	if w := stack.Sandbox.Salesforce.Stats().Writes; w != 0 {
		t.Errorf("%d records written, want 0", w)
	}
}

// saveHistory refreshes the replay test's saved history when
// AFSYNC_UPDATE_HISTORY=1, so that workflow changes are checked against the
// histories of the code that ran before them.
func saveHistory(t *testing.T, c client.Client, workflowID, name string) {
	t.Helper()
	saveRunHistory(t, c, workflowID, "", name)
}

// saveRunHistory is saveHistory for one run of the workflow ("" is the latest).
func saveRunHistory(t *testing.T, c client.Client, workflowID, runID, name string) {
	t.Helper()
	if os.Getenv("AFSYNC_UPDATE_HISTORY") != "1" {
		return
	}
	ctx := context.Background()
	iter := c.GetWorkflowHistory(ctx, workflowID, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var h historypb.History
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
	}
	raw, err := protojson.MarshalOptions{Indent: "  "}.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "workflows", "testdata", "current", name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	recordHistoryID(t, filepath.Dir(path), name, workflowID)
	t.Logf("saved %s", path)
}

// historyIDsMu serialises the updates of ids.json by parallel tests.
var historyIDsMu sync.Mutex

// recordHistoryID writes, in dir's ids.json, the workflow ID the history in
// file name ran under: the replay test replays it under that ID.
func recordHistoryID(t *testing.T, dir, name, workflowID string) {
	t.Helper()
	historyIDsMu.Lock()
	defer historyIDsMu.Unlock()
	path := filepath.Join(dir, "ids.json")
	ids := map[string]string{}
	if raw, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(raw, &ids); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	ids[name] = workflowID
	raw, err := json.MarshalIndent(ids, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestIntegrationStarterWarnsWhenNoWorkerPolls(t *testing.T) {
	t.Parallel()
	// With the worker polling, there is nothing to say.
	stack := startStack(t, sandbox.Options{})
	var warn bytes.Buffer
	g := &globalOptions{temporal: configFor(stack), stderr: &warn}
	c, _, err := g.dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; ; i++ {
		warn.Reset()
		g.warnIfNoWorker(context.Background(), c)
		if warn.Len() == 0 {
			break
		}
		if i == 30 {
			t.Fatalf("warned with a worker running: %q", warn.String())
		}
		time.Sleep(time.Second)
	}

	// On a server no worker ever polled, the starter says so.
	bare := devservertest.Start(t, devserver.Options{UIPort: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g2 := &globalOptions{temporal: config.Temporal{Address: bare.Address, Namespace: bare.Namespace}, stderr: &warn}
	c2, _, err := g2.dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	g2.warnIfNoWorker(ctx, c2)
	if !strings.Contains(warn.String(), "no worker polls") {
		t.Fatalf("no warning: %q", warn.String())
	}

	// The worker's /healthz follows its Temporal frontend.
	h, err := afworker.HTTPHandler(c2, stack.Config, stack.Spec, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	health := func() int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		return rec.Code
	}
	if code := health(); code != http.StatusOK {
		t.Fatalf("/healthz with Temporal up: %d", code)
	}
	if err := bare.Stop(); err != nil {
		t.Fatal(err)
	}
	if code := health(); code != http.StatusServiceUnavailable {
		t.Fatalf("/healthz with Temporal down: %d, want 503", code)
	}
}

func TestIntegrationAnEditDuringASyncIsNotLost(t *testing.T) {
	t.Parallel()
	stack := startStack(t, sandbox.Options{Latency: 600 * time.Millisecond}) // a wide window for the second webhook
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	u := af.AddUser(afsim.User{Slug: "EditedMe", Email: "edited.midway@example.org", FirstName: "Eda", LastName: "Before"})
	webhooks := webhookServer(t, stack)
	post := func(event string) {
		t.Helper()
		postWebhook(t, webhooks, `{"event":"`+event+`","user":{"slug":"EditedMe"}}`)
	}

	queries := sf.Stats().ByRoute["GET /query"]
	post("membership_registered")
	// The sync has read the profile once it looks the email up in Salesforce.
	for deadline := time.Now().Add(time.Minute); sf.Stats().ByRoute["GET /query"] == queries; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the sync never looked the user up")
		}
	}
	// Now the user edits the profile: Award Force sends another webhook
	// while the first sync is still writing what it read.
	u.LastName = "After"
	af.AddUser(u)
	post("user_updated")

	id := workflows.UserSyncWorkflowID(u.Slug)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var res workflows.UserSyncResult
	if err := stack.Client.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	recs := contactsByEmail(sf.Records("Contact"))[strings.ToLower(u.Email)]
	if len(recs) != 1 || recs[0]["LastName"] != "After" {
		t.Fatalf("records of the edited user: %v; want one, with the edit", recs)
	}
	d, err := stack.Client.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	if info := d.GetWorkflowExecutionInfo(); info.GetFirstRunId() == info.GetExecution().GetRunId() {
		t.Fatalf("the edit arrived after the first sync had ended (outcome %s): the test proves nothing; make the sandbox slower", res.Outcome)
	}
	saveRunHistory(t, stack.Client, id, d.GetWorkflowExecutionInfo().GetFirstRunId(), "usersync-resync.json")
}

const testSigningKey = "test-signing-key"

// webhookServer serves the worker's HTTP endpoints, webhook included
// (signed with testSigningKey), for the rest of the test; it returns the URL.
func webhookServer(t *testing.T, stack *devstack.Stack) string {
	t.Helper()
	cfg := stack.Config
	cfg.WebhookSigningKey = testSigningKey
	h, err := afworker.HTTPHandler(stack.Client, cfg, stack.Spec, nil, receiverLog(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// receiverLog is a logger for a test's webhook receiver: its warnings and
// errors (why a webhook was answered 503, say) go to the test's log, so
// that a failure shows them.
func receiverLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testWriter writes each line to a test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// postWebhook sends an Award Force webhook signed with testSigningKey and
// wants it accepted. A 503 (the receiver could not start the sync in time:
// "retry later") is sent again, as a retrying sender would, for up to a
// minute; the receiver's log in the test's says why.
func postWebhook(t *testing.T, baseURL, body string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; {
		code := webhookAnswer(t, baseURL+"/webhooks/awardforce", testSigningKey, body)
		switch {
		case code == http.StatusAccepted:
			return
		case code == http.StatusServiceUnavailable && time.Now().Before(deadline):
			t.Logf("webhook %s answered %d; sending it again", body, code)
		default:
			t.Fatalf("webhook %s answered %d, want 202", body, code)
		}
	}
}

// webhookAnswer posts an Award Force webhook body to url, signed with key,
// and returns the status it was answered.
func webhookAnswer(t *testing.T, url, key, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Signature", afsim.Sign([]byte(body), key))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
