package workflows

// A lane gathers the people signalled to it into batches: at most one per
// person and per identifier at a time, one spec a batch, waiting a little
// for more while a burst goes on (see nextBatch).

import (
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// laneInbox is where requests reach a lane: one a signal (PairSignal), or
// several handed at about the same moment in one (PairBatchSignal, see
// Coordinator.Submit). Neither channel issues a command.
type laneInbox struct {
	single, batched workflow.ReceiveChannel
}

func newLaneInbox(ctx workflow.Context) laneInbox {
	return laneInbox{single: workflow.GetSignalChannel(ctx, PairSignal), batched: workflow.GetSignalChannel(ctx, PairBatchSignal)}
}

// readsBatches says whether the lane reads PairBatchSignal. It asks the
// version when the first batch comes, not at the start of the run: a lane
// run that began on the code before reads batches from the first one a
// newer worker sees, while the same run replayed, or run by an older
// worker, leaves them unread, as that code did.
func (l *lane) readsBatches(ctx workflow.Context) bool {
	return askedOnce(ctx, &l.takesBatches, ChangeLaneTakesBatches)
}

// waiting is how many of in's signals wait for the lane to read them.
func (l *lane) waiting(in laneInbox) int {
	if l.takesBatches < 0 {
		return in.single.Len()
	}
	return in.single.Len() + in.batched.Len()
}

// receive takes every request signalled so far, and says how many people
// they brought.
func (l *lane) receive(ctx workflow.Context, in laneInbox) int {
	now := workflow.Now(ctx)
	fresh := 0
	for {
		var req PairRequest
		if !in.single.ReceiveAsync(&req) {
			break
		}
		fresh += l.hold(req, now)
	}
	if in.batched.Len() == 0 || !l.readsBatches(ctx) {
		return fresh
	}
	for {
		var b PairBatch
		if !in.batched.ReceiveAsync(&b) {
			return fresh
		}
		for _, req := range b.Requests {
			fresh += l.hold(req, now)
		}
	}
}

// hold holds req's people, unless the lane holds req already, and says
// how many it brought.
func (l *lane) hold(req PairRequest, now time.Time) int {
	if _, open := l.st.Requests[req.ID]; open || len(req.Items) == 0 {
		return 0 // a duplicate (a resubmission, a retried signal), or nothing to do
	}
	fp := req.Spec.Fingerprint()
	l.st.Specs[fp] = req.Spec
	l.st.Requests[req.ID] = &LaneRequest{ReplyTo: req.ReplyTo, ReplyRun: req.ReplyRun, Spec: fp, Trigger: req.Trigger, Open: len(req.Items)}
	for _, it := range req.Items {
		l.st.Items = append(l.st.Items, &LaneItem{Request: req.ID, Profile: it.Profile, ReadAt: it.ReadAt, Received: now,
			RecordID: it.RecordID, LastSynced: it.LastSynced, LastVersion: it.LastVersion, LastDigest: it.LastDigest, Deleted: it.Deleted,
			Integration: req.Integration})
	}
	return len(req.Items)
}

// batch is a set of people a lane pairs at once: one spec, one trigger per
// person, no person or identifier twice.
type batch struct {
	spec  pairing.Spec
	items []*LaneItem
	// keys are the identifier keys the batch holds, by person: the ones
	// its people had when it was formed.
	keys map[*LaneItem]string
	// orgs are the organisation keys (see orgKey) the batch holds, by
	// person; several of its people may share one.
	orgs map[*LaneItem]string
	// owned are the records (normalised ids) the batch holds in
	// lane.owners, by person: the ones they were known by when it was
	// taken.
	owned map[*LaneItem]string
}

// key is an item's identifier key ("" when the person has none).
func (b *batch) key(it *LaneItem) string {
	return activities.IdentifierKey(it.Profile.Values[b.spec.UniqueIdentifier.AwardForce])
}

// orgKey is the key ("acct:" + match field + ":" + organisation) of the
// Account a batch may create for person it: "" unless the spec creates
// Accounts (account.create) and the person names an organisation. One
// batch in flight at a time holds it, so that two batches never both
// find an organisation without an Account and both create one.
func (b *batch) orgKey(it *LaneItem) string {
	a := b.spec.Account
	if a == nil || !a.Create || it.Deleted {
		return ""
	}
	org := activities.AccountKey(it.Profile.Values[a.AwardForce])
	if org == "" {
		return ""
	}
	return acctPrefix + strings.ToLower(a.EffectiveMatch()) + ":" + org
}

const acctPrefix = "acct:"

func idKey(key string) string      { return "id:" + key }
func isIDKey(k string) bool        { return len(k) > 3 && k[:3] == "id:" }
func isPersonKey(k string) bool    { return !isIDKey(k) && !strings.HasPrefix(k, acctPrefix) }
func (l *lane) held(k string) bool { return l.busy[k] || !l.st.Doubt[k].IsZero() }

// nextBatch takes the people that may go now, oldest first, up to
// MaxBatch, all of the oldest one's spec; nil when none may. While fewer
// than MaxBatch may go, it waits for more as long as they keep arriving
// (less than Gather apart) and the first has waited less than MaxGather
// (gatherUntil says until when): a burst goes in a few batches, not one
// call a person, and a lone sync waits only Gather.
func (l *lane) nextBatch(ctx workflow.Context, now time.Time) *batch {
	l.gatherUntil = time.Time{}
	if now.Before(l.st.PausedUntil) {
		return nil
	}
	b := l.candidates(ctx, now)
	if b == nil || l.gathering(b, now) {
		return nil
	}
	l.take(b)
	return b
}

// candidates is the batch the waiting people who may go now would make,
// oldest first: the oldest one's spec, no slug, identifier, organisation or
// known record held elsewhere, at most MaxBatch; nil when nobody may go.
func (l *lane) candidates(ctx workflow.Context, now time.Time) *batch {
	var b *batch
	claimed := map[string]bool{} // slugs and identifiers already in b
	free := func(k string) bool { return !l.held(k) && !claimed[k] }
	doubted := l.doubtedKeys()
	for _, it := range l.st.Items {
		if it.NotBefore.After(now) || !free(it.who()) {
			continue
		}
		req := l.st.Requests[it.Request]
		if b != nil && req.Spec != b.spec.Fingerprint() {
			continue
		}
		spec := l.st.Specs[req.Spec]
		if l.waitsForItsRecord(ctx, &spec, it) {
			claimed[it.who()] = true // no later version of theirs goes either
			continue
		}
		k := (&batch{spec: spec}).key(it)
		if k != "" && !free(idKey(k)) {
			continue
		}
		if slug, ok := doubted[k]; ok && slug != it.who() {
			continue // the record a lost write made may be that person's: they go first
		}
		// An organisation is shared within a batch, never between two.
		org := (&batch{spec: spec}).orgKey(it)
		if org != "" && l.held(org) {
			continue
		}
		// Only now may the person start a batch: one whose identifier is
		// held must not leave an empty batch behind.
		if b == nil {
			b = &batch{spec: spec, keys: map[*LaneItem]string{}, orgs: map[*LaneItem]string{}}
		}
		b.items = append(b.items, it)
		b.keys[it] = k
		if org != "" {
			b.orgs[it] = org
		}
		claimed[it.who()] = true
		if k != "" {
			claimed[idKey(k)] = true
		}
		if len(b.items) == l.settings.MaxBatch {
			break
		}
	}
	return b
}

// gathering reports whether a batch that is not full waits for more: while
// people keep arriving (a pause of Gather ends the wait), but never longer
// than MaxGather after the first (gatherUntil says until when).
func (l *lane) gathering(b *batch, now time.Time) bool {
	if len(b.items) < l.settings.MaxBatch {
		// Not full: wait while people keep arriving (a pause of Gather ends
		// the wait), but never longer than MaxGather after the first.
		oldest, latest := b.items[0].Received, b.items[0].Received
		for _, it := range b.items {
			if it.Received.Before(oldest) {
				oldest = it.Received
			}
			if it.Received.After(latest) {
				latest = it.Received
			}
		}
		until := latest.Add(l.settings.Gather)
		if limit := oldest.Add(l.settings.MaxGather); limit.Before(until) {
			until = limit
		}
		if until.After(now) {
			l.gatherUntil = until
			return true
		}
	}
	return false
}

// take puts batch b in flight: its people leave the waiting list and hold
// their slugs, identifiers, organisations and known records.
func (l *lane) take(b *batch) {
	taken := map[*LaneItem]bool{}
	b.owned = map[*LaneItem]string{}
	for _, it := range b.items {
		if id := l.knownRecord(&b.spec, it); id != "" {
			l.owners[normalID(id)] = it.who()
			b.owned[it] = normalID(id)
		}
		taken[it] = true
		l.flying[it] = true
		l.busy[it.who()] = true
		if k := b.keys[it]; k != "" {
			l.busy[idKey(k)] = true
		}
		if org := b.orgs[it]; org != "" {
			l.busy[org] = true
		}
	}
	l.st.Items = slices.DeleteFunc(l.st.Items, func(it *LaneItem) bool { return taken[it] })
}

// nextWake is when a waiting person may next go, if no signal comes first;
// zero when nobody waits for a time.
func (l *lane) nextWake(now time.Time) time.Time {
	var wake time.Time
	earliest := func(t time.Time) {
		if t.After(now) && (wake.IsZero() || t.Before(wake)) {
			wake = t
		}
	}
	for _, it := range l.st.Items {
		earliest(it.NotBefore)
		earliest(l.st.Doubt[it.who()])
		if spec, ok := l.st.Specs[l.st.Requests[it.Request].Spec]; ok {
			b := batch{spec: spec}
			if k := b.key(it); k != "" {
				earliest(l.st.Doubt[idKey(k)])
			}
			if org := b.orgKey(it); org != "" {
				earliest(l.st.Doubt[org])
			}
		}
	}
	if len(l.st.Items) > 0 {
		earliest(l.st.PausedUntil)
	}
	earliest(l.gatherUntil)
	earliest(l.queueRetry)
	return wake
}
