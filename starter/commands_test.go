package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/temporal"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/workflows"
)

// mockSyncs makes the mock client run UserSync by answering
// SignalWithStartWorkflow from results, by slug (a failed one as the
// workflow reports it: ErrTypeSyncFailed with the audit), and records the
// requests.
func mockSyncs(t *testing.T, c *mocks.Client, results map[string]workflows.UserSyncResult) *[]workflows.UserSyncInput {
	var started []workflows.UserSyncInput
	c.On("DescribeWorkflow", mock.Anything, mock.MatchedBy(func(id string) bool { return strings.HasPrefix(id, "afsync-user-") }), "").
		Return(nil, serviceerror.NewNotFound("no such workflow")).Maybe()
	c.On("SignalWithStartWorkflow", mock.Anything, mock.Anything, workflows.ResyncSignal, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_ context.Context, id, _ string, _ any, opts client.StartWorkflowOptions, _ any, args ...any) (client.WorkflowRun, error) {
			in := args[0].(workflows.UserSyncInput)
			if id != workflows.UserSyncWorkflowID(in.Slug) || opts.ID != id {
				t.Errorf("sync of %s started as %s", in.Slug, id)
			}
			started = append(started, in)
			res := results[in.Slug]
			run := mocks.NewWorkflowRun(t)
			run.On("GetID").Return(id).Maybe()
			run.On("GetRunID").Return("run-" + in.Slug).Maybe()
			run.On("Get", mock.Anything, mock.Anything).Return(func(_ context.Context, ptr any) error {
				if res.Outcome == workflows.OutcomeFailed {
					return temporal.NewNonRetryableApplicationError("sync failed", workflows.ErrTypeSyncFailed, nil, res)
				}
				*ptr.(*workflows.UserSyncResult) = res
				return nil
			}).Maybe()
			return run, nil
		}).Maybe()
	return &started
}

