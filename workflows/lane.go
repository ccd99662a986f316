package workflows

// The pairing lane, one concern a file:
//
//	lane.go           the workflow's loop, its state and what a run carries on
//	lane_gather.go    requests in, batches out (one person, one identifier,
//	                  one organisation in flight at a time; bursts gathered)
//	lane_decide.go    one batch: fresh reads, one lookup, a decision each,
//	                  one write per kind
//	lane_outcomes.go  what each write or failed call does to its person
//	lane_memory.go    the versions written, what is forgotten, fresh reads
//	lane_faded.go     old writes summarised; the continue-as-new budget
//	lane_replies.go   the answers to the requesters
//	lane_queue.go     the queue: people beyond LaneSettings.Hold wait in
//	                  LaneQueue segments, taken back as the lane writes
//	identity.go       following a person by record, slug and memory
//
// A person in a lane goes through these states:
//
//	PairSignal, PairBatchSignal
//	     ──► queued (a LaneQueue segment), when the lane holds Hold
//	                 │  refill: as batches leave room
//	                 ▼
//	               waiting (LaneState.Items)
//	                 │  nextBatch: NotBefore passed; slug, identifier and
//	                 │  organisation not held by a batch in flight or a doubt
//	                 ▼
//	               in flight (lane.busy) ── run: look up, decide, write
//	                 │
//	                 ├─ answered (PairedSignal): created, updated, unchanged,
//	                 │  skipped (superseded by a newer version among them),
//	                 │  ambiguous, failed
//	                 ├─ transient fault ──► waiting, after a backoff or the
//	                 │  quota pause (retry), for up to maxWait
//	                 └─ no answer to the write ──► waiting until the commit
//	                    horizon, slug and identifier held (doubt); then
//	                    looked up again, first among those with its address
//
// Continue-as-new carries the waiting people (at most Hold), the open
// requests, the queue's ends and the memory (LaneState), once no batch is
// in flight, within laneInputBudget: older writes fade into summaries and
// the newest waiting people go to the queue until it fits.

import (
	"fmt"
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
	// pairedCap bounds the records a lane remembers people by (specs
	// without an external id): about 32 bytes each in its continue-as-new
	// input; beyond it the longest unwritten are forgotten.
	pairedCap = 5_000
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
	// Faded summarises, oldest first, writes made before MemorySince
	// (ChangeLaneBoundedInput): every write since FadedSince is in Written
	// or in one of them.
	Faded      []FadedWrites `json:"faded,omitempty"`
	FadedSince time.Time     `json:"faded_since,omitzero"`
	// Doubt holds, per slug and per identifier ("id:" + key), until when a
	// write of unknown outcome may still commit.
	Doubt map[string]time.Time `json:"doubt,omitempty"`
	// Queue is where the lane's queue stands (ChangeLaneQueue): the people
	// beyond what the lane holds wait there.
	Queue *LaneQueueState `json:"queue,omitempty"`
	// MayClaim is set in a chain that began with nothing carried, under
	// code that claims ledgers: it may claim the identity ledger of an
	// object it is the first to pair people of (ledger_filter.go).
	MayClaim bool `json:"may_claim,omitempty"`
	// Ledgers are the lane's filters of the identity ledger, by object
	// (lower case), set in chains that MayClaim.
	Ledgers map[string]*LedgerFilter `json:"ledgers,omitempty"`
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
	// RecordID, LastSynced, LastVersion, LastDigest and Deleted are the
	// PairItem's.
	RecordID    string    `json:"record_id,omitempty"`
	LastSynced  time.Time `json:"last_synced,omitzero"`
	LastVersion time.Time `json:"last_version,omitzero"`
	LastDigest  uint32    `json:"last_digest,omitempty"`
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
	// Integration is the integration the person is of (PairRequest's),
	// "" for the lane's own.
	Integration string `json:"integration,omitempty"`
	// Calls is the share of Salesforce calls of the batches the person was
	// put back from, reported with the answer.
	Calls float64 `json:"calls,omitempty"`
}

// who is the key the lane knows the person by (personOf).
func (it *LaneItem) who() string { return personOf(it.Integration, it.Profile.Slug) }

