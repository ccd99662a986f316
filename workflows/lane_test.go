package workflows

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// The pairing lane's tests run PairingLane in the SDK's test environment
// against crm, a fake Salesforce org behind the mocked FindRecords and
// Write activities, and check what the requesters are told and what ends
// up in the org. Timers (backoff, commit horizon, quota pause) pass at once.

// laneStart is when every lane test begins, in workflow time.
var laneStart = time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)

// Settings the tests run lanes with.
const (
	testHorizon    = 10 * time.Minute
	testQuotaPause = time.Minute
)

func testLaneSettings() LaneSettings {
	return LaneSettings{CommitHorizon: testHorizon, QuotaPause: testQuotaPause}
}

// crm is a fake Salesforce org: its records live in memory, so a write is
// visible to every later lookup. It logs each call, and can be told to
// refuse or lose some of them.
type crm struct {
	mu      sync.Mutex
	env     *testsuite.TestWorkflowEnvironment // its clock stamps the log
	records []pairing.CRMRecord                // in creation order
	log     []crmCall
	// requests counts the API requests made: one a query, one a collection call.
	requests int

	// latency is how long each lookup takes, writeLatency each Write
	// activity.
	latency, writeLatency time.Duration
	// lookupFault, when set, may answer lookup n (from 1), asked at, with an
	// error instead of records.
	lookupFault func(n int, at time.Time) error
	// recordFaults are Salesforce's answers to the next writes of a person
	// (by slug), one taken per write; a person with none left is written.
	recordFaults map[string][]recordFault
	// failNextWrite, when set, is how the next Write activity fails, after
	// Salesforce carried its writes out.
	failNextWrite error
	// loseNextWrite, when set, is how the next Write activity fails before
	// it reaches Salesforce (its task lost on the way to a worker).
	loseNextWrite error
	// underWrite, when set, is an edit someone makes in Salesforce to an
	// updated record between the lane's read and its write.
	underWrite func(r *pairing.CRMRecord)

	// accounts are the org's Accounts (Name in Values); accountFaults are
	// Salesforce's answers to the next creates of an organisation's Account
	// (by name), one taken per create; accountCalls are the Accounts
	// activities asked, each taking accountLatency.
	accounts       []pairing.CRMRecord
	accountFaults  map[string][]recordFault
	accountCalls   []accountCall
	accountLatency time.Duration
	// failNextAccounts, when set, is how the next Accounts activity that
	// creates fails, after Salesforce carried its creates out.
	failNextAccounts error

	// ledger is the identity ledger (Temporal's, outside the lane, kept
	// beside the org it speaks of): record by slug; ledgerWrites counts
	// the pairings written into it. noLedger makes it answer nothing and
	// keep nothing, as before there was one.
	ledger       map[string]string
	ledgerWrites int
	noLedger     bool
	// claimed says a lane claimed the ledger (ClaimLedger); asked lists
	// the keys ("s:" slug, "r:" record) recalls asked for, in order.
	claimed bool
	asked   []string
	// claimErr, when set, is how every claim fails.
	claimErr error
}

// claim is the ClaimLedger local activity: the first claim of a ledger
// with no pairing in it succeeds.
func (c *crm) claim(_ context.Context, _ string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.claimErr != nil {
		return false, c.claimErr
	}
	ok := !c.claimed && len(c.ledger) == 0
	c.claimed = true
	return ok, nil
}

// recall is the RecallPairings local activity.
func (c *crm) recall(_ context.Context, in RecallInput) (Recalled, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := Recalled{Records: map[string]string{}, Owners: map[string][]string{}}
	for _, slug := range in.Slugs {
		c.asked = append(c.asked, "s:"+slug)
	}
	for _, rec := range in.Records {
		c.asked = append(c.asked, "r:"+normalID(rec))
	}
	if c.noLedger {
		return out, nil
	}
	for _, slug := range in.Slugs {
		if id, ok := c.ledger[slug]; ok {
			out.Records[slug] = id
		}
	}
	for _, rec := range in.Records {
		for _, slug := range slices.Sorted(maps.Keys(c.ledger)) {
			if c.ledger[slug] == normalID(rec) {
				out.Owners[normalID(rec)] = append(out.Owners[normalID(rec)], slug)
			}
		}
	}
	return out, nil
}

// remember is the RememberPairings local activity.
func (c *crm) remember(_ context.Context, in RememberInput) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.noLedger {
		return nil
	}
	for _, p := range in.Pairings {
		c.ledger[p.Slug] = normalID(p.RecordID)
		c.ledgerWrites++
	}
	return nil
}

// crmCall is one call the fake answered.
type crmCall struct {
	at, end time.Time
	lookup  bool
	keys    []string // a lookup's identifier keys
	failed  bool     // a lookup answered with an error
	write   activities.WriteInput
}

// recordFault is Salesforce's answer to one record of a write.
type recordFault struct {
	errType, msg string
	dups         []string // the records a duplicate rule names
	unknown      bool     // no answer came for it
	commits      bool     // Salesforce carries the write out all the same
}

func newCRM() *crm {
	return &crm{recordFaults: map[string][]recordFault{}, accountFaults: map[string][]recordFault{}, ledger: map[string]string{}}
}

// add puts a Contact in the org.
func (c *crm) add(id, email, first, last string) {
	c.records = append(c.records, pairing.CRMRecord{ID: id, Values: map[string]string{"Email": email, "FirstName": first, "LastName": last}})
}

// find is the FindRecords activity.
func (c *crm) find(_ context.Context, in activities.FindRecordsInput) (activities.FindRecordsResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.env.Now()
	call := crmCall{at: now.Add(-c.latency), end: now, lookup: true}
	asked := map[string]bool{}
	for _, id := range in.Identifiers {
		k := activities.IdentifierKey(id)
		call.keys = append(call.keys, k)
		asked[k] = true
	}
	c.requests++
	n := 1
	for _, call := range c.log {
		if call.lookup {
			n++
		}
	}
	if c.lookupFault != nil {
		if err := c.lookupFault(n, now); err != nil {
			call.failed = true
			c.log = append(c.log, call)
			return activities.FindRecordsResult{}, err
		}
	}
	c.log = append(c.log, call)
	res := activities.FindRecordsResult{Matches: map[string][]pairing.CRMRecord{}, Queries: 1}
	ext := in.Spec.ExternalID.CRM
	if ext != "" && len(in.ExternalIDs) > 0 {
		res.ByExternalID = map[string][]pairing.CRMRecord{}
	}
	if len(in.RecordIDs) > 0 {
		res.ByID = map[string]activities.KnownRecord{}
		res.Queries++
	}
	for _, r := range c.records {
		cp := pairing.CRMRecord{ID: r.ID, Values: maps.Clone(r.Values)}
		if k := activities.IdentifierKey(r.Values[in.Spec.UniqueIdentifier.CRM]); asked[k] {
			res.Matches[k] = append(res.Matches[k], cp)
		}
		if v := r.Values[ext]; ext != "" && v != "" && slices.Contains(in.ExternalIDs, v) {
			res.ByExternalID[v] = append(res.ByExternalID[v], cp)
		}
		if slices.Contains(in.RecordIDs, r.ID) {
			res.ByID[r.ID] = activities.KnownRecord{Record: cp}
		}
	}
	return res, nil
}

