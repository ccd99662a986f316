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
			n, err := cl.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: "WorkflowType = 'LedgerPage'"})
			if err != nil {
				t.Fatal(err)
			}
			if n.GetCount() != int64(c.pages) {
				t.Fatalf("%d ledger pages for 300 pairings, want %d", n.GetCount(), c.pages)
			}
		})
	}
}
