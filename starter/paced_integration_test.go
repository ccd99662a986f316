package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	activitiespkg "github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/internal/devstack"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/workflows"
)

// Profile reads at Award Force's limit: the budget grants several permits
// a signal, each due at its own moment, and the reads of one grant go in
// one activity that makes each at its moment. No 429, the limit's pace,
// every read at or after its moment, and far fewer grants and activities
// than requests (one of each a request before).
func TestIntegrationProfileReadsArePacedSeveralPermitsAGrant(t *testing.T) {
	t.Parallel()
	const users, perMinute = 150, 600
	// A profile field and no write-back: a read a user, nothing else.
	spec := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(spec, []byte("object: Contact\nunique_identifier: {awardforce: email, crm: Email}\nfields:\n"+
		"  - {awardforce: last_name, crm: LastName}\n  - {awardforce: JobTitle, crm: Title}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stack := startStackOptions(t, devstack.Options{
		Sandbox:                 sandbox.Options{Seed: sandbox.SeedOptions{Users: users, Seed: 5}, AwardForceRateLimit: perMinute},
		AwardForceRatePerMinute: perMinute,
		Getenv: func(k string) string {
			if k == config.EnvConfig {
				return spec
			}
			return ""
		},
	})
	af := stack.Sandbox.AwardForce
	af.ResetStats()
	out := &syncBuffer{}
	o := &backfillOptions{
		globalOptions: &globalOptions{temporal: configFor(stack), specPath: spec},
		concurrency:   2, pagesPerChunk: 1, json: true, stdout: out,
	}
	start := time.Now()
	if err := runBackfill(context.Background(), o); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	elapsed := time.Since(start)
	var p workflows.Progress
	if err := json.Unmarshal([]byte(out.String()), &p); err != nil || p.Seen != users || p.Failed != 0 {
		t.Fatalf("want %d users seen, none failed: %+v (%v)\n%s", users, p, err, out.String())
	}
	st := af.Stats()
	if st.RateLimited != 0 {
		t.Fatalf("Award Force answered %d × 429", st.RateLimited)
	}
	if reads := st.ByRoute["GET /user/{slug-or-email}"]; reads < users {
		t.Fatalf("%d profile reads, want one a user (%d)", reads, users)
	}
	if bound := time.Duration(st.Requests-1) * time.Minute / perMinute; elapsed < bound {
		t.Fatalf("%d requests in %v: faster than %d a minute (%v)", st.Requests, elapsed, perMinute, bound)
	}

	// The budget's grants: a signal each.
	grants := 0
	for _, run := range listWorkflows(t, stack, "WorkflowId = '"+workflows.BudgetWorkflowID+"'") {
		eachEvent(t, stack.Client, workflows.BudgetWorkflowID, run.GetExecution().GetRunId(), func(e *historypb.HistoryEvent) {
			if a := e.GetSignalExternalWorkflowExecutionInitiatedEventAttributes(); a != nil && a.GetSignalName() == workflows.PermitGrantSignal {
				grants++
			}
		})
	}
	if grants == 0 || grants > st.Requests/3 {
		t.Fatalf("%d grants for %d requests: want several permits a grant", grants, st.Requests)
	}

	// Each read was made in a GetUsers activity with the others of its
	// grant, and ended at or after its moment, on the server's clock.
	reads, activities := 0, 0
	for _, chunk := range listWorkflows(t, stack, "WorkflowType = 'BackfillChunk'") {
		due := map[int64]time.Time{}
		eachEvent(t, stack.Client, chunk.GetExecution().GetWorkflowId(), chunk.GetExecution().GetRunId(), func(e *historypb.HistoryEvent) {
			if a := e.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "GetUsers" {
				var in activitiespkg.GetUsersInput
				if err := converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &in); err != nil {
					t.Fatal(err)
				}
				reads += len(in.Slugs)
				activities++
				for _, at := range in.At {
					if at.After(due[e.GetEventId()]) {
						due[e.GetEventId()] = at
					}
				}
			}
			if a := e.GetActivityTaskCompletedEventAttributes(); a != nil {
				if last, ok := due[a.GetScheduledEventId()]; ok && e.GetEventTime().AsTime().Before(last) {
					t.Errorf("chunk %s: reads done at %s, before their last moment %s", chunk.GetExecution().GetWorkflowId(), e.GetEventTime().AsTime(), last)
				}
			}
		})
	}
	if reads != users || activities > users/3 {
		t.Fatalf("%d reads in %d GetUsers activities, want the %d users' in a few", reads, activities, users)
	}
}

// eachEvent calls f with each event of a run's history.
func eachEvent(t *testing.T, c client.Client, id, run string, f func(*historypb.HistoryEvent)) {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), id, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		f(e)
	}
}