func TestSyncPrintsTheAuditAndFailsWithTheAPIsMessage(t *testing.T) {
	f := newFakeTemporal(t)
	started := mockSyncs(t, f.c, map[string]workflows.UserSyncResult{
		"AdaLovel": {Slug: "AdaLovel", Outcome: workflows.OutcomeUpdated, RecordID: "003AAA",
			Decision: pairing.Decision{Action: pairing.ActionUpdate, CRM: []pairing.Change{{Field: "LastName", Before: "Byron", After: "Lovelace", Source: "last_name"}}}},
		"GraceHop": {Slug: "GraceHop", Outcome: workflows.OutcomeFailed, Error: "STRING_TOO_LONG: Title: data value too large"},
	})
	var out bytes.Buffer
	o := &syncOptions{globalOptions: f.options(), user: "AdaLovel", trigger: "manual", timeout: time.Minute, out: &out}
	if err := runSync(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"AdaLovel", "updated", "003AAA", `LastName  "Byron"  → "Lovelace"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if len(*started) != 1 || (*started)[0].Trigger != pairing.TriggerManual || (*started)[0].Spec.Object != "Contact" {
		t.Errorf("started %+v", *started)
	}

	out.Reset()
	o.user, o.json = "GraceHop", true
	err := runSync(context.Background(), o)
	var exit *exitError
	if !errors.As(err, &exit) || exit.code != 2 || !strings.Contains(err.Error(), "STRING_TOO_LONG") {
		t.Fatalf("err %v, want exit status 2 with Salesforce's message", err)
	}
	var res workflows.UserSyncResult
	if jerr := json.Unmarshal(out.Bytes(), &res); jerr != nil || res.Outcome != workflows.OutcomeFailed {
		t.Errorf("--json: %v %+v\n%s", jerr, res, out.String())
	}

	o.trigger = "backfill"
	if err := runSync(context.Background(), o); err == nil || !strings.Contains(err.Error(), "--trigger") {
		t.Errorf("a backfill trigger accepted: %v", err)
	}
}

func TestRetrySyncsTheFailedUsersAgain(t *testing.T) {
	f := newFakeTemporal(t)
	const id = "afsync-backfill-x"
	p := workflows.Progress{BackfillID: id, Done: true, Counts: workflows.Counts{Seen: 10, Failed: 2},
		Failures: []workflows.Failure{{Slug: "AdaLovel", Error: "UNABLE_TO_LOCK_ROW"}, {Slug: "GraceHop", Error: "STRING_TOO_LONG"}}}
	f.c.On("DescribeWorkflowExecution", mock.Anything, id, "").Return(&workflowservice.DescribeWorkflowExecutionResponse{
		WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{Status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED}}, nil)
	f.execs = append(f.execs, fakeExec{id: id, run: "", typ: "Backfill", status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, result: p})
	started := mockSyncs(t, f.c, map[string]workflows.UserSyncResult{
		"AdaLovel": {Slug: "AdaLovel", Outcome: workflows.OutcomeUpdated, RecordID: "003AAA"},
		"GraceHop": {Slug: "GraceHop", Outcome: workflows.OutcomeFailed, Error: "STRING_TOO_LONG: Title: data value too large"},
	})
	var out bytes.Buffer
	o := &retryOptions{globalOptions: f.options(), id: id, concurrency: 2, json: true, timeout: time.Minute, stdout: &out}
	err := runRetry(context.Background(), o)
	var exit *exitError
	if !errors.As(err, &exit) || exit.code != 2 || !strings.Contains(err.Error(), "1 of 2 users still fail") {
		t.Fatalf("err %v", err)
	}
	var results []workflows.UserSyncResult
	if err := json.Unmarshal(out.Bytes(), &results); err != nil {
		t.Fatalf("--json: %v\n%s", err, out.String())
	}
	if len(results) != 2 || results[0].Slug != "AdaLovel" || results[0].Outcome != workflows.OutcomeUpdated ||
		results[1].Slug != "GraceHop" || results[1].Error != "STRING_TOO_LONG: Title: data value too large" {
		t.Errorf("results %+v", results)
	}
	if len(*started) != 2 {
		t.Errorf("%d syncs started, want 2", len(*started))
	}
	for _, in := range *started {
		if in.Trigger != pairing.TriggerManual {
			t.Errorf("retry of %s with trigger %s", in.Slug, in.Trigger)
		}
	}
}

// status with no running backfill says so and exits 0 with the last
// finished one, failures and all; with none at all it says so too.
func TestStatusWithNoRunningBackfill(t *testing.T) {
	f := newFakeTemporal(t)
	spec := pairing.Default()
	id := workflows.BackfillWorkflowID(spec, false)
	p := workflows.Progress{BackfillID: id, Done: true, Total: 10, Counts: workflows.Counts{Seen: 10, Created: 9, Failed: 1},
		Failures: []workflows.Failure{{Slug: "GraceHop", Error: "STRING_TOO_LONG"}}}
	f.execs = append(f.execs, fakeExec{id: id, run: "", typ: "Backfill", status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, closed: findT0, result: p})
	f.c.On("DescribeWorkflowExecution", mock.Anything, id, "").Return(&workflowservice.DescribeWorkflowExecutionResponse{
		WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{Status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED}}, nil)
	f.c.On("QueryWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(nil, errors.New("not running")).Maybe()
	out := &bytes.Buffer{}
	o := &backfillOptions{globalOptions: f.options(), attach: true, out: t.TempDir() + "/plan.csv", stdout: out}
	if err := runBackfill(context.Background(), o); err != nil {
		t.Fatalf("status of a finished backfill with a failed user: %v, want exit 0", err)
	}
	for _, want := range []string{"No backfill is running", id, "has finished", "failed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	// None at all.
	none := newFakeTemporal(t)
	none.c.On("DescribeWorkflowExecution", mock.Anything, mock.Anything, "").Return(nil, serviceerror.NewNotFound("workflow not found"))
	out.Reset()
	o = &backfillOptions{globalOptions: none.options(), attach: true, out: t.TempDir() + "/plan.csv", stdout: out}
	if err := runBackfill(context.Background(), o); err != nil || !strings.Contains(out.String(), "none has run yet") {
		t.Fatalf("err %v, output %s", err, out.String())
	}
}

// Every command speaks one vocabulary: --json wherever a command prints
// results (machine-readable JSON on stdout), --since a duration window
// wherever it appears, --out a file, or - for stdout, wherever it appears.
func TestTheCommandsShareOneVocabulary(t *testing.T) {
	printsResults := map[string]bool{"sync": true, "backfill": true, "status": true, "retry": true, "report": true, "find": true, "watch": true}
	seen := map[string]bool{}
	for _, cmd := range newRootCmd().Commands() {
		name := cmd.Name()
		seen[name] = true
		f := cmd.Flags()
		if printsResults[name] {
			if j := f.Lookup("json"); j == nil || j.Value.Type() != "bool" {
				t.Errorf("%s prints results but has no --json", name)
			}
		}
		if s := f.Lookup("since"); s != nil && s.Value.Type() != "duration" {
			t.Errorf("%s --since is a %s, want a duration window", name, s.Value.Type())
		}
		if o := f.Lookup("out"); o != nil && !strings.Contains(o.Usage, "- for stdout") {
			t.Errorf("%s --out does not say that - is stdout: %q", name, o.Usage)
		}
	}
	for name := range printsResults {
		if !seen[name] {
			t.Errorf("no command %s", name)
		}
	}
}