// write is the Write activity: one collection call for the creates, one
// for the updates.
func (c *crm) write(_ context.Context, in activities.WriteInput) (activities.WriteOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.loseNextWrite; err != nil {
		c.loseNextWrite = nil
		return activities.WriteOutput{}, err
	}
	now := c.env.Now()
	c.log = append(c.log, crmCall{at: now, end: now, write: in})
	var out activities.WriteOutput
	if len(in.Creates) > 0 {
		out.Calls++
		for _, it := range in.Creates {
			o := activities.WriteOutcome{WriteResult: activities.WriteResult{Slug: it.Slug}}
			f, faulty := c.fault(it.Slug)
			ext := in.Spec.ExternalID.CRM
			existing := slices.IndexFunc(c.records, func(r pairing.CRMRecord) bool { return ext != "" && r.Values[ext] == it.Slug })
			switch {
			case faulty && !f.commits:
			case existing >= 0: // an upsert that finds the record by its external id
				apply(&c.records[existing], it.Values)
				o.ID = c.records[existing].ID
			default:
				id := fmt.Sprintf("003LANE%011d", len(c.records)+1)
				c.records = append(c.records, pairing.CRMRecord{ID: id, Values: map[string]string{}})
				apply(&c.records[len(c.records)-1], it.Values)
				if ext != "" {
					c.records[len(c.records)-1].Values[ext] = it.Slug
				}
				o.ID, o.Created = id, true
			}
			out.Creates = append(out.Creates, answered(o, f, faulty))
		}
	}
	if len(in.Updates) > 0 {
		out.Calls++
		for _, it := range in.Updates {
			o := activities.WriteOutcome{WriteResult: activities.WriteResult{Slug: it.Slug, ID: it.ID}}
			f, faulty := c.fault(it.Slug)
			if i := slices.IndexFunc(c.records, func(r pairing.CRMRecord) bool { return r.ID == it.ID }); i < 0 {
				o.Error, o.ErrorType = "ENTITY_IS_DELETED: entity is deleted", activities.ErrTypeSalesforceRejected
			} else if !faulty || f.commits {
				if c.underWrite != nil {
					c.underWrite(&c.records[i])
				}
				apply(&c.records[i], it.Values)
				if in.ReadBack && !faulty {
					o.After = &pairing.CRMRecord{ID: it.ID, Values: maps.Clone(c.records[i].Values)}
				}
			}
			out.Updates = append(out.Updates, answered(o, f, faulty))
		}
	}
	c.requests += out.Calls
	if err := c.failNextWrite; err != nil {
		c.failNextWrite = nil
		return activities.WriteOutput{}, err
	}
	return out, nil
}

// fault takes the next fault of the person's writes.
func (c *crm) fault(slug string) (recordFault, bool) {
	fs := c.recordFaults[slug]
	if len(fs) == 0 {
		return recordFault{}, false
	}
	c.recordFaults[slug] = fs[1:]
	return fs[0], true
}

// answered is what Salesforce answers for a record: o, unless faulty.
func answered(o activities.WriteOutcome, f recordFault, faulty bool) activities.WriteOutcome {
	if !faulty {
		return o
	}
	return activities.WriteOutcome{
		WriteResult: activities.WriteResult{Slug: o.Slug, Error: f.msg, ErrorType: f.errType, DuplicateIDs: f.dups},
		Unknown:     f.unknown,
	}
}

func apply(r *pairing.CRMRecord, changes []pairing.Change) {
	for _, ch := range changes {
		r.Values[ch.Field] = ch.After
	}
}

// made is how many API requests the org answered.
func (c *crm) made() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests
}

// holding lists the records whose Email is email (in any case).
func (c *crm) holding(email string) []pairing.CRMRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []pairing.CRMRecord
	for _, r := range c.records {
		if activities.IdentifierKey(r.Values["Email"]) == activities.IdentifierKey(email) {
			out = append(out, r)
		}
	}
	return out
}

// calls lists every call made so far, in order.
func (c *crm) calls() []crmCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.log)
}

// lookups lists the lookups made so far.
func (c *crm) lookups() []crmCall {
	var out []crmCall
	for _, call := range c.calls() {
		if call.lookup {
			out = append(out, call)
		}
	}
	return out
}

// writes lists the Write calls made so far.
func (c *crm) writes() []crmCall {
	var out []crmCall
	for _, call := range c.calls() {
		if !call.lookup {
			out = append(out, call)
		}
	}
	return out
}

// afterFirstWrite lists the calls made after the first Write.
func (c *crm) afterFirstWrite() []crmCall {
	log := c.calls()
	i := slices.IndexFunc(log, func(call crmCall) bool { return !call.lookup })
	if i < 0 {
		return nil
	}
	return log[i+1:]
}

// touches reports whether call looks up email or writes for one of slugs.
func (call crmCall) touches(email string, slugs ...string) bool {
	if call.lookup {
		return slices.Contains(call.keys, activities.IdentifierKey(email))
	}
	for _, it := range call.write.Creates {
		if slices.Contains(slugs, it.Slug) || activities.IdentifierKey(it.Identifier) == activities.IdentifierKey(email) {
			return true
		}
	}
	for _, it := range call.write.Updates {
		if slices.Contains(slugs, it.Slug) {
			return true
		}
	}
	return false
}

// writtenSlugs lists the people a Write call wrote for.
func (call crmCall) writtenSlugs() []string {
	var out []string
	for _, it := range call.write.Creates {
		out = append(out, it.Slug)
	}
	for _, it := range call.write.Updates {
		out = append(out, it.Slug)
	}
	return out
}

// answers are the PairReply signals a lane sent to its requesters.
type answers struct {
	mu  sync.Mutex
	got []answer
}

type answer struct {
	to, run string
	reply   PairReply
}

func (a *answers) add(args mock.Arguments) {
	a.put(answer{to: args.String(1), run: args.String(2), reply: args.Get(4).(PairReply)})
}

func (a *answers) put(g answer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, g)
}

// to lists the replies to request id.
func (a *answers) to(id string) []answer {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []answer
	for _, g := range a.got {
		if g.reply.Request == id {
			out = append(out, g)
		}
	}
	return out
}

// of lists every answer about the person, in the order they were sent.
func (a *answers) of(slug string) []UserSyncResult {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []UserSyncResult
	for _, g := range a.got {
		for _, r := range g.reply.Results {
			if r.Slug == slug {
				out = append(out, r)
			}
		}
	}
	return out
}

// one is the one answer about the person.
func (a *answers) one(t *testing.T, slug string) UserSyncResult {
	t.Helper()
	rs := a.of(slug)
	require.Len(t, rs, 1, "%s must be answered exactly once: %+v", slug, rs)
	return rs[0]
}

// forRequest is the one answer about the person in request id.
func (a *answers) forRequest(t *testing.T, id, slug string) UserSyncResult {
	t.Helper()
	var out []UserSyncResult
	for _, g := range a.to(id) {
		for _, r := range g.reply.Results {
			if r.Slug == slug {
				out = append(out, r)
			}
		}
	}
	require.Len(t, out, 1, "%s must be answered exactly once in request %s: %+v", slug, id, out)
	return out[0]
}

// calls sums the Salesforce calls the replies account for.
func (a *answers) calls() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	sum := 0.0
	for _, g := range a.got {
		sum += g.reply.Calls
	}
	return sum
}

// laneTest is one lane run in the test environment, its org and the
// answers it sent.
type laneTest struct {
	t       *testing.T
	env     *testsuite.TestWorkflowEnvironment
	crm     *crm
	answers *answers
	users   map[string]pairing.Profile // Award Force's users, for fresh reads

	mu    sync.Mutex
	reads map[string]int // Award Force reads, by slug
	// readOn are the task queues of those reads, in order.
	readOn []string
	// started are the syncs the lane started (coord.StartSyncs).
	started []SyncRequest
	// permits are the permit requests the lane made, in order.
	permits []PermitRequest
}

// newLaneTest is a lane run, from laneStart, with settings s and an empty org.
func newLaneTest(t *testing.T, s LaneSettings) *laneTest {
	return newLaneTestOn(t, s, newCRM(), laneStart)
}

