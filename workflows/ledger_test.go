package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestLedgerPagesStayWithinTheSearchAttributeValueLimit(t *testing.T) {
	var pairings []Pairing
	for i := range 503 {
		pairings = append(pairings, Pairing{Slug: fmt.Sprintf("Slug%04d", i), RecordID: fmt.Sprintf("003%012d", i)})
	}
	for _, c := range []struct {
		limit, perPage int
	}{
		{2048, 52},  // the server's default: as many as the value holds
		{8192, 223}, // afsync's dev server
		{1 << 20, ledgerPageMost},
	} {
		fit := ledgerFit{}
		fit.refusedAbove.Store(int64(c.limit))
		pages := ledgerPages(pairings, fit.valueBytes())
		require.Equal(t, c.perPage, len(pages[0]), "limit %d", c.limit)
		n := 0
		for _, page := range pages {
			require.LessOrEqual(t, len(page), ledgerPageMost)
			var keys []string
			for _, p := range page {
				require.Len(t, p.RecordID, 18, "record ids are written 18-character")
				keys = append(keys, "s:"+p.Slug, "r:"+p.RecordID)
			}
			require.LessOrEqual(t, ledgerValueSize(t, keys), c.limit, "the server refuses a search attribute value over its limit")
			n += len(page)
		}
		require.Equal(t, 503, n)
		require.Equal(t, DefaultNames.ledgerPageID("Contact", pages[0]), DefaultNames.ledgerPageID("Contact", pages[0]), "a page's id is its content's")
		require.NotEqual(t, DefaultNames.ledgerPageID("Contact", pages[0]), DefaultNames.ledgerPageID("Contact", pages[1]))
	}

	// Long custom-object ids and slugs fill a page sooner.
	long := []Pairing{}
	for i := range 80 {
		long = append(long, Pairing{Slug: strings.Repeat("x", 40) + fmt.Sprint(i), RecordID: fmt.Sprintf("a0B%015d", i)})
	}
	for _, page := range ledgerPages(long, 1900) {
		var keys []string
		for _, p := range page {
			keys = append(keys, "s:"+p.Slug, "r:"+p.RecordID)
		}
		require.LessOrEqual(t, ledgerValueSize(t, keys), 1900)
	}
}

// ledgerValueSize is the size of keys as the server weighs a search
// attribute value: its payload's data.
func ledgerValueSize(t *testing.T, keys []string) int {
	v, err := converter.GetDefaultDataConverter().ToPayload(keys)
	require.NoError(t, err)
	return len(v.GetData())
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

// refusingStarts starts ledger pages as a server with the given search
// attribute value limit would: it refuses a larger value, saying its limit
// as the server does, and keeps what it accepts.
type refusingStarts struct {
	client.Client
	t     *testing.T
	limit int

	mu       sync.Mutex
	refused  int
	accepted [][]string // each started page's keys
	inputs   []LedgerPageInput
	// claims are the ledger claims started, with how many pages were
	// accepted before each.
	claims      []string
	pagesBefore []int
}

func (c *refusingStarts) ExecuteWorkflow(_ context.Context, o client.StartWorkflowOptions, _ any, args ...any) (client.WorkflowRun, error) {
	if strings.Contains(o.ID, "-ledger-claim.") {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.claims = append(c.claims, o.ID)
		c.pagesBefore = append(c.pagesBefore, len(c.accepted))
		return nil, nil
	}
	keys, ok := o.TypedSearchAttributes.GetKeywordList(LedgerKey)
	require.True(c.t, ok, "a page carries its keys")
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := ledgerValueSize(c.t, keys); n > c.limit {
		c.refused++
		return nil, serviceerror.NewInvalidArgument(fmt.Sprintf("search attribute AfsyncLedger value size %d exceeds size limit %d", n, c.limit))
	}
	c.accepted = append(c.accepted, keys)
	c.inputs = append(c.inputs, args[0].(LedgerPageInput))
	return nil, nil
}

func TestARefusedLedgerPageIsWrittenAgainWithinTheLimitTheServerStates(t *testing.T) {
	srv := &refusingStarts{t: t, limit: 2048} // a cluster left at the server's default
	coord := &Coordinator{Client: srv, Names: DefaultNames}
	require.Equal(t, int32(124), coord.ledger.listSize())
	pairings := func(from, n int) []Pairing {
		var ps []Pairing
		for i := range n {
			ps = append(ps, Pairing{Slug: fmt.Sprintf("Slug%04d", from+i), RecordID: fmt.Sprintf("003%015d", from+i)})
		}
		return ps
	}
	require.NoError(t, coord.RememberPairings(context.Background(), RememberInput{Object: "Contact", Pairings: pairings(0, 400)}))
	require.Positive(t, srv.refused, "the first pages are written for 8 KB")
	require.LessOrEqual(t, srv.refused, 2, "400 pairings are two pages at 8 KB")
	written := map[string]bool{}
	for _, keys := range srv.accepted {
		require.LessOrEqual(t, ledgerValueSize(t, keys), 2048)
		for _, k := range keys {
			written[k] = true
		}
	}
	for _, p := range pairings(0, 400) {
		require.True(t, written["s:"+p.Slug] && written["r:"+p.RecordID], "%s is in the ledger", p.Slug)
	}
	for _, in := range srv.inputs {
		require.Empty(t, in.Pairings, "a page's pairings are in its memo, not again in its input")
	}

	// The process keeps the limit it learnt: no page is refused again.
	refused, pages := srv.refused, len(srv.accepted)
	require.NoError(t, coord.RememberPairings(context.Background(), RememberInput{Object: "Contact", Pairings: pairings(400, 400)}))
	require.Equal(t, refused, srv.refused)
	require.Equal(t, 8, len(srv.accepted)-pages, "400 pairings in pages of 52")
	require.Equal(t, int32(455), coord.ledger.listSize(), "a list of 2 KB pages asks for more at a time than of 8 KB (124)")

	// The ledger's claim exists before its first page, whoever claimed it:
	// started once by the process.
	require.Equal(t, []string{"afsync-ledger-claim.contact"}, srv.claims)
	require.Equal(t, []int{0}, srv.pagesBefore)
}

func TestALedgerPageRefusedForAnythingElseIsAnError(t *testing.T) {
	var fit ledgerFit
	for _, err := range []error{
		errors.New("search attribute AfsyncLedger value size 9000 exceeds size limit 2048"), // not the server's
		serviceerror.NewInvalidArgument("total size of search attributes 50000 exceeds size limit 40960"),
		serviceerror.NewUnavailable("server down"),
	} {
		require.False(t, fit.learn(err), "%v", err)
	}
	require.Equal(t, LedgerValueHope, fit.limit())
	require.True(t, fit.learn(fmt.Errorf("write: %w", serviceerror.NewInvalidArgument("search attribute AfsyncLedger value size 9000 exceeds size limit 4096"))))
	require.Equal(t, 4096, fit.limit())
	require.True(t, fit.learn(serviceerror.NewInvalidArgument("search attribute AfsyncLedger value size 9000 exceeds size limit 6000")))
	require.Equal(t, 4096, fit.limit(), "a refusal of a page written before a lower limit was learnt keeps the lower")

	srv := &refusingStarts{t: t, limit: 30} // not even one pairing fits
	coord := &Coordinator{Client: srv, Names: DefaultNames}
	err := coord.RememberPairings(context.Background(), RememberInput{Object: "Contact", Pairings: []Pairing{{Slug: "Slug0001", RecordID: "003000000000000001"}}})
	require.ErrorContains(t, err, "exceeds size limit 30")
}
