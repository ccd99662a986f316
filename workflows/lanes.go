package workflows

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// Pairing lanes are where every write to Salesforce happens. Each person
// (an Award Force slug) belongs to exactly one lane, a long-running
// PairingLane workflow, and every sync of that person, whatever started it
// (a webhook, starter sync or retry, a backfill chunk, a scheduled
// backfill), hands the person's profile to that lane and waits for the
// outcome. A lane looks up, decides and writes for many people at once
// (SOQL IN, sObject Collections), but never for the same person, nor for
// the same identifier, twice at the same moment, and never writes an older
// version of a person over a newer one. That is what keeps each person to
// exactly one CRM record holding their latest values, whatever runs at the
// same time.

// LaneCount is how many lanes share the people. A person's lane follows
// from the slug alone, so the count must stay the same while syncs run:
// changing it would put one person in two lanes for a while (and it is
// workflow code: see versions.go). One lane batches best (every burst and
// every chunk meet in its batches) and runs up to four batches of 400 at
// once, far more than Award Force's 60 requests a minute can feed; the
// measurements are in docs/benchmarks.md.
const LaneCount = 1

// LaneWorkflowID names the default integration's lane n (Names.Lane:
// another's).
func LaneWorkflowID(n int) string { return DefaultNames.Lane(n) }

// LaneOf is the lane of the person with the given slug.
func LaneOf(slug string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(slug))
	return int(h.Sum32() % LaneCount)
}

// Signal and query names of the lanes.
const (
	// PairSignal carries a PairRequest to a lane.
	PairSignal = "pair"
	// PairedSignal carries a PairReply back to the workflow that asked.
	PairedSignal = "paired"
	// LaneQuery answers a LaneStatus.
	LaneQuery = "lane"
	// LaneDecidedQuery answers, for a slug, when the lane last decided the
	// person (Unix seconds; 0 when it does not remember).
	LaneDecidedQuery = "decided"
)

// PairRequest asks a lane to pair some of its people.
type PairRequest struct {
	// ID is unique per request: the requester's workflow and run IDs and a
	// sequence number. A lane ignores a request it already holds.
	ID string `json:"id"`
	// ReplyTo and ReplyRun name the requester's run; the lane signals
	// PairedSignal to it as outcomes are known.
	ReplyTo  string `json:"reply_to"`
	ReplyRun string `json:"reply_run"`
	// Spec is the requester's pairing spec.
	Spec pairing.Spec `json:"spec"`
	// Trigger selects the spec's options, as in UserSync.
	Trigger pairing.Trigger `json:"trigger"`
	// Items are the people to pair.
	Items []PairItem `json:"items"`
	// Integration is the dependent integration the people are of (set by
	// Submit), "" for the lane's own: a lane knows its people by
	// (integration, slug), and reads them again with that integration's
	// Award Force key.
	Integration string `json:"integration,omitempty"`
}

// PairItem is one person to pair: the profile as read from Award Force.
type PairItem struct {
	Profile pairing.Profile `json:"profile"`
	// ReadAt is no later than the moment the profile was read: a lane only
	// trusts a profile it can compare with every write made since.
	ReadAt time.Time `json:"read_at"`
	// RecordID is a record the person is known to be paired with (a change
	// the CRM watch saw on it), followed through merges.
	RecordID string `json:"record_id,omitempty"`
	// LastSynced is when the person was last paired, when known: it tells
	// which side changed a both pair since.
	LastSynced time.Time `json:"last_synced,omitzero"`
	// LastVersion is the Award Force version the person was last paired
	// on, when known.
	LastVersion time.Time `json:"last_version,omitzero"`
	// LastDigest is the ProfileDigest of what was paired at LastVersion,
	// when known.
	LastDigest uint32 `json:"last_digest,omitempty"`
	// Deleted says the user no longer exists in Award Force (Profile holds
	// the slug alone): the spec's awardforce_deletions applies.
	Deleted bool `json:"deleted,omitempty"`
}

