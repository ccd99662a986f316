package workflows

import (
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/pairing"
)

// recorded maps each history in testdata/ to the workflow ID it ran under:
// Backfill derives its chunks' IDs from its own, so replays need it.
var recorded = map[string]string{
	"usersync-update.json":        UserSyncWorkflowID("StaleUsr"),
	"usersync-resync.json":        UserSyncWorkflowID("EditedMe"), // signalled mid-run; continues as new
	"backfill.json":               BackfillWorkflowID(pairing.Default(), false),
	"backfill-chunk.json":         ChunkWorkflowID(BackfillWorkflowID(pairing.Default(), false), 1),
	"backfill-dry-run.json":       BackfillWorkflowID(pairing.Default(), true),
	"backfill-chunk-dry-run.json": ChunkWorkflowID(BackfillWorkflowID(pairing.Default(), true), 1),
}

// TestReplayRecordedHistories replays histories recorded from real runs on
// the dev server (refresh them with AFSYNC_UPDATE_HISTORY=1 go test ./starter/):
// a change to a workflow that would break running executions fails here.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(recorded) {
		t.Fatalf("%d histories in testdata/, %d listed in recorded", len(files), len(recorded))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			id, ok := recorded[filepath.Base(f)]
			if !ok {
				t.Fatalf("add %s to recorded with the workflow ID it ran under", f)
			}
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(UserSync)
			r.RegisterWorkflow(ResolveUser)
			r.RegisterWorkflow(Backfill)
			r.RegisterWorkflow(BackfillChunk)
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
}
