package workflows

// One batch: one lookup for everyone, a decision each, one write per kind.

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

func (r *laneRun) pair(ctx workflow.Context) {
	r.ctx = ctx
	now := workflow.Now(ctx)
	r.freshReads(ctx)
	r.versions(ctx)
	if !r.recallRecords(ctx) {
		return
	}
	found, ok := r.lookup(ctx)
	if !ok || !r.recallOwners(ctx, &found) {
		return
	}
	// Accounts for the people whose decision links one (a spec with
	// account; runs from before it never had one).
	if r.b.spec.Account != nil && workflow.GetVersion(ctx, ChangeAccounts, workflow.DefaultVersion, 1) >= 1 {
		r.findAccounts(ctx, &found)
	}
	w := r.decideAll(ctx, &found, now)
	if len(r.unsure) > 0 {
		r.readBeforeWriting(ctx, w)
	}
	if len(w.creates)+len(w.updates) == 0 {
		return
	}
	r.write(ctx, w)
}

// versions reads which workflow-code versions the batch runs (see laneRun).
func (r *laneRun) versions(ctx workflow.Context) {
	r.crm = workflow.GetVersion(ctx, ChangeCRMChanges, workflow.DefaultVersion, 1) >= 1
	r.formats = r.crm && workflow.GetVersion(ctx, ChangeFieldFormats, workflow.DefaultVersion, 1) >= 1
	r.dups = r.formats && workflow.GetVersion(ctx, ChangeDuplicatesAmbiguous, workflow.DefaultVersion, 1) >= 1
	r.baselines = r.dups && workflow.GetVersion(ctx, ChangeChangeBaselines, workflow.DefaultVersion, 1) >= 1
	r.identity = r.baselines && workflow.GetVersion(ctx, ChangeIdentity, workflow.DefaultVersion, 1) >= 1
	r.ledger = r.identity && r.b.spec.ExternalID.CRM == "" &&
		workflow.GetVersion(ctx, ChangeIdentityLedger, workflow.DefaultVersion, 1) >= 1
}

// lookup makes one lookup for everyone: by identifier, by the record a
// person is known to be paired with (deleted and merged ones too), by their
// slug in the external id (identity; before it, only for users deleted in
// Award Force). Runs started before the CRM watch look by identifier
// alone. False means the lookup failed and its people are settled.
func (r *laneRun) lookup(ctx workflow.Context) (activities.FindRecordsResult, bool) {
	spec := &r.b.spec
	look := activities.FindRecordsInput{Spec: *spec}
	for _, i := range r.open() {
		it := r.b.items[i]
		if it.Deleted {
			if r.crm {
				look.ExternalIDs = append(look.ExternalIDs, it.Profile.Slug)
			}
			continue
		}
		if id := it.Profile.Values[spec.UniqueIdentifier.AwardForce]; activities.IdentifierKey(id) != "" {
			look.Identifiers = append(look.Identifiers, id)
		}
		if r.identity && spec.ExternalID.CRM != "" && it.Profile.Slug != "" {
			look.ExternalIDs = append(look.ExternalIDs, it.Profile.Slug) // the record that is theirs, whatever it holds
		}
		if id := r.knownRecord(it); r.crm && id != "" {
			look.RecordIDs = append(look.RecordIDs, id)
		}
	}
	var found activities.FindRecordsResult
	n := len(look.Identifiers) + len(look.RecordIDs) + len(look.ExternalIDs)
	if n == 0 {
		return found, true
	}
	actx := workflow.WithActivityOptions(ctx, laneLookupOptions(ctx))
	actx = summarized(actx, "Look up the %s records of %s by %s", spec.Object, people(n), spec.UniqueIdentifier.CRM)
	if r.yields {
		if r.yielding {
			r.giveWay(r.open())
			return found, false
		}
		cancel := new(workflow.CancelFunc)
		actx, *cancel = workflow.WithCancel(actx)
		r.lookups = append(r.lookups, cancel)
		defer func() {
			r.lookups = slices.DeleteFunc(r.lookups, func(c *workflow.CancelFunc) bool { return c == cancel })
		}()
	}
	err := workflow.ExecuteActivity(actx, sf.FindRecords, look).Get(actx, &found)
	r.calls += max(found.Queries, 1)
	if err != nil && r.yielding && temporal.IsCanceledError(err) {
		r.giveWay(r.open())
		return found, false
	}
	if err != nil {
		// Waits (a quota pause, a backoff) count from the failure, not
		// from the start of a lookup that may have been retried for minutes.
		r.callFailed(workflow.Now(ctx), r.open(), err)
		return found, false
	}
	return found, true
}

