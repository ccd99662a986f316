package workflows

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// maxBatch is the most people a lane batch holds: two Collections calls of
// creates and two of updates at most.
const maxBatch = activities.MaxWrite

// Lane bounds.
const (
	// memoryWindow is how long a lane remembers the versions it wrote, at
	// least: a profile read longer ago than what the lane remembers is read
	// again before it is written.
	memoryWindow = time.Hour
	// memoryCap bounds the versions a lane remembers (its continue-as-new
	// input stays well under Temporal's 2 MB payload limit); beyond it the
	// oldest are forgotten, and older profiles read again.
	memoryCap = 20_000
	// maxWait is how long a person is retried through transient faults
	// before being reported failed with the last of them.
	maxWait = 48 * time.Hour
	// maxBackoff caps the wait between two tries of one person after a
	// whole call failed: during a Salesforce outage a lane with people
	// waiting makes about one call every maxBackoff, and a brownout's
	// survivors are through soon after it ends.
	maxBackoff = 30 * time.Second
	// maxRecordBackoff caps it after one record was refused for a
	// transient reason (a locked row frees within seconds).
	maxRecordBackoff = 5 * time.Second
	// maxDuplicateAttempts bounds the tries of a person whose upsert keeps
	// meeting DUPLICATE_VALUE on the external id.
	maxDuplicateAttempts = 5
	// batchesPerRun bounds a run's history by default (see
	// LaneSettings.BatchesPerRun); a lane also continues as new when the
	// server suggests it.
	batchesPerRun = 200
)

// LaneInput starts a lane, or continues one after continue-as-new.
type LaneInput struct {
	Lane  int        `json:"lane"`
	State *LaneState `json:"state,omitempty"`
}

// LaneState is what a lane carries from one run to the next.
type LaneState struct {
	// Specs are the specs of open requests, by fingerprint.
	Specs map[string]pairing.Spec `json:"specs,omitempty"`
	// Requests are the open requests, by ID.
	Requests map[string]*LaneRequest `json:"requests,omitempty"`
	// Items are the people waiting for a batch, in arrival order.
	Items []*LaneItem `json:"items,omitempty"`
	// Written holds, per slug, the version last written and when.
	Written map[string]Written `json:"written,omitempty"`
	// Paired holds, per slug, the record the lane last paired the person
	// with, for specs without an external id (whose records carry the
	// slug); it is forgotten with the person's Written entry.
	Paired map[string]string `json:"paired,omitempty"`
	// MemorySince is when the lane's memory of writes begins: every write
	// since is in Written.
	MemorySince time.Time `json:"memory_since"`
	// Doubt holds, per slug and per identifier ("id:" + key), until when a
	// write of unknown outcome may still commit.
	Doubt map[string]time.Time `json:"doubt,omitempty"`
	// PausedUntil is set while the org's daily allocation is spent.
	PausedUntil time.Time  `json:"paused_until,omitzero"`
	Counts      LaneCounts `json:"counts"`
	LastError   string     `json:"last_error,omitempty"`
}

// LaneRequest is what a lane keeps of an open request.
type LaneRequest struct {
	ReplyTo  string          `json:"reply_to"`
	ReplyRun string          `json:"reply_run"`
	Spec     string          `json:"spec"` // fingerprint, a key of LaneState.Specs
	Trigger  pairing.Trigger `json:"trigger"`
	// Open counts its people not yet answered.
	Open int `json:"open"`
}

