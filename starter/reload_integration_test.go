package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/internal/afworker"
	"github.com/afsync/afsync/internal/devstack"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/workflows"
)

// An integration added to and removed from a running worker (issue 16),
// as `worker` does when its registry changes: no restart. Added, its
// webhooks are received and its people paired, its CRM watch runs; removed,
// its watch ends, its scheduled backfills are paused, its webhooks are
// answered 404 and nothing of it runs, while the default integration goes
// on; added again, the schedules the removal paused resume (one paused by
// someone stays paused), its watch runs again and its people are paired.
func TestIntegrationAnIntegrationIsAddedAndRemovedWithoutARestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(watchSpec, "", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	stack := startStackOptions(t, devstack.Options{HTTPAddr: "127.0.0.1:0", Getenv: func(k string) string {
		if k == "AFSYNC_CONFIG" {
			return path
		}
		return ""
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	grantsNames := workflows.NamesOf("grants")
	grantsHook := "http://" + stack.Node.HTTPAddr + "/webhooks/awardforce/grants"
	if code := webhookAnswer(t, grantsHook, "any", `{"event":"user_updated","user":{"slug":"AbCdEfGh"}}`); code != http.StatusNotFound {
		t.Fatalf("grants' webhook answered %d before grants was served, want 404", code)
	}

	serve := func(want afworker.Reloaded, ids ...string) *devstack.Integration {
		t.Helper()
		got, err := stack.Serve(ctx, ids)
		if err != nil {
			t.Fatalf("serving %v: %v", ids, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("serving %v: %s, want %s", ids, got, want)
		}
		if len(stack.Integrations) == 0 {
			return nil
		}
		return stack.Integrations[0]
	}
	registers := func(in *devstack.Integration, slug string) {
		t.Helper()
		u := in.Sandbox.AwardForce.Register(afsim.User{Slug: slug, Email: slug + "@example.org", FirstName: "Reg", LastName: slug})
		waitForLong(t, func() bool { return pairedOnce(in.Sandbox, []string{u.Slug}) }, slug+" paired in grants' org", time.Minute)
	}
	watch := func() enumspb.WorkflowExecutionStatus {
		d, err := stack.Client.DescribeWorkflowExecution(ctx, grantsNames.CRMWatch(), "")
		if err != nil {
			t.Fatal(err)
		}
		return d.GetWorkflowExecutionInfo().GetStatus()
	}

	grants := serve(afworker.Reloaded{Added: []string{"grants"}}, "grants")
	registers(grants, "GrantOne")
	if s := watch(); s != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("grants' CRM watch is %s once grants is served", s)
	}
	if _, err := scheduleBackfills(ctx, stack.Client, grantsNames, stack.Spec, workflows.UserFilter{}, time.Hour); err != nil {
		t.Fatal(err)
	}
	// A schedule someone paused, of grants too (by its search attribute).
	const byHand = "afsync-grants-paused-by-hand"
	if _, err := stack.Client.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID: byHand, Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: time.Hour}}},
		Action: &client.ScheduleWorkflowAction{ID: "afsync-grants-by-hand", Workflow: workflows.Backfill,
			Args: []any{workflows.BackfillInput{Spec: *stack.Spec}}, TaskQueue: grantsNames.TaskQueue()},
		Paused: true, Note: "paused by ops", TypedSearchAttributes: grantsNames.SearchAttributes(),
	}); err != nil {
		t.Fatal(err)
	}
	waitForLong(t, func() bool { // the schedules are found by visibility, eventually
		it, err := stack.Client.ScheduleClient().List(ctx, client.ScheduleListOptions{Query: workflows.IntegrationKey.GetName() + " = 'grants'"})
		n := 0
		for err == nil && it.HasNext() {
			if _, err = it.Next(); err == nil {
				n++
			}
		}
		return n == 2
	}, "grants' two schedules listed", time.Minute)
	paused := func(id string) (bool, string) {
		t.Helper()
		d, err := stack.Client.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return d.Schedule.State.Paused, d.Schedule.State.Note
	}

	serve(afworker.Reloaded{Removed: []string{"grants"}})
	if s := watch(); s == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatal("grants' CRM watch still runs once grants is removed")
	}
	if p, _ := paused(grantsNames.BackfillSchedule(stack.Spec)); !p {
		t.Fatal("grants' backfill schedule still runs once grants is removed")
	}
	if code := webhookAnswer(t, grantsHook, grants.Config.WebhookSigningKey, `{"event":"user_updated","user":{"slug":"GrantOne"}}`); code != http.StatusNotFound {
		t.Fatalf("grants' webhook answered %d once grants is removed, want 404", code)
	}
	// The default integration goes on.
	u := stack.Sandbox.AwardForce.Register(afsim.User{Slug: "DefltOne", Email: "deflt-one@example.org", FirstName: "Reg", LastName: "Default"})
	waitForLong(t, func() bool { return pairedOnce(stack.Sandbox, []string{u.Slug}) }, "the default's registrant paired", time.Minute)

	grants = serve(afworker.Reloaded{Added: []string{"grants"}}, "grants")
	if p, note := paused(grantsNames.BackfillSchedule(stack.Spec)); p {
		t.Fatalf("grants' backfill schedule still paused (%q) once grants is added again", note)
	}
	if p, note := paused(byHand); !p || note != "paused by ops" {
		t.Fatalf("the schedule paused by hand: paused %v (%q) once grants is added again, want it left as it was", p, note)
	}
	if s := watch(); s != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("grants' CRM watch is %s once grants is added again", s)
	}
	registers(grants, "GrantTwo")
	if !slices.Equal([]string{"grants"}, []string{stack.Integrations[0].Names.Integration()}) {
		t.Fatal("the stack serves another integration than grants")
	}
}