// newLaneTestOn is a lane run from start, with settings s, on the org c.
func newLaneTestOn(t *testing.T, s LaneSettings, c *crm, start time.Time) *laneTest {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	env.RegisterWorkflow(PairingLane)
	env.RegisterActivity(&Coordinator{})
	env.RegisterActivity(&activities.Salesforce{})
	env.RegisterActivity(&activities.AwardForce{})
	c.env = env
	lt := &laneTest{t: t, env: env, crm: c, answers: &answers{}, reads: map[string]int{}, users: map[string]pairing.Profile{}}
	grantPermits(env, func(req PermitRequest) {
		lt.mu.Lock()
		defer lt.mu.Unlock()
		lt.permits = append(lt.permits, req)
	})
	env.OnActivity(coord.CurrentSettings, mock.Anything).Return(s, nil)
	env.OnActivity(sf.FindRecords, mock.Anything, mock.Anything).AfterFn(func() time.Duration { return c.latency }).Return(c.find)
	env.OnActivity(sf.Write, mock.Anything, mock.Anything).AfterFn(func() time.Duration { return c.writeLatency }).Return(c.write)
	env.OnActivity(sf.Accounts, mock.Anything, mock.Anything).AfterFn(func() time.Duration { return c.accountLatency }).Return(c.findAccounts)
	env.OnActivity(coord.RecallPairings, mock.Anything, mock.Anything).Return(c.recall)
	env.OnActivity(coord.RememberPairings, mock.Anything, mock.Anything).Return(c.remember)
	env.OnActivity(coord.ClaimLedger, mock.Anything, mock.Anything).Return(c.claim)
	env.OnActivity(af.GetUser, mock.Anything, mock.Anything).Return(func(ctx context.Context, slug string) (pairing.Profile, error) {
		lt.mu.Lock()
		lt.reads[slug]++
		lt.readOn = append(lt.readOn, activity.GetInfo(ctx).TaskQueue)
		lt.mu.Unlock()
		if p, ok := lt.users[slug]; ok {
			return p, nil
		}
		return pairing.Profile{}, temporal.NewNonRetryableApplicationError("404: no such user", activities.ErrTypeAwardForceNotFound, nil)
	})
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, PairedSignal, mock.Anything).Return(nil).Run(lt.answers.add)
	env.OnActivity(coord.Answer, mock.Anything, mock.Anything).Return(func(_ context.Context, as []Answer) (int, error) {
		for _, a := range as {
			lt.answers.put(answer{to: a.To, run: a.Run, reply: a.Reply})
		}
		return 0, nil
	})
	env.OnActivity(coord.StartSyncs, mock.Anything, mock.Anything).Return(func(_ context.Context, in StartSyncsInput) (int, error) {
		lt.mu.Lock()
		defer lt.mu.Unlock()
		lt.started = append(lt.started, in.Requests...)
		return len(in.Requests), nil
	})
	return lt
}

// send signals the requests to the lane once after has passed.
func (lt *laneTest) send(after time.Duration, reqs ...PairRequest) {
	lt.env.RegisterDelayedCallback(func() {
		for _, r := range reqs {
			lt.env.SignalWorkflow(PairSignal, r)
		}
	}, after)
}

// runUntil runs the lane from in and stops it once stop has passed; the
// lane must not end its run before.
func (lt *laneTest) runUntil(in LaneInput, stop time.Duration) {
	lt.t.Helper()
	lt.env.RegisterDelayedCallback(lt.env.CancelWorkflow, stop)
	lt.env.ExecuteWorkflow(PairingLane, in)
	require.True(lt.t, lt.env.IsWorkflowCompleted())
	err := lt.env.GetWorkflowError()
	var canceled *temporal.CanceledError
	require.True(lt.t, errors.As(err, &canceled), "the lane must keep running until it is stopped; it ended with %v", err)
}

