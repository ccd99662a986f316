package workflows

// How much one identity-ledger page holds.
//
// A page's people and records are one AfsyncLedger search attribute value,
// and the server refuses a value over its
// frontend.searchAttributesSizeOfValueLimit (2 KB by default: 52 pairings of
// Award Force's 8-character slugs and 18-character record ids). A page costs
// its start far more than its keys (docs/benchmarks.md: the ledger's pages
// were most of what a backfill cost the dev server), so pages are as full as
// the server allows: afsync's dev server takes 8 KB values
// (devserver.SearchAttributeValueLimit), about 210 pairings a page, and a
// cluster whose operator raised its limit gets the same.
//
// The coordinator does not need to be told the limit: it writes its first
// pages for 8 KB, and a server that refuses one says its own limit in the
// refusal ("… value size 7991 exceeds size limit 2048"). From then on the
// process writes pages within that limit, the refused page among them, so
// nothing is lost; what a default cluster pays is the refused starts of the
// first pages a process writes (one or two a lane batch).

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"sync/atomic"

	"go.temporal.io/api/serviceerror"
	"golang.org/x/sync/errgroup"
)

// LedgerValueHope is the search attribute value size (bytes) a coordinator
// first fills its ledger pages to, until a server refuses one: afsync's dev
// server is started to take it (devserver.SearchAttributeValueLimit).
const LedgerValueHope = 8192

const (
	// ledgerValueSpare is kept unused below the limit (the value is
	// counted as the JSON list the data converter writes; the spare
	// covers a count that is off).
	ledgerValueSpare = 148
	// ledgerPageMost bounds the pairings of one page whatever the limit:
	// a lane batch's (its memo grows with it).
	ledgerPageMost = 400
	// ledgerWriters bounds the pages one RememberPairings starts at once.
	ledgerWriters = 8
	// ledgerListBytes is about how much one visibility list of pages
	// answers: a page is listed with its memo and its search attribute,
	// each about as large as the value.
	ledgerListBytes = 2 << 20
)

// ledgerFit is the search attribute value the server takes, as far as one
// coordinator knows: LedgerValueHope until a server refuses a page.
type ledgerFit struct {
	refusedAbove atomic.Int64 // the limit a refusal gave; 0: none yet
}

// limit is the value size the coordinator believes the server takes.
func (f *ledgerFit) limit() int {
	if n := f.refusedAbove.Load(); n > 0 {
		return int(n)
	}
	return LedgerValueHope
}

// valueBytes is what a page's AfsyncLedger value may weigh.
func (f *ledgerFit) valueBytes() int { return max(f.limit()-ledgerValueSpare, 64) }

// listSize is how many pages one visibility list asks for, so that an
// answer stays about ledgerListBytes whatever the pages weigh.
func (f *ledgerFit) listSize() int32 {
	return int32(min(max(ledgerListBytes/(2*f.limit()+512), 100), 1000))
}

// sizeRefusal matches the server's refusal of a search attribute value
// (temporal server common/searchattribute.Validator.ValidateSize).
var sizeRefusal = regexp.MustCompile(`value size \d+ exceeds size limit (\d+)`)

// learn reads a refusal of a page's size and keeps the limit it states
// when lower than the one believed; it reports whether err was one.
func (f *ledgerFit) learn(err error) bool {
	var invalid *serviceerror.InvalidArgument
	if !errors.As(err, &invalid) {
		return false
	}
	m := sizeRefusal.FindStringSubmatch(invalid.Error())
	if m == nil {
		return false
	}
	n, convErr := strconv.Atoi(m[1])
	if convErr != nil || n <= 0 {
		return false
	}
	for {
		was := f.refusedAbove.Load()
		if was > 0 && was <= int64(n) || f.refusedAbove.CompareAndSwap(was, int64(n)) {
			return true
		}
	}
}

// RememberPairings writes in's pairings into the ledger, pages as full as
// the server allows, several pages at once (a lane waits for it before
// answering its batch: one start after another cost it a round trip to the
// server per page). A page's ID is its content's: written again (a retried
// activity), it is the same page. A page the server refuses as too large
// is written again in pages within the limit the refusal states.
func (l *Coordinator) RememberPairings(ctx context.Context, in RememberInput) error {
	if err := l.ensureClaim(ctx, in.Object); err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(ledgerWriters)
	for _, page := range ledgerPages(in.Pairings, l.ledger.valueBytes()) {
		g.Go(func() error { return l.rememberFitting(ctx, in.Object, page) })
	}
	return g.Wait()
}

// rememberFitting writes page, in smaller pages while the server refuses
// its size and states a limit it can be split within.
func (l *Coordinator) rememberFitting(ctx context.Context, object string, page []Pairing) error {
	err := l.rememberPage(ctx, object, page)
	if err == nil || !l.ledger.learn(err) {
		return err
	}
	smaller := ledgerPages(page, l.ledger.valueBytes())
	if len(smaller) == 1 {
		return err // it fits the limit stated, as far as we count: not ours to mend
	}
	for _, p := range smaller {
		if err := l.rememberFitting(ctx, object, p); err != nil {
			return err
		}
	}
	return nil
}

// ledgerPages splits pairings (record ids made 18-character) into pages of
// at most ledgerPageMost, each page's AfsyncLedger value within
// valueBytes.
func ledgerPages(pairings []Pairing, valueBytes int) [][]Pairing {
	var pages [][]Pairing
	var cur []Pairing
	size := 2 // the list's brackets
	for _, p := range pairings {
		p.RecordID = normalID(p.RecordID)
		n := ledgerValueCost(p)
		if len(cur) == ledgerPageMost || (len(cur) > 0 && size+n > valueBytes) {
			pages, cur, size = append(pages, cur), nil, 2
		}
		cur = append(cur, p)
		size += n
	}
	if len(cur) > 0 {
		pages = append(pages, cur)
	}
	return pages
}

// ledgerValueCost is what one pairing adds to a page's value: "s:<slug>"
// and "r:<record>", quoted, each with its comma.
func ledgerValueCost(p Pairing) int { return len(p.Slug) + len(p.RecordID) + 2*5 }
