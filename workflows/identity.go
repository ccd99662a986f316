package workflows

import (
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// A person is one record for life. The lane follows them by what cannot
// move to someone else, never by their address alone (which they change,
// and which a newcomer may register once it is free):
//
//   - the record Award Force holds in the spec's record_id_field, or the
//     one a CRM change named (LaneItem.RecordID);
//   - their slug in the spec's external id (asked in the same query as the
//     identifiers; the record holding it is theirs, whatever address it
//     holds), which a record found by identifier is given (adoption);
//   - for specs without an external id, the record the lane last paired
//     them with (LaneState.Paired, kept as long as Written).
//
// A record found only by the identifier is not the person's when another
// person is known to be paired with it: their slug is on it, the lane
// remembers pairing them with it, or a batch in flight holds it as theirs
// (lane.owners). pairing.RulesIdentity then gives the person a record of
// their own instead.

// knownRecord is the record person it is known to be paired with: the id
// Award Force holds in record_id_field, else the one a CRM change named,
// else the one the lane remembers pairing them with.
func (l *lane) knownRecord(spec *pairing.Spec, it *LaneItem) string {
	if f := spec.RecordIDField; f != "" {
		if id := strings.TrimSpace(it.Profile.Values[f]); id != "" {
			return id
		}
	}
	if it.RecordID != "" {
		return it.RecordID
	}
	return l.st.Paired[it.who()]
}

// waitsForItsRecord says whether person it stays out of the next batch
// because the record they are known by is in flight for someone else (a
// newcomer's decision in a batch in flight holds it: claimRecord). Taken
// now, they would write that record in a batch of their own while the
// other batch writes it: with across_integrations: one_record, a sharer
// moving to a new address would take along the record a newcomer has just
// been paired with. Once that batch ends, the lane's memory says who
// holds the record. Runs from before ChangeLaneHoldsRecords take them.
func (l *lane) waitsForItsRecord(ctx workflow.Context, spec *pairing.Spec, it *LaneItem) bool {
	id := l.knownRecord(spec, it)
	return id != "" && l.heldForAnother(ctx, normalID(id), it)
}

// heldForAnother says whether record id (normalised) is held in owners for
// someone other than person it, in runs that take ChangeLaneHoldsRecords
// (asked only then).
func (l *lane) heldForAnother(ctx workflow.Context, id string, it *LaneItem) bool {
	owner, held := l.owners[id]
	return held && owner != it.who() && askedOnce(ctx, &l.holdsRecords, ChangeLaneHoldsRecords)
}

// claimRecord holds record id in lane.owners for person it, whose decision
// writes it though they were not known by it (a newcomer adopting or
// sharing a record), until the batch ends: another batch's person known by
// that record waits (waitsForItsRecord), and one whose identifier finds it
// does not take it for their own (othersOf, waitsForASharer). A record
// held already is left as it is. Runs from before ChangeLaneHoldsRecords
// claim nothing.
func (r *laneRun) claimRecord(ctx workflow.Context, it *LaneItem, id string) {
	id = normalID(id)
	if _, held := r.owners[id]; held || id == "" || !askedOnce(ctx, &r.holdsRecords, ChangeLaneHoldsRecords) {
		return
	}
	r.owners[id] = it.who()
	r.claimed = append(r.claimed, id)
}

// paired remembers that person it is paired with record id, for specs
// whose records do not carry the slug (no external id).
func (r *laneRun) paired(it *LaneItem, id string) {
	if !r.identity || id == "" || r.b.spec.ExternalID.CRM != "" || it.Deleted {
		return
	}
	r.st.Paired[it.who()] = normalID(id)
	if r.ledger && r.recalled[it.who()] != normalID(id) {
		r.learnt = append(r.learnt, Pairing{Slug: it.who(), RecordID: normalID(id)})
		// In the filter before the page is written (remember).
		r.filter.add("s:" + it.who())
		r.filter.add("r:" + normalID(id))
	}
}

// recallRecords asks the identity ledger (see ledger.go) for the records
// of the batch's people: it remembers them for life, the lane only for a
// while. A record the person is otherwise known by (record_id_field, a CRM
// change, their last sync, the lane's memory: newer than what visibility
// may show yet) comes first; the ledger's answer then only says whether
// the pairing must be written into it. False means the ledger could not
// be read and the people wait.
func (r *laneRun) recallRecords(ctx workflow.Context) bool {
	if !r.ledger {
		return true
	}
	r.filter = r.ledgerFilter(ctx)
	var slugs []string
	for _, i := range r.open() {
		it := r.b.items[i]
		if !it.Deleted {
			slugs = append(slugs, it.who())
		}
	}
	recalled, ok := r.recall(ctx, len(slugs) > 0, RecallInput{Object: r.b.spec.Object, Slugs: r.unasked("s:", slugs)})
	if !ok {
		return false
	}
	r.recalled = recalled.Records
	for _, i := range r.open() {
		it := r.b.items[i]
		id, ok := r.recalled[it.who()]
		if !ok || r.lane.knownRecord(&r.b.spec, it) != "" {
			continue
		}
		if _, held := r.owners[id]; !held {
			r.owners[id] = it.who()
			r.claimed = append(r.claimed, id)
		} else if r.heldForAnother(ctx, id, it) {
			// In flight for someone else, as in waitsForItsRecord.
			r.giveWay([]int{i})
			it.NotBefore = workflow.Now(ctx).Add(sharerWait)
		}
	}
	return true
}

// recallOwners asks the identity ledger who is paired with the records the
// batch's identifiers found, when the lane knows of no one: a record
// paired with someone else is not a newcomer's (othersOf). False means the
// ledger could not be read and the people wait.
func (r *laneRun) recallOwners(ctx workflow.Context, found *activities.FindRecordsResult) bool {
	if !r.ledger {
		return true
	}
	var ids []string
	seen := map[string]bool{}
	for _, i := range r.open() {
		it := r.b.items[i]
		if known := normalID(r.knownRecord(it)); known != "" && r.b.spec.SharesAcrossIntegrations() && !seen[known] {
			seen[known] = true // who else holds it (leavesShare)
			ids = append(ids, known)
		}
		for _, m := range found.Matches[r.b.key(it)] {
			id := normalID(m.ID)
			if _, held := r.owners[id]; held || seen[id] || id == normalID(r.knownRecord(it)) {
				continue
			}
			seen[id] = true
			ids = append(ids, id)
		}
	}
	recalled, ok := r.recall(ctx, len(ids) > 0, RecallInput{Object: r.b.spec.Object, Records: r.unasked("r:", ids), CurrentOwners: r.b.spec.SharesAcrossIntegrations()})
	r.ledgerOwners = recalled.Owners
	return ok
}

// recall reads the ledger when the batch has anyone to ask about (ask),
// even when the lane's filter leaves nobody in in.Slugs and in.Records: the commands stay those
// of a replay that trusts no filter (runWasReset). A failure settles the
// open people as a failed call (they wait and try again).
func (r *laneRun) recall(ctx workflow.Context, ask bool, in RecallInput) (Recalled, bool) {
	var out Recalled
	if !ask {
		return out, true
	}
	lctx := ledgerOptions(ctx)
	if err := workflow.ExecuteLocalActivity(lctx, coord.RecallPairings, in).Get(lctx, &out); err != nil {
		r.callFailed(workflow.Now(ctx), r.open(), err)
		return Recalled{}, false
	}
	return out, true
}

// remember writes the pairings the batch learnt into the identity ledger
// before its people are answered. A failure is logged: the lane's memory
// still holds them, and their next sync writes them again.
func (r *laneRun) remember(ctx workflow.Context) {
	if len(r.learnt) == 0 {
		return
	}
	lctx := ledgerOptions(ctx)
	in := RememberInput{Object: r.b.spec.Object, Pairings: r.learnt}
	if err := workflow.ExecuteLocalActivity(lctx, coord.RememberPairings, in).Get(lctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("Could not write pairings into the identity ledger", "people", len(r.learnt), "error", err)
	}
}

// othersOf lists the records among matches (found by person it's
// identifier) that other people are known to be paired with.
//
// With across_integrations: one_record, a record paired only with people of
// other integrations is not another's: its identifier is this person's
// too, and they are one person in several programmes (leavesShare says
// when one stops being so).
func (r *laneRun) othersOf(it *LaneItem, matches []pairing.CRMRecord) []string {
	var out []string
	someoneElse := func(owner string) bool {
		return owner != it.who() && !(r.b.spec.SharesAcrossIntegrations() && integrationOf(owner) != it.Integration)
	}
	for _, m := range matches {
		id := normalID(m.ID)
		if owner, ok := r.owners[id]; ok && owner != it.who() {
			out = append(out, m.ID) // in flight for someone else
			continue
		}
		if slices.ContainsFunc(r.ledgerOwners[id], someoneElse) {
			out = append(out, m.ID) // the ledger pairs someone else with it
			continue
		}
		if len(r.st.Paired) == 0 {
			continue
		}
		if r.pairedBy == nil {
			r.pairedBy = make(map[string]string, len(r.st.Paired))
			for slug, rec := range r.st.Paired {
				if prev, ok := r.pairedBy[rec]; !ok || slug < prev { // deterministic whatever the map's order
					r.pairedBy[rec] = slug
				}
			}
		}
		if owner, ok := r.pairedBy[id]; ok && someoneElse(owner) {
			out = append(out, m.ID)
		}
	}
	return out
}

// sharerWait is how long a person who waits for a sharer (waitsForASharer),
// or for their record held by someone else's batch (recallRecords), waits
// before their next batch: a person batched again while the other batch is
// still in flight would cost a lookup each time, so they try at most once
// a second.
const sharerWait = time.Second

// waitsForASharer says whether person it waits for a later batch because
// a record their identifier found is in flight for a person of another
// integration (across_integrations: one_record), one this batch cannot
// tell the fate of: that sharer may leave the record (a new address: the
// record keeps the identifier the others hold, and it goes on being this
// person's too) or take it along (held alone, it follows them). Deciding
// now would give this person a record of their own beside the one the
// remaining sharers hold: two records for one person in several
// programmes. Once the sharer is answered, the ledger and the lane's
// memory say who holds the record. Runs from before ChangeSharersWait
// decide at once.
func (r *laneRun) waitsForASharer(ctx workflow.Context, it *LaneItem, found *activities.FindRecordsResult) bool {
	if !r.identity || it.Deleted || !r.b.spec.SharesAcrossIntegrations() {
		return false
	}
	m, unpaired := r.matchesOf(it, found)
	if unpaired != nil || m.own {
		return false
	}
	inFlight := slices.ContainsFunc(m.records, func(rec pairing.CRMRecord) bool {
		owner, ok := r.owners[normalID(rec.ID)]
		return ok && owner != it.who() && integrationOf(owner) != it.Integration
	})
	return inFlight && workflow.GetVersion(ctx, ChangeSharersWait, workflow.DefaultVersion, 1) >= 1
}

// integrationOf is the integration of the person the lane knows as who
// (LaneItem.who): "" for the lane's own.
func integrationOf(who string) string {
	id, _, ok := strings.Cut(who, "/")
	if !ok {
		return ""
	}
	return id
}

// leavesShare says whether person it leaves record rec, the record they
// are paired with (across_integrations: one_record): rec holds another
// identifier than theirs now, and people of other integrations are paired
// with it too; the record keeps theirs, and this person is paired by
// their own identifier. A record only they hold follows them, as ever.
func (r *laneRun) leavesShare(it *LaneItem, rec pairing.CRMRecord) bool {
	if !r.b.spec.SharesAcrossIntegrations() || it.Deleted ||
		activities.IdentifierKey(rec.Values[r.b.spec.UniqueIdentifier.CRM]) == r.b.key(it) {
		return false
	}
	id := normalID(rec.ID)
	shared := func(owner string) bool { return integrationOf(owner) != it.Integration }
	if slices.ContainsFunc(r.ledgerOwners[id], shared) {
		return true
	}
	for who, paired := range r.st.Paired {
		if paired == id && shared(who) {
			return true
		}
	}
	return false
}

// doubtedKeys maps the identifier keys of waiting people whose write had no
// known outcome (LaneItem.Doubted) to their slugs: someone else with that
// identifier waits until they are answered, so that the record the lost
// write may have made is found by its owner first, and then remembered as
// theirs.
func (l *lane) doubtedKeys() map[string]string {
	var out map[string]string
	for _, it := range l.st.Items {
		if !it.Doubted {
			continue
		}
		req, ok := l.st.Requests[it.Request]
		if !ok {
			continue
		}
		if k := (&batch{spec: l.st.Specs[req.Spec]}).key(it); k != "" {
			if out == nil {
				out = map[string]string{}
			}
			if _, seen := out[k]; !seen {
				out[k] = it.who()
			}
		}
	}
	return out
}

// recordIn is the record id as a lookup found it.
func recordIn(found *activities.FindRecordsResult, id string) (pairing.CRMRecord, bool) {
	if k, ok := found.ByID[normalID(id)]; ok {
		return k.Record, true
	}
	for _, recs := range found.ByExternalID {
		for _, rec := range recs {
			if rec.ID == id {
				return rec, true
			}
		}
	}
	for _, recs := range found.Matches {
		for _, rec := range recs {
			if rec.ID == id {
				return rec, true
			}
		}
	}
	return pairing.CRMRecord{}, false
}

// passOnEditsUnderWrites compares each updated record as Salesforce held it
// after the write with what the lane read and wrote: a field the CRM owns
// (from_crm, both) that holds something else was edited under the write.
// The watch will take that change for afsync's echo, so the lane starts
// the person's sync for it, as the watch would have.
func (r *laneRun) passOnEditsUnderWrites(ctx workflow.Context, updates []int, decisions map[int]pairing.Decision, read map[int]pairing.CRMRecord, outs []activities.WriteOutcome) {
	spec := &r.b.spec
	var requests []SyncRequest
	var integrations []string // of requests, when some are a dependent integration's
	for j, i := range updates {
		o := outs[j]
		before, ok := read[i]
		if !ok || o.After == nil || o.Error != "" {
			continue
		}
		if editedUnder(spec, before, decisions[i].CRM, *o.After) {
			it := r.b.items[i]
			requests = append(requests, SyncRequest{Slug: it.Profile.Slug, Trigger: pairing.TriggerCRMChange, RecordID: o.After.ID})
			integrations = append(integrations, it.Integration)
		}
	}
	if len(requests) == 0 {
		return
	}
	r.st.Counts.EditsUnderWrites += len(requests)
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{ScheduleToCloseTimeout: 5 * time.Minute})
	for _, in := range startsByIntegration(*spec, requests, integrations) {
		if err := workflow.ExecuteLocalActivity(lctx, coord.StartSyncs, in).Get(lctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("Could not hand on edits made in Salesforce under a write", "people", len(in.Requests), "error", err)
		}
	}
}