// runToBound runs the lane from in until it continues as new, and returns
// the input of its next run.
func (lt *laneTest) runToBound(in LaneInput) LaneInput {
	lt.t.Helper()
	lt.env.RegisterDelayedCallback(lt.env.CancelWorkflow, 24*time.Hour) // if it never gets there
	lt.env.ExecuteWorkflow(PairingLane, in)
	require.True(lt.t, lt.env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.True(lt.t, errors.As(lt.env.GetWorkflowError(), &can), "want continue-as-new, got %v", lt.env.GetWorkflowError())
	var next LaneInput
	require.NoError(lt.t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	return next
}

// pairRequest is request id of a requester of its own, with the default spec.
func pairRequest(id string, trigger pairing.Trigger, items ...PairItem) PairRequest {
	return PairRequest{
		ID: id, ReplyTo: "requester-" + id, ReplyRun: "run-" + id,
		Spec: *pairing.Default(), Trigger: trigger, Items: items,
	}
}

// person is an Award Force user as read at laneStart.
func person(slug, email, first, last string) PairItem {
	return PairItem{
		Profile: pairing.Profile{Slug: slug, Values: map[string]string{"email": email, "first_name": first, "last_name": last}},
		ReadAt:  laneStart,
	}
}

// updated is it with Award Force's `updated` time set.
func updated(it PairItem, at time.Time) PairItem {
	it.Profile.Updated = at
	return it
}

func TestLanePairsABatchWithOneLookupAndOneWrite(t *testing.T) {
	lt := newLaneTest(t, testLaneSettings())
	lt.crm.add("003000000000000UPD", "grace@example.org", "Grace", "Murray")
	lt.crm.add("003000000000000SAM", "alan@example.org", "Alan", "Turing")
	lt.crm.add("003000000000000DP1", "kay@example.org", "Kay", "McNulty")
	lt.crm.add("003000000000000DP2", "KAY@example.org", "Kathleen", "McNulty")
	// Two requesters at once: a backfill and a registration.
	lt.send(0,
		pairRequest("backfill", pairing.TriggerBackfill,
			person("AdaLovel", "ada@example.org", "Ada", "Lovelace"),
			person("GraceHop", "Grace@Example.org", "Grace", "Hopper")),
		pairRequest("signup", pairing.TriggerRegistration,
			person("AlanTuri", "alan@example.org", "Alan", "Turing"),
			person("KayMcNul", "kay@example.org", "Kay", "McNulty")))
	lt.runUntil(LaneInput{Lane: 1}, time.Hour)

	lookups, writes := lt.crm.lookups(), lt.crm.writes()
	require.Len(t, lookups, 1, "one lookup for everyone")
	require.ElementsMatch(t, []string{"ada@example.org", "grace@example.org", "alan@example.org", "kay@example.org"}, lookups[0].keys)
	require.Len(t, writes, 1, "one write for everyone")
	require.Equal(t, []string{"AdaLovel", "GraceHop"}, writes[0].writtenSlugs(), "only the create and the update are written")

	created := lt.answers.one(t, "AdaLovel")
	require.Equal(t, OutcomeCreated, created.Outcome)
	ada := lt.crm.holding("ada@example.org")
	require.Len(t, ada, 1)
	require.Equal(t, ada[0].ID, created.RecordID)
	require.Equal(t, map[string]string{"Email": "ada@example.org", "FirstName": "Ada", "LastName": "Lovelace"}, ada[0].Values)
	require.Equal(t, []pairing.Change{
		{Field: "Email", Source: "email", After: "ada@example.org"},
		{Field: "FirstName", Source: "first_name", After: "Ada"},
		{Field: "LastName", Source: "last_name", After: "Lovelace"},
	}, created.Decision.CRM)

	upd := lt.answers.one(t, "GraceHop")
	require.Equal(t, OutcomeUpdated, upd.Outcome)
	require.Equal(t, "003000000000000UPD", upd.RecordID)
	require.Equal(t, []pairing.Change{{Field: "LastName", Source: "last_name", Before: "Murray", After: "Hopper"}}, upd.Decision.CRM,
		"only what differs; the email differs in case only")
	require.Equal(t, "Hopper", lt.crm.holding("grace@example.org")[0].Values["LastName"])

	same := lt.answers.one(t, "AlanTuri")
	require.Equal(t, OutcomeUnchanged, same.Outcome)
	require.Equal(t, "003000000000000SAM", same.RecordID)
	require.Empty(t, same.Decision.CRM)

	amb := lt.answers.one(t, "KayMcNul")
	require.Equal(t, OutcomeAmbiguous, amb.Outcome)
	require.ElementsMatch(t, []string{"003000000000000DP1", "003000000000000DP2"}, amb.Decision.CandidateIDs)
	require.Empty(t, amb.RecordID)
	require.Len(t, lt.crm.holding("kay@example.org"), 2, "nothing created for an ambiguous match")

	// Each requester is told once, about its own people, at its own run.
	for id, slugs := range map[string][]string{"backfill": {"AdaLovel", "GraceHop"}, "signup": {"AlanTuri", "KayMcNul"}} {
		replies := lt.answers.to(id)
		require.Len(t, replies, 1, "one reply to %s", id)
		require.Equal(t, "requester-"+id, replies[0].to)
		require.Equal(t, "run-"+id, replies[0].run)
		var got []string
		for _, r := range replies[0].reply.Results {
			got = append(got, r.Slug)
		}
		require.ElementsMatch(t, slugs, got)
	}
	require.Equal(t, 3, lt.crm.made(), "a query, a create call and an update call")
	require.InDelta(t, float64(lt.crm.made()), lt.answers.calls(), 1e-9, "the replies share the calls made")
}

func TestLaneWritesTwoVersionsOfAPersonOneAfterTheOther(t *testing.T) {
	older := updated(person("AdaLovel", "ada@example.org", "Ada", "Byron"), laneStart.Add(-2*time.Hour))
	newer := updated(person("AdaLovel", "ada@example.org", "Ada", "Lovelace"), laneStart.Add(-time.Hour))
	backfill := pairRequest("backfill", pairing.TriggerBackfill, older)
	webhook := pairRequest("webhook", pairing.TriggerProfileUpdate, newer)
	for _, tc := range []struct {
		name        string
		first, then PairRequest
		oneSignal   bool // both handed in one PairBatchSignal
	}{
		{"older first", backfill, webhook, false},
		{"newer first", webhook, backfill, false},
		{"older first, in one signal", backfill, webhook, true},
		{"newer first, in one signal", webhook, backfill, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lt := newLaneTest(t, testLaneSettings())
			if tc.oneSignal {
				lt.env.RegisterDelayedCallback(func() {
					lt.env.SignalWorkflow(PairBatchSignal, PairBatch{Requests: []PairRequest{tc.first, tc.then}})
				}, 0)
			} else {
				lt.send(0, tc.first, tc.then)
			}
			lt.runUntil(LaneInput{Lane: 0}, time.Hour)

			recs := lt.crm.holding("ada@example.org")
			require.Len(t, recs, 1, "exactly one record")
			require.Equal(t, "Lovelace", recs[0].Values["LastName"], "holding the newer version")
			// One after the other: never both in one lookup or one write, and
			// the second lookup comes after the first write.
			log := lt.crm.calls()
			require.GreaterOrEqual(t, len(log), 3, "%+v", log)
			for _, call := range log {
				require.LessOrEqual(t, len(call.writtenSlugs()), 1)
			}
			require.True(t, log[0].lookup, "%+v", log)
			require.False(t, log[1].lookup, "the first version is written before the second is looked up: %+v", log)
			require.True(t, log[2].lookup, "%+v", log)

			first := lt.answers.forRequest(t, tc.first.ID, "AdaLovel")
			then := lt.answers.forRequest(t, tc.then.ID, "AdaLovel")
			require.Equal(t, OutcomeCreated, first.Outcome)
			require.Equal(t, recs[0].ID, first.RecordID)
			require.Positive(t, first.DecidedAt, "a decided person's answer carries when, for the order of write-backs")
			if tc.then.ID == "webhook" {
				// Marked later even within one second: the first decision's
				// write-back gives way to the second's.
				require.Greater(t, then.DecidedAt, first.DecidedAt, "decided in order")
				require.Equal(t, OutcomeUpdated, then.Outcome)
				require.Equal(t, recs[0].ID, then.RecordID)
				require.Equal(t, []pairing.Change{{Field: "LastName", Source: "last_name", Before: "Byron", After: "Lovelace"}}, then.Decision.CRM)
			} else {
				require.Equal(t, OutcomeSkipped, then.Outcome)
				require.Zero(t, then.DecidedAt, "a superseded version was not decided")
				require.Contains(t, then.Decision.Reason, "superseded")
				require.Len(t, lt.crm.writes(), 1, "the older version is not written")
			}
		})
	}
}

func TestLaneGivesTwoPeopleSharingAnIdentifierARecordEach(t *testing.T) {
	// Two slugs are two people, whatever address they share (a freed
	// address registered again, a shared profile field): the second is
	// never written into the first's record.
	lt := newLaneTest(t, testLaneSettings())
	lt.send(0, pairRequest("signup", pairing.TriggerRegistration,
		person("TwinOne1", "twins@example.org", "Ann", "Twin"),
		person("TwinTwo2", "Twins@Example.org", "Bea", "Twin")))
	lt.runUntil(LaneInput{Lane: 2}, time.Hour)

	recs := lt.crm.holding("twins@example.org")
	require.Len(t, recs, 2, "a record each")
	one, two := lt.answers.one(t, "TwinOne1"), lt.answers.one(t, "TwinTwo2")
	require.Equal(t, OutcomeCreated, one.Outcome)
	require.Equal(t, OutcomeCreated, two.Outcome, two.Decision.Reason)
	require.Contains(t, two.Decision.Reason, "paired with another person")
	require.Equal(t, recs[0].ID, one.RecordID)
	require.Equal(t, recs[1].ID, two.RecordID)
	require.Equal(t, "Ann", recs[0].Values["FirstName"], "the first's record keeps the first's values")
	require.Equal(t, "Bea", recs[1].Values["FirstName"])
	for _, call := range lt.crm.writes() {
		require.LessOrEqual(t, len(call.write.Creates)+len(call.write.Updates), 1, "never both in one write")
	}
}

func TestLaneSkipsAVersionOlderThanTheOneItWrote(t *testing.T) {
	lt := newLaneTest(t, testLaneSettings())
	lt.send(0, pairRequest("webhook", pairing.TriggerProfileUpdate,
		updated(person("AdaLovel", "ada@example.org", "Ada", "Lovelace"), laneStart.Add(-time.Hour))))
	// A backfill that read the person earlier, before the edit, is late.
	lt.send(5*time.Minute, pairRequest("backfill", pairing.TriggerBackfill,
		updated(person("AdaLovel", "ada@example.org", "Ada", "Byron"), laneStart.Add(-2*time.Hour))))
	lt.runUntil(LaneInput{Lane: 0}, time.Hour)

	require.Equal(t, OutcomeCreated, lt.answers.forRequest(t, "webhook", "AdaLovel").Outcome)
	late := lt.answers.forRequest(t, "backfill", "AdaLovel")
	require.Equal(t, OutcomeSkipped, late.Outcome)
	require.Equal(t, pairing.ActionSkip, late.Decision.Action)
	require.Contains(t, late.Decision.Reason, "superseded")
	require.Contains(t, late.Decision.Reason, laneStart.Add(-time.Hour).Format(time.RFC3339), "names the version written")
	require.Len(t, lt.crm.writes(), 1, "nothing written for the older version")
	recs := lt.crm.holding("ada@example.org")
	require.Len(t, recs, 1)
	require.Equal(t, "Lovelace", recs[0].Values["LastName"], "the newer values stay")
}

func TestLaneReadsAgainAVersionOfTheSameSecondWithOtherValues(t *testing.T) {
	// Two edits within one second carry one `updated`. The lane wrote the
	// later (Quick); the earlier's webhook (Quik) comes late
	// with the same version: the lane cannot tell which is newer, so it
	// reads Award Force again instead of writing the earlier over it.
	at := laneStart.Add(-time.Minute)
	later := updated(person("QuinnQck", "quinn@example.org", "Quinn", "Quick"), at)
	earlier := updated(person("QuinnQck", "quinn@example.org", "Quinn", "Quik"), at)
	again := updated(person("QuinnQck", "quinn@example.org", "Quinn", "Quick"), at)
	lt := newLaneTest(t, testLaneSettings())
	lt.users["QuinnQck"] = later.Profile
	lt.send(0, pairRequest("webhook", pairing.TriggerProfileUpdate, later))
	lt.send(2*time.Minute, pairRequest("replay", pairing.TriggerProfileUpdate, again))
	lt.send(5*time.Minute, pairRequest("late", pairing.TriggerProfileUpdate, earlier))
	lt.runUntil(LaneInput{Lane: 0}, time.Hour)

	recs := lt.crm.holding("quinn@example.org")
	require.Len(t, recs, 1)
	require.Equal(t, "Quick", recs[0].Values["LastName"], "the later edit stays")
	lt.mu.Lock()
	require.Equal(t, map[string]int{"QuinnQck": 1}, lt.reads, "only the version with other values is read again")
	lt.mu.Unlock()
	require.Equal(t, OutcomeUnchanged, lt.answers.forRequest(t, "late", "QuinnQck").Outcome, "decided on Award Force's answer")
	require.Equal(t, OutcomeUnchanged, lt.answers.forRequest(t, "replay", "QuinnQck").Outcome)
}

func TestLaneRetriesATransientRecordFaultAndIsolatesARefusal(t *testing.T) {
	lt := newLaneTest(t, testLaneSettings())
	lt.crm.recordFaults["LockedRo"] = []recordFault{{errType: activities.ErrTypeSalesforceUnavailable, msg: "UNABLE_TO_LOCK_ROW: unable to obtain exclusive access to this record"}}
	lt.crm.recordFaults["TooLongN"] = []recordFault{{errType: activities.ErrTypeSalesforceRejected, msg: "STRING_TOO_LONG: Last Name: data value too large (LastName)"}}
	lt.send(0, pairRequest("backfill", pairing.TriggerBackfill,
		person("LockedRo", "locked@example.org", "Lou", "Locke"),
		person("TooLongN", "long@example.org", "Tim", "Toolong"),
		person("FineUser", "fine@example.org", "Fay", "Fine")))
	lt.runUntil(LaneInput{Lane: 3}, time.Hour)

	fine := lt.answers.one(t, "FineUser")
	require.Equal(t, OutcomeCreated, fine.Outcome)
	require.Len(t, lt.crm.holding("fine@example.org"), 1)

	refused := lt.answers.one(t, "TooLongN")
	require.Equal(t, OutcomeFailed, refused.Outcome)
	require.Equal(t, activities.ErrTypeSalesforceRejected, refused.ErrorType)
	require.Contains(t, refused.Error, "STRING_TOO_LONG: Last Name: data value too large (LastName)", "Salesforce's own message")
	require.Equal(t, pairing.ActionCreate, refused.Decision.Action, "the audit keeps the decision")
	require.Empty(t, lt.crm.holding("long@example.org"))

	locked := lt.answers.one(t, "LockedRo") // never answered failed first
	require.Equal(t, OutcomeCreated, locked.Outcome)
	recs := lt.crm.holding("locked@example.org")
	require.Len(t, recs, 1)
	require.Equal(t, recs[0].ID, locked.RecordID)

	var tries []time.Time
	for _, call := range lt.crm.writes() {
		if slices.Contains(call.writtenSlugs(), "LockedRo") {
			tries = append(tries, call.at)
		}
	}
	require.Len(t, tries, 2, "written again once")
	require.GreaterOrEqual(t, tries[1].Sub(tries[0]), time.Second, "after a backoff")
	for _, call := range lt.crm.writes()[1:] {
		require.Equal(t, []string{"LockedRo"}, call.writtenSlugs(), "the others are not written again")
	}
	require.InDelta(t, float64(lt.crm.made()), lt.answers.calls(), 1e-9, "every call made is accounted to someone, the retries too")
}

func TestLaneMakesAPersonAnOrgDuplicateRuleRefusesAmbiguous(t *testing.T) {
	dup := recordFault{errType: activities.ErrTypeSalesforceRejected, dups: []string{"003DUPA", "003DUPB"},
		msg: "DUPLICATES_DETECTED: Use one of these records? (duplicates: 003DUPA, 003DUPB)"}
	for _, legacy := range []bool{false, true} {
		lt := newLaneTest(t, testLaneSettings())
		if legacy {
			lt.env.OnGetVersion(ChangeDuplicatesAmbiguous, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
		}
		lt.crm.recordFaults["DupeUser"] = []recordFault{dup}
		lt.send(0, pairRequest("backfill", pairing.TriggerBackfill,
			person("DupeUser", "dupe@example.org", "Dee", "Dupe"),
			person("FineUser", "fine@example.org", "Fay", "Fine")))
		lt.runUntil(LaneInput{Lane: 3}, time.Hour)

		require.Equal(t, OutcomeCreated, lt.answers.one(t, "FineUser").Outcome, "the batch's other person is written")
		got := lt.answers.one(t, "DupeUser")
		require.Len(t, lt.crm.writes(), 1, "a duplicate rule's refusal is not retried")
		if legacy {
			require.Equal(t, OutcomeFailed, got.Outcome, "runs from before the change failed the person")
			require.Contains(t, got.Error, "DUPLICATES_DETECTED")
			continue
		}
		require.Equal(t, OutcomeAmbiguous, got.Outcome)
		require.Equal(t, pairing.ActionAmbiguous, got.Decision.Action)
		require.Equal(t, []string{"003DUPA", "003DUPB"}, got.Decision.CandidateIDs, "the records Salesforce named")
		require.Contains(t, got.Decision.Reason, "duplicate rule")
		require.Empty(t, got.Decision.CRM, "nothing was written")
	}
}

func TestLaneWaitsOutTheCommitHorizonOfAWriteWithNoAnswer(t *testing.T) {
	for _, tc := range []struct {
		name string
		lose func(c *crm)
	}{
		{"the record's answer is lost", func(c *crm) {
			c.recordFaults["LostAnsw"] = []recordFault{{errType: activities.ErrTypeSalesforceOutcomeUnknown, msg: "read tcp: i/o timeout", unknown: true, commits: true}}
		}},
		{"the Write activity fails", func(c *crm) {
			c.failNextWrite = errors.New("Post \"https://acme.my.salesforce.com/services/data/v62.0/composite/sobjects\": context deadline exceeded")
		}},
		{"the Write times out after it began", func(c *crm) {
			c.failNextWrite = temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil, activities.WriteBegun)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lt := newLaneTest(t, testLaneSettings())
			tc.lose(lt.crm)
			lt.send(0, pairRequest("signup", pairing.TriggerRegistration, person("LostAnsw", "lost@example.org", "Lou", "Lost")))
			// Someone else with the same email, during the wait.
			lt.send(2*time.Minute, pairRequest("backfill", pairing.TriggerBackfill, person("SameMail", "LOST@example.org", "Sam", "Lost")))
			lt.runUntil(LaneInput{Lane: 0}, 2*time.Hour)

			writes := lt.crm.writes()
			require.NotEmpty(t, writes)
			lost := writes[0].at
			for _, call := range lt.crm.afterFirstWrite() {
				if call.touches("lost@example.org", "LostAnsw", "SameMail") {
					require.False(t, call.at.Before(lost.Add(testHorizon)), "nothing for the person or the identifier before the horizon: %+v at %s", call, call.at.Sub(laneStart))
				}
			}
			recs := lt.crm.holding("lost@example.org")
			require.Len(t, recs, 2, "the person's record, and the other's own")
			first := lt.answers.one(t, "LostAnsw")
			require.NotEqual(t, OutcomeFailed, first.Outcome, "%+v", first)
			require.Equal(t, recs[0].ID, first.RecordID, "no second record for the person whose answer was lost")
			require.Equal(t, "Lou", recs[0].Values["FirstName"])
			other := lt.answers.one(t, "SameMail")
			require.Equal(t, OutcomeCreated, other.Outcome, "someone else with the address gets a record of their own")
			require.Equal(t, recs[1].ID, other.RecordID)
			require.Equal(t, "Sam", recs[1].Values["FirstName"])
			creates := 0
			for _, call := range writes {
				creates += len(call.write.Creates)
			}
			require.Equal(t, 2, creates, "each record is created once")
			require.InDelta(t, float64(lt.crm.made()), lt.answers.calls(), 1e-9, "every call made is accounted to someone")
		})
	}
}

// A write task the server handed to a poll that never got it (or whose
// worker stopped before the Write began) times out with no heartbeat: it
// made no Salesforce call, so its people are written again after the usual
// backoff, not after the commit horizon, and still get one record each.
func TestLaneWritesAgainSoonWhenAWriteNeverBegan(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"its task was lost", temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil)},
		{"it could not record that it began", temporal.NewApplicationError("could not record that the write began", activities.ErrTypeWriteNotBegun)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lt := newLaneTest(t, testLaneSettings())
			lt.crm.loseNextWrite = tc.err
			lt.send(0, pairRequest("signup", pairing.TriggerRegistration,
				person("LostTask", "lost.task@example.org", "Lou", "Task"),
				person("Neighbor", "neighbor@example.org", "Ned", "Bor")))
			lt.runUntil(LaneInput{Lane: 0}, 2*time.Hour)

			writes := lt.crm.writes()
			require.Len(t, writes, 1, "the lost attempt reached nobody; the next one wrote both")
			require.Less(t, writes[0].at.Sub(laneStart), time.Minute, "written again after the backoff, not after the %s horizon", testHorizon)
			for _, slug := range []string{"LostTask", "Neighbor"} {
				got := lt.answers.one(t, slug)
				require.Equal(t, OutcomeCreated, got.Outcome, "%s: %+v", slug, got)
			}
			require.Len(t, lt.crm.holding("lost.task@example.org"), 1)
			require.Len(t, lt.crm.holding("neighbor@example.org"), 1)
		})
	}
}

