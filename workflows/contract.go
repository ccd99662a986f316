// Package workflows holds afsync's Temporal workflows and their contract:
// task queues, workflow IDs, search attributes, inputs and results. The
// worker and the starter CLI import these names; none is typed twice.
//
// The workflows:
//
//	UserSync          one user's sync: read, hand to the lane, write back
//	Backfill          every user, chunk by chunk (BackfillChunk: pages of
//	                  users read and handed to the lanes, then written back)
//	PairingLane       every Salesforce write, one batch at a time, one
//	                  person in flight at a time; lane.go draws the states a
//	                  person goes through and maps the lane's files
//	LaneQueue         the people beyond what a lane holds, in segments
//	AwardForceBudget  every Award Force request of the fleet, within the
//	                  key's limit
//	CRMWatch          changes made in Salesforce, handed on as syncs
//	CountUsers        a backfill's estimate; ResolveUser and ResolveRole
//	                  the starter's look-ups
//
// Every change to them follows the versioning policy in versions.go.
package workflows

import (
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// Task queues. Award Force activities have a queue of their own (their
// pace is the Award Force budget's, AwardForceBudget: 60 requests a minute
// per API key for the whole fleet); the coordinating workflows (lanes,
// their queues, the budget) have theirs, so that their workflow tasks never
// wait behind the fleet's; other workflows and Salesforce activities share
// the main queue.
const (
	// TaskQueue carries workflow tasks and Salesforce activities.
	TaskQueue = "afsync"
	// AwardForceTaskQueue carries only Award Force activities.
	AwardForceTaskQueue = "afsync-awardforce"
	// CoordinatorTaskQueue carries the workflow tasks of the lanes, their
	// queue segments and the Award Force budget. A lane's task that is
	// refused (a continue-as-new with a signal arriving meanwhile) loses
	// its worker's cache and goes to the task queue: on the main one it
	// waited 46 s behind 6,000 webhooks' syncs, every write of the fleet
	// stopped meanwhile.
	CoordinatorTaskQueue = "afsync-coordinators"
)

// Search attributes that afsync sets on its workflows so that ops can filter
// syncs in the Temporal UI (for example `AfsyncOutcome = "failed"`). The
// worker registers them on its namespace at start.
var (
	// OutcomeKey is the outcome of a user sync (see Outcome).
	OutcomeKey = temporal.NewSearchAttributeKeyKeyword("AfsyncOutcome")
	// RecordIDKey is the Salesforce record id a user is paired with.
	RecordIDKey = temporal.NewSearchAttributeKeyKeyword("AfsyncRecordId")
	// FailedUsersKey lists, on a backfill chunk, the slugs of the users it
	// failed to pair (`AfsyncFailedUsers = "AbCdEfGh"` finds the chunk holding
	// that user's audit), at most MaxSlugsPerAttribute of them.
	FailedUsersKey = temporal.NewSearchAttributeKeyKeywordList("AfsyncFailedUsers")
	// AmbiguousUsersKey lists, on a backfill chunk, the slugs of the users
	// whose identifier matched several records.
	AmbiguousUsersKey = temporal.NewSearchAttributeKeyKeywordList("AfsyncAmbiguousUsers")
	// LedgerKey lists, on an identity ledger page (LedgerPage), its people
	// ("s:" + slug) and their records ("r:" + 18-character id):
	// `AfsyncLedger = "s:AbCdEfGh"` finds the pages that pair that user.
	// It is the third KeywordList, the most SQL visibility allows.
	LedgerKey = temporal.NewSearchAttributeKeyKeywordList("AfsyncLedger")
	// IntegrationKey is the id of the integration a workflow works for
	// ("default" without a registry), on every workflow afsync starts:
	// `AfsyncIntegration = "grants"` lists one integration's syncs,
	// backfills, lanes, budget, CRM watch and ledger pages. Workflows
	// started before it existed lack it; their task queue
	// (`TaskQueue = "afsync-grants"`) selects them too.
	IntegrationKey = temporal.NewSearchAttributeKeyKeyword("AfsyncIntegration")
)

// MemoIntegration is the memo key holding the id of the integration a
// workflow works for (IntegrationKey), shown with the workflow in the UI.
const MemoIntegration = "afsync_integration"

// MaxSlugsPerAttribute keeps a slug list within the server's 2 KB limit on
// one search attribute value; the chunk's result always lists every user.
const MaxSlugsPerAttribute = 100

// SearchAttributeKeys lists every custom search attribute afsync uses.
func SearchAttributeKeys() []temporal.SearchAttributeKey {
	return []temporal.SearchAttributeKey{OutcomeKey, RecordIDKey, FailedUsersKey, AmbiguousUsersKey, LedgerKey, IntegrationKey}
}

// Outcome is what a user sync ended with, as shown in the UI's search
// attribute and in the starter's output.
type Outcome string

// Outcomes of a user sync.
const (
	OutcomeCreated   Outcome = "created"
	OutcomeUpdated   Outcome = "updated"
	OutcomeUnchanged Outcome = "unchanged"
	OutcomeSkipped   Outcome = "skipped"
	OutcomeAmbiguous Outcome = "ambiguous"
	OutcomeFailed    Outcome = "failed"
)

// Outcomes lists every outcome, in the order reports show them.
var Outcomes = []Outcome{OutcomeCreated, OutcomeUpdated, OutcomeUnchanged, OutcomeSkipped, OutcomeAmbiguous, OutcomeFailed}

// UserSyncWorkflowID is the workflow ID of the sync of one Award Force user.
// It is derived from the slug, never from the email, so that no PII shows in
// workflow lists.
// These are the default integration's; Names.UserSync gives another's.
func UserSyncWorkflowID(slug string) string { return DefaultNames.UserSync(slug) }

// StartOptions starts (or joins) the workflow with the given ID on the
// default integration's task queue (Names.StartOptions: another's).
func StartOptions(id string, timeout time.Duration) client.StartWorkflowOptions {
	return DefaultNames.StartOptions(id, timeout)
}

// StartOptions starts (or joins) the workflow with the given ID on the
// integration's task queue: a workflow of that ID already running is
// joined rather than started twice; a finished one may run again.
func (n Names) StartOptions(id string, timeout time.Duration) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                n.TaskQueue(),
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowExecutionTimeout: timeout,
		TypedSearchAttributes:    n.SearchAttributes(),
		Memo:                     n.Memo(nil),
	}
}

