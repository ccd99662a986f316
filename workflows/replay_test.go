package workflows

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// historyIDs reads the workflow ID each recorded history of dir ran under
// (Backfill derives its chunks' IDs from its own, so replays need it), from
// the dir's ids.json, which the recording wrote beside them: IDs derive
// from specs' fingerprints, so they are recorded rather than computed, and
// the specs may change.
func historyIDs(t *testing.T, dir string) map[string]string {
	raw, err := os.ReadFile(filepath.Join(dir, "ids.json"))
	if err != nil {
		t.Fatalf("%v: every testdata directory records its histories' workflow IDs", err)
	}
	ids := map[string]string{}
	if err := json.Unmarshal(raw, &ids); err != nil {
		t.Fatalf("%s/ids.json: %v", dir, err)
	}
	return ids
}

// oldestSupported is the oldest testdata directory whose code still runs:
// v1 and v2 recorded the syncs that wrote Salesforce themselves, before the
// pairing lanes, retired (CHANGELOG).
const oldestSupported = "v3"

// TestReplayRecordedHistories replays every history recorded from real runs
// on the dev server, of every workflow-code version still supported
// (testdata/v3, v4, …, and testdata/current, refreshed with
// AFSYNC_UPDATE_HISTORY=1 go test ./starter/): a change to a workflow that
// would break executions started by an older worker fails here.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	files = slices.DeleteFunc(files, func(f string) bool { return filepath.Base(f) == "ids.json" })
	dirs := map[string]int{}
	for _, f := range files {
		dirs[filepath.Base(filepath.Dir(f))]++
	}
	if len(dirs) < 2 || dirs["current"] == 0 || dirs[oldestSupported] == 0 {
		t.Fatalf("histories found in %v: want testdata/%s (the oldest code still supported) and every later version", dirs, oldestSupported)
	}
	for _, f := range files {
		name := filepath.Base(filepath.Dir(f)) + "/" + filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			id, ok := historyIDs(t, filepath.Dir(f))[filepath.Base(f)]
			if !ok || id == "" {
				t.Fatalf("%s is not in its directory's ids.json", filepath.Base(f))
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