// The pause is the org's: it holds a dependent integration's people, who
// share the lane, as it holds the lane's own.
func TestLanePausesWhenTheDailyAllocationIsSpent(t *testing.T) {
	for _, integration := range []string{"", "grants"} {
		t.Run("registration of "+cmp.Or(integration, "the lane's own integration"), func(t *testing.T) {
			lt := newLaneTest(t, testLaneSettings())
			lt.crm.latency = 20 * time.Second
			allocationBack := laneStart.Add(5 * time.Minute)
			lt.crm.lookupFault = func(_ int, at time.Time) error {
				if at.Before(allocationBack) {
					return temporal.NewApplicationErrorWithOptions("REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.", activities.ErrTypeSalesforceQuotaExhausted,
						temporal.ApplicationErrorOptions{NextRetryDelay: activities.QuotaRetryDelay})
				}
				return nil
			}
			lt.send(0, pairRequest("backfill", pairing.TriggerBackfill,
				person("First001", "first@example.org", "Fi", "Rst"),
				person("Second02", "second@example.org", "Se", "Cond")))
			lt.send(time.Minute, dependentRequest("signup", integration, pairing.TriggerRegistration, person("Third003", "third@example.org", "Th", "Ird")))
			lt.runUntil(LaneInput{Lane: 1}, 2*time.Hour)

			lookups := lt.crm.lookups()
			require.GreaterOrEqual(t, len(lookups), 3, "refused, refused again after the pause, then answered")
			require.True(t, lookups[0].failed)
			require.False(t, lookups[len(lookups)-1].failed)
			for i, l := range lookups[:len(lookups)-1] {
				require.True(t, l.failed)
				require.GreaterOrEqual(t, lookups[i+1].at.Sub(l.end), testQuotaPause, "the lane pauses %s after a refusal", testQuotaPause)
			}
			for _, w := range lt.crm.writes() {
				require.False(t, w.at.Before(allocationBack), "nothing is written while the allocation is spent")
			}
			for _, slug := range []string{"First001", "Second02", "Third003"} {
				res := lt.answers.one(t, slug) // never answered failed first
				require.Equal(t, OutcomeCreated, res.Outcome)
			}
			for _, email := range []string{"first@example.org", "second@example.org", "third@example.org"} {
				require.Len(t, lt.crm.holding(email), 1)
			}
		})
	}
}