// laneWrites are a batch's decided writes.
type laneWrites struct {
	in               activities.WriteInput
	creates, updates []int // the people of in.Creates and in.Updates, by index
	decisions        map[int]pairing.Decision
	read             map[int]pairing.CRMRecord // the record each update was decided on
}

// decideAll decides for every open person on what the lookup found:
// answers those with nothing to write, and gathers the writes.
func (r *laneRun) decideAll(ctx workflow.Context, found *activities.FindRecordsResult, now time.Time) *laneWrites {
	spec := &r.b.spec
	w := &laneWrites{in: activities.WriteInput{Spec: *spec}, decisions: map[int]pairing.Decision{}, read: map[int]pairing.CRMRecord{}}
	for _, i := range r.open() {
		it := r.b.items[i]
		if v, ok := r.supersededBy(it); ok {
			r.st.Counts.Superseded++
			r.answer(i, UserSyncResult{Outcome: OutcomeSkipped, Decision: pairing.Decision{
				Action: pairing.ActionSkip,
				Reason: fmt.Sprintf("superseded: a newer version of this user (updated %s) is already written", time.Unix(v[0], 0).UTC().Format(time.RFC3339)),
			}})
			continue
		}
		if r.waitsForASharer(ctx, it, found) {
			// Not at once: the sharer may be in another batch, still in flight.
			r.giveWay([]int{i})
			it.NotBefore = now.Add(sharerWait)
			continue
		}
		d, ok := r.decideWith(it, found, r.accounts[i])
		if !ok {
			r.answer(i, UserSyncResult{Outcome: outcomeOf(d), Decision: d, RecordID: d.RecordID})
			continue
		}
		w.decisions[i] = d
		switch d.Action {
		case pairing.ActionCreate:
			w.creates = append(w.creates, i)
			w.in.Creates = append(w.in.Creates, activities.CreateItem{Slug: it.Profile.Slug, Identifier: it.Profile.Values[spec.UniqueIdentifier.AwardForce], Values: d.CRM})
		case pairing.ActionUpdate:
			w.updates = append(w.updates, i)
			r.claimRecord(ctx, it, d.RecordID)
			if rec, ok := recordIn(found, d.RecordID); ok {
				w.read[i] = rec
			}
			w.in.Updates = append(w.in.Updates, activities.UpdateItem{Slug: it.Profile.Slug, ID: d.RecordID, Values: d.CRM})
		default:
			if d.Action == pairing.ActionNoChange {
				r.written(it, now)
				r.paired(it, d.RecordID)
			}
			r.answer(i, UserSyncResult{Outcome: outcomeOf(d), Decision: d, RecordID: d.RecordID})
		}
	}
	return w
}

// write makes one attempt at the batch's writes (what happens next is the
// lane's call) and settles each person with its outcome.
func (r *laneRun) write(ctx workflow.Context, w *laneWrites) {
	spec := &r.b.spec
	// Specs that watch the CRM read their updated records back: an edit
	// made in Salesforce under the write is afsync's to pass on.
	if r.identity && spec.Watches() && len(w.updates) > 0 &&
		workflow.GetVersion(ctx, ChangeEditsUnderWrites, workflow.DefaultVersion, 1) >= 1 {
		w.in.ReadBack = true
	}
	var out activities.WriteOutput
	actx := workflow.WithActivityOptions(ctx, laneWriteOptions(ctx))
	actx = summarized(actx, "%s", writeSummary(spec.Object, len(w.creates), len(w.updates)))
	err := workflow.ExecuteActivity(actx, sf.Write, w.in).Get(actx, &out)
	now := workflow.Now(ctx)
	if err != nil {
		if activities.WriteWasNotBegun(err) && askedOnce(ctx, &r.unbegunWrites, ChangeUnbegunWrites) {
			// It never reached Salesforce: nothing to wait for.
			r.callFailed(now, append(w.creates, w.updates...), err)
			return
		}
		// The activity itself failed (a worker stopped mid-call, a timeout):
		// nothing is known of its writes; it made at most a call per kind.
		r.calls += min(len(w.creates), 1) + min(len(w.updates), 1)
		r.doubt(now, append(w.creates, w.updates...), errorMessage(err))
		return
	}
	r.calls += out.Calls
	for j, i := range w.creates {
		r.settleWrite(now, i, w.decisions[i], out.Creates[j], true)
	}
	for j, i := range w.updates {
		r.settleWrite(now, i, w.decisions[i], out.Updates[j], false)
	}
	if w.in.ReadBack {
		r.passOnEditsUnderWrites(ctx, w.updates, w.decisions, w.read, out.Updates)
	}
}