// Written is a version of a person a lane wrote, compact in the
// continue-as-new input: Award Force's `updated` and when the lane wrote
// it (Unix seconds), and the ProfileDigest of the values written (0 when
// unknown, as in memories from before ChangeSameSecondEdits, whose two
// elements decode as the first two).
type Written [3]int64

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
	l, err := startLane(ctx, in)
	if err != nil {
		return err
	}
	requests := newLaneInbox(ctx)
	refills := workflow.GetSignalChannel(ctx, RefillSignal)
	// Rounds of people handed to the queue on the way out: those beyond
	// Hold, and those beyond the input's budget, counted apart so that a
	// lane busy with arrivals still fits its input.
	spills, bounds, commits := 0, 0, 0
	for {
		l.takeSignals(ctx, requests, refills)
		now := workflow.Now(ctx)
		l.expire(now)
		due := l.batches >= l.settings.BatchesPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
		for !due && l.inFlight < l.settings.Concurrency {
			b := l.nextBatch(ctx, now)
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
		if due && l.inFlight > 0 && l.yields && !l.yielding && workflow.GetInfo(ctx).GetCurrentHistoryLength() >= yieldLookupsAt {
			l.yieldLookups()
		}
		if due && l.inFlight == 0 {
			// Whatever came meanwhile goes with the lane, read with no
			// activity between here and the end of the run (a signal a run
			// received and did not read would be lost); people beyond Hold
			// go to the queue first, a few rounds at most.
			l.refill(ctx, refills)
			if fresh := l.receive(ctx, requests); fresh > 0 && l.overHold() && spills < 5 {
				spills++
				l.spill(ctx, fresh)
				continue
			}
			if l.bounded && bounds < 5 {
				if out := l.boundInput(); len(out) > 0 {
					// Too heavy to carry: the newest waiting people go to
					// the queue, asked back once the next run has room.
					bounds++
					l.closing = true
					l.hand(ctx, out)
					continue
				}
			}
			if (l.handed || l.answered) && commits < 5 {
				// The handings and answers are recorded by a task of their
				// own first (commitsHands, commitsAnswers); what came
				// meanwhile is looked at again.
				commits++
				l.commitSignals(ctx)
				continue
			}
			if l.ownQueue {
				ctx = workflow.WithWorkflowTaskQueue(ctx, namesOf(ctx).CoordinatorTaskQueue())
			}
			l.carryLedgers()
			return workflow.NewContinueAsNewError(ctx, PairingLane, LaneInput{Lane: l.n, State: &l.st})
		}
		inFlight := l.inFlight
		cond := func() bool { return l.waiting(requests) > 0 || refills.Len() > 0 || l.inFlight != inFlight }
		if err := l.await(ctx, now, l.nextWake(now), cond); err != nil {
			return err
		}
	}
}