// LaneItem is one person waiting in a lane.
type LaneItem struct {
	Request  string          `json:"request"`
	Profile  pairing.Profile `json:"profile"`
	ReadAt   time.Time       `json:"read_at"`
	Received time.Time       `json:"received"`
	// RecordID, LastSynced, LastVersion and Deleted are the PairItem's.
	RecordID    string    `json:"record_id,omitempty"`
	LastSynced  time.Time `json:"last_synced,omitzero"`
	LastVersion time.Time `json:"last_version,omitzero"`
	Deleted     bool      `json:"deleted,omitempty"`
	// Doubted is set (ChangeIdentity) once a write for the person had no
	// known outcome: until they are answered, nobody else with their
	// identifier goes before them, since the record that write may have
	// made is theirs.
	Doubted bool `json:"doubted,omitempty"`
	// Attempts counts transient faults met so far.
	Attempts  int       `json:"attempts,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	// Calls is the share of Salesforce calls of the batches the person was
	// put back from, reported with the answer.
	Calls float64 `json:"calls,omitempty"`
}

// Written is a version of a person a lane wrote, as two Unix times (to the
// second, compact in the continue-as-new input): Award Force's `updated`
// and when the lane wrote it.
type Written [2]int64

// PairingLane serialises every Salesforce write for the people of one lane
// (see LaneOf). Requests arrive by PairSignal; the lane gathers waiting
// people into batches (at most one per person and per identifier at a
// time), looks them up with one SOQL query, decides each with
// pairing.Decide, writes with one Collections call per kind, and answers
// each requester by PairedSignal. It never writes an older version of a
// person over a newer one it wrote; a transient fault puts the person back
// with backoff; a write whose answer never came leaves the person waiting
// until Salesforce can no longer commit it, then looks again. It runs for
// ever, continuing as new to keep its history short.
func PairingLane(ctx workflow.Context, in LaneInput) error {
	l := &lane{n: in.Lane, busy: map[string]bool{}, flying: map[*LaneItem]bool{}, owners: map[string]string{}, af: newAFGate(ctx, ClassEvents)}
	if in.State != nil {
		l.st = *in.State
	}
	// A lane that starts afresh has written nothing yet: its memory reaches
	// back to the beginning (MemorySince zero). Terminating a lane forgets
	// what it wrote in the last hour; reset it instead (see README).
	l.init()
	if err := workflow.SetQueryHandler(ctx, LaneQuery, l.status); err != nil {
		return err
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var settings LaneSettings
	if err := workflow.ExecuteLocalActivity(lctx, coord.CurrentSettings).Get(lctx, &settings); err != nil {
		return err
	}
	l.settings = settings.withDefaults()

	requests := workflow.GetSignalChannel(ctx, PairSignal)
	for {
		l.receive(ctx, requests)
		now := workflow.Now(ctx)
		l.expire(now)
		due := l.batches >= l.settings.BatchesPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
		for !due && l.inFlight < l.settings.Concurrency {
			b := l.nextBatch(now)
			if b == nil {
				break
			}
			l.inFlight++
			l.batches++
			workflow.Go(ctx, func(ctx workflow.Context) {
				l.run(ctx, b)
				l.inFlight--
			})
		}
		if due && l.inFlight == 0 {
			l.receive(ctx, requests)
			return workflow.NewContinueAsNewError(ctx, PairingLane, LaneInput{Lane: l.n, State: &l.st})
		}
		wake := l.nextWake(now)
		inFlight := l.inFlight
		cond := func() bool { return requests.Len() > 0 || l.inFlight != inFlight }
		if wake.IsZero() {
			if err := workflow.Await(ctx, cond); err != nil {
				return err
			}
		} else if _, err := workflow.AwaitWithTimeout(ctx, wake.Sub(now), cond); err != nil {
			return err
		}
	}
}

// lanes is the receiver of the lane plumbing's local activities.
var coord *Coordinator

// lane is one run's state.
type lane struct {
	n        int
	st       LaneState
	settings LaneSettings
	// busy holds the slugs and identifiers ("id:" + key) of people in a
	// batch in flight.
	busy map[string]bool
	// flying are the people in batches in flight.
	flying map[*LaneItem]bool
	// gatherUntil is when the waiting people go even if no more arrive.
	gatherUntil time.Time
	// owners are the records people in batches in flight are known to be
	// paired with (18-character id → slug): nobody else may take them.
	owners map[string]string
	// af makes the lane's fresh reads within the Award Force budget.
	af       *afGate
	inFlight int
	batches  int
}

func (l *lane) init() {
	if l.st.Specs == nil {
		l.st.Specs = map[string]pairing.Spec{}
	}
	if l.st.Requests == nil {
		l.st.Requests = map[string]*LaneRequest{}
	}
	if l.st.Written == nil {
		l.st.Written = map[string]Written{}
	}
	if l.st.Paired == nil {
		l.st.Paired = map[string]string{}
	}
	if l.st.Doubt == nil {
		l.st.Doubt = map[string]time.Time{}
	}
}

func (l *lane) status() (LaneStatus, error) {
	s := LaneStatus{
		Lane: l.n, Waiting: len(l.st.Items), PausedUntil: l.st.PausedUntil,
		Remembered: len(l.st.Written), MemorySince: l.st.MemorySince,
		Counts: l.st.Counts, LastError: l.st.LastError,
	}
	for k := range l.busy {
		if isPersonKey(k) {
			s.InFlight++
		}
	}
	for k := range l.st.Doubt {
		if isPersonKey(k) {
			s.InDoubt++
		}
	}
	return s, nil
}

// receive takes every request signalled so far.
func (l *lane) receive(ctx workflow.Context, ch workflow.ReceiveChannel) {
	now := workflow.Now(ctx)
	for {
		var req PairRequest
		if !ch.ReceiveAsync(&req) {
			return
		}
		if _, open := l.st.Requests[req.ID]; open || len(req.Items) == 0 {
			continue // a duplicate (a resubmission, a retried signal), or nothing to do
		}
		fp := req.Spec.Fingerprint()
		l.st.Specs[fp] = req.Spec
		l.st.Requests[req.ID] = &LaneRequest{ReplyTo: req.ReplyTo, ReplyRun: req.ReplyRun, Spec: fp, Trigger: req.Trigger, Open: len(req.Items)}
		for _, it := range req.Items {
			l.st.Items = append(l.st.Items, &LaneItem{Request: req.ID, Profile: it.Profile, ReadAt: it.ReadAt, Received: now,
				RecordID: it.RecordID, LastSynced: it.LastSynced, LastVersion: it.LastVersion, Deleted: it.Deleted})
		}
	}
}

// expire forgets doubts that have passed, specs no request uses, and the
// oldest remembered versions (see memoryWindow and memoryCap).
func (l *lane) expire(now time.Time) {
	for k, until := range l.st.Doubt {
		if !until.After(now) {
			delete(l.st.Doubt, k)
		}
	}
	used := map[string]bool{}
	for _, r := range l.st.Requests {
		used[r.Spec] = true
	}
	for fp := range l.st.Specs {
		if !used[fp] {
			delete(l.st.Specs, fp)
		}
	}
	// Keep every write since the oldest waiting profile was read, and at
	// least memoryWindow's worth.
	cutoff := now.Add(-memoryWindow)
	hold := func(it *LaneItem) {
		if it.ReadAt.Before(cutoff) && !it.ReadAt.Before(l.st.MemorySince) {
			cutoff = it.ReadAt
		}
	}
	for _, it := range l.st.Items {
		hold(it)
	}
	for it := range l.flying {
		hold(it)
	}
	l.forgetBefore(cutoff.Unix())
	if len(l.st.Written) > memoryCap {
		ats := make([]int64, 0, len(l.st.Written))
		for _, w := range l.st.Written {
			ats = append(ats, w[1])
		}
		slices.Sort(ats)
		l.forgetBefore(ats[len(ats)-memoryCap] + 1)
	}
}

// forgetBefore forgets the writes made before the Unix time t.
func (l *lane) forgetBefore(t int64) {
	forgot := false
	for slug, w := range l.st.Written {
		if w[1] < t {
			delete(l.st.Written, slug)
			delete(l.st.Paired, slug)
			forgot = true
		}
	}
	if since := time.Unix(t, 0).UTC(); forgot && since.After(l.st.MemorySince) {
		l.st.MemorySince = since
	}
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
func (l *lane) nextBatch(now time.Time) *batch {
	l.gatherUntil = time.Time{}
	if now.Before(l.st.PausedUntil) {
		return nil
	}
	var b *batch
	claimed := map[string]bool{} // slugs and identifiers already in b
	free := func(k string) bool { return !l.held(k) && !claimed[k] }
	doubted := l.doubtedKeys()
	for _, it := range l.st.Items {
		if it.NotBefore.After(now) || !free(it.Profile.Slug) {
			continue
		}
		req := l.st.Requests[it.Request]
		if b != nil && req.Spec != b.spec.Fingerprint() {
			continue
		}
		spec := l.st.Specs[req.Spec]
		k := (&batch{spec: spec}).key(it)
		if k != "" && !free(idKey(k)) {
			continue
		}
		if slug, ok := doubted[k]; ok && slug != it.Profile.Slug {
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
		claimed[it.Profile.Slug] = true
		if k != "" {
			claimed[idKey(k)] = true
		}
		if len(b.items) == l.settings.MaxBatch {
			break
		}
	}
	if b == nil {
		return nil
	}
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
			return nil
		}
	}
	taken := map[*LaneItem]bool{}
	for _, it := range b.items {
		if id := l.knownRecord(&b.spec, it); id != "" {
			l.owners[normalID(id)] = it.Profile.Slug
		}
		taken[it] = true
		l.flying[it] = true
		l.busy[it.Profile.Slug] = true
		if k := b.keys[it]; k != "" {
			l.busy[idKey(k)] = true
		}
		if org := b.orgs[it]; org != "" {
			l.busy[org] = true
		}
	}
	l.st.Items = slices.DeleteFunc(l.st.Items, func(it *LaneItem) bool { return taken[it] })
	return b
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
		earliest(l.st.Doubt[it.Profile.Slug])
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
	return wake
}

// laneOutcome is how one person of a batch ended: answered with a result,
// or put back to wait.
type laneOutcome struct {
	it     *LaneItem
	result *UserSyncResult
	back   bool
}

// run pairs one batch: fresh reads where the lane's memory does not reach,
// one lookup, the decisions, one write per kind, the answers.
func (l *lane) run(ctx workflow.Context, b *batch) {
	defer func() {
		for _, it := range b.items {
			delete(l.flying, it)
			delete(l.busy, it.Profile.Slug)
			if k := b.keys[it]; k != "" {
				delete(l.busy, idKey(k))
			}
			if org := b.orgs[it]; org != "" {
				delete(l.busy, org)
			}
			if id := l.knownRecord(&b.spec, it); id != "" && l.owners[normalID(id)] == it.Profile.Slug {
				delete(l.owners, normalID(id))
			}
		}
	}()
	r := &laneRun{lane: l, b: b, outcomes: make([]laneOutcome, len(b.items))}
	for i, it := range b.items {
		r.outcomes[i].it = it
	}
	r.pair(ctx)
	l.settle(ctx, r)
}

// laneRun is one batch's work.
type laneRun struct {
	*lane
	b        *batch
	outcomes []laneOutcome
	calls    int
	// crm is set in runs of the CRM watch's version (ChangeCRMChanges),
	// formats in those of the value rules' (ChangeFieldFormats), dups in
	// those that make a duplicate rule's refusal ambiguous
	// (ChangeDuplicatesAmbiguous), baselines in those that decide with
	// pairing.RulesChangeBaselines (ChangeChangeBaselines), identity in
	// those that follow people by slug and remembered record and decide
	// with pairing.RulesIdentity (ChangeIdentity).
	crm, formats, dups, baselines, identity bool
	// accounts are the Accounts found or made for the batch's people, by
	// index (ChangeAccounts); nil for a person whose decision needs none.
	accounts map[int]*pairing.Account
	// pairedBy is LaneState.Paired the other way round (record → slug),
	// built when a decision first needs it.
	pairedBy map[string]string
}

func (r *laneRun) trigger(it *LaneItem) pairing.Trigger { return r.st.Requests[it.Request].Trigger }

// answer settles outcome i with a result.
func (r *laneRun) answer(i int, res UserSyncResult) {
	res.Slug = r.b.items[i].Profile.Slug
	r.outcomes[i].result = &res
}

// fail answers outcome i with a failure of type errType.
func (r *laneRun) fail(i int, errType, msg string) {
	r.answer(i, UserSyncResult{Outcome: OutcomeFailed, Error: errType + ": " + msg, ErrorType: errType})
}

// open lists the people of the batch not yet settled.
func (r *laneRun) open() []int {
	var out []int
	for i, o := range r.outcomes {
		if o.result == nil && !o.back {
			out = append(out, i)
		}
	}
	return out
}

func (r *laneRun) pair(ctx workflow.Context) {
	now := workflow.Now(ctx)
	r.freshReads(ctx)
	spec := &r.b.spec

	// One lookup for everyone: by identifier, by the record a person is
	// known to be paired with (deleted and merged ones too), and, for users
	// deleted in Award Force, by their slug in the external id.
	// Runs started before the CRM watch look by identifier alone.
	r.crm = workflow.GetVersion(ctx, ChangeCRMChanges, workflow.DefaultVersion, 1) >= 1
	r.formats = r.crm && workflow.GetVersion(ctx, ChangeFieldFormats, workflow.DefaultVersion, 1) >= 1
	r.dups = r.formats && workflow.GetVersion(ctx, ChangeDuplicatesAmbiguous, workflow.DefaultVersion, 1) >= 1
	r.baselines = r.dups && workflow.GetVersion(ctx, ChangeChangeBaselines, workflow.DefaultVersion, 1) >= 1
	r.identity = r.baselines && workflow.GetVersion(ctx, ChangeIdentity, workflow.DefaultVersion, 1) >= 1
	crm := r.crm
	look := activities.FindRecordsInput{Spec: *spec}
	for _, i := range r.open() {
		it := r.b.items[i]
		if it.Deleted {
			if crm {
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
		if id := r.knownRecord(it); crm && id != "" {
			look.RecordIDs = append(look.RecordIDs, id)
		}
	}
	var found activities.FindRecordsResult
	if n := len(look.Identifiers) + len(look.RecordIDs) + len(look.ExternalIDs); n > 0 {
		actx := workflow.WithActivityOptions(ctx, laneLookupOptions())
		actx = summarized(actx, "Look up the %s records of %s by %s", spec.Object, people(n), spec.UniqueIdentifier.CRM)
		err := workflow.ExecuteActivity(actx, sf.FindRecords, look).Get(actx, &found)
		r.calls += max(found.Queries, 1)
		if err != nil {
			// Waits (a quota pause, a backoff) count from the failure, not
			// from the start of a lookup that may have been retried for minutes.
			r.callFailed(workflow.Now(ctx), r.open(), err)
			return
		}
	}

	// Accounts for the people whose decision links one (a spec with
	// account; runs from before it never had one).
	if spec.Account != nil && workflow.GetVersion(ctx, ChangeAccounts, workflow.DefaultVersion, 1) >= 1 {
		r.findAccounts(ctx, &found)
	}

	// Decide; gather the writes.
	var in activities.WriteInput
	in.Spec = *spec
	var creates, updates []int
	decisions := map[int]pairing.Decision{}
	read := map[int]pairing.CRMRecord{} // the record each update was decided on
	for _, i := range r.open() {
		it := r.b.items[i]
		if w, ok := r.supersededBy(it); ok {
			r.st.Counts.Superseded++
			r.answer(i, UserSyncResult{Outcome: OutcomeSkipped, Decision: pairing.Decision{
				Action: pairing.ActionSkip,
				Reason: fmt.Sprintf("superseded: a newer version of this user (updated %s) is already written", time.Unix(w[0], 0).UTC().Format(time.RFC3339)),
			}})
			continue
		}
		d, ok := r.decideWith(it, &found, r.accounts[i])
		if !ok {
			r.answer(i, UserSyncResult{Outcome: outcomeOf(d), Decision: d, RecordID: d.RecordID})
			continue
		}
		decisions[i] = d
		switch d.Action {
		case pairing.ActionCreate:
			creates = append(creates, i)
			in.Creates = append(in.Creates, activities.CreateItem{Slug: it.Profile.Slug, Identifier: it.Profile.Values[spec.UniqueIdentifier.AwardForce], Values: d.CRM})
		case pairing.ActionUpdate:
			updates = append(updates, i)
			if rec, ok := recordIn(&found, d.RecordID); ok {
				read[i] = rec
			}
			in.Updates = append(in.Updates, activities.UpdateItem{Slug: it.Profile.Slug, ID: d.RecordID, Values: d.CRM})
		default:
			if d.Action == pairing.ActionNoChange {
				r.written(it, now)
				r.paired(it, d.RecordID)
			}
			r.answer(i, UserSyncResult{Outcome: outcomeOf(d), Decision: d, RecordID: d.RecordID})
		}
	}
	if len(creates)+len(updates) == 0 {
		return
	}

	// Specs that watch the CRM read their updated records back: an edit
	// made in Salesforce under the write is afsync's to pass on.
	if r.identity && spec.Watches() && len(updates) > 0 &&
		workflow.GetVersion(ctx, ChangeEditsUnderWrites, workflow.DefaultVersion, 1) >= 1 {
		in.ReadBack = true
	}
	// One attempt at the writes; what happens next is the lane's call.
	var out activities.WriteOutput
	actx := workflow.WithActivityOptions(ctx, laneWriteOptions())
	actx = summarized(actx, "%s", writeSummary(spec.Object, len(creates), len(updates)))
	err := workflow.ExecuteActivity(actx, sf.Write, in).Get(actx, &out)
	now = workflow.Now(ctx)
	if err != nil {
		// The activity itself failed (a worker stopped mid-call, a timeout):
		// nothing is known of its writes; it made at most a call per kind.
		r.calls += min(len(creates), 1) + min(len(updates), 1)
		r.doubt(now, append(creates, updates...), errorMessage(err))
		return
	}
	r.calls += out.Calls
	for j, i := range creates {
		r.settleWrite(now, i, decisions[i], out.Creates[j], true)
	}
	for j, i := range updates {
		r.settleWrite(now, i, decisions[i], out.Updates[j], false)
	}
	if in.ReadBack {
		r.passOnEditsUnderWrites(ctx, updates, decisions, read, out.Updates)
	}
}

// supersededBy reports whether the lane wrote a newer version of person it
// than this one, and that version.
func (r *laneRun) supersededBy(it *LaneItem) (Written, bool) {
	w, ok := r.st.Written[it.Profile.Slug]
	return w, ok && !it.Profile.Updated.IsZero() && it.Profile.Updated.Unix() < w[0]
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
func (r *laneRun) knownRecord(it *LaneItem) string { return r.lane.knownRecord(&r.b.spec, it) }

// decide decides for person it on what the lookup found, following the
// record it is paired with through a merge, and applying the spec's
// deletion policies; false means there is nothing to write, whatever the
// decision says.
func (r *laneRun) decide(it *LaneItem, found *activities.FindRecordsResult, account *pairing.Account) (pairing.Decision, bool) {
	spec := &r.b.spec
	if it.Deleted {
		return r.deletedUser(it, found), true
	}
	matches := found.Matches[r.b.key(it)]
	own := false // matches are the person's own record (by id or slug), not merely their identifier's
	if r.identity {
		if recs := found.ByExternalID[it.Profile.Slug]; len(recs) > 0 {
			matches, own = recs, true
		}
	}
	replaced, recreated := "", ""
	if id := r.knownRecord(it); id != "" {
		if k, ok := found.ByID[normalID(id)]; ok {
			switch {
			case !k.Deleted:
				matches, own = []pairing.CRMRecord{k.Record}, true // the paired record, whatever its identifier holds now
			case k.MergedInto != "":
				if s, ok := found.ByID[k.MergedInto]; ok && !s.Deleted {
					matches, replaced, own = []pairing.CRMRecord{s.Record}, k.Record.ID, true
				}
			case spec.OnCRMDelete() == pairing.DeleteUnpair:
				return pairing.Decision{Action: pairing.ActionSkip, Reason: fmt.Sprintf(
					"the paired %s %s was deleted in Salesforce: the user stays unpaired (crm_changes.on_delete: unpair)", spec.Object, k.Record.ID)}, false
			default:
				recreated = k.Record.ID
			}
		}
	}
	c := pairing.Context{Trigger: r.trigger(it), LastSynced: it.LastSynced, IntegrationUser: found.IntegrationUser, Account: account}
	if r.formats {
		c.Rules, c.Lengths = pairing.RulesFieldFormats, found.Lengths
	}
	if r.baselines {
		c.Rules, c.LastVersion = pairing.RulesChangeBaselines, it.LastVersion
		if w, ok := r.st.Written[it.Profile.Slug]; ok && time.Unix(w[0], 0).After(c.LastVersion) {
			c.LastVersion = time.Unix(w[0], 0).UTC() // this lane wrote a newer version since
		}
	}
	if r.identity {
		c.Rules = pairing.RulesIdentity
		if !own {
			c.Others = r.othersOf(it, matches)
		}
	}
	if recreated != "" && c.Trigger == pairing.TriggerCRMChange {
		// The deletion is the change: the user is paired again as a manual
		// sync would (create_if_missing says whether a record is made).
		c.Trigger = pairing.TriggerManual
	}
	if w, ok := r.st.Written[it.Profile.Slug]; ok && time.Unix(w[1], 0).After(c.LastSynced) {
		c.LastSynced = time.Unix(w[1], 0).UTC()
	}
	d := spec.DecideIn(c, it.Profile, matches)
	switch {
	case replaced != "":
		d.Replaced = replaced
		d.Reason = fmt.Sprintf("%s %s was merged into %s in Salesforce; %s", spec.Object, replaced, d.RecordID, d.Reason)
	case recreated != "":
		d.Reason = fmt.Sprintf("the paired %s %s was deleted in Salesforce (crm_changes.on_delete: recreate); %s", spec.Object, recreated, d.Reason)
	}
	return d, true
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

// settleWrite settles person i with the outcome o of its create or update.
func (r *laneRun) settleWrite(now time.Time, i int, d pairing.Decision, o activities.WriteOutcome, created bool) {
	it := r.b.items[i]
	switch {
	case o.Unknown:
		r.doubt(now, []int{i}, o.Error)
	case r.crm && strings.Contains(o.Error, "ENTITY_IS_DELETED") && it.RecordID != d.RecordID:
		// Deleted (merged?) since the lookup: look at it by id next time,
		// which follows a merge to its survivor.
		it.RecordID = d.RecordID
		r.retry(now, i, activities.ErrTypeSalesforceUnavailable, o.Error, maxRecordBackoff)
	case r.dups && len(o.DuplicateIDs) > 0:
		// An org's duplicate rule refused the record and named the records
		// this person matches: ambiguous, as when the lookup finds several.
		amb := d
		amb.Action, amb.CandidateIDs, amb.CRM = pairing.ActionAmbiguous, o.DuplicateIDs, nil
		amb.Reason = "a Salesforce duplicate rule refused the record (" + o.Error + ")"
		r.answer(i, UserSyncResult{Outcome: OutcomeAmbiguous, Decision: amb, RecordID: d.RecordID})
	case o.Error != "":
		r.refused(now, i, o.ErrorType, o.Error, o.CallFailed)
		if res := r.outcomes[i].result; res != nil {
			// Failed: the audit keeps what was decided, as UserSync's does.
			res.Decision = d
			if !created {
				res.RecordID = d.RecordID
			}
		}
	default:
		res := UserSyncResult{Outcome: outcomeOf(d), Decision: d, RecordID: d.RecordID}
		if created {
			res.RecordID = o.ID
			if !o.Created {
				res.Outcome = OutcomeUpdated // an upsert found the record by its external id
			}
			if c := r.b.spec.RecordIDChange(it.Profile, o.ID); c != nil {
				res.Decision.AwardForce = append(res.Decision.AwardForce, *c)
			}
		}
		r.written(it, now)
		r.paired(it, res.RecordID)
		r.answer(i, res)
	}
}

// written remembers that it's version of its person is what the CRM now holds.
func (r *laneRun) written(it *LaneItem, now time.Time) {
	w := Written{it.Profile.Updated.Unix(), now.Unix()}
	if it.Profile.Updated.IsZero() {
		w[0] = 0
	}
	if prev, ok := r.st.Written[it.Profile.Slug]; ok && prev[0] > w[0] {
		w[0] = prev[0]
	}
	r.st.Written[it.Profile.Slug] = w
}

// refused settles person i whose record Salesforce refused, or whose call
// failed with Salesforce's own answer.
func (r *laneRun) refused(now time.Time, i int, errType, msg string, callFailed bool) {
	it := r.b.items[i]
	transient := errType == activities.ErrTypeSalesforceUnavailable || errType == activities.ErrTypeSalesforceQuotaExhausted
	if transient && it.Attempts+1 >= maxDuplicateAttempts && strings.Contains(msg, "DUPLICATE_VALUE") {
		transient = false
		errType = activities.ErrTypeSalesforceRejected
	}
	if !transient {
		r.fail(i, cmp.Or(errType, activities.ErrTypeSalesforceRejected), trimType(msg, errType))
		return
	}
	backoff := maxRecordBackoff
	if callFailed {
		backoff = maxBackoff
	}
	r.retry(now, i, errType, msg, backoff)
}

// retry puts person i back, to try again after a backoff of at most
// maxDelay (or once the allocation returns), unless it has waited maxWait
// already.
func (r *laneRun) retry(now time.Time, i int, errType, msg string, maxDelay time.Duration) {
	it := r.b.items[i]
	r.outcomes[i].back = true
	if now.Sub(it.Received) >= maxWait {
		r.outcomes[i].back = false
		r.fail(i, errType, fmt.Sprintf("still failing after %s: %s", maxWait, trimType(msg, errType)))
		return
	}
	it.Attempts++
	it.LastError = msg
	r.st.LastError = msg
	r.st.Counts.Retried++
	delay := min(time.Second<<min(it.Attempts-1, 16), maxDelay)
	if errType == activities.ErrTypeSalesforceQuotaExhausted {
		delay = r.settings.QuotaPause
		r.st.PausedUntil = now.Add(delay)
	}
	it.NotBefore = now.Add(delay)
}

// doubt puts people whose write has no known outcome back, to wait until
// Salesforce can no longer commit it; their identifiers wait too, so that
// nobody else creates a record for them meanwhile.
func (r *laneRun) doubt(now time.Time, is []int, msg string) {
	until := now.Add(r.settings.CommitHorizon)
	for _, i := range is {
		it := r.b.items[i]
		r.outcomes[i].back = true
		it.Doubted = r.identity
		r.st.Counts.Doubted++
		r.st.Doubt[it.Profile.Slug] = until
		if k := r.b.key(it); k != "" {
			r.st.Doubt[idKey(k)] = until
		}
		it.LastError = msg
		it.NotBefore = until
	}
	r.st.LastError = msg
}

// callFailed settles people whose lookup (or fresh read) failed as a
// whole, after the activity's own retries.
func (r *laneRun) callFailed(now time.Time, is []int, err error) {
	errType, msg := "", errorMessage(err)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		errType = appErr.Type()
	}
	switch {
	case fatalErrorTypes[errType] || errType == activities.ErrTypeSalesforceRejected ||
		errType == activities.ErrTypeSalesforceAmbiguous || errType == activities.ErrTypeUnexpected:
		for _, i := range is {
			r.fail(i, errType, trimType(msg, errType))
		}
	default: // unavailable, quota, timeouts: try again later
		if errType == "" {
			errType = activities.ErrTypeSalesforceUnavailable
		}
		for _, i := range is {
			r.retry(now, i, errType, msg, maxBackoff)
		}
	}
}

// freshReads reads again, from Award Force, the profiles read before the
// lane's memory begins: the lane cannot tell whether a newer version was
// written since.
func (r *laneRun) freshReads(ctx workflow.Context) {
	var stale []int
	for i, it := range r.b.items {
		if it.ReadAt.Before(r.st.MemorySince) {
			stale = append(stale, i)
		}
	}
	if len(stale) == 0 {
		return
	}
	actx := workflow.WithActivityOptions(ctx, awardForceOptions())
	futures := make([]workflow.Future, len(stale))
	readAt := workflow.Now(ctx)
	for j, i := range stale {
		slug := r.b.items[i].Profile.Slug
		futures[j] = r.af.call(summarized(actx, "Read Award Force user %s again", slug), af.GetUser, slug)
	}
	for j, i := range stale {
		var p pairing.Profile
		err := futures[j].Get(ctx, &p)
		r.st.Counts.FreshReads++
		var appErr *temporal.ApplicationError
		switch {
		case err == nil:
			it := r.b.items[i]
			it.Profile, it.ReadAt = p, readAt
			if r.b.key(it) != r.b.keys[it] || r.b.orgKey(it) != r.b.orgs[it] {
				// The identifier (or organisation) changed since the first
				// read: the batch does not hold the new one. The person
				// waits for a batch that does.
				r.outcomes[i].back = true
			}
		case errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeAwardForceNotFound:
			r.answer(i, UserSyncResult{Outcome: OutcomeSkipped, Decision: pairing.Decision{Action: pairing.ActionSkip, Reason: "the user no longer exists in Award Force"}})
		default:
			r.callFailed(workflow.Now(ctx), []int{i}, err)
		}
	}
}

// settle answers the requesters, and puts back whoever waits again.
func (l *lane) settle(ctx workflow.Context, r *laneRun) {
	l.st.Counts.Batches++
	type reply struct {
		req *LaneRequest
		msg PairReply
	}
	var order []string
	replies := map[string]*reply{}
	// Each person's share of the batch's calls; one put back carries it to
	// its answer, so that the answers account for every call.
	share := float64(r.calls) / float64(max(len(r.outcomes), 1))
	for _, o := range r.outcomes {
		if o.result == nil { // put back (or, by mistake, left open: it waits again)
			o.it.Calls += share
			l.st.Items = append(l.st.Items, o.it)
			continue
		}
		l.st.Counts.Count(o.result.Outcome)
		rp := replies[o.it.Request]
		if rp == nil {
			rp = &reply{req: l.st.Requests[o.it.Request], msg: PairReply{Request: o.it.Request}}
			replies[o.it.Request] = rp
			order = append(order, o.it.Request)
		}
		rp.msg.Results = append(rp.msg.Results, *o.result)
		rp.msg.Calls += share + o.it.Calls
	}
	l.st.Counts.SalesforceCalls += r.calls
	slices.SortStableFunc(l.st.Items, func(a, b *LaneItem) int { return a.Received.Compare(b.Received) })
	futures := make([]workflow.Future, 0, len(order))
	for _, id := range order {
		rp := replies[id]
		rp.req.Open -= len(rp.msg.Results)
		if rp.req.Open <= 0 {
			delete(l.st.Requests, id)
		}
		futures = append(futures, workflow.SignalExternalWorkflow(ctx, rp.req.ReplyTo, rp.req.ReplyRun, PairedSignal, rp.msg))
	}
	for _, f := range futures {
		// A requester that is gone (terminated, timed out) cannot be told;
		// its people are paired all the same.
		if err := f.Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("A requester could not be answered", "error", err)
		}
	}
}

// laneLookupOptions bounds a lane's lookups: retried through transient
// faults for a while, then the people wait and try again.
func laneLookupOptions() workflow.ActivityOptions {
	o := salesforceOptions()
	o.ScheduleToCloseTimeout = 10 * time.Minute
	o.HeartbeatTimeout = laneHeartbeat
	// The lane's people wait on it: try again soon rather than far apart.
	o.RetryPolicy.MaximumInterval = 10 * time.Second
	return o
}

// laneHeartbeat is how soon a lane notices that the worker running one of
// its activities died: the activities heartbeat while they call Salesforce.
const laneHeartbeat = 10 * time.Second

// laneWriteOptions makes a lane's writes single attempts: only the lane
// may decide to write again (see activities.Salesforce.Write).
func laneWriteOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:           TaskQueue,
		StartToCloseTimeout: time.Minute,
		HeartbeatTimeout:    laneHeartbeat,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	}
}

// people says "1 person", "2 people".
func people(n int) string {
	if n == 1 {
		return "1 person"
	}
	return fmt.Sprintf("%d people", n)
}

// writeSummary labels a lane's write: "Create 2 and update 1 Contact records".
func writeSummary(object string, creates, updates int) string {
	plural := func(n int) string {
		if n == 1 {
			return object + " record"
		}
		return object + " records"
	}
	switch {
	case updates == 0:
		return fmt.Sprintf("Create %d %s", creates, plural(creates))
	case creates == 0:
		return fmt.Sprintf("Update %d %s", updates, plural(updates))
	default:
		return fmt.Sprintf("Create %d and update %d %s", creates, updates, plural(creates+updates))
	}
}

// trimType drops a leading "Type: " from msg, which fail adds again.
func trimType(msg, errType string) string {
	if errType == "" {
		return msg
	}
	return strings.TrimPrefix(msg, errType+": ")
}