func TestLaneFailsEveryoneOfTheBatchOnAFatalRefusal(t *testing.T) {
	for _, tc := range []struct{ errType, msg string }{
		{activities.ErrTypeSalesforceOrgRefused, "API_DISABLED_FOR_ORG: API is not enabled for this Organization or Partner"},
		{activities.ErrTypeInvalidSpec, "Contact has no field Surname"},
	} {
		t.Run(tc.errType, func(t *testing.T) {
			lt := newLaneTest(t, testLaneSettings())
			lt.crm.lookupFault = func(int, time.Time) error {
				return temporal.NewNonRetryableApplicationError(tc.msg, tc.errType, nil)
			}
			lt.send(0, pairRequest("backfill", pairing.TriggerBackfill,
				person("First001", "first@example.org", "Fi", "Rst"),
				person("Second02", "second@example.org", "Se", "Cond")),
				pairRequest("signup", pairing.TriggerRegistration, person("Third003", "third@example.org", "Th", "Ird")))
			lt.runUntil(LaneInput{Lane: 1}, time.Hour)

			for _, slug := range []string{"First001", "Second02", "Third003"} {
				res := lt.answers.one(t, slug)
				require.Equal(t, OutcomeFailed, res.Outcome)
				require.Equal(t, tc.errType, res.ErrorType)
				require.Contains(t, res.Error, tc.msg)
			}
			require.Len(t, lt.crm.lookups(), 1, "not tried again")
			require.Empty(t, lt.crm.writes())
		})
	}
}

func TestLaneCarriesItsPeopleAndMemoryAcrossContinueAsNew(t *testing.T) {
	s := testLaneSettings()
	s.BatchesPerRun = 1
	lt := newLaneTest(t, s)
	lt.crm.recordFaults["DoubtfuL"] = []recordFault{{errType: activities.ErrTypeSalesforceOutcomeUnknown, msg: "read tcp: i/o timeout", unknown: true, commits: true}}
	lt.send(0,
		pairRequest("webhook", pairing.TriggerProfileUpdate,
			updated(person("AdaLovel", "ada@example.org", "Ada", "Lovelace"), laneStart.Add(-time.Hour)),
			person("DoubtfuL", "doubt@example.org", "Don", "Doubt")),
		pairRequest("backfill", pairing.TriggerBackfill,
			updated(person("AdaLovel", "ada@example.org", "Ada", "Byron"), laneStart.Add(-2*time.Hour)), // waits for the first
			person("SameMail", "Doubt@example.org", "Sam", "Doubt")))                                    // waits for the identifier
	next := lt.runToBound(LaneInput{Lane: 2})

	// The first run: one batch, then continue-as-new with the rest.
	require.Equal(t, OutcomeCreated, lt.answers.forRequest(t, "webhook", "AdaLovel").Outcome)
	require.Len(t, lt.answers.got, 1, "only Ada's newer version is answered in the first run")
	require.Equal(t, 2, next.Lane)
	require.NotNil(t, next.State)
	var waiting []string
	for _, it := range next.State.Items {
		waiting = append(waiting, it.Profile.Slug)
	}
	require.ElementsMatch(t, []string{"AdaLovel", "DoubtfuL", "SameMail"}, waiting, "the waiting people and the one in doubt")
	require.Contains(t, next.State.Requests, "webhook")
	require.Contains(t, next.State.Requests, "backfill")
	require.Contains(t, next.State.Written, "AdaLovel", "the written version is remembered")
	require.Contains(t, next.State.Doubt, "DoubtfuL", "the doubt is carried")

	// The next run, a minute later, on the same org.
	lt2 := newLaneTestOn(t, testLaneSettings(), lt.crm, laneStart.Add(time.Minute))
	lt2.runUntil(next, 2*time.Hour)

	stale := lt2.answers.forRequest(t, "backfill", "AdaLovel")
	require.Equal(t, OutcomeSkipped, stale.Outcome)
	require.Contains(t, stale.Decision.Reason, "superseded", "the memory outlives the run")
	ada := lt.crm.holding("ada@example.org")
	require.Len(t, ada, 1)
	require.Equal(t, "Lovelace", ada[0].Values["LastName"])

	doubt := lt.crm.holding("doubt@example.org")
	require.Len(t, doubt, 2, "the write in doubt is not made twice; the other person has their own")
	doubted := lt2.answers.forRequest(t, "webhook", "DoubtfuL")
	require.NotEqual(t, OutcomeFailed, doubted.Outcome)
	require.Equal(t, doubt[0].ID, doubted.RecordID)
	require.Equal(t, "Don", doubt[0].Values["FirstName"])
	same := lt2.answers.forRequest(t, "backfill", "SameMail")
	require.Equal(t, doubt[1].ID, same.RecordID)
	require.Equal(t, "Sam", doubt[1].Values["FirstName"])
	lost := lt.crm.writes()[0].at
	for _, call := range lt.crm.afterFirstWrite() {
		if call.touches("doubt@example.org", "DoubtfuL", "SameMail") {
			require.False(t, call.at.Before(lost.Add(testHorizon)), "the doubt holds in the next run: %+v", call)
		}
	}
}

