package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/workflows"
)

// fakeTemporal serves the SDK's mock client from a list of executions:
// their visibility rows, inputs and results.
type fakeTemporal struct {
	t     *testing.T
	c     *mocks.Client
	execs []fakeExec
}

type fakeExec struct {
	id, run, typ string
	status       enumspb.WorkflowExecutionStatus
	closed       time.Time
	input        any   // UserSync's input
	result       any   // what Get returns, when it completes
	err          error // what Get fails with
}

func newFakeTemporal(t *testing.T, execs ...fakeExec) *fakeTemporal {
	f := &fakeTemporal{t: t, c: mocks.NewClient(t), execs: execs}
	f.c.On("Close").Return().Maybe()
	f.c.On("ListWorkflow", mock.Anything, mock.Anything).Return(func(_ context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
		return f.list(req.GetQuery()), nil
	}).Maybe()
	f.c.On("GetWorkflowHistory", mock.Anything, mock.Anything, mock.Anything, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT).Return(
		func(_ context.Context, id, run string, _ bool, _ enumspb.HistoryEventFilterType) client.HistoryEventIterator {
			return f.history(id, run)
		}).Maybe()
	f.c.On("GetWorkflow", mock.Anything, mock.Anything, mock.Anything).Return(func(_ context.Context, id, run string) client.WorkflowRun {
		return f.run(id, run)
	}).Maybe()
	return f
}

func (f *fakeTemporal) options() *globalOptions {
	return &globalOptions{dialer: func(context.Context, client.Options) (client.Client, error) { return f.c, nil }}
}

// list answers the two kinds of query find and report make: by workflow
// type, optionally by id; time clauses are checked for their shape only.
func (f *fakeTemporal) list(q string) *workflowservice.ListWorkflowExecutionsResponse {
	resp := &workflowservice.ListWorkflowExecutionsResponse{}
	for _, e := range f.execs {
		if !strings.Contains(q, "WorkflowType = '"+e.typ+"'") {
			continue
		}
		if strings.Contains(q, "WorkflowId = ") && !strings.Contains(q, "WorkflowId = '"+e.id+"'") {
			continue
		}
		info := &workflowpb.WorkflowExecutionInfo{
			Execution: &commonpb.WorkflowExecution{WorkflowId: e.id, RunId: e.run},
			Type:      &commonpb.WorkflowType{Name: e.typ},
			Status:    e.status, StartTime: timestamppb.New(e.closed.Add(-time.Second)),
		}
		if e.status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			info.CloseTime = timestamppb.New(e.closed)
		}
		resp.Executions = append(resp.Executions, info)
	}
	return resp
}

func (f *fakeTemporal) find(id, run string) fakeExec {
	for _, e := range f.execs {
		if e.id == id && e.run == run {
			return e
		}
	}
	f.t.Fatalf("no execution %s/%s", id, run)
	return fakeExec{}
}

func (f *fakeTemporal) history(id, run string) client.HistoryEventIterator {
	e := f.find(id, run)
	payloads, err := converter.GetDefaultDataConverter().ToPayloads(e.input)
	if err != nil {
		f.t.Fatal(err)
	}
	it := mocks.NewHistoryEventIterator(f.t)
	it.On("HasNext").Return(true).Once()
	it.On("Next").Return(&historypb.HistoryEvent{EventId: 1, EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
		Attributes: &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{
			WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{Input: payloads},
		}}, nil).Once()
	return it
}

func (f *fakeTemporal) run(id, run string) client.WorkflowRun {
	e := f.find(id, run)
	r := mocks.NewWorkflowRun(f.t)
	r.On("Get", mock.Anything, mock.Anything).Return(func(_ context.Context, ptr any) error {
		if e.err != nil {
			return e.err
		}
		reflect.ValueOf(ptr).Elem().Set(reflect.ValueOf(e.result))
		return nil
	}).Maybe()
	return r
}

var (
	findT0 = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	ada    = "AdaLovel"
)

