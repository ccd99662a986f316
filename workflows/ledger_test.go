package workflows

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestLedgerPagesStayWithinTheSearchAttributeValueLimit(t *testing.T) {
	var pairings []Pairing
	for i := range 203 {
		pairings = append(pairings, Pairing{Slug: fmt.Sprintf("Slug%04d", i), RecordID: fmt.Sprintf("003%012d", i)})
	}
	pages := ledgerPages(pairings)
	require.Len(t, pages, 4, "52 a page: as many as the value holds")
	n := 0
	for _, page := range pages {
		require.LessOrEqual(t, len(page), ledgerPageSize)
		var keys []string
		for _, p := range page {
			require.Len(t, p.RecordID, 18, "record ids are written 18-character")
			keys = append(keys, "s:"+p.Slug, "r:"+p.RecordID)
		}
		v, err := converter.GetDefaultDataConverter().ToPayload(keys)
		require.NoError(t, err)
		require.Less(t, len(v.GetData()), 2048, "the server refuses a search attribute value over 2 KB")
		n += len(page)
	}
	require.Equal(t, 203, n)

	// Long custom-object ids and slugs fill a page sooner.
	long := []Pairing{}
	for i := range 80 {
		long = append(long, Pairing{Slug: strings.Repeat("x", 40) + fmt.Sprint(i), RecordID: fmt.Sprintf("a0B%015d", i)})
	}
	for _, page := range ledgerPages(long) {
		size := 2
		for _, p := range page {
			size += len(p.Slug) + len(p.RecordID) + 10
		}
		require.LessOrEqual(t, size, ledgerValueBytes)
	}
	require.Equal(t, DefaultNames.ledgerPageID("Contact", pages[0]), DefaultNames.ledgerPageID("Contact", pages[0]), "a page's id is its content's")
	require.NotEqual(t, DefaultNames.ledgerPageID("Contact", pages[0]), DefaultNames.ledgerPageID("Contact", pages[1]))
}

// ledgerPagesClient answers ListWorkflow with its pages, as visibility would
// for any query, and records the query.
type ledgerPagesClient struct {
	client.Client
	pages []*workflowpb.WorkflowExecutionInfo
	query string
}

func (c *ledgerPagesClient) ListWorkflow(_ context.Context, r *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	c.query = r.GetQuery()
	return &workflowservice.ListWorkflowExecutionsResponse{Executions: c.pages}, nil
}

func ledgerPageInfo(t *testing.T, id string, at time.Time, pairs map[string]string) *workflowpb.WorkflowExecutionInfo {
	p, err := converter.GetDefaultDataConverter().ToPayload(pairs)
	require.NoError(t, err)
	return &workflowpb.WorkflowExecutionInfo{
		Execution: &commonpb.WorkflowExecution{WorkflowId: id},
		StartTime: timestamppb.New(at),
		Memo:      &commonpb.Memo{Fields: map[string]*commonpb.Payload{memoLedgerPairings: p}},
	}
}

func TestTheNewestLedgerPageSaysAPersonsRecord(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &ledgerPagesClient{pages: []*workflowpb.WorkflowExecutionInfo{
		// Ada was paired with A1, then (a merge) with A2; Bob with B1.
		ledgerPageInfo(t, "afsync-ledger-contact-2", t0.Add(time.Hour), map[string]string{"AdaLovel": "003000000000000A2A"}),
		ledgerPageInfo(t, "afsync-ledger-contact-1", t0, map[string]string{"AdaLovel": "003000000000000A1A", "BobBobbo": "003000000000000B1A"}),
		// Another object's page naming Ada is not this one's.
		ledgerPageInfo(t, "afsync-ledger-lead-1", t0.Add(2*time.Hour), map[string]string{"AdaLovel": "00Q000000000000L1A"}),
	}}
	got, err := (&Coordinator{Client: c}).RecallPairings(context.Background(), RecallInput{
		Object: "Contact", Slugs: []string{"AdaLovel", "Nobodyyy"}, Records: []string{"003000000000000A1A", "003000000000000B1A", "003000000000000Z1A"},
	})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"AdaLovel": "003000000000000A2A"}, got.Records)
	require.Equal(t, map[string][]string{"003000000000000A1A": {"AdaLovel"}, "003000000000000B1A": {"BobBobbo"}}, got.Owners)
	require.Contains(t, c.query, "WorkflowId STARTS_WITH 'afsync-ledger-contact-'")
	require.Contains(t, c.query, "AfsyncLedger IN ('s:AdaLovel', 's:Nobodyyy', 'r:003000000000000A1A', 'r:003000000000000B1A', 'r:003000000000000Z1A')")

	// Nothing plain to ask: no query at all; a quote never reaches one.
	c.query = ""
	got, err = (&Coordinator{Client: c}).RecallPairings(context.Background(), RecallInput{Object: "Contact", Slugs: []string{"x' OR '1'='1"}})
	require.NoError(t, err)
	require.Empty(t, c.query)
	require.Empty(t, got.Records)
}
