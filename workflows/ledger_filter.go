package workflows

// What a lane knows of a ledger it began.
//
// A lane batch asks visibility who its people were paired with, and who
// owns the records their identifiers found (RecallPairings): on a fresh
// org's first backfill, every answer is "nobody", and the asking (FTS
// seeks for hundreds of keys a batch in the dev server's SQLite, which
// serves every other persistence call on the same connection) is what
// kept the backfill from outpacing a plain loop (docs/benchmarks.md).
//
// A lane whose chain began an object's ledger knows every key the ledger
// can hold: it wrote every page. Its chain claims the ledger when it first
// pairs people of the object (ClaimLedger: a claim workflow only one chain
// can ever start, and no page yet), then adds each pairing's keys to a
// Bloom filter before the page holding them is written. A key the filter
// does not hold is in no page: the lane does not ask for it (visibility
// could only say "nobody"). Anything it cannot vouch for turns the filter
// off for good, and the lane asks for everyone, as before:
//
//   - a chain that carries state from before the change (an upgrade): it
//     never asks for the claim;
//   - a chain that began after another (a lane terminated and started
//     again): the claim is taken. Every page is written after its
//     object's claim exists (ensureClaim), whoever holds it, so a page the
//     list below cannot see yet still stops the next chain;
//   - a ledger with pages already, written before claims existed;
//   - a second object (maxClaims: each filter weighs 43 KB in the lane's
//     continue-as-new input, room its waiting people lose);
//   - more pairings than the filter holds with few false "may"s
//     (ledgerFilterKeys);
//   - a run reset from the UI: the pages the run it was reset from wrote
//     after the reset point are not in the filter its replay rebuilt. The
//     run does not trust the filter and carries none on.
//
// Visibility's lag does not matter to the filter: it is written in the
// lane's own state, before the page. It matters to the claim's check that
// no page exists, for pages written before claims existed only: a lane
// from before the change terminated within that lag (about a second) of
// writing a page, and started again at once, could claim a ledger whose
// page the list does not show yet. Only the keys asked change with the
// filter; the local activity runs as before, so a replay makes the same
// commands whatever it knows, and the lane's state (LedgerNotAsked too)
// is the same in a run and its replay.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/workflow"
)

const (
	// ledgerFilterBits is the size of a lane's filter of one object's
	// ledger: 32 KiB, 43 KB of base64 in the lane's continue-as-new input.
	ledgerFilterBits = 1 << 18
	// ledgerFilterKeys is how many keys (two a pairing: the person and the
	// record) the filter takes before it turns off: at 24,000 about one key
	// in 200 not in the ledger is asked for all the same.
	ledgerFilterKeys = 24_000
	// maxClaims is how many objects' ledgers a lane chain claims: an org's
	// people are one object's records in all but rare specs, and each
	// filter weighs 43 KB of the lane's input.
	maxClaims = 1
)

// LedgerFilter is what a lane knows of the identity ledger of one object:
// for a ledger its chain began (Claimed), every key any page can hold is
// in Bits.
type LedgerFilter struct {
	// Claimed is set once the lane's chain claimed the ledger (ClaimLedger).
	Claimed bool `json:"claimed,omitempty"`
	// Off is set when the lane cannot vouch for the ledger: it asks for
	// every key.
	Off bool `json:"off,omitempty"`
	// Keys counts the keys added; Bits is their Bloom filter.
	Keys int    `json:"keys,omitempty"`
	Bits []byte `json:"bits,omitempty"`
}

// newLedgerFilter is an empty filter, not claimed yet.
func newLedgerFilter() *LedgerFilter {
	return &LedgerFilter{Bits: make([]byte, ledgerFilterBits/8)}
}

// vouches says whether the filter holds every key of the ledger.
func (f *LedgerFilter) vouches() bool {
	return f != nil && f.Claimed && !f.Off && len(f.Bits) == ledgerFilterBits/8
}

// add puts key into the filter; past ledgerFilterKeys it turns off.
func (f *LedgerFilter) add(key string) {
	if f == nil || f.Off {
		return
	}
	if f.Keys >= ledgerFilterKeys || len(f.Bits) != ledgerFilterBits/8 {
		f.stop()
		return
	}
	bloomSet(f.Bits, key)
	f.Keys++
}

// mayHold reports whether key may be in the ledger (false: it is in no
// page), for a filter that vouches.
func (f *LedgerFilter) mayHold(key string) bool {
	return !f.vouches() || bloomHas(f.Bits, key)
}

// stop turns the filter off for good.
func (f *LedgerFilter) stop() { f.Off, f.Keys, f.Bits = true, 0, nil }