// Bounds on whole executions, for StartOptions.
const (
	UserSyncTimeout    = 96 * time.Hour
	ResolveUserTimeout = 10 * time.Minute
	// BackfillTimeout bounds a backfill across all its runs: long enough for
	// a million users at Award Force's rate with profile fields (one request
	// a user: about 12 days), with margin.
	BackfillTimeout = 30 * 24 * time.Hour
)

// UserSyncInput starts a UserSync workflow. A single struct keeps later
// additions backward compatible.
type UserSyncInput struct {
	// Slug is the Award Force user's slug.
	Slug string `json:"slug"`
	// Trigger says why the sync runs; it selects which of the spec's options apply.
	Trigger pairing.Trigger `json:"trigger"`
	// Spec is the pairing spec to apply. It travels in the input so that the
	// history records exactly what a sync was asked to do.
	Spec pairing.Spec `json:"spec"`
	// Profile is the user as a webhook's signed payload carried it, with
	// its `updated` time: when it holds every field the spec reads, the sync
	// makes no Award Force request. Nil: the sync reads the user.
	Profile *pairing.Profile `json:"profile,omitempty"`
	// RecordID is the record a CRM change was seen on: the lane reads it by
	// id (following a merge to its survivor).
	RecordID string `json:"record_id,omitempty"`
	// LastSynced is when the user's last sync paired, when known
	// (MemoSyncedAt).
	LastSynced time.Time `json:"last_synced,omitzero"`
	// LastVersion is the Award Force version the user's last sync paired,
	// when known (MemoSyncedVersion).
	LastVersion time.Time `json:"last_version,omitzero"`
	// LastDigest is the ProfileDigest of what that sync paired at
	// LastVersion (0 when unknown): a profile of the same version with
	// other values was edited within that second.
	LastDigest uint32 `json:"last_digest,omitempty"`
}

// ResyncSignal is the name of the signal that tells a running UserSync the
// user changed again (a webhook arrived while it ran). Changes signalled
// before the sync reads the profile are in that pass; a signal after it
// makes the sync continue as new for another pass, so no edit is lost.
// Senders use SignalWithStart: a user with no sync running gets one.
const ResyncSignal = "resync"

// Resync is ResyncSignal's payload.
type Resync struct {
	// Trigger is the new change's trigger; the next pass runs with it.
	Trigger pairing.Trigger `json:"trigger"`
	// Profile is the new version, when a webhook carried it; a signal whose
	// version is not newer than the pass's starts no other pass.
	Profile *pairing.Profile `json:"profile,omitempty"`
	// RecordID is the record a CRM change was seen on.
	RecordID string `json:"record_id,omitempty"`
}

// MemoSyncedVersion is the memo key where a successful UserSync records the
// version (Award Force's `updated`, Unix seconds) it paired: a webhook that
// replays that version later starts nothing.
const MemoSyncedVersion = "afsync_synced_version"

// MemoSyncedAt is the memo key where a successful UserSync records when it
// paired (Unix seconds): the next sync of the user tells from it which side
// changed a both pair since.
const MemoSyncedAt = "afsync_synced_at"