// PairReply carries outcomes of a request, as they become known: a lane
// may answer a request's people in several replies.
type PairReply struct {
	Request string           `json:"request"`
	Results []UserSyncResult `json:"results"`
	// Calls is this reply's share of the Salesforce calls its batch cost.
	Calls float64 `json:"calls,omitempty"`
	// Queued says the request's people wait in the lane's queue (it carries
	// no results): the requester waits for them without handing them again.
	Queued bool `json:"queued,omitempty"`
}

// LaneSettings are the worker's settings that lanes run with; a lane reads
// them at the start of each run.
type LaneSettings struct {
	// CommitHorizon is how long Salesforce may go on with a request after
	// its client gave up (SALESFORCE_COMMIT_HORIZON): a person whose write
	// has no known outcome waits this long before the lane looks again.
	CommitHorizon time.Duration `json:"commit_horizon"`
	// MaxBatch is the most people one batch holds (400: two Collections
	// calls of creates, two of updates, at most).
	MaxBatch int `json:"max_batch"`
	// Gather is how long a lane waits for more people, after the first
	// arrives, before it starts a batch that is not full (DefaultGather): a
	// burst of registrations goes in a few calls, not one a person.
	Gather time.Duration `json:"gather"`
	// MaxGather bounds that wait during a steady stream (DefaultMaxGather).
	MaxGather time.Duration `json:"max_gather"`
	// Concurrency is how many batches a lane runs at once.
	Concurrency int `json:"concurrency"`
	// QuotaPause is how long a lane pauses once Salesforce says the org's
	// daily allocation is spent (activities.QuotaRetryDelay by default):
	// its people wait, they are not failed.
	QuotaPause time.Duration `json:"quota_pause"`
	// BatchesPerRun is how many batches a lane runs before it continues as
	// new (batchesPerRun by default), which keeps its history short; it
	// also continues as new when the server suggests it.
	BatchesPerRun int `json:"batches_per_run"`
	// Hold is how many waiting people a lane holds itself (DefaultLaneHold);
	// more wait in its queue (see LaneQueue). QueueSegment is how many one
	// queue workflow holds (DefaultQueueSegment), Refill how many go into
	// or come out of the queue at a time (DefaultRefill).
	Hold         int `json:"hold,omitempty"`
	QueueSegment int `json:"queue_segment,omitempty"`
	Refill       int `json:"refill,omitempty"`
	// PromptWakes makes a lane wait less than promptWakeMax (the end of a
	// gathering, a retry's backoff) for a WakeAt activity instead of a
	// timer, and end the task before it continues as new with one: the
	// server fires a timer up to its history.timerProcessorMaxTimeShift
	// (one second by default) late, which made every gathering of 250 ms
	// one of about a second. The worker sets it; left unset (as in the
	// workflow unit tests, whose clock only timers move) a lane keeps its
	// timers.
	PromptWakes bool `json:"prompt_wakes,omitempty"`
}

// Defaults of LaneSettings.
const (
	DefaultCommitHorizon   = 10 * time.Minute
	DefaultLaneConcurrency = 4
	// DefaultGather keeps a lone sync's wait short while bursts batch.
	DefaultGather = 250 * time.Millisecond
	// DefaultMaxGather keeps the first of a burst within seconds of
	// Salesforce while the burst goes in a few calls.
	DefaultMaxGather = 10 * time.Second
)

// withDefaults fills what s leaves unset.
func (s LaneSettings) withDefaults() LaneSettings {
	if s.CommitHorizon <= 0 {
		s.CommitHorizon = DefaultCommitHorizon
	}
	if s.MaxBatch <= 0 || s.MaxBatch > maxBatch {
		s.MaxBatch = maxBatch
	}
	if s.Concurrency <= 0 {
		s.Concurrency = DefaultLaneConcurrency
	}
	if s.Gather == 0 {
		s.Gather = DefaultGather
	}
	if s.Gather < 0 {
		s.Gather = 0
	}
	if s.MaxGather <= 0 {
		s.MaxGather = DefaultMaxGather
	}
	if s.MaxGather < s.Gather {
		s.MaxGather = s.Gather
	}
	if s.QuotaPause <= 0 {
		s.QuotaPause = activities.QuotaRetryDelay
	}
	if s.BatchesPerRun <= 0 {
		s.BatchesPerRun = batchesPerRun
	}
	if s.Hold <= 0 {
		s.Hold = DefaultLaneHold
	}
	if s.QueueSegment <= 0 {
		s.QueueSegment = DefaultQueueSegment
	}
	if s.Refill <= 0 {
		s.Refill = DefaultRefill
	}
	s.Refill = min(s.Refill, s.Hold, s.QueueSegment)
	return s
}

