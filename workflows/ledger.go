package workflows

// The identity ledger: who is paired with which record, written down for
// life, for specs whose records do not carry the slug (no external id).
//
// A record with an external id carries its person's slug for life; a spec
// without one has nothing on either side that says whose a record is once
// the lane has forgotten (its memory of pairings is bounded,
// LaneState.Paired) and the person's last sync is gone (the namespace's
// retention). Without the ledger an email changed after that made a second
// record, and a newcomer registering the freed address took the old
// owner's record.
//
// The ledger is pages: small LedgerPage workflows, open for good and dormant,
// each holding as many pairings as the server takes in one search attribute
// value (ledger_fit.go) in its memo and, for visibility, its people and
// records in the AfsyncLedger search attribute (LedgerKey). A page is
// written once and never changed: a person paired again (a merge, a record
// deleted and made again) is in a newer page, and
// the newest page that names them says their record. No PII (slugs and
// record ids); one workflow start per page and no workflow task. A lane
// batch asks visibility once each way (RecallPairings):
//
//   - before its lookup, the records of its people: an address changed long
//     after the pairing is followed to the record, which is updated, not
//     duplicated;
//   - after it, who owns the records its people's identifiers found: a
//     record another person is paired with is never given to a newcomer
//     who registered the address that person freed.
//
// After its writes the lane writes the pairings the ledger did not hold
// (RememberPairings) before it answers. Visibility is eventually
// consistent; what was paired in the last seconds is in the lane's own
// memory, which lasts far longer. A lane that began the ledger asks only
// about the keys it may hold (ledger_filter.go).

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

const (
	// memoLedgerPairings is the memo key of a page's pairings (slug → record).
	memoLedgerPairings = "pairings"
	// memoLedgerObject is the memo key of a page's object.
	memoLedgerObject = "object"
	// ledgerPageDormancy is how long a page waits before its first
	// workflow task: for good, in effect.
	ledgerPageDormancy = 100 * 365 * 24 * time.Hour
)

// LedgerPageInput is one page of the identity ledger. Its pairings are in
// its memo; pages written before ledger_fit.go also carry them here.
type LedgerPageInput struct {
	Object   string    `json:"object"`
	Pairings []Pairing `json:"pairings,omitempty"`
}

// LedgerPage is one page of the identity ledger: it holds its pairings in
// its memo and search attribute. It has nothing to do: it is started
// dormant (ledgerPageDormancy), and open, it stays out of the namespace's
// retention. Should it ever run, it waits for good.
func LedgerPage(ctx workflow.Context, _ LedgerPageInput) error {
	return workflow.Await(ctx, func() bool { return false })
}

// Pairing is one person paired with one record.
type Pairing struct {
	Slug     string `json:"slug"`
	RecordID string `json:"record_id"`
}

// RecallInput asks the ledger of object's records for the records of
// Slugs and the owners of Records.
type RecallInput struct {
	Object  string   `json:"object"`
	Slugs   []string `json:"slugs,omitempty"`
	Records []string `json:"records,omitempty"`
	// CurrentOwners keeps, of the people pages pair with Records, those
	// whose newest page still names that record (across_integrations:
	// one_record, whose people leave a shared record); without it every
	// person ever paired with a record is its owner.
	CurrentOwners bool `json:"current_owners,omitempty"`
}

// Recalled is what the ledger holds of a RecallInput's people and records.
type Recalled struct {
	// Records are the records of the slugs asked, by slug (the newest
	// page's).
	Records map[string]string `json:"records,omitempty"`
	// Owners are the people pages pair with the records asked, by record;
	// a merge may leave two with one.
	Owners map[string][]string `json:"owners,omitempty"`
}

// RememberInput writes pairings into the ledger of object's records.
type RememberInput struct {
	Object   string    `json:"object"`
	Pairings []Pairing `json:"pairings"`
}