// decideWith decides for person it with the run's rules (see decide) and
// the Account found for them, if any.
func (r *laneRun) decideWith(it *LaneItem, found *activities.FindRecordsResult, account *pairing.Account) (pairing.Decision, bool) {
	if r.crm {
		return r.decide(it, found, account)
	}
	// Decide itself, with the Account: Decide is DecideWith of the trigger.
	c := pairing.Context{Trigger: r.trigger(it), Account: account}
	return r.b.spec.DecideWith(c, it.Profile, found.Matches[r.b.key(it)]), true
}

// knownRecord is the record person it is known to be paired with (see
// lane.knownRecord).
func (r *laneRun) knownRecord(it *LaneItem) string {
	if id := r.lane.knownRecord(&r.b.spec, it); id != "" {
		return id
	}
	return r.recalled[it.who()]
}

// decide decides for person it on what the lookup found, following the
// record it is paired with through a merge, and applying the spec's
// deletion policies; false means there is nothing to write, whatever the
// decision says.
func (r *laneRun) decide(it *LaneItem, found *activities.FindRecordsResult, account *pairing.Account) (pairing.Decision, bool) {
	spec := &r.b.spec
	if it.Deleted {
		return r.deletedUser(it, found), true
	}
	m, unpaired := r.matchesOf(it, found)
	if unpaired != nil {
		return *unpaired, false
	}
	c := r.context(it, found, account, m)
	d := spec.DecideIn(c, it.Profile, m.records)
	switch {
	case m.replaced != "":
		d.Replaced = m.replaced
		d.Reason = fmt.Sprintf("%s %s was merged into %s in Salesforce; %s", spec.Object, m.replaced, d.RecordID, d.Reason)
	case m.recreated != "":
		d.Reason = fmt.Sprintf("the paired %s %s was deleted in Salesforce (crm_changes.on_delete: recreate); %s", spec.Object, m.recreated, d.Reason)
	}
	return d, true
}

// personMatches are the records a decision for one person weighs.
type personMatches struct {
	records []pairing.CRMRecord
	// own says records are the person's own (found by record id or slug),
	// not merely records holding their identifier.
	own bool
	// replaced is the record the person was paired with, merged into the
	// one in records; recreated the one deleted in Salesforce, to be made
	// again (crm_changes.on_delete: recreate).
	replaced, recreated string
}

// matchesOf picks the records person it is decided on: the record they are
// known to be paired with (following a merge), else the one holding their
// slug (identity), else those holding their identifier. A non-nil decision
// is the skip of a person whose record was deleted in Salesforce and who
// stays unpaired.
func (r *laneRun) matchesOf(it *LaneItem, found *activities.FindRecordsResult) (personMatches, *pairing.Decision) {
	spec := &r.b.spec
	m := personMatches{records: found.Matches[r.b.key(it)]}
	if r.identity {
		if recs := found.ByExternalID[it.Profile.Slug]; len(recs) > 0 {
			m.records, m.own = recs, true
		}
	}
	id := r.knownRecord(it)
	if id == "" {
		return m, nil
	}
	k, ok := found.ByID[normalID(id)]
	if !ok {
		return m, nil
	}
	switch {
	case !k.Deleted && r.leavesShare(it, k.Record):
		// Paired by their identifier (the shared record is not among the
		// records holding it).
	case !k.Deleted:
		m.records, m.own = []pairing.CRMRecord{k.Record}, true // the paired record, whatever its identifier holds now
	case k.MergedInto != "":
		if s, ok := found.ByID[k.MergedInto]; ok && !s.Deleted {
			m.records, m.replaced, m.own = []pairing.CRMRecord{s.Record}, k.Record.ID, true
		}
	case spec.OnCRMDelete() == pairing.DeleteUnpair:
		return m, &pairing.Decision{Action: pairing.ActionSkip, Reason: fmt.Sprintf(
			"the paired %s %s was deleted in Salesforce: the user stays unpaired (crm_changes.on_delete: unpair)", spec.Object, k.Record.ID)}
	default:
		m.recreated = k.Record.ID
	}
	return m, nil
}