func adaExecs() []fakeExec {
	created := workflows.UserSyncResult{Slug: ada, Outcome: workflows.OutcomeCreated, RecordID: "003AAA",
		Decision: pairing.Decision{Action: pairing.ActionCreate, CRM: []pairing.Change{{Field: "Email", After: "ada@example.org"}, {Field: "LastName", After: "Lovelace"}}}}
	updated := workflows.UserSyncResult{Slug: ada, Outcome: workflows.OutcomeUpdated, RecordID: "003AAA",
		Decision: pairing.Decision{Action: pairing.ActionUpdate, AwardForce: []pairing.Change{{Field: "first_name", Before: "Ada", After: "Augusta"}}}}
	refused := workflows.UserSyncResult{Slug: ada, Outcome: workflows.OutcomeFailed, RecordID: "003AAA", Error: "STRING_TOO_LONG: Title: data value too large"}
	other := workflows.UserSyncResult{Slug: "GraceHop", Outcome: workflows.OutcomeCreated, RecordID: "003BBB"}
	return []fakeExec{
		{id: "afsync-backfill-x/chunk-00001", run: "c1", typ: "BackfillChunk", status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, closed: findT0,
			result: workflows.ChunkResult{Users: []workflows.UserSyncResult{other, created}}},
		{id: "afsync-backfill-x-dry-run/chunk-00001", run: "d1", typ: "BackfillChunk", status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, closed: findT0.Add(time.Minute),
			result: workflows.ChunkResult{Users: []workflows.UserSyncResult{created}}},
		{id: "afsync-backfill-x/chunk-00002", run: "c2", typ: "BackfillChunk", status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, closed: findT0.Add(2 * time.Minute)},
		{id: workflows.UserSyncWorkflowID(ada), run: "u1", typ: "UserSync", status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, closed: findT0.Add(time.Hour),
			input: workflows.UserSyncInput{Slug: ada, Trigger: pairing.TriggerCRMChange}, result: updated},
		{id: workflows.UserSyncWorkflowID(ada), run: "u2", typ: "UserSync", status: enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, closed: findT0.Add(2 * time.Hour),
			input: workflows.UserSyncInput{Slug: ada, Trigger: pairing.TriggerProfileUpdate},
			err:   temporal.NewNonRetryableApplicationError("sync failed", workflows.ErrTypeSyncFailed, nil, refused)},
		{id: workflows.UserSyncWorkflowID("GraceHop"), run: "g1", typ: "UserSync", status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, closed: findT0.Add(3 * time.Hour),
			input: workflows.UserSyncInput{Slug: "GraceHop", Trigger: pairing.TriggerRegistration}, result: other},
	}
}

