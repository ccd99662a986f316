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

// histories maps each history in testdata/ to the workflow ID it ran under
// (Backfill derives its chunks' IDs from its own, so replays need it). Every
// one is kept twice: "v1-…" recorded before the UI summaries, the
// per-page progress queries and the out-of-order page reads (so executions
// started by older workers still replay), and the current recording.
var histories = map[string]string{
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
	if len(files) != 2*len(histories) {
		t.Fatalf("%d histories in testdata/, want %d: each one in histories, current and v1-", len(files), 2*len(histories))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			id, ok := histories[strings.TrimPrefix(filepath.Base(f), "v1-")]
			if !ok {
				t.Fatalf("add %s to histories with the workflow ID it ran under", f)
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