// MemoSyncedDigest is the memo key where a successful UserSync records a
// digest of the values it paired at MemoSyncedVersion (ProfileDigest): a
// webhook of that version with other values is an edit made within the
// same second, not a replay.
const MemoSyncedDigest = "afsync_synced_digest"

// UserSyncResult is the audit record of one user sync.
type UserSyncResult struct {
	// Slug is the Award Force user's slug.
	Slug string `json:"slug"`
	// Outcome summarises what happened.
	Outcome Outcome `json:"outcome"`
	// Decision is what Decide chose, with every field's before → after.
	Decision pairing.Decision `json:"decision"`
	// RecordID is the paired Salesforce record, when there is one.
	RecordID string `json:"record_id,omitempty"`
	// Error is Salesforce's or Award Force's own message when a write failed.
	Error string `json:"error,omitempty"`
	// ErrorType classifies Error (one of the activities.ErrType* names):
	// a fatal type (a rejected key, a spec the org refutes, the API off for
	// the org) stops a backfill.
	ErrorType string `json:"error_type,omitempty"`
	// DecidedAt is when the lane decided the person (Unix seconds, the
	// lane's clock), for the order of write-backs
	// (ChangeWriteBacksFollowTheLane); 0 when it did not decide them.
	DecidedAt int64 `json:"decided_at,omitempty"`
}

// BackfillWorkflowID names the default integration's backfill of a spec:
// one at a time per spec, so that a second start attaches to the running
// one. A dry run has its own. Names.Backfill names another integration's.
func BackfillWorkflowID(spec *pairing.Spec, dryRun bool) string {
	return DefaultNames.Backfill(spec, dryRun)
}

// ChunkWorkflowID names one chunk of a backfill; chunks are numbered from 1
// across continue-as-new, so the starter can read every chunk's audit.
func ChunkWorkflowID(backfillID string, seq int) string {
	return fmt.Sprintf("%s/chunk-%05d", backfillID, seq)
}

// MetricUserSyncs counts finished user syncs, tagged with their outcome and
// trigger (in Prometheus: afsync_user_syncs_total). A backfill counts its
// users as its chunks finish; dry runs write nothing and are not counted.
// Workflows record it through the SDK's replay-aware metrics handler, so a
// replay never counts a sync twice.
const MetricUserSyncs = "afsync_user_syncs"

// MetricAwardForcePermitWait times how long each Award Force request waited
// for its permit from the budget, tagged with its class (in Prometheus:
// afsync_awardforce_permit_wait_seconds): long waits mean the fleet's
// requests outrun Award Force's limit.
const MetricAwardForcePermitWait = "afsync_awardforce_permit_wait"

// ProgressQuery is the name of the backfill's query that returns a Progress.
const ProgressQuery = "progress"

// UserFilter narrows the Award Force user list to the filters GET /user
// supports (there is no email or updated-since filter).
type UserFilter = activities.UserFilter

// BackfillInput starts (or continues, after continue-as-new) a backfill.
type BackfillInput struct {
	Spec   pairing.Spec `json:"spec"`
	Filter UserFilter   `json:"filter"`
	// Limit stops after this many users; 0 means all.
	Limit int `json:"limit,omitempty"`
	// DryRun decides every user but writes nothing; the plan is in the chunks' results.
	DryRun bool `json:"dry_run,omitempty"`
	// PagesPerChunk is how many Award Force pages (100 users each) one chunk
	// handles; larger chunks mean fewer Salesforce calls. Default 5.
	PagesPerChunk int `json:"pages_per_chunk,omitempty"`
	// Concurrency is how many chunks run at once. Default 4.
	Concurrency int `json:"concurrency,omitempty"`
	// ChunksPerRun bounds one run's history: after this many chunks the
	// workflow continues as new. Default 20.
	ChunksPerRun int `json:"chunks_per_run,omitempty"`
	// PairEvery is how many users a chunk reads the profile fields of
	// (one Award Force request a user, when the spec maps profile fields)
	// before it hands them to the pairing lanes: smaller shows records
	// sooner for more Salesforce calls. Default DefaultPairEvery.
	PairEvery int `json:"pair_every,omitempty"`
	// State carries progress across continue-as-new; nil on the first run.
	State *BackfillState `json:"state,omitempty"`
}

// BackfillState is what a backfill carries from one run to the next.
type BackfillState struct {
	// NextPage is the next Award Force page to hand to a chunk.
	NextPage int `json:"next_page"`
	// NextSeq is the next chunk's number.
	NextSeq int `json:"next_seq"`
	// LastPage is the last Award Force page the backfill covers.
	LastPage int      `json:"last_page"`
	Progress Progress `json:"progress"`
}

