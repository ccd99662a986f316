package workflows

import "go.temporal.io/sdk/workflow"

// Workflow-code versions.
//
// Workflows replay their history whenever a worker picks them up again, so
// code that runs inside them (this package, and the pairing rules it calls:
// Spec.Validate, Handles, Decide, RecordIDChange) must issue the same
// commands, in the same order, for every execution that may still be
// running. The policy:
//
//  1. A change that alters which activities, timers, child workflows,
//     signals or markers a running execution issues, or their order, goes
//     behind workflow.GetVersion with a change ID listed below, at the point
//     where old and new code part. The old branch stays, unchanged, as long
//     as an execution that started before the change may still run: the
//     longest execution bound (BackfillTimeout, 30 days) after the release.
//  2. Pairing rules count as commands: a change to what Decide returns for
//     the same inputs is a new version too (the decision picks the writes).
//  3. Before such a change, testdata/current is frozen as the next
//     testdata/vN; after it, the integration tests record testdata/current
//     anew (AFSYNC_UPDATE_HISTORY=1 go test ./starter/), with the
//     workflow ID each history ran under in its ids.json. The replay test
//     replays every directory, so the old branch is proven against the
//     histories of the code that ran before it.
//  4. Removing an old branch is a change of its own, in a release after its
//     bound has passed (or that follows no release of it), with the
//     histories it alone replayed: GetVersion's minSupported is raised to
//     the new version, so that its marker still meets the recorded
//     commands, the old branch and the testdata directories that only it
//     replayed are deleted, oldestSupported (replay_test.go) moves on, and
//     CHANGELOG.md says so. Done once: the pre-lane branches of
//     pair-through-lanes, with testdata/v1 and v2 (never released).
//
// LaneCount counts as workflow code too: it decides how a requester splits
// its people into requests.
//
// A new workflow type (PairingLane, AwardForceBudget, CRMWatch) needs no
// version: no older execution exists. Nor does a new kind of input that
// older executions never received: a lane keys a dependent integration's
// people by (integration, slug) and reads them with that integration's
// key and budget (PairRequest.Integration), while its own people keep
// their slug as key, their reads and one StartSyncs per batch, so every
// recorded history replays unchanged.

