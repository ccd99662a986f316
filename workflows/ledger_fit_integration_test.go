package workflows_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/internal/devserver"
	"github.com/afsync/afsync/internal/devserver/devservertest"
	"github.com/afsync/afsync/workflows"
)

// On a real server, whatever its search attribute value limit, every
// pairing is written into the identity ledger and recalled, in pages as
// full as that limit allows.
func TestIntegrationLedgerPagesFillTheServersLimit(t *testing.T) {
	bin := devservertest.Binary(t)
	for _, c := range []struct {
		name          string
		defaultLimits bool
		pages         int
	}{
		// The first two pages, written for 8 KB (223 and 77 pairings), are
		// refused and split (52 a page): 5 and 2 pages.
		{"a cluster at the server's 2 KB", true, 7},
		{"afsync's dev server at 8 KB", false, 2}, // 223 a page
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			srv := devservertest.Start(t, devserver.Options{Binary: bin, UIPort: -1, SearchAttributes: workflows.SearchAttributeKeys(), ServerDefaultLimits: c.defaultLimits})
			cl := devservertest.Dial(t, srv, client.Options{})
			coord := &workflows.Coordinator{Client: cl, Names: workflows.DefaultNames}
			var pairings []workflows.Pairing
			var slugs []string
			for i := range 300 {
				pairings = append(pairings, workflows.Pairing{Slug: fmt.Sprintf("Slug%04d", i), RecordID: fmt.Sprintf("003%015d", i)})
				slugs = append(slugs, pairings[i].Slug)
			}
			if err := coord.RememberPairings(ctx, workflows.RememberInput{Object: "Contact", Pairings: pairings}); err != nil {
				t.Fatal(err)
			}
			for {
				got, err := coord.RecallPairings(ctx, workflows.RecallInput{Object: "Contact", Slugs: slugs})
				if err != nil {
					t.Fatal(err)
				}
				if len(got.Records) == len(slugs) {
					for _, p := range pairings {
						if got.Records[p.Slug] != p.RecordID {
							t.Fatalf("%s recalled with %q, paired with %s", p.Slug, got.Records[p.Slug], p.RecordID)
						}
					}
					break
				}
				select {
				case <-ctx.Done():
					t.Fatalf("recalled %d of %d pairings", len(got.Records), len(slugs))
				case <-time.After(100 * time.Millisecond):
				}
			}
			n, err := cl.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: "WorkflowType = 'LedgerPage' AND WorkflowId STARTS_WITH 'afsync-ledger-contact-'"})
			if err != nil {
				t.Fatal(err)
			}
			if n.GetCount() != int64(c.pages) {
				t.Fatalf("%d ledger pages for 300 pairings, want %d", n.GetCount(), c.pages)
			}
		})
	}
}

// On a real server, one chain ever claims an object's ledger, and only
// while no page of it exists (a page from before claims, or one written
// since, whose claim exists first); another object's ledger is claimed
// apart, and another integration's ledger apart.
func TestIntegrationALedgerIsClaimedOnceAndOnlyEmpty(t *testing.T) {
	bin := devservertest.Binary(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := devservertest.Start(t, devserver.Options{Binary: bin, UIPort: -1, SearchAttributes: workflows.SearchAttributeKeys()})
	cl := devservertest.Dial(t, srv, client.Options{})
	coord := &workflows.Coordinator{Client: cl, Names: workflows.DefaultNames}
	claim := func(c *workflows.Coordinator, object string) bool {
		t.Helper()
		ok, err := c.ClaimLedger(ctx, object)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim(coord, "Contact") {
		t.Fatal("the first claim of an empty ledger was refused")
	}
	if claim(coord, "Contact") {
		t.Fatal("a ledger was claimed twice")
	}

	// Lead's ledger has a page already, written by code from before claims.
	old := client.StartWorkflowOptions{ID: "afsync-ledger-lead-0000000000000001", TaskQueue: workflows.TaskQueue, StartDelay: 100 * 365 * 24 * time.Hour}
	if _, err := cl.ExecuteWorkflow(ctx, old, "LedgerPage", workflows.LedgerPageInput{Object: "Lead"}); err != nil {
		t.Fatal(err)
	}
	pageVisible := func() bool {
		n, err := cl.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: "WorkflowType = 'LedgerPage' AND WorkflowId STARTS_WITH 'afsync-ledger-lead-'"})
		return err == nil && n.GetCount() == 1
	}
	for !pageVisible() {
		select {
		case <-ctx.Done():
			t.Fatal("the Lead page never became visible")
		case <-time.After(50 * time.Millisecond):
		}
	}
	if claim(coord, "Lead") {
		t.Fatal("a ledger holding a page was claimed")
	}

	// A page written today implies its ledger's claim, whoever writes it:
	// no chain claims a ledger whose page visibility may not show yet.
	if err := coord.RememberPairings(ctx, workflows.RememberInput{Object: "Case", Pairings: []workflows.Pairing{{Slug: "AdaLovel", RecordID: "500000000000000001"}}}); err != nil {
		t.Fatal(err)
	}
	if claim(coord, "Case") {
		t.Fatal("a ledger was claimed after a page of it was written")
	}

	// Another integration's ledger is its own.
	if !claim(&workflows.Coordinator{Client: cl, Names: workflows.NamesOf("grants")}, "Contact") {
		t.Fatal("another integration's empty ledger could not be claimed")
	}
}