// LaneStatus is a lane's answer to LaneQuery.
type LaneStatus struct {
	Lane int `json:"lane"`
	// Waiting counts people waiting for a batch; InFlight those in one.
	Waiting  int `json:"waiting"`
	InFlight int `json:"in_flight"`
	// InDoubt counts people whose last write has no known outcome; they
	// wait for the commit horizon.
	InDoubt int `json:"in_doubt"`
	// Queued counts people waiting in the lane's queue, beyond what the
	// lane holds itself.
	Queued int `json:"queued,omitempty"`
	// PausedUntil is set while a spent Salesforce allocation pauses the lane.
	PausedUntil time.Time `json:"paused_until,omitzero"`
	// Remembered counts the people whose last written version the lane
	// remembers; it remembers every write since MemorySince.
	Remembered  int       `json:"remembered"`
	MemorySince time.Time `json:"memory_since"`
	// Faded counts the writes before MemorySince the lane keeps in
	// summaries (see FadedWrites), since FadedSince.
	Faded      int       `json:"faded,omitempty"`
	FadedSince time.Time `json:"faded_since,omitzero"`
	// LedgerVouched counts, by object (lower case), the keys the lane's
	// filter holds of each identity ledger it began and still vouches for
	// (ledger_filter.go): it asks visibility about those keys only.
	LedgerVouched map[string]int `json:"ledger_vouched,omitempty"`
	// LedgerAsked counts the people and records this run of the lane
	// asked the identity ledger about.
	LedgerAsked int        `json:"ledger_asked"`
	Counts      LaneCounts `json:"counts"`
	// LastError is the last transient fault the lane met, for ops.
	LastError string `json:"last_error,omitempty"`
}

// LaneCounts tallies what a lane did since it started.
type LaneCounts struct {
	Batches int `json:"batches"`
	Counts
	// Superseded counts profiles not written because a newer version of the
	// person was already written.
	Superseded int `json:"superseded"`
	// Retried counts people put back after a transient fault.
	Retried int `json:"retried"`
	// Doubted counts writes whose outcome was unknown.
	Doubted int `json:"doubted"`
	// FreshReads counts profiles read again from Award Force because they
	// were older than the lane's memory.
	FreshReads int `json:"fresh_reads"`
	// EditsUnderWrites counts records someone edited in Salesforce between
	// the lane's read and its write: each was handed on as a CRM change.
	EditsUnderWrites int `json:"edits_under_writes"`
	// LedgerNotAsked counts the people and records the lane's filter
	// vouched no ledger page holds: not asked about, except in a run reset
	// from the UI, which asks about everyone (LaneStatus.LedgerAsked) but
	// counts alike so that its state stays its replay's.
	LedgerNotAsked int `json:"ledger_not_asked,omitempty"`
}

// Coordinator holds what the coordinating workflows (the pairing lanes and
// the Award Force budget) and the workflows that ask them need from the
// worker: the Temporal client (an asker starts a lane or the budget, or
// signals the running one) and the worker's settings. Register one
// instance with the worker; its methods are local activities.
type Coordinator struct {
	Client client.Client
	// Names are the names of the integration whose worker this is.
	Names Names
	// Settings are the lanes' settings.
	Settings LaneSettings
	// AwardForceRatePerMinute is the fleet-wide Award Force budget (0: no
	// limit).
	AwardForceRatePerMinute float64

	// intake gathers the requests handed to each lane while a signal to it
	// is under way (see lane_intake.go).
	intake intake
	// ledger is how full the identity ledger's pages can be (ledger_fit.go).
	ledger ledgerFit
	// claims are the ledger claims known to exist, by ID (ensureClaim).
	claims sync.Map
}