func TestFindListsAPersonsSyncsNewestFirst(t *testing.T) {
	f := newFakeTemporal(t, adaExecs()...)
	var out bytes.Buffer
	o := &findOptions{globalOptions: f.options(), user: ada, json: true, uiURL: "http://ui.example:8233/", timeout: time.Minute, out: &out}
	if err := runFind(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	var got []syncRecord
	dec := json.NewDecoder(&out)
	for dec.More() {
		var s syncRecord
		if err := dec.Decode(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	// The failed webhook sync, the CRM change, the backfill chunk: not
	// Grace's sync, not the dry run's chunk, not the running chunk.
	if len(got) != 3 {
		t.Fatalf("got %d syncs, want 3: %+v", len(got), got)
	}
	want := []struct{ trigger, status string }{{"profile_update", "failed"}, {"crm_change", "completed"}, {"backfill", "completed"}}
	for i, w := range want {
		if got[i].Trigger != w.trigger || got[i].Status != w.status || got[i].Result == nil || got[i].Result.Slug != ada {
			t.Errorf("sync %d: %+v, want %s %s", i, got[i], w.trigger, w.status)
		}
	}
	if got[0].Result.Error != "STRING_TOO_LONG: Title: data value too large" {
		t.Errorf("the failed sync's message: %q", got[0].Result.Error)
	}
	if got[2].Result.Outcome != workflows.OutcomeCreated || got[2].WorkflowID != "afsync-backfill-x/chunk-00001" {
		t.Errorf("the chunk: %+v", got[2])
	}
	if want := "http://ui.example:8233/namespaces/default/workflows/afsync-backfill-x%2Fchunk-00001/c1/history"; got[2].Link != want {
		t.Errorf("link %s, want %s", got[2].Link, want)
	}
	if got := got[1].changedFields(); !reflect.DeepEqual(got, []string{"awardforce.first_name"}) {
		t.Errorf("changed %v", got)
	}
}

func TestFindByEmailAsksTheWorkerForTheSlug(t *testing.T) {
	f := newFakeTemporal(t, adaExecs()...)
	resolved := mocks.NewWorkflowRun(t)
	resolved.On("Get", mock.Anything, mock.Anything).Return(func(_ context.Context, ptr any) error {
		*ptr.(*string) = ada
		return nil
	})
	plainHash := sha256.Sum256([]byte("ada@example.org"))
	f.c.On("ExecuteWorkflow", mock.Anything, mock.MatchedBy(func(o client.StartWorkflowOptions) bool {
		// No email in the id, nor an unsalted hash of it.
		return strings.HasPrefix(o.ID, "afsync-resolve-") && !strings.Contains(o.ID, "ada") && !strings.Contains(o.ID, hex.EncodeToString(plainHash[:4]))
	}), mock.Anything, "ada@example.org").Return(resolved, nil).Once()
	var out bytes.Buffer
	o := &findOptions{globalOptions: f.options(), user: "ada@example.org", timeout: time.Minute, out: &out}
	if err := runFind(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"ada@example.org is Award Force user AdaLovel", "profile_update", "STRING_TOO_LONG", "crm_change", "awardforce.first_name", "backfill", "salesforce.Email salesforce.LastName"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Index(text, "profile_update") > strings.Index(text, "backfill") {
		t.Errorf("not newest first:\n%s", text)
	}
}

func TestFindRefusesWhatIsNeitherSlugNorEmail(t *testing.T) {
	f := newFakeTemporal(t)
	o := &findOptions{globalOptions: f.options(), user: "ada", timeout: time.Minute, out: &bytes.Buffer{}}
	if err := runFind(context.Background(), o); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Fatalf("err %v", err)
	}
}

func TestReportSinceWritesEverySyncOfTheWindow(t *testing.T) {
	f := newFakeTemporal(t, adaExecs()...)
	dir := t.TempDir()
	out := filepath.Join(dir, "since.csv")
	var stdout bytes.Buffer
	o := &reportOptions{globalOptions: f.options(), since: 24 * time.Hour, out: out, outcomes: []string{"failed", "created"},
		uiURL: "http://localhost:8233", timeout: time.Minute, stdout: &stdout}
	if err := runReport(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header := rows[0]
	if got := strings.Join(header[len(header)-3:], ","); got != "when,trigger,workflow" || !reflect.DeepEqual(header[:len(planHeader)], planHeader) {
		t.Fatalf("header %v", header)
	}
	// Failed and created only: Ada's failed sync (one row), Grace's
	// registration (one row), the chunk's two creations (Grace one row, Ada
	// two, one a field). Ada's update is filtered out.
	var triggers []string
	for _, r := range rows[1:] {
		triggers = append(triggers, r[0]+"/"+r[len(r)-2])
	}
	want := []string{"GraceHop/registration", "AdaLovel/profile_update", "GraceHop/backfill", "AdaLovel/backfill", "AdaLovel/backfill"}
	if !reflect.DeepEqual(triggers, want) {
		t.Errorf("rows %v, want %v", triggers, want)
	}
	if !strings.Contains(stdout.String(), "4 syncs") {
		t.Errorf("stdout: %s", stdout.String())
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != privateFileMode {
		t.Errorf("mode %v, %v", fi.Mode(), err)
	}

	// --since takes no --id.
	o.id = "afsync-backfill-x"
	if err := runReport(context.Background(), o); err == nil {
		t.Error("--since with --id accepted")
	}
}

func TestReportJSONPrintsJSONLinesOnStdout(t *testing.T) {
	f := newFakeTemporal(t, adaExecs()...)
	var stdout, stderr bytes.Buffer
	cmd := newCmdReport(f.options())
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs([]string{"--since", "24h", "--outcome", "failed,created", "--json"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines on stdout, want one a sync (4):\n%s", len(lines), stdout.String())
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("not a JSON line: %q (%v)", l, err)
		}
	}
	if !strings.Contains(stderr.String(), "4 syncs") || !strings.Contains(stderr.String(), "stdout") {
		t.Errorf("the summary belongs on stderr: %q", stderr.String())
	}
	cmd = newCmdReport(f.options())
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetArgs([]string{"--since", "24h", "--json", "--out", "x.csv"})
	if err := cmd.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), "--json") {
		t.Errorf("--json with --out: %v", err)
	}
}