func TestLaneReadsAgainAProfileOlderThanItsMemory(t *testing.T) {
	lt := newLaneTest(t, testLaneSettings())
	stale := person("StaleRea", "stale@example.org", "Sue", "Byron")
	stale.ReadAt = laneStart.Add(-3 * time.Hour)
	lt.users["StaleRea"] = pairing.Profile{Slug: "StaleRea", Values: map[string]string{"email": "stale@example.org", "first_name": "Sue", "last_name": "Lovelace"}}
	lt.send(0, pairRequest("backfill", pairing.TriggerBackfill, stale, person("FreshRea", "fresh@example.org", "Fred", "Fresh")))
	lt.runUntil(LaneInput{Lane: 0, State: &LaneState{MemorySince: laneStart.Add(-2 * time.Hour)}}, time.Hour)

	lt.mu.Lock()
	defer lt.mu.Unlock()
	require.Equal(t, map[string]int{"StaleRea": 1}, lt.reads, "only the profile read before the memory begins is read again")
	res := lt.answers.one(t, "StaleRea")
	require.Equal(t, OutcomeCreated, res.Outcome)
	require.Contains(t, res.Decision.CRM, pairing.Change{Field: "LastName", Source: "last_name", After: "Lovelace"}, "decided on the fresh read")
	require.Equal(t, "Lovelace", lt.crm.holding("stale@example.org")[0].Values["LastName"])
	require.Equal(t, OutcomeCreated, lt.answers.one(t, "FreshRea").Outcome)
}

func TestLaneHoldsTheIdentifierAFreshReadFinds(t *testing.T) {
	lt := newLaneTest(t, testLaneSettings())
	// Read long ago with an old email; the profile now has a colleague's.
	moved := person("MovedMai", "old@example.org", "Mo", "Ved")
	moved.ReadAt = laneStart.Add(-3 * time.Hour)
	lt.users["MovedMai"] = pairing.Profile{Slug: "MovedMai", Values: map[string]string{"email": "shared@example.org", "first_name": "Mo", "last_name": "Ved"}}
	lt.send(0, pairRequest("backfill", pairing.TriggerBackfill, moved, person("Colleagu", "shared@example.org", "Col", "League")))
	// Later, someone who has the old email.
	lt.send(time.Hour, pairRequest("signup", pairing.TriggerRegistration, person("NewOwner", "old@example.org", "Ned", "Owner")))
	lt.runUntil(LaneInput{Lane: 0, State: &LaneState{MemorySince: laneStart.Add(-2 * time.Hour)}}, 2*time.Hour)

	shared := lt.crm.holding("shared@example.org")
	require.Len(t, shared, 2, "two people, two records, one at a time")
	require.Equal(t, shared[0].ID, lt.answers.one(t, "Colleagu").RecordID)
	require.Equal(t, "Col", shared[0].Values["FirstName"])
	require.Equal(t, shared[1].ID, lt.answers.one(t, "MovedMai").RecordID)
	require.Equal(t, "Mo", shared[1].Values["FirstName"])
	owner := lt.answers.one(t, "NewOwner") // the old email is not held for ever
	require.Equal(t, OutcomeCreated, owner.Outcome)
	require.Len(t, lt.crm.holding("old@example.org"), 1)
}

// sluggedRequest is pairRequest with a spec whose records carry the slug
// in an external id.
func sluggedRequest(id string, trigger pairing.Trigger, items ...PairItem) PairRequest {
	r := pairRequest(id, trigger, items...)
	r.Spec.ExternalID = pairing.ExternalID{CRM: "AwardForce_Slug__c"}
	return r
}

// identityCase is an identity test's spec: with an external id, or
// without one (the lane's memory then tells whose a record is).
type identityCase struct {
	name string
	req  func(id string, trigger pairing.Trigger, items ...PairItem) PairRequest
}

// withEmail is it with another address, as Award Force sends it after
// the person changed theirs.
func withEmail(it PairItem, email string) PairItem {
	it.Profile.Values = maps.Clone(it.Profile.Values)
	it.Profile.Values["email"] = email
	return it
}

func TestLaneFollowsAPersonWhoChangesTheirEmail(t *testing.T) {
	for _, tc := range []identityCase{
		{"by the slug on the record", sluggedRequest},
		{"by the lane's memory, without an external id", pairRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lt := newLaneTest(t, testLaneSettings())
			ada := person("AdaLovel", "ada@example.org", "Ada", "Lovelace")
			lt.send(0, tc.req("signup", pairing.TriggerRegistration, ada))
			lt.send(time.Minute, tc.req("edit", pairing.TriggerProfileUpdate, withEmail(ada, "countess@example.org")))
			// A newcomer takes the address Ada gave up.
			lt.send(2*time.Minute, tc.req("newcomer", pairing.TriggerRegistration, person("NewOwner", "ada@example.org", "Ned", "Owner")))
			lt.runUntil(LaneInput{Lane: 0}, time.Hour)

			created := lt.answers.forRequest(t, "signup", "AdaLovel")
			require.Equal(t, OutcomeCreated, created.Outcome)
			edit := lt.answers.forRequest(t, "edit", "AdaLovel")
			require.Equal(t, OutcomeUpdated, edit.Outcome, edit.Decision.Reason)
			require.Equal(t, created.RecordID, edit.RecordID, "the same record, for life")
			require.Equal(t, []pairing.Change{{Field: "Email", Source: "email", Before: "ada@example.org", After: "countess@example.org"}}, edit.Decision.CRM)
			countess := lt.crm.holding("countess@example.org")
			require.Len(t, countess, 1)
			require.Equal(t, "Ada", countess[0].Values["FirstName"])

			ned := lt.answers.one(t, "NewOwner")
			require.Equal(t, OutcomeCreated, ned.Outcome)
			require.NotEqual(t, created.RecordID, ned.RecordID)
			freed := lt.crm.holding("ada@example.org")
			require.Len(t, freed, 1)
			require.Equal(t, "Ned", freed[0].Values["FirstName"])
			require.Len(t, lt.crm.records, 2, "no stale record left behind")
		})
	}
}

func TestLaneNeverHandsARecordToANewcomerBeforeItsOwnersChangeLands(t *testing.T) {
	for _, tc := range []identityCase{
		{"the record carries its owner's slug", sluggedRequest},
		{"the lane remembers its owner", pairRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lt := newLaneTest(t, testLaneSettings())
			ada := person("AdaLovel", "ada@example.org", "Ada", "Lovelace")
			lt.send(0, tc.req("signup", pairing.TriggerRegistration, ada))
			// The newcomer's registration and Ada's change arrive together,
			// the newcomer's first: one batch could hold both.
			lt.send(time.Minute,
				tc.req("newcomer", pairing.TriggerRegistration, person("NewOwner", "ada@example.org", "Ned", "Owner")),
				tc.req("edit", pairing.TriggerProfileUpdate, withEmail(ada, "countess@example.org")))
			lt.runUntil(LaneInput{Lane: 0}, time.Hour)

			adaRec := lt.answers.forRequest(t, "signup", "AdaLovel").RecordID
			require.Equal(t, adaRec, lt.answers.forRequest(t, "edit", "AdaLovel").RecordID)
			ned := lt.answers.one(t, "NewOwner")
			require.Equal(t, OutcomeCreated, ned.Outcome, ned.Decision.Reason)
			for _, r := range lt.crm.records {
				if r.ID == adaRec {
					require.Equal(t, "Ada", r.Values["FirstName"], "Ada's record never holds the newcomer's values")
					require.Equal(t, "countess@example.org", r.Values["Email"])
				} else {
					require.Equal(t, "Ned", r.Values["FirstName"])
				}
			}
			require.Len(t, lt.crm.records, 2)
		})
	}
}