// RecallPairings reads the ledger for in's slugs and records, one
// visibility query for both.
func (l *Coordinator) RecallPairings(ctx context.Context, in RecallInput) (Recalled, error) {
	out := Recalled{Records: map[string]string{}, Owners: map[string][]string{}}
	var keys []string
	for _, s := range in.Slugs {
		keys = append(keys, "s:"+s)
	}
	for _, id := range in.Records {
		keys = append(keys, "r:"+normalID(id))
	}
	askedSlug, askedRecord := setOf(in.Slugs), map[string]bool{}
	for _, id := range in.Records {
		askedRecord[normalID(id)] = true
	}
	newest := map[string]time.Time{}
	err := l.eachPageHolding(ctx, in.Object, keys, func(pg ledgerPage) {
		for _, slug := range slices.Sorted(maps.Keys(pg.pairs)) {
			id := pg.pairs[slug]
			if askedSlug[slug] && !pg.at.Before(newest[slug]) {
				out.Records[slug], newest[slug] = id, pg.at
			}
			if askedRecord[id] && !slices.Contains(out.Owners[id], slug) {
				out.Owners[id] = append(out.Owners[id], slug)
			}
		}
	})
	if err != nil {
		return Recalled{}, err
	}
	if in.CurrentOwners && len(out.Owners) > 0 {
		return out, l.keepCurrentOwners(ctx, in.Object, out.Owners)
	}
	return out, nil
}

// keepCurrentOwners drops from owners (by record) the people whose newest
// page names another record.
func (l *Coordinator) keepCurrentOwners(ctx context.Context, object string, owners map[string][]string) error {
	var keys []string
	for _, slugs := range owners {
		for _, s := range slugs {
			keys = append(keys, "s:"+s)
		}
	}
	slices.Sort(keys)
	current, newest := map[string]string{}, map[string]time.Time{}
	err := l.eachPageHolding(ctx, object, slices.Compact(keys), func(pg ledgerPage) {
		for slug, id := range pg.pairs {
			if !pg.at.Before(newest[slug]) {
				current[slug], newest[slug] = id, pg.at
			}
		}
	})
	if err != nil {
		return err
	}
	for id, slugs := range owners {
		owners[id] = slices.DeleteFunc(slugs, func(s string) bool { return current[s] != id })
		if len(owners[id]) == 0 {
			delete(owners, id)
		}
	}
	return nil
}

// eachPageHolding calls f with every running ledger page of the
// integration's records of object that holds one of keys ("s:<slug>",
// "r:<record>").
func (l *Coordinator) eachPageHolding(ctx context.Context, object string, keys []string, f func(ledgerPage)) error {
	list := quotedKeys(keys)
	if list == "" {
		return nil
	}
	prefix := l.Names.ledgerPrefix(object)
	return eachPageUnder(ctx, l.Client, prefix, list, l.ledger.listSize(), func(pg ledgerPage) {
		if strings.HasPrefix(pg.id, prefix) { // not another object's page
			f(pg)
		}
	})
}

// eachPageUnder calls f with every running ledger page whose ID begins
// with prefix and that holds one of the quoted keys list, asking for
// listSize pages at a time.
func eachPageUnder(ctx context.Context, c client.Client, prefix, list string, listSize int32, f func(ledgerPage)) error {
	query := fmt.Sprintf("WorkflowType = 'LedgerPage' AND ExecutionStatus = 'Running' AND WorkflowId STARTS_WITH '%s' AND %s IN (%s)",
		prefix, LedgerKey.GetName(), list)
	return eachLedgerPage(ctx, c, query, listSize, f)
}

// ledgerPage is a ledger page as visibility lists it.
type ledgerPage struct {
	id, object string
	at         time.Time
	pairs      map[string]string // slug → record
}

// eachLedgerPage calls f with every page query lists, listSize at a time;
// a page whose memo does not decode is skipped.
func eachLedgerPage(ctx context.Context, c client.Client, query string, listSize int32, f func(ledgerPage)) error {
	dc := converter.GetDefaultDataConverter()
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: listSize, NextPageToken: token})
		if err != nil {
			return err
		}
		for _, e := range resp.GetExecutions() {
			pg := ledgerPage{id: e.GetExecution().GetWorkflowId(), at: e.GetStartTime().AsTime()}
			fields := e.GetMemo().GetFields()
			if p := fields[memoLedgerPairings]; p == nil || dc.FromPayload(p, &pg.pairs) != nil {
				continue
			}
			if p := fields[memoLedgerObject]; p != nil {
				_ = dc.FromPayload(p, &pg.object)
			}
			f(pg)
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return nil
		}
	}
}

