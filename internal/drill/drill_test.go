package drill

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A small drill, every time the tests run: concurrent triggers, faults on
// a large share of calls, lost and late-committing writes, short sessions
// and two worker kills, then address changes, freed addresses registered
// again, registrations fixed seconds later, two edits within one second
// and addresses changed in Salesforce (one more kill), on a real
// Temporal dev server. Every promise holds.
func TestASmallDrillKeepsEveryPromise(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Temporal dev server: runs without -short (make test)")
	}
	var log strings.Builder
	r, err := Run(context.Background(), Options{
		Users: 300, Registrations: 40, Edits: 40, ManualSyncs: 10, EmailChanges: 20, Kills: 2,
		Transient: 0.2, Lost: 0.2, SessionTTL: 5 * time.Second, CommitHorizon: 2 * time.Second,
		Latency: 2 * time.Millisecond, Seed: 5, Log: &log,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Logf("%s%+v", log.String(), *r)
	if !r.OK() {
		t.Fatalf("broken promises:\n%s", strings.Join(r.Problems, "\n"))
	}
	if r.EmailChanges != 20 || r.Reused != 10 || r.Corrections != 10 || r.CRMAddressEdits != 10 || r.SameSecondEdits == 0 {
		t.Fatalf("the identity churn did not run as asked: %+v", *r)
	}
	if r.Kills != 3 || r.Webhooks < 80 || r.Replays < 4 || r.SalesforceFaults["lost_response"] < 2 || r.SalesforceFaults["late_commit"] < 2 || r.AwardForceFaults == 0 {
		t.Fatalf("the drill did not run as asked: %+v", *r)
	}
	if r.WithOne < 250 {
		t.Fatalf("only %d users checked with one record", r.WithOne)
	}
}