func TestALaneThatForgotFollowsPeopleThroughTheIdentityLedger(t *testing.T) {
	for _, withLedger := range []bool{true, false} {
		t.Run(fmt.Sprintf("ledger %v", withLedger), func(t *testing.T) {
			org := newCRM()
			org.noLedger = !withLedger
			first := newLaneTestOn(t, testLaneSettings(), org, laneStart)
			ada := person("AdaLovel", "ada@example.org", "Ada", "Lovelace")
			first.send(0, pairRequest("signup", pairing.TriggerRegistration, ada))
			first.runUntil(LaneInput{Lane: 0}, time.Hour)
			adaRec := first.answers.one(t, "AdaLovel").RecordID

			// Months later, a lane that remembers nothing of Ada (its
			// memory passed, or it was terminated): a newcomer registers
			// the address Ada is about to give up, then Ada's change comes.
			later := newLaneTestOn(t, testLaneSettings(), org, laneStart.Add(90*24*time.Hour))
			later.send(0,
				pairRequest("newcomer", pairing.TriggerRegistration, person("NewOwner", "ada@example.org", "Ned", "Owner")),
				pairRequest("edit", pairing.TriggerProfileUpdate, withEmail(ada, "countess@example.org")))
			later.runUntil(LaneInput{Lane: 0}, time.Hour)

			ned := later.answers.one(t, "NewOwner")
			if !adaKeptHerRecord(t, org, adaRec, ned, later.answers.one(t, "AdaLovel"), withLedger) {
				return
			}
			for _, r := range org.records {
				if r.ID == adaRec {
					require.Equal(t, map[string]string{"Email": "countess@example.org", "FirstName": "Ada", "LastName": "Lovelace"}, r.Values)
				} else {
					require.Equal(t, "Ned", r.Values["FirstName"])
				}
			}
			require.Equal(t, map[string]string{"AdaLovel": normalID(adaRec), "NewOwner": normalID(ned.RecordID)}, org.ledger)
			require.Equal(t, 2, org.ledgerWrites, "a pairing the ledger holds is not written again")
		})
	}
}

// adaKeptHerRecord checks the answers to a newcomer, ned, who registered
// the address Ada gave up, and to Ada's change (edit), in a lane that
// forgot her: with the identity ledger, a record each and Ada's is hers
// for life; without it (what the ledger is for), the newcomer took her
// record and her change made her a second one. It says whether the
// ledger was there.
func adaKeptHerRecord(t *testing.T, org *crm, adaRec string, ned, edit UserSyncResult, withLedger bool) bool {
	t.Helper()
	if !withLedger {
		require.Equal(t, adaRec, ned.RecordID)
		require.NotEqual(t, adaRec, edit.RecordID)
		return false
	}
	require.Equal(t, OutcomeCreated, ned.Outcome, ned.Decision.Reason)
	require.NotEqual(t, adaRec, ned.RecordID, "the newcomer gets a record of their own")
	require.Equal(t, OutcomeUpdated, edit.Outcome, edit.Decision.Reason)
	require.Equal(t, adaRec, edit.RecordID, "the same record, for life")
	require.Len(t, org.records, 2)
	return true
}

func TestLaneAdoptsARecordMadeBeforeAfsync(t *testing.T) {
	lt := newLaneTest(t, testLaneSettings())
	lt.crm.add("003PRE000000000001", "grace@example.org", "Grace", "Hopper")
	lt.send(0, sluggedRequest("backfill", pairing.TriggerBackfill, person("GraceHop", "Grace@example.org", "Grace", "Hopper")))
	lt.send(time.Minute, sluggedRequest("edit", pairing.TriggerProfileUpdate, withEmail(person("GraceHop", "Grace@example.org", "Grace", "Hopper"), "admiral@example.org")))
	lt.runUntil(LaneInput{Lane: 0}, time.Hour)

	first := lt.answers.forRequest(t, "backfill", "GraceHop")
	require.Equal(t, OutcomeUpdated, first.Outcome)
	require.Equal(t, []pairing.Change{{Field: "AwardForce_Slug__c", Source: pairing.SourceSlug, After: "GraceHop"}}, first.Decision.CRM)
	edit := lt.answers.forRequest(t, "edit", "GraceHop")
	require.Equal(t, "003PRE000000000001", edit.RecordID, "found by the slug it was given")
	require.Len(t, lt.crm.records, 1)
	require.Equal(t, "admiral@example.org", lt.crm.records[0].Values["Email"])
}

func TestLaneHandsOnAnEditMadeInSalesforceUnderItsWrite(t *testing.T) {
	watchedRequest := func(id string, trigger pairing.Trigger, items ...PairItem) PairRequest {
		r := pairRequest(id, trigger, items...)
		r.Spec.Fields = append(r.Spec.Fields, pairing.FieldPair{AwardForce: "JobTitle", CRM: "Title", Direction: pairing.DirectionFromCRM})
		return r
	}
	for _, tc := range []struct {
		name   string
		edit   func(r *pairing.CRMRecord)
		handed bool
	}{
		{"a field the CRM owns is edited", func(r *pairing.CRMRecord) { r.Values["Title"] = "Director" }, true},
		{"nothing else changes", nil, false},
		{"a field Award Force owns is edited (afsync's write wins it)", func(r *pairing.CRMRecord) { r.Values["LastName"] = "Other" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lt := newLaneTest(t, testLaneSettings())
			lt.crm.records = append(lt.crm.records, pairing.CRMRecord{ID: "003000000000001AAA", Values: map[string]string{
				"Email": "ada@example.org", "FirstName": "Ada", "LastName": "Byron", "Title": "Analyst"}})
			lt.crm.underWrite = tc.edit
			lt.send(0, watchedRequest("edit", pairing.TriggerProfileUpdate, person("AdaLovel", "ada@example.org", "Ada", "Lovelace")))
			lt.runUntil(LaneInput{Lane: 0}, time.Hour)

			res := lt.answers.one(t, "AdaLovel")
			require.Equal(t, OutcomeUpdated, res.Outcome)
			require.True(t, lt.crm.writes()[0].write.ReadBack, "a spec that watches the CRM reads its updates back")
			if !tc.handed {
				require.Empty(t, lt.started)
				return
			}
			require.Equal(t, []SyncRequest{{Slug: "AdaLovel", Trigger: pairing.TriggerCRMChange, RecordID: "003000000000001AAA"}}, lt.started,
				"the watch takes the record for afsync's echo: the lane hands the edit on")
		})
	}
}

func TestLaneRemembersTheRecordsOfTheLastPeopleItWroteOnly(t *testing.T) {
	l := &lane{st: LaneState{Written: map[string]Written{}, Paired: map[string]string{}, Doubt: map[string]time.Time{}}}
	at := laneStart.Unix()
	for i := range pairedCap + 10 {
		slug := fmt.Sprintf("P%07d", i)
		l.st.Written[slug] = Written{at, at + int64(i)}
		l.st.Paired[slug] = fmt.Sprintf("003%015d", i)
	}
	l.capPaired()
	require.Len(t, l.st.Paired, pairedCap)
	require.NotContains(t, l.st.Paired, "P0000000", "the longest unwritten is forgotten")
	require.Contains(t, l.st.Paired, fmt.Sprintf("P%07d", pairedCap+9))
	require.Len(t, l.st.Written, pairedCap+10, "the versions are kept (memoryCap bounds them)")
}