// ledgerFilter is the filter of the batch's object, claiming the ledger
// the first time the lane's chain pairs people of it (ChangeLedgerFilter;
// a chain that began before it, or whose runs do not take it, has none:
// nil).
func (r *laneRun) ledgerFilter(ctx workflow.Context) *LedgerFilter {
	object := strings.ToLower(r.b.spec.Object)
	if f, ok := r.st.Ledgers[object]; ok || !r.st.MayClaim {
		return f
	}
	if r.st.Ledgers == nil {
		r.st.Ledgers = map[string]*LedgerFilter{}
	}
	claims := 0
	for _, f := range r.st.Ledgers {
		if !f.Off {
			claims++
		}
	}
	f := newLedgerFilter()
	r.st.Ledgers[object] = f // before the claim: a batch meanwhile adds its keys
	if LaneCount != 1 || claims >= maxClaims || workflow.GetVersion(ctx, ChangeLedgerFilter, workflow.DefaultVersion, 1) < 1 {
		f.stop() // several lanes write one ledger; too many objects; runs from before: nothing claimed
		return f
	}
	lctx := ledgerOptions(ctx)
	var claimed bool
	if err := workflow.ExecuteLocalActivity(lctx, coord.ClaimLedger, r.b.spec.Object).Get(lctx, &claimed); err != nil || !claimed {
		f.stop()
		return f
	}
	f.Claimed = !f.Off
	return f
}

// unasked keeps, of keys (with prefix, "s:" or "r:"), those the batch
// must ask the ledger for: all of them unless the lane's filter vouches
// for the ledger, in a run that was not reset. LedgerNotAsked counts the
// keys the filter vouched for, reset or not, so that the state is the
// same in a reset run's replay of the run it came from (its size decides
// who goes to the queue at continue-as-new); lane.asked counts what this
// run asked.
func (r *laneRun) unasked(prefix string, keys []string) []string {
	out := keys
	if r.filter.vouches() {
		out = nil
		for _, k := range keys {
			if r.filter.mayHold(prefix + k) {
				out = append(out, k)
			}
		}
		r.st.Counts.LedgerNotAsked += len(keys) - len(out)
		if r.reset {
			out = keys
		}
	}
	r.asked += len(out)
	return out
}

// runWasReset says whether this run was reset (from the UI or the CLI):
// its first event comes from another run. A replay tells the same of the
// whole run, so only what the lane asks, never a command, may follow from
// it.
func runWasReset(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return info.OriginalRunID != "" && info.OriginalRunID != info.WorkflowExecution.RunID
}

// carryLedgers turns off, before a reset run continues as new, the
// filters its replay rebuilt: they miss what the run wrote after its
// reset point.
func (l *lane) carryLedgers() {
	if !l.reset {
		return
	}
	for _, f := range l.st.Ledgers {
		f.stop()
	}
}

// ClaimLedger claims the identity ledger of object's records for the lane
// chain asking (ledger_filter.go): true when nobody claimed it before and
// it has no page yet. A claim is a dormant workflow only one chain can
// ever start; once claimed, the answer is false for everyone, the claimer
// too if asked again.
func (l *Coordinator) ClaimLedger(ctx context.Context, object string) (bool, error) {
	started, err := l.startClaim(ctx, object)
	if err != nil || !started {
		return false, err
	}
	// Pages from before claims existed: the lane did not write them.
	query := fmt.Sprintf("WorkflowType = 'LedgerPage' AND WorkflowId STARTS_WITH '%s'", l.Names.ledgerPrefix(object))
	resp, err := l.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: 1})
	if err != nil {
		return false, fmt.Errorf("look for identity ledger pages of %s records: %w", object, err)
	}
	return len(resp.GetExecutions()) == 0, nil
}

// startClaim starts the claim on object's ledger: false when it exists.
func (l *Coordinator) startClaim(ctx context.Context, object string) (bool, error) {
	opts := l.Names.StartOptions(l.Names.ledgerClaimID(object), 0)
	opts.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
	opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL
	opts.StaticSummary = l.Names.Summary(fmt.Sprintf("Identity ledger of %s records: its claim (the first lane to pair its people may vouch for it)", object))
	opts.StartDelay = ledgerPageDormancy
	opts.WorkflowExecutionErrorWhenAlreadyStarted = true
	_, err := l.Client.ExecuteWorkflow(ctx, opts, LedgerPage, LedgerPageInput{Object: object})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim the identity ledger of %s records: %w", object, err)
	}
	return true, nil
}

// ensureClaim makes sure the claim on object's ledger exists before a page
// of it is written, whoever holds it: a chain that did not claim it (its
// claim failed, or it began before claims) still stops every later chain
// from claiming a ledger whose pages visibility does not show yet. Once
// per process and object.
func (l *Coordinator) ensureClaim(ctx context.Context, object string) error {
	key := l.Names.ledgerClaimID(object)
	if _, ok := l.claims.Load(key); ok {
		return nil
	}
	if _, err := l.startClaim(ctx, object); err != nil {
		return err
	}
	l.claims.Store(key, true)
	return nil
}

// ledgerClaimID names the claim on the integration's ledger of object: not
// under any object's page prefix ('.' is in no object's API name).
func (n Names) ledgerClaimID(object string) string {
	return n.ledgerPages() + "claim." + strings.ToLower(object)
}