// Counts tallies user outcomes.
type Counts struct {
	Seen      int `json:"seen"`
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Skipped   int `json:"skipped"`
	Ambiguous int `json:"ambiguous"`
	Failed    int `json:"failed"`
	// SalesforceCalls and AwardForceCalls are the API requests the chunks made.
	SalesforceCalls int `json:"salesforce_calls"`
	AwardForceCalls int `json:"award_force_calls"`
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Seen += o.Seen
	c.Created += o.Created
	c.Updated += o.Updated
	c.Unchanged += o.Unchanged
	c.Skipped += o.Skipped
	c.Ambiguous += o.Ambiguous
	c.Failed += o.Failed
	c.SalesforceCalls += o.SalesforceCalls
	c.AwardForceCalls += o.AwardForceCalls
}

// Count tallies one outcome.
func (c *Counts) Count(o Outcome) {
	c.Seen++
	if n := c.of(o); n != nil {
		*n++
	}
}

// Of is how many users ended with outcome o.
func (c Counts) Of(o Outcome) int {
	if n := c.of(o); n != nil {
		return *n
	}
	return 0
}

// of points at o's tally, or is nil for an unknown outcome.
func (c *Counts) of(o Outcome) *int {
	switch o {
	case OutcomeCreated:
		return &c.Created
	case OutcomeUpdated:
		return &c.Updated
	case OutcomeUnchanged:
		return &c.Unchanged
	case OutcomeSkipped:
		return &c.Skipped
	case OutcomeAmbiguous:
		return &c.Ambiguous
	case OutcomeFailed:
		return &c.Failed
	}
	return nil
}

// Failure is one user a backfill could not pair, with the API's own message.
type Failure struct {
	Slug  string `json:"slug"`
	Error string `json:"error"`
}

// MaxReportedFailures bounds the failures a backfill keeps in its progress;
// every failure stays in its chunk's result.
const MaxReportedFailures = 50

// Progress is the backfill's live state, returned by ProgressQuery and as
// the workflow's result.
type Progress struct {
	BackfillID string `json:"backfill_id"`
	DryRun     bool   `json:"dry_run"`
	// Total is how many users the backfill will see (the list's total, capped by Limit).
	Total int `json:"total"`
	Counts
	// Chunks is how many chunks have finished.
	Chunks int `json:"chunks"`
	// FailedChunks lists chunks that failed as a whole, with the error. Their
	// users are in no count: Seen falls short of Total by them.
	FailedChunks []string  `json:"failed_chunks,omitempty"`
	Failures     []Failure `json:"failures,omitempty"`
	StartedAt    time.Time `json:"started_at"`
	// FinishedAt is set once the backfill is done.
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Done       bool      `json:"done"`
	// Running lists the chunk workflows in flight, oldest first. Only the
	// query answer carries it (a finished backfill has none): a client
	// wanting finer progress than a chunk asks each of them ChunkProgressQuery.
	Running []string `json:"running,omitempty"`
}

// ChunkProgressQuery is the name of a chunk's query that returns a
// ChunkProgress: how far a running chunk has got, for progress finer than a
// chunk and for ops looking at a slow chunk in the UI.
const ChunkProgressQuery = "chunk-progress"

// ChunkProgress is a running chunk's state.
type ChunkProgress struct {
	// Stage is the step under way: one of the Stage* constants.
	Stage string `json:"stage"`
	// Listed counts the users read from Award Force so far.
	Listed int `json:"listed"`
	// Pairing counts the users handed to the pairing lanes and not
	// answered yet.
	Pairing int `json:"pairing,omitempty"`
}

// The stages of a chunk, in order.
const (
	StageListing     = "listing Award Force users"
	StageProfiles    = "reading profile fields"
	StageLookup      = "looking up Salesforce records"
	StagePairing     = "pairing in Salesforce"
	StageWritingBack = "writing back to Award Force"
	StageDone        = "done"
)

// ChunkInput is the input of one BackfillChunk workflow.
type ChunkInput struct {
	Spec   pairing.Spec `json:"spec"`
	Filter UserFilter   `json:"filter"`
	// FirstPage and LastPage are the Award Force pages this chunk lists.
	FirstPage int `json:"first_page"`
	LastPage  int `json:"last_page"`
	// MaxUsers caps the users taken from these pages (for --limit); 0 means all.
	MaxUsers int  `json:"max_users,omitempty"`
	DryRun   bool `json:"dry_run,omitempty"`
	// FirstPageUsers, when not nil, is FirstPage already listed (the
	// backfill's count): the chunk does not list it again.
	FirstPageUsers []pairing.Profile `json:"first_page_users,omitempty"`
	// PairEvery is BackfillInput.PairEvery.
	PairEvery int `json:"pair_every,omitempty"`
}

// ChunkResult is the audit of one chunk: every user's result.
type ChunkResult struct {
	Counts Counts           `json:"counts"`
	Users  []UserSyncResult `json:"users"`
}