// Change IDs, oldest first.
const (
	// ChangePairThroughLanes: UserSync and BackfillChunk hand their people
	// to the pairing lanes, which look up, decide and write, instead of
	// writing to Salesforce themselves. Version 1 is the lanes; the code
	// before (testdata/v1 and v2) is retired: minSupported is 1.
	ChangePairThroughLanes = "pair-through-lanes"
	// ChangeSyncedVersionMemo: a successful UserSync records the version it
	// paired in its memo (MemoSyncedVersion).
	ChangeSyncedVersionMemo = "synced-version-memo"
	// ChangeAwardForceBudget: every Award Force request takes a permit
	// from AwardForceBudget and is a single attempt (retries take new
	// permits), instead of relying on the task queue's rate limit.
	ChangeAwardForceBudget = "award-force-budget"
	// ChangeCRMChanges: the lanes look people up by the record they are
	// paired with too (following merges, applying the deletion policies)
	// and decide with DecideIn (the CRM watch's rules); UserSync hands a
	// user deleted in Award Force to its lane instead of failing, and
	// records when it paired (MemoSyncedAt).
	ChangeCRMChanges = "crm-changes"
	// ChangeFieldFormats: lanes and dry runs decide with
	// pairing.RulesFieldFormats (phones pulled into mobile in E.164, values
	// longer than their CRM field cut or flagged), with the describe's
	// lengths; write-backs leave out the values Award Force refuses and
	// write the rest (a second UpdateUser).
	ChangeFieldFormats = "field-formats"
	// ChangeWatchFindsUsers: the CRM watch asks FindUser, to which "no such
	// user" is an answer, instead of GetUser, which fails for it.
	ChangeWatchFindsUsers = "watch-finds-users"
	// ChangeWatchCatchesUp: a poll hands over at most 200 changes (500
	// before), and one that left changes for the next is followed at once
	// by it, instead of after the spec's period.
	ChangeWatchCatchesUp = "watch-catches-up"
	// ChangeDuplicatesAmbiguous: a record an org's duplicate rule refuses
	// (DUPLICATES_DETECTED, naming the records it matches) makes its person
	// ambiguous with those records as candidates, as when the lookup finds
	// several, instead of failed.
	ChangeDuplicatesAmbiguous = "duplicates-ambiguous"
	// ChangeAccounts: a lane batch (and a dry run's chunk) of a spec with
	// account finds, with one Accounts activity, the Accounts its people's
	// organisations name, creating the missing ones (account.create; a dry
	// run never does), and decides with them. Only batches of such specs
	// ask for this version: older histories never had one, so they replay
	// without a marker to meet.
	ChangeAccounts = "accounts"
	// ChangeChangeBaselines: a sync records, as when it paired
	// (MemoSyncedAt), the moment it handed the user to the lane, before the
	// CRM was read, instead of when it ended, and passes the Award Force
	// version it paired on (UserSyncInput.LastVersion, also through a
	// continue-as-new); lanes decide with pairing.RulesChangeBaselines. An
	// edit made on either side while a sync ran is then a change to the
	// next one, and a conflict it makes is settled by the spec and audited.
	ChangeChangeBaselines = "change-baselines"
	// ChangeIdentity: lanes follow a person by the record they are paired
	// with, not only by their identifier: with an external id every lookup
	// also asks for the people's slugs (in the same query) and a record
	// holding the slug is theirs; without one, the lane remembers which
	// record it paired each person with (LaneState.Paired). Decisions use
	// pairing.RulesIdentity: an email change reaches the record, records
	// found by identifier are adopted (the slug stamped), and a record
	// another person is paired with (their slug on it, the lane's memory, a
	// batch in flight for them) is never written with someone else's values.
	ChangeIdentity = "identity"
	// ChangeWriteBackSeesEdits: a UserSync compares the user Award Force
	// answers its write-back with (UpdateUserResult.Profile) with what it
	// read plus what it wrote. When they differ, someone edited the profile
	// between the read and the write-back: the write-back's version is not
	// counted as paired (the memo keeps the version read), and one more
	// pass syncs the edited user. Write-backs also wait out an Award Force
	// outage for as long as the lane retries (maxWait), not one hour.
	ChangeWriteBackSeesEdits = "write-back-sees-edits"
	// ChangeEditsUnderWrites: a lane batch of a spec that watches the CRM
	// asks Write to read the updated records back (WriteInput.ReadBack).
	// A field the CRM owns that holds neither what the lane read nor what
	// it wrote was edited in Salesforce meanwhile, where the watch cannot
	// see it (afsync is the last modifier now): the lane hands the person
	// on as a CRM change (coord.StartSyncs).
	ChangeEditsUnderWrites = "edits-under-writes"
	// ChangeOrderedWriteBacks: a backfill chunk's write-back of a user,
	// once it holds its Award Force permit, first asks whether a sync of
	// that user started after the chunk handed its users to the lanes
	// (coord.SyncStartedSince); if one did, that newer sync pulls and
	// writes back instead, and the chunk's older values are not written.
	ChangeOrderedWriteBacks = "ordered-write-backs"
	// ChangeSameSecondEdits: Award Force's `updated` has a second's
	// resolution, so two edits within one second carry one version. A
	// UserSync records a digest of what it paired (MemoSyncedDigest); a
	// signal carrying the version it paired with other values, or two
	// signals of one version that differ, make it read Award Force again
	// rather than take either as the latest. A lane that meets a person
	// at the version it last wrote with other values (Written's digest)
	// reads them again before writing.
	ChangeSameSecondEdits = "same-second-edits"
	// ChangeLaneQueue: a lane holds at most LaneSettings.Hold waiting
	// people; beyond them people wait in its queue (LaneQueue workflows),
	// and the lane takes them back as it writes (LaneState.Queue). Asked
	// once at the start of a run that has no queue yet: a lane from before
	// gains it at its next continue-as-new.
	ChangeLaneQueue = "lane-queue"
	// ChangeWriteBacksFollowTheLane: an Award Force write-back, once it
	// holds its permit, asks the person's lane (LaneDecidedQuery) whether
	// it decided them again after the decision being written back
	// (UserSyncResult.DecidedAt); if it did, the newer decision's sync
	// writes back instead, and the older values are not written. Every
	// write-back follows it, a UserSync's and a chunk's alike: two
	// backfills holding one person, or a single sync behind a chunk,
	// write back in the lane's order.
	ChangeWriteBacksFollowTheLane = "write-backs-follow-the-lane"
	// ChangeQueueHoldsPersonOnce: a lane queue segment keeps each person
	// (request and slug) once, whatever batch brings them, instead of
	// skipping a batch whose ID it saw. A lane whose last workflow task
	// was refused (a signal came while it continued as new) spills again
	// with other people under the same batch IDs: the segment dropped
	// them while the lane counted them queued, and their requesters
	// waited in vain (found by a 100,000-user backfill). The lane, in
	// turn, does not take back someone it holds already. Asked once at
	// the start of each segment's and each lane's run.
	ChangeQueueHoldsPersonOnce = "queue-holds-a-person-once"
	// ChangeQueueClosesAskedSegment: once a lane asks its head segment for
	// people, it hands no more to that segment (the tail moves on). A
	// segment asked while the lane handed it people could give its last,
	// say it was done and end; the people handed then started a new run
	// of it that the lane, gone on to the next segment, never asked
	// (found by a 100,000-user backfill: "The lane's queue has ended while
	// the lane counted people in it"). Asked once at the start of each
	// lane run.
	ChangeQueueClosesAskedSegment = "queue-closes-asked-segment"
	// ChangeDecisionsInOrder: a lane that decides a person again within
	// the second of their last decision records the new one a second
	// later (LaneState.Written, UserSyncResult.DecidedAt), so that every
	// decision of a person carries a later mark than the one before: two
	// decisions within one second were not told apart, and the older
	// one's write-back into Award Force could land after the newer one's.
	// Asked once at the start of each lane run.
	ChangeDecisionsInOrder = "decisions-in-order"
	// ChangeQueueTrustsSegments: the lane no longer takes its queue for
	// empty when its count of queued people reaches zero while the head
	// segment's last refill says it holds more: it asks that segment
	// until it says it is done. A segment may give back people the lane
	// counted nowhere (held twice after a refused workflow task), which
	// brought the count to zero early and left the people of the next
	// segment unasked (found by a 1,000,000-user backfill: 200 people
	// held by a segment the lane had forgotten, their chunk waiting).
	// Asked once at the start of each lane run.
	ChangeQueueTrustsSegments = "queue-trusts-segments"
	// ChangeIdentityLedger: for specs without an external id, a lane batch
	// reads the identity ledger (ledger.go) before its lookup and after
	// it, and writes the pairings it learnt into it before answering
	// (local activities RecallPairings and RememberPairings): who is
	// paired with which record no longer lives only in the lane's bounded
	// memory. Asked once a lane run, by the first batch of such a spec.
	ChangeIdentityLedger = "identity-ledger"
	// ChangeWatchReadsLedger: for specs without an external id, the CRM
	// watch asks the identity ledger who is paired with each changed
	// record before it looks its identifier up in Award Force: a record
	// whose address was edited in Salesforce still reaches its person
	// (whose sync puts Award Force's address back), and costs no Award
	// Force request. Asked by the first poll with such changes.
	ChangeWatchReadsLedger = "watch-reads-ledger"
	// ChangeLaneBoundedInput: a lane's oldest writes fade into Bloom
	// summaries (lane_faded.go) instead of being forgotten, it carries only
	// its latest carriedExact writes exactly into the next run, and its
	// continue-as-new input is kept within laneInputBudget by handing the
	// newest waiting people to its queue: at its memory cap that input
	// weighed 1.27 MB (a million-user backfill), past Temporal's 256 KB
	// warning. A profile read before the exact memory is read again only
	// when a summary since may hold the person. Asked once at the start of
	// each lane run.
	ChangeLaneBoundedInput = "lane-bounded-input"
	// ChangeQueueTrustsTail: when the lane's count of queued people
	// reaches zero as a segment gives its last, the lane still asks the
	// next segment if it was handed people (only the tail segment's last
	// refill empties the queue). A retried workflow task can hand people
	// again under a batch's ID with others; the count fell to zero while
	// segment 12 held 284 people (TestIntegrationTensOfThousandsWait...,
	// with a Hold of 1,600), the lane reset its queue past them and their
	// chunk waited. Asked once at the start of each lane run.
	ChangeQueueTrustsTail = "queue-trusts-tail"
	// ChangeLaneYieldsLookups: a lane whose run is due to continue as new
	// and has passed yieldLookupsAt events cancels its lookups in flight
	// (read-only: their people wait again, unharmed) instead of waiting
	// for them: behind a Salesforce outage a lookup retries for up to ten
	// minutes, and a lane receiving a webhook's signal at a time reached
	// 21,907 events in one run (6,000 webhooks during a two-minute
	// outage). Asked once at the start of each lane run.
	ChangeLaneYieldsLookups = "lane-yields-lookups"
	// ChangeLaneReadsBeforeWriting: a profile read before the lane's exact
	// memory (LaneState.unsure) is read again from Award Force only when
	// the lookup shows it would be written, not before every lookup: the
	// record holding its values already (a person handed twice, by a
	// retried signal, after their write faded) costs no Award Force
	// request. Behind an outage with Award Force at 60 a minute, 500 such
	// reads stopped the drain for minutes. Asked once at the start of each
	// lane run.
	ChangeLaneReadsBeforeWriting = "lane-reads-before-writing"
	// ChangeLaneAnswersInBulk: a lane answers a batch's requesters with
	// one local activity (Coordinator.Answer, client signals from the
	// worker) instead of a SignalExternalWorkflow command each: two events
	// a requester in the lane's history, each carrying its answer, made
	// webhooks (one requester a person) the bulk of a draining lane's
	// events. Asked once at the start of each lane run.
	ChangeLaneAnswersInBulk = "lane-answers-in-bulk"
	// ChangeLaneCommitsHandings: a lane on its way out (continuing as new)
	// that hands people to its queue waits on a timer before it continues,
	// so that the handings are recorded by a workflow task of their own.
	// The task that continues as new is refused when a signal arrives
	// meanwhile; its local activities ran again on the retry, handing
	// other people under the same batch IDs, and a segment then held
	// people the lane also kept: 937 of 6,000 were paired twice (the
	// second time unchanged) behind an outage. Asked once at the start of
	// each lane run.
	ChangeLaneCommitsHandings = "lane-commits-handings"
	// ChangeLaneOwnTaskQueue: a lane continues as new on
	// CoordinatorTaskQueue, where no other workflow's tasks are queued in
	// front of its own (a running lane moves there at its next
	// continue-as-new). Asked once at the start of each lane run.
	ChangeLaneOwnTaskQueue = "lane-own-task-queue"
	// ChangeLaneTakesBatches: a lane also takes the requests that come
	// several to a signal (PairBatchSignal, sent by Coordinator.Submit
	// while its previous signal to the lane is under way). A run without
	// the marker leaves them unread, as the code before did: its requesters
	// hand their people again after resubmitAfter. Asked when a lane run
	// first has a batch to read (a run begun before the change reads them
	// from then on).
	ChangeLaneTakesBatches = "lane-takes-batches"
	// ChangeQueueRefillsAhead: a lane asks its queue's head segment for as
	// many people as it has room for (QueueTake.Each), not one refill; the
	// segment sends them in several refills at once, all but the last
	// marked More, and the lane's ask stands until the last. A segment
	// follows what the ask says, so segments need no version. Asked once at
	// the start of each lane run.
	ChangeQueueRefillsAhead = "queue-refills-ahead"
	// ChangeLaneCommitsAnswers: a lane that answered requesters since its
	// last commit waits on a 1 ms timer before continuing as new, as for
	// handings (ChangeLaneCommitsHandings): a refused continue-as-new task
	// ran its answering local activity again, answering requesters that
	// had ended meanwhile. Asked once at the start of each lane run.
	ChangeLaneCommitsAnswers = "lane-commits-answers"
	// ChangeRequestsNamedByContent: a requester's request IDs end with a
	// digest of what they carry, and it takes only the answers to its own
	// requests. A UserSync's workflow task that timed out (a loaded or
	// killed worker) after its Submit local activity had handed one
	// version of a person was retried with a second edit's signal, and
	// handed the newer version under the same ID: the lane dropped it as a
	// duplicate of the request it held and answered with the older
	// version's outcome, which the sync took as its own (the small drill,
	// 2 runs in 12 under load: a record kept the first of two quick
	// edits). Asked when a requester hands people.
	ChangeRequestsNamedByContent = "requests-named-by-content"
	// ChangePermitsNamedByCount: an Award Force permit request's ID ends
	// with the count it asks, as requests to lanes end with a digest
	// (ChangeRequestsNamedByContent): a workflow task retried after its
	// RequestPermits ran may ask another count under the same sequence
	// number, which the budget took for the request it held; the calls it
	// left short waited 30 minutes. Asked at a gate's first permit request.
	ChangePermitsNamedByCount = "permits-named-by-count"
	// ChangePacedPermits: a gate asks for its permits paced
	// (PermitRequest.Paced): the budget may grant several in one signal,
	// each with its moment (PermitGrant.Every), and each call's activity
	// waits for its moment on the worker (PermitSlotPropagator) instead of
	// the budget waking and signalling once a permit. Asked at a gate's
	// first permit request, after ChangePermitsNamedByCount.
	ChangePacedPermits = "paced-permits"
	// ChangeChunkReadsInGroups: a backfill chunk reads its users' profiles
	// in GetUsers activities, one for the reads whose permits came in one
	// grant, each read at its permit's moment (readgroup.go), instead of a
	// GetUser activity a read. Asked when a chunk starts reading profiles.
	ChangeChunkReadsInGroups = "chunk-reads-in-groups"
	// ChangeLanePromptWakes: a lane whose settings say PromptWakes waits
	// less than promptWakeMax, when it is worth it (worthAWake), for a
	// WakeAt activity instead of a timer,
	// and ends the task before it continues as new (commitSignals) with
	// one instead of a timer of a millisecond. Asked at the start of a
	// lane's run, after ChangeLaneCommitsAnswers, when its settings say
	// PromptWakes.
	ChangeLanePromptWakes = "lane-prompt-wakes"
	// ChangeSharersWait: with across_integrations: one_record, a person
	// whose identifier finds a record in flight for a person of another
	// integration waits for a later batch (laneRun.waitsForASharer)
	// instead of being decided at once, which gave them a record of their
	// own when that sharer left the record in the same batch. Asked when
	// a batch first meets such a person.
	ChangeSharersWait = "lane-sharers-wait"
	// ChangeOneSilenceTimer: a requester waiting for its lanes' answers
	// keeps one timer for the silence after which it hands its people
	// again (silenceTimer), set again only when it fires before the
	// silence ends, instead of a new timer for every answer. Asked when a
	// requester starts waiting.
	ChangeOneSilenceTimer = "one-silence-timer"
	// ChangeLaneHoldsRecords: a batch holds in lane.owners the record a
	// decision writes for a person not yet known by it (a newcomer
	// adopting a record, or sharing one with across_integrations:
	// one_record), and a person whose known record is in flight for
	// someone else waits for a later batch (lane.waitsForItsRecord).
	// Before, the record's sole holder, moving to a new address in a batch
	// started after a newcomer's decision, wrote the record in that batch
	// while the newcomer's batch wrote it too. A batch also lets go of the
	// record it took for a person it paired with another (lane.release).
	// Asked when a batch first claims such a record, meets such a person
	// or lets go of such a record.
	ChangeLaneHoldsRecords = "lane-holds-records"
	// ChangeUnbegunWrites: a Write that failed without having begun
	// (activities.WriteWasNotBegun: it timed out with no heartbeat, or could
	// not record that it began) made no Salesforce call, so its people try
	// again after the usual backoff instead of waiting out the commit
	// horizon. Before, a write task lost on its way to the worker (the
	// server counts it started when it hands it to a poll) held its people
	// ten minutes. Asked when such a failure first happens in a run.
	ChangeUnbegunWrites = "unbegun-writes"
	// ChangeChunkPairsAsRead: a backfill chunk whose spec maps profile
	// fields (one Award Force read a user, minutes for a chunk at Award
	// Force's pace) hands its users to the pairing lanes every PairEvery
	// reads (chunk.handUpTo), and collects every answer once it has read
	// them all, instead of handing them all after its last read. Asked
	// when a chunk that writes starts reading profiles.
	ChangeChunkPairsAsRead = "chunk-pairs-as-read"
	// ChangeBudgetCatchesUp: a budget that wakes late while permits are
	// owed grants the permits it missed (up to catchUpSpan's worth) instead
	// of starting its pace afresh from the late moment, and never puts more
	// than its window's permits in any window (BudgetState.Recent). Before,
	// every wake more than one interval late lost its lateness for good:
	// on a loaded server, 12-18 s of a 300-user backfill's five minutes.
	// A paced request is also granted grantAhead before its first permit's
	// moment, so that its asker's workflow task and activity start are
	// done by then. Asked at the start of each budget run.
	ChangeBudgetCatchesUp = "budget-catches-up"
	// ChangeChunkCallWindow: a backfill chunk keeps at most
	// chunkCallWindow of its profile reads, and of its write-backs, waiting
	// for a permit or under way, and starts chunkCallStep more each time
	// as many of the oldest have ended (callWindow), instead of starting
	// all of them (up to 500) at once. Each waiting call
	// is a workflow goroutine, so a worker of 100 integrations of 1,000
	// users held some 100,000 of them (counted from the code; 1.4 GB
	// resident), and the SDK's dump of every goroutine's
	// stack on a slow task or a coroutine slow to exit stopped the process
	// for seconds at a time (docs/benchmarks.md, "Goroutines a chunk
	// holds"). Asked when a chunk has more reads, or more write-backs, than
	// the window.
	ChangeChunkCallWindow = "chunk-call-window"
	// ChangeLedgerFilter: a lane chain that began with nothing carried
	// claims the identity ledger of an object the first time it pairs
	// people of it (local activity ClaimLedger), and while it can vouch
	// for every page (ledger_filter.go) asks visibility only for the keys
	// its filter may hold. Asked at a chain's first batch of each object
	// (a chain's first run begun under the code before and upgraded in
	// flight may claim an object it first meets after: the chain wrote no
	// page of it before, and the claim checks for others').
	ChangeLedgerFilter = "ledger-filter"
)

// askedOnce says whether the run takes change, asking its version the
// first time only: *v is 0 until asked, then 1 (taken) or -1 (not). For
// changes asked when they first matter in a run (a lane's first batch, a
// gate's first permit request), not at its start.
func askedOnce(ctx workflow.Context, v *int8, change string) bool {
	if *v == 0 {
		*v = -1
		if workflow.GetVersion(ctx, change, workflow.DefaultVersion, 1) >= 1 {
			*v = 1
		}
	}
	return *v > 0
}