// LedgerEntry is what the identity ledger holds of one person for one
// object: the record the newest page names, and that page.
type LedgerEntry struct {
	Object   string    `json:"object"`
	RecordID string    `json:"record_id"`
	Page     string    `json:"page"`
	Since    time.Time `json:"since"`
}

// LedgerEntries reads what the integration's identity ledger holds of the
// person slug, for every object, for ops (starter find).
func LedgerEntries(ctx context.Context, c client.Client, n Names, slug string) ([]LedgerEntry, error) {
	who := n.Person(slug) // a dependent integration's people are "<id>/<slug>" in its org's ledger
	list := quotedKeys([]string{"s:" + who})
	if list == "" {
		return nil, fmt.Errorf("%q is not a slug", slug)
	}
	newest := map[string]LedgerEntry{}
	// The starter does not know the server's limit: lists sized for the
	// fullest pages afsync writes.
	var fit ledgerFit
	err := eachPageUnder(ctx, c, n.ledgerPages(), list, fit.listSize(), func(pg ledgerPage) {
		id := pg.pairs[who]
		if id == "" || pg.object == "" {
			return
		}
		key := strings.ToLower(pg.object)
		if cur, ok := newest[key]; !ok || pg.at.After(cur.Since) {
			newest[key] = LedgerEntry{Object: pg.object, RecordID: id, Page: pg.id, Since: pg.at}
		}
	})
	if err != nil {
		return nil, err
	}
	var out []LedgerEntry
	for _, k := range slices.Sorted(maps.Keys(newest)) {
		out = append(out, newest[k])
	}
	return out, nil
}

// rememberPage starts one ledger page holding page's pairings.
func (l *Coordinator) rememberPage(ctx context.Context, object string, page []Pairing) error {
	pairs := map[string]string{}
	var keys []string
	for _, p := range page {
		pairs[p.Slug] = p.RecordID
		keys = append(keys, "s:"+p.Slug, "r:"+p.RecordID)
	}
	opts := l.Names.StartOptions(l.Names.ledgerPageID(object, page), 0)
	opts.TypedSearchAttributes = l.Names.SearchAttributes(LedgerKey.ValueSet(keys))
	opts.Memo = l.Names.Memo(map[string]any{memoLedgerPairings: pairs, memoLedgerObject: object})
	opts.StaticSummary = l.Names.Summary(fmt.Sprintf("Identity ledger: %s paired with their Salesforce %s records", people(len(page)), object))
	// A page is a record, not work: started dormant, it never has a
	// workflow task, so it costs the worker nothing (no task, no cached
	// execution) and its history is one event.
	opts.StartDelay = ledgerPageDormancy
	if _, err := l.Client.ExecuteWorkflow(ctx, opts, LedgerPage, LedgerPageInput{Object: object}); err != nil {
		return fmt.Errorf("write %s into the identity ledger: %w", people(len(page)), err)
	}
	return nil
}

// ledgerPageID names a page of the integration by its object and content.
func (n Names) ledgerPageID(object string, page []Pairing) string {
	b, _ := json.Marshal(page)
	h := fnv.New64a()
	_, _ = h.Write(b)
	return fmt.Sprintf("%s%016x", n.ledgerPrefix(object), h.Sum64())
}

// quotedKeys is the comma-separated list of keys quoted for a visibility
// query; keys that are not plain ids (letters, digits, ':', '-', '_' and
// '/', which a dependent integration's people hold) are left out.
func quotedKeys(keys []string) string {
	var b strings.Builder
	for _, k := range keys {
		if strings.ContainsFunc(k, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ':' || r == '-' || r == '_' || r == '/')
		}) || strings.HasSuffix(k, ":") {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString("'" + k + "'")
	}
	return b.String()
}

func setOf(ss []string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}

// ledgerOptions bound the lane's ledger calls: retried for a minute, then
// the batch's people wait and try again.
func ledgerOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{MaximumInterval: 5 * time.Second},
	})
}