// startsByIntegration splits requests (of integrations, one each) into one
// StartSyncsInput per integration, in order of first appearance: one, as
// before dependent integrations, when the batch holds only the lane's own
// people.
func startsByIntegration(spec pairing.Spec, requests []SyncRequest, integrations []string) []StartSyncsInput {
	var out []StartSyncsInput
	at := map[string]int{}
	for i, r := range requests {
		k, ok := at[integrations[i]]
		if !ok {
			k = len(out)
			at[integrations[i]] = k
			out = append(out, StartSyncsInput{Spec: spec, Integration: integrations[i]})
		}
		out[k].Requests = append(out[k].Requests, r)
	}
	return out
}

// editedUnder reports whether after, a record right after the lane wrote
// changes to it, holds in a field the CRM owns a value that is neither the
// one before held (read before the write) nor the one written.
func editedUnder(spec *pairing.Spec, before pairing.CRMRecord, changes []pairing.Change, after pairing.CRMRecord) bool {
	want := map[string]string{}
	for _, c := range changes {
		want[strings.ToLower(c.Field)] = c.After
	}
	for _, f := range spec.Fields {
		if d := f.EffectiveDirection(); f.Static() || d != pairing.DirectionFromCRM && d != pairing.DirectionBoth {
			continue
		}
		expect, written := want[strings.ToLower(f.CRM)]
		if !written {
			expect = before.Value(f.CRM)
		}
		if strings.TrimSpace(expect) != strings.TrimSpace(after.Value(f.CRM)) {
			return true
		}
	}
	return false
}

// normalID is the 18-character form of a Salesforce id (a 15-character one
// gains its case-safe suffix); other strings come back as they are.
func normalID(id string) string {
	if len(id) != 15 {
		return id
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	suffix := make([]byte, 3)
	for chunk := range 3 {
		bits := 0
		for i := range 5 {
			if c := id[chunk*5+i]; c >= 'A' && c <= 'Z' {
				bits |= 1 << i
			}
		}
		suffix[chunk] = alphabet[bits]
	}
	return id + string(suffix)
}
