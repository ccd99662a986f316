package workflows

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/pairing"
)

// historyIDs maps each recorded history's file name to the workflow ID it
// ran under (Backfill derives its chunks' IDs from its own, so replays need
// it). The same names recur in every directory of testdata/: one directory
// per workflow-code version, see versions.go.
func historyIDs(t *testing.T) map[string]string {
	example, err := pairing.Load(filepath.Join("..", "pairing", "testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	backfill := BackfillWorkflowID(pairing.Default(), false)
	dryRun := BackfillWorkflowID(pairing.Default(), true)
	exampleBackfill := BackfillWorkflowID(example, false)
	return map[string]string{
		"usersync-update.json":               UserSyncWorkflowID("StaleUsr"),
		"usersync-resync.json":               UserSyncWorkflowID("EditedMe"), // signalled mid-run; continues as new
		"usersync-write-back.json":           UserSyncWorkflowID("WriteBck"), // pulls the new record id into Award Force
		"usersync-refused.json":              UserSyncWorkflowID("TooLongN"), // Salesforce refuses the record
		"backfill.json":                      backfill,
		"backfill-chunk.json":                ChunkWorkflowID(backfill, 1),
		"backfill-dry-run.json":              dryRun,
		"backfill-chunk-dry-run.json":        ChunkWorkflowID(dryRun, 1),
		"backfill-continue-as-new.json":      exampleBackfill, // the first run, which continues as new
		"backfill-chunk-profile-fields.json": ChunkWorkflowID(exampleBackfill, 1),
		"backfill-chunk-refused.json":        ChunkWorkflowID(exampleBackfill, 2),
		"lane.json":                          LaneWorkflowID(LaneOf("TooLongN")), // a running lane: batches, a refusal, answers
		"budget.json":                        BudgetWorkflowID,                   // a running budget: paced permits
		"crm-watch.json":                     CRMWatchWorkflowID,                 // a running watch: polls, changes handed over
		"usersync-crm-merge.json":            UserSyncWorkflowID(watchedSlug),    // a crm_change sync that follows a merge
	}
}

// watchedSlug is the user of the CRM watch's integration test.
const watchedSlug = "AdaWatch"

// TestReplayRecordedHistories replays every history recorded from real runs
// on the dev server, of every workflow-code version still supported
// (testdata/v1, v2, …, and testdata/current, refreshed with
// AFSYNC_UPDATE_HISTORY=1 go test ./starter/): a change to a workflow that
// would break executions started by an older worker fails here.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	ids := historyIDs(t)
	dirs := map[string]int{}
	for _, f := range files {
		dirs[filepath.Base(filepath.Dir(f))]++
	}
	if len(dirs) < 2 || dirs["v1"] == 0 {
		t.Fatalf("histories found in %v: want testdata/v1 and every later version", dirs)
	}
	for _, f := range files {
		name := filepath.Base(filepath.Dir(f)) + "/" + filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			id, ok := ids[filepath.Base(f)]
			if !ok {
				t.Fatalf("add %s to historyIDs with the workflow ID it ran under", filepath.Base(f))
			}
			r := worker.NewWorkflowReplayer()
			RegisterWorkflows(r)
			raw, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			h, err := client.HistoryFromJSON(raw, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			err = r.ReplayWorkflowHistoryWithOptions(nil, h, worker.ReplayWorkflowHistoryOptions{
				OriginalExecution: workflow.Execution{ID: id, RunID: "replay"},
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	if !strings.Contains(strings.Join(files, " "), "usersync-write-back") {
		t.Error("the write-back history is missing")
	}
}