// startLane sets a lane's run up: its state from in, its queries, the
// worker's settings and the versions it runs with (asked in this order).
func startLane(ctx workflow.Context, in LaneInput) (*lane, error) {
	l := &lane{n: in.Lane, busy: map[string]bool{}, flying: map[*LaneItem]bool{}, owners: map[string]string{}, af: newAFGate(ctx, ClassEvents)}
	if in.State != nil {
		l.st = *in.State
	} else {
		l.st.MayClaim = true
	}
	// A lane that starts afresh has written nothing yet: its memory reaches
	// back to the beginning (MemorySince zero). Terminating a lane forgets
	// what it wrote in the last hour; reset it instead (see README).
	l.init()
	l.reset = runWasReset(ctx)
	if err := workflow.SetQueryHandler(ctx, LaneQuery, l.status); err != nil {
		return nil, err
	}
	if err := workflow.SetQueryHandler(ctx, LaneDecidedQuery, l.decided); err != nil {
		return nil, err
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var settings LaneSettings
	if err := workflow.ExecuteLocalActivity(lctx, coord.CurrentSettings).Get(lctx, &settings); err != nil {
		return nil, err
	}
	l.settings = settings.withDefaults()
	if l.st.Queue == nil && workflow.GetVersion(ctx, ChangeLaneQueue, workflow.DefaultVersion, 1) >= 1 {
		l.st.Queue = &LaneQueueState{}
	}
	l.inOrder = workflow.GetVersion(ctx, ChangeDecisionsInOrder, workflow.DefaultVersion, 1) >= 1
	if l.bounded = workflow.GetVersion(ctx, ChangeLaneBoundedInput, workflow.DefaultVersion, 1) >= 1; l.bounded {
		l.replies.max, l.reads.max = maxPending, maxPending
	}
	if l.st.Queue != nil {
		l.onceEach = workflow.GetVersion(ctx, ChangeQueueHoldsPersonOnce, workflow.DefaultVersion, 1) >= 1
		l.closeAsked = workflow.GetVersion(ctx, ChangeQueueClosesAskedSegment, workflow.DefaultVersion, 1) >= 1
		l.trustSegments = workflow.GetVersion(ctx, ChangeQueueTrustsSegments, workflow.DefaultVersion, 1) >= 1
		l.trustTail = workflow.GetVersion(ctx, ChangeQueueTrustsTail, workflow.DefaultVersion, 1) >= 1
	}
	l.yields = workflow.GetVersion(ctx, ChangeLaneYieldsLookups, workflow.DefaultVersion, 1) >= 1
	l.readsLate = workflow.GetVersion(ctx, ChangeLaneReadsBeforeWriting, workflow.DefaultVersion, 1) >= 1
	l.bulkAnswers = workflow.GetVersion(ctx, ChangeLaneAnswersInBulk, workflow.DefaultVersion, 1) >= 1
	l.commitsHands = workflow.GetVersion(ctx, ChangeLaneCommitsHandings, workflow.DefaultVersion, 1) >= 1
	l.ownQueue = workflow.GetVersion(ctx, ChangeLaneOwnTaskQueue, workflow.DefaultVersion, 1) >= 1
	l.refillsAhead = workflow.GetVersion(ctx, ChangeQueueRefillsAhead, workflow.DefaultVersion, 1) >= 1
	l.commitsAnswers = workflow.GetVersion(ctx, ChangeLaneCommitsAnswers, workflow.DefaultVersion, 1) >= 1
	l.wakes.prompt = l.settings.PromptWakes && workflow.GetVersion(ctx, ChangeLanePromptWakes, workflow.DefaultVersion, 1) >= 1
	return l, nil
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
	// queueRetry is when to ask the queue again after asking failed.
	queueRetry time.Time
	// af makes the lane's fresh reads within the Award Force budget.
	af *afGate
	// wakes are the lane's prompt wakes (lane_wake.go).
	wakes    laneWakes
	inFlight int
	batches  int
	// onceEach: a refill does not add someone the lane holds already
	// (ChangeQueueHoldsPersonOnce).
	onceEach bool
	// closeAsked: a segment asked for people takes no more
	// (ChangeQueueClosesAskedSegment).
	closeAsked bool
	// inOrder: each decision of a person is marked later than the one
	// before, even within one second (ChangeDecisionsInOrder).
	inOrder bool
	// trustSegments: the queue is not taken for empty while its head
	// segment says it holds more (ChangeQueueTrustsSegments).
	trustSegments bool
	// trustTail: nor while a segment after a finished head was handed
	// people (ChangeQueueTrustsTail).
	trustTail bool
	// yields: a run due to continue as new past yieldLookupsAt events
	// cancels its lookups in flight (ChangeLaneYieldsLookups); lookups
	// holds their cancel functions in the order they started, yielding
	// is set once they were cancelled (a batch's later lookup gives way
	// at once).
	yields, yielding bool
	// readsLate: a profile the lane is unsure of is read again only when
	// it would be written (ChangeLaneReadsBeforeWriting).
	readsLate bool
	// bulkAnswers: a batch's requesters are answered by one local
	// activity (ChangeLaneAnswersInBulk).
	bulkAnswers bool
	// commitsHands: people handed to the queue on the way out are
	// recorded before the run continues as new (ChangeLaneCommitsHandings).
	commitsHands bool
	// ownQueue: the next run goes on CoordinatorTaskQueue
	// (ChangeLaneOwnTaskQueue).
	ownQueue bool
	// takesBatches says whether the lane reads PairBatchSignal
	// (ChangeLaneTakesBatches, asked when the first batch comes): 0 not
	// asked yet, 1 yes, -1 no.
	takesBatches int8
	// holdsRecords says whether a batch claims the record a newcomer's
	// decision writes in owners, and whether a person waits while their
	// known record is in flight for someone else (ChangeLaneHoldsRecords,
	// asked when it first matters): 0 not asked yet, 1 yes, -1 no.
	holdsRecords int8
	// unbegunWrites says whether the people of a Write that failed before
	// it began try again at once rather than wait out the commit horizon
	// (ChangeUnbegunWrites, asked when such a failure first happens): 0
	// not asked yet, 1 yes, -1 no.
	unbegunWrites int8
	// refillsAhead: the lane asks its queue for as many people as it has
	// room for, answered in several refills one after the other
	// (ChangeQueueRefillsAhead).
	refillsAhead bool
	// handed is set (commitsHands) once the lane handed people to its
	// queue since its last commitSignals; answered (commitsAnswers) once it
	// answered requesters.
	handed, answered bool
	// commitsAnswers: answers are recorded before the run continues as new
	// (ChangeLaneCommitsAnswers).
	commitsAnswers bool
	lookups        []*workflow.CancelFunc
	// bounded: old writes fade into summaries instead of being forgotten,
	// and the continue-as-new input is kept within laneInputBudget
	// (ChangeLaneBoundedInput).
	bounded bool
	// closing: the run is handing people to its queue to continue as new
	// within laneInputBudget; it asks the queue for nobody.
	closing bool
	// replies and reads bound the signals to requesters and the fresh
	// reads outstanding across the batches in flight (bounded).
	replies, reads pending
	// reset says the run was reset from another (runWasReset): it trusts
	// no ledger filter. asked counts the keys this run asked the ledger
	// about (LaneStatus.LedgerAsked). Neither is carried on.
	reset bool
	asked int
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

// takeSignals takes what was signalled: the queue's refills, then the requests
// (handing to the queue whoever the lane cannot hold), and asks the queue
// for more when there is room.
func (l *lane) takeSignals(ctx workflow.Context, requests laneInbox, refills workflow.ReceiveChannel) {
	l.refill(ctx, refills)
	fresh := l.receive(ctx, requests)
	l.spill(ctx, fresh)
	l.askRefill(ctx)
}

func (l *lane) status() (LaneStatus, error) {
	s := LaneStatus{
		Lane: l.n, Waiting: len(l.st.Items), PausedUntil: l.st.PausedUntil,
		Remembered: len(l.st.Written), MemorySince: l.st.MemorySince, FadedSince: l.st.FadedSince,
		Counts: l.st.Counts, LastError: l.st.LastError,
	}
	for _, f := range l.st.Faded {
		s.Faded += f.N
	}
	s.LedgerAsked = l.asked
	for object, f := range l.st.Ledgers {
		if f.vouches() && !l.reset {
			if s.LedgerVouched == nil {
				s.LedgerVouched = map[string]int{}
			}
			s.LedgerVouched[object] = f.Keys
		}
	}
	if l.st.Queue != nil {
		s.Queued = l.st.Queue.Queued
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
			delete(l.busy, it.who())
			if k := b.keys[it]; k != "" {
				delete(l.busy, idKey(k))
			}
			if org := b.orgs[it]; org != "" {
				delete(l.busy, org)
			}
			l.release(ctx, b, it)
		}
	}()
	r := &laneRun{lane: l, b: b, outcomes: make([]laneOutcome, len(b.items))}
	for i, it := range b.items {
		r.outcomes[i].it = it
	}
	defer func() {
		for _, id := range r.claimed {
			delete(l.owners, id)
		}
	}()
	r.pair(ctx)
	r.remember(ctx)
	l.settle(ctx, r)
}

// release lets go of the record person it of batch b held in owners. It
// is the one they were known by when the batch was taken; runs from
// before ChangeLaneHoldsRecords let go of the one they are known by at the
// end instead, and a person the batch paired with another record (a move
// away from a shared record, a merge followed) left the first held until
// the run ended: nobody could take it meanwhile.
func (l *lane) release(ctx workflow.Context, b *batch, it *LaneItem) {
	now := normalID(l.knownRecord(&b.spec, it))
	if now != "" && l.owners[now] == it.who() {
		delete(l.owners, now)
	}
	if took := b.owned[it]; took != now && l.owners[took] == it.who() && askedOnce(ctx, &l.holdsRecords, ChangeLaneHoldsRecords) {
		delete(l.owners, took)
	}
}

// laneRun is one batch's work.
type laneRun struct {
	*lane
	// ctx is the batch's context, for a version a decision asks
	// (editedWithin).
	ctx      workflow.Context
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
	// ledger is set in runs that follow people through the identity ledger
	// (ChangeIdentityLedger), for specs without an external id.
	ledger bool
	// recalled are the records the ledger holds for the batch's people, by
	// slug; ledgerOwners the people it holds paired with the records
	// their identifiers found, by record; learnt the pairings to write
	// into it.
	recalled map[string]string
	// unsure are the people, by index, whose fresh read waits until the
	// lookup shows they would be written (readsLate).
	unsure       map[int]bool
	ledgerOwners map[string][]string
	learnt       []Pairing
	// filter is the lane's filter of the batch's object's ledger, nil
	// when it has none (ledgerFilter).
	filter *LedgerFilter
	// claimed are the records the batch holds in lane.owners because the
	// ledger named them.
	claimed []string
}

func (r *laneRun) trigger(it *LaneItem) pairing.Trigger { return r.st.Requests[it.Request].Trigger }

// answer settles outcome i with a result; a person decided and written
// (or found up to date) carries when, for the order of write-backs.
func (r *laneRun) answer(i int, res UserSyncResult) {
	res.Slug = r.b.items[i].Profile.Slug
	switch res.Outcome {
	case OutcomeCreated, OutcomeUpdated, OutcomeUnchanged:
		if w, ok := r.st.Written[r.b.items[i].who()]; ok {
			res.DecidedAt = w[1]
		}
	}
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

// commitSignals ends the workflow task in which the lane, on its way out,
// handed people to its queue (commitsHands) or answered requesters
// (commitsAnswers): the task that continues as new is refused when a
// signal arrives meanwhile, and its local activities would run again on
// the retry (handings with other people under the same batch IDs;
// answers to requesters that had ended meanwhile); a timer's task records
// them first.
func (l *lane) commitSignals(ctx workflow.Context) {
	l.handed, l.answered = false, false
	if l.wakes.prompt && !l.wakes.failed {
		l.wakeNow(ctx)
		return
	}
	_ = workflow.Sleep(ctx, time.Millisecond)
}

// yieldLookupsAt is how many events a run due to continue as new may
// reach before it cancels its lookups in flight (ChangeLaneYieldsLookups):
// well past the server's suggestion to continue as new (about 4,000), so
// that a healthy lookup finishes first, and well short of 10,000.
const yieldLookupsAt = 7000

// yieldLookups cancels the lookups in flight; their people wait again, and
// the lookups of batches still on their way there give way at once.
func (l *lane) yieldLookups() {
	l.yielding = true
	for _, cancel := range l.lookups {
		(*cancel)()
	}
}

// laneLookupOptions bounds a lane's lookups: retried through transient
// faults for a while, then the people wait and try again.
func laneLookupOptions(ctx workflow.Context) workflow.ActivityOptions {
	o := salesforceOptions(ctx)
	o.ScheduleToCloseTimeout = 10 * time.Minute
	o.HeartbeatTimeout = laneHeartbeat
	// The lane's people wait on it: try again soon rather than far apart.
	o.RetryPolicy.MaximumInterval = 10 * time.Second
	return o
}

// laneHeartbeat is how soon a lane notices that the worker running one of
// its activities died, or never got its task: the activities heartbeat
// while they call Salesforce. It was 10 s until a 100-integration run on
// one loaded 2-core machine had a write with neither a heartbeat nor its
// completion within 10 s of its start, then taken for a slow heartbeat;
// it was most likely a task lost on its way to the worker, as measured
// since (docs/reliability.md), which a Write's beginning now tells apart
// (activities.WriteBegun): such a write is retried, not in doubt.
const laneHeartbeat = 30 * time.Second

// laneWriteOptions makes a lane's writes single attempts: only the lane
// may decide to write again (see activities.Salesforce.Write).
func laneWriteOptions(ctx workflow.Context) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:           namesOf(ctx).TaskQueue(),
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