// Submit hands req to lane n, starting the lane if it does not run. The
// requests a process hands to one lane while its previous signal there is
// under way go together in one signal (lane_intake.go); Submit returns once
// the signal carrying req is accepted.
func (l *Coordinator) Submit(ctx context.Context, n int, req PairRequest) error {
	if l.Names.Dependent() {
		req.Integration = l.Names.Integration()
	}
	return l.intake.hand(ctx, n, req, l.signalLane)
}

// CurrentSettings returns the worker's lane settings.
func (l *Coordinator) CurrentSettings(context.Context) (LaneSettings, error) {
	return l.Settings.withDefaults(), nil
}

// WakeAt returns at the server's moment at (at once if it has passed): a
// lane's prompt wake (LaneSettings.PromptWakes).
func (l *Coordinator) WakeAt(ctx context.Context, at time.Time) error {
	return activities.AwaitMoment(ctx, at)
}

// RequestPermits asks the Award Force budget for req's permits, starting
// the budget if it does not run.
func (l *Coordinator) RequestPermits(ctx context.Context, req PermitRequest) error {
	n := l.Names.of(req.Integration)
	opts := n.coordinatorOptions(n.Budget(), "Award Force budget: every Award Force request of the fleet, within the per-key limit")
	_, err := l.Client.SignalWithStartWorkflow(ctx, opts.ID, PermitSignal, req, opts, AwardForceBudget, BudgetInput{})
	return err
}

// CurrentBudget returns the fleet-wide Award Force budget's settings.
func (l *Coordinator) CurrentBudget(context.Context) (BudgetSettings, error) {
	return BudgetSettings{RatePerMinute: l.AwardForceRatePerMinute}.withDefaults(), nil
}

// coordinatorOptions starts a coordinating workflow of the integration n on
// its coordinator task queue, or joins the running one (wherever it runs).
// A lane and its queue are the org's (n.lanes()), whoever starts them.
func (n Names) coordinatorOptions(id, summary string) client.StartWorkflowOptions {
	o := n.StartOptions(id, 0) // for good
	o.TaskQueue, o.StaticSummary = n.CoordinatorTaskQueue(), n.Summary(summary)
	return o
}

// SyncStartedSince reports whether the user's sync (UserSync) last
// started at or after since: its decision is newer than one made before.
// No sync of the user at all is false.
func (l *Coordinator) SyncStartedSince(ctx context.Context, slug string, since time.Time) (bool, error) {
	d, err := l.Client.DescribeWorkflowExecution(ctx, l.Names.UserSync(slug), "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return !d.GetWorkflowExecutionInfo().GetStartTime().AsTime().Before(since), nil
}

// DecidedSince reports whether the person's lane decided them after the
// second at (LaneDecidedQuery): a write-back of the decision made at at
// is older than that newer decision's, which writes back instead.
//
// A lane remembers for a while only (memoryWindow, memoryCap). When it
// does not remember the person and its memory begins after at, a newer
// decision may have been forgotten: then a sync of the person (UserSync)
// that started after that second tells, since the lane decided it later.
// A lane that remembers every decision since at and none of the person is
// false.
func (l *Coordinator) DecidedSince(ctx context.Context, slug string, at int64) (bool, error) {
	lane := l.Names.Lane(LaneOf(slug))
	var last int64
	if err := l.query(ctx, lane, &last, LaneDecidedQuery, l.Names.Person(slug)); err != nil {
		return false, err
	}
	if last != 0 {
		return last > at, nil
	}
	var st LaneStatus
	if err := l.query(ctx, lane, &st, LaneQuery); err != nil {
		return false, err
	}
	if st.MemorySince.Unix() <= at {
		return false, nil
	}
	return l.SyncStartedSince(ctx, slug, time.Unix(at+1, 0))
}

// query asks the running workflow id's query and decodes its answer into out.
func (l *Coordinator) query(ctx context.Context, id string, out any, query string, args ...any) error {
	v, err := l.Client.QueryWorkflow(ctx, id, "", query, args...)
	if err != nil {
		return err
	}
	return v.Get(out)
}