// context is what the decision for person it knows besides the records:
// the run's rules, when the person was last paired and which version, and
// the records other people are known to own.
func (r *laneRun) context(it *LaneItem, found *activities.FindRecordsResult, account *pairing.Account, m personMatches) pairing.Context {
	c := pairing.Context{Trigger: r.trigger(it), LastSynced: it.LastSynced, IntegrationUser: found.IntegrationUser, Account: account}
	if r.formats {
		c.Rules, c.Lengths = pairing.RulesFieldFormats, found.Lengths
	}
	if r.baselines {
		c.Rules, c.LastVersion = pairing.RulesChangeBaselines, it.LastVersion
		digest := it.LastDigest
		if w, ok := r.st.Written[it.who()]; ok && time.Unix(w[0], 0).After(c.LastVersion) {
			c.LastVersion, digest = time.Unix(w[0], 0).UTC(), uint32(w[2]) // this lane wrote a newer version since
		}
		if r.editedWithin(it, c.LastVersion, digest) {
			// Edited within the second last paired: the profile changed
			// since, though its `updated` did not.
			c.LastVersion = c.LastVersion.Add(-time.Second)
		}
	}
	if r.identity {
		c.Rules = pairing.RulesIdentity
		if !m.own {
			c.Others = r.othersOf(it, m.records)
		}
	}
	if m.recreated != "" && c.Trigger == pairing.TriggerCRMChange {
		// The deletion is the change: the user is paired again as a manual
		// sync would (create_if_missing says whether a record is made).
		c.Trigger = pairing.TriggerManual
	}
	if w, ok := r.st.Written[it.who()]; ok && time.Unix(w[1], 0).After(c.LastSynced) {
		c.LastSynced = time.Unix(w[1], 0).UTC()
	}
	return c
}

// deletedUser decides for a user deleted in Award Force: the record their
// slug names is stamped, when the spec says so; nothing is deleted.
func (r *laneRun) deletedUser(it *LaneItem, found *activities.FindRecordsResult) pairing.Decision {
	spec := &r.b.spec
	stamp := spec.AwardForceDeletions.Stamp
	if stamp == nil {
		return pairing.Decision{Action: pairing.ActionSkip, Reason: "the user no longer exists in Award Force; the CRM record is left as it is"}
	}
	recs := found.ByExternalID[it.Profile.Slug]
	switch len(recs) {
	case 0:
		return pairing.Decision{Action: pairing.ActionSkip, Reason: "the user no longer exists in Award Force, and no record holds their slug to stamp"}
	case 1:
	default:
		ids := make([]string, len(recs))
		for i, rec := range recs {
			ids[i] = rec.ID
		}
		return pairing.Decision{Action: pairing.ActionAmbiguous, CandidateIDs: ids,
			Reason: fmt.Sprintf("%d records hold the deleted user's slug: none stamped", len(recs))}
	}
	rec := recs[0]
	d := pairing.Decision{RecordID: rec.ID, Action: pairing.ActionNoChange, Reason: "the user was deleted in Award Force; the record is stamped already"}
	if have := strings.TrimSpace(rec.Values[stamp.CRM]); have != stamp.Value {
		d.Action = pairing.ActionUpdate
		d.Reason = "the user was deleted in Award Force: the record is stamped (awardforce_deletions.stamp)"
		d.CRM = []pairing.Change{{Field: stamp.CRM, Source: "awardforce_deletions", Before: have, After: stamp.Value}}
	}
	return d
}
