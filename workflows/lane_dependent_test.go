package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/afsync/afsync/pairing"
)

// dependentRequest is pairRequest from the dependent integration id, as
// its Coordinator's Submit hands it.
func dependentRequest(id, integration string, trigger pairing.Trigger, items ...PairItem) PairRequest {
	r := pairRequest(id, trigger, items...)
	r.Integration = integration
	return r
}

// A dependent integration's names are its own, but for the lanes it
// writes through, their queues and the ledger: those of the org's
// authenticated integration, whose worker holds the org's grant.
func TestADependentIntegrationWritesThroughItsOrgsLanes(t *testing.T) {
	for _, auth := range []Names{DefaultNames, NamesOf("awards")} {
		grants := NamesOf("grants").DependentOn(auth)
		require.True(t, grants.Dependent())
		require.False(t, auth.Dependent())
		require.Equal(t, auth.Integration(), grants.Org())
		require.Equal(t, auth.Lane(0), grants.Lane(0))
		require.Equal(t, auth.LaneQueue(0, 3), grants.LaneQueue(0, 3))
		require.Equal(t, auth.ledgerPrefix("Contact"), grants.ledgerPrefix("Contact"))

		own := NamesOf("grants")
		require.Equal(t, own.TaskQueue(), grants.TaskQueue())
		require.Equal(t, own.AwardForceTaskQueue(), grants.AwardForceTaskQueue())
		require.Equal(t, own.CoordinatorTaskQueue(), grants.CoordinatorTaskQueue(), "its budget runs on its own worker")
		require.Equal(t, own.Budget(), grants.Budget())
		require.Equal(t, own.CRMWatch(), grants.CRMWatch())
		require.Equal(t, own.UserSync("AbCd1234"), grants.UserSync("AbCd1234"))

		require.Equal(t, "AbCd1234", auth.Person("AbCd1234"))
		require.Equal(t, "grants/AbCd1234", grants.Person("AbCd1234"))
		require.Equal(t, grants, auth.of("grants"), "a lane knows its dependents' names")
		require.Equal(t, auth, auth.of(""))

		// A lane started by a dependent's sync is the org's: its labels and
		// its task queue.
		o := grants.lanes().coordinatorOptions(grants.Lane(0), "Pairing lane 0")
		require.Equal(t, auth.CoordinatorTaskQueue(), o.TaskQueue)
		require.Equal(t, auth.Integration(), o.Memo[MemoIntegration])
	}
}

// Two Award Force accounts on one org may hold the same slug and the same
// address, for two people: the lane gives each a record of their own,
// never writes one's values into the other's, remembers them apart, and
// finds each one's own record again after it forgot them (the ledger).
func TestALaneKeepsTwoIntegrationsPeopleApartWhateverTheyShare(t *testing.T) {
	org := newCRM()
	first := newLaneTestOn(t, testLaneSettings(), org, laneStart)
	first.send(0,
		pairRequest("awards-signup", pairing.TriggerRegistration, person("SameSlug", "shared@example.org", "Ann", "Awards")),
		dependentRequest("grants-signup", "grants", pairing.TriggerRegistration, person("SameSlug", "shared@example.org", "Gus", "Grants")))
	first.runUntil(LaneInput{Lane: 0}, time.Hour)

	ann := first.answers.forRequest(t, "awards-signup", "SameSlug")
	gus := first.answers.forRequest(t, "grants-signup", "SameSlug")
	require.Equal(t, OutcomeCreated, ann.Outcome, ann.Decision.Reason)
	require.Equal(t, OutcomeCreated, gus.Outcome, gus.Decision.Reason)
	require.NotEqual(t, ann.RecordID, gus.RecordID, "a record each")
	require.Len(t, org.holding("shared@example.org"), 2)
	require.Equal(t, map[string]string{"SameSlug": normalID(ann.RecordID), "grants/SameSlug": normalID(gus.RecordID)}, org.ledger)

	// Later, a lane that remembers neither: Gus edits his name, Ann hers.
	later := newLaneTestOn(t, testLaneSettings(), org, laneStart.Add(30*24*time.Hour))
	gusEdit := person("SameSlug", "shared@example.org", "Gus", "Grantham")
	gusEdit.ReadAt = laneStart.Add(30 * 24 * time.Hour)
	annEdit := person("SameSlug", "shared@example.org", "Ann", "Awardson")
	annEdit.ReadAt = gusEdit.ReadAt
	later.send(0,
		dependentRequest("grants-edit", "grants", pairing.TriggerProfileUpdate, gusEdit),
		pairRequest("awards-edit", pairing.TriggerProfileUpdate, annEdit))
	later.runUntil(LaneInput{Lane: 0}, time.Hour)

	require.Equal(t, gus.RecordID, later.answers.forRequest(t, "grants-edit", "SameSlug").RecordID, "Gus's record, for life")
	require.Equal(t, ann.RecordID, later.answers.forRequest(t, "awards-edit", "SameSlug").RecordID, "Ann's record, for life")
	require.Len(t, org.records, 2)
	for _, r := range org.records {
		switch r.ID {
		case ann.RecordID:
			require.Equal(t, "Awardson", r.Values["LastName"])
		case gus.RecordID:
			require.Equal(t, "Grantham", r.Values["LastName"])
		}
	}
}

// A dependent integration's person whose profile is older than the lane's
// memory is read again with their own Award Force account: on its task
// queue, with a permit from its budget; the lane's own people with the
// lane's.
func TestALaneReadsADependentsPeopleAgainWithTheirOwnKey(t *testing.T) {
	lt := newLaneTest(t, testLaneSettings())
	stale := person("StaleOne", "stale@example.org", "Sue", "Byron")
	stale.ReadAt = laneStart.Add(-3 * time.Hour)
	lt.users["StaleOne"] = pairing.Profile{Slug: "StaleOne", Values: map[string]string{"email": "stale@example.org", "first_name": "Sue", "last_name": "Lovelace"}}
	lt.send(0, dependentRequest("grants-backfill", "grants", pairing.TriggerBackfill, stale))
	lt.runUntil(LaneInput{Lane: 0, State: &LaneState{MemorySince: laneStart.Add(-2 * time.Hour)}}, time.Hour)

	res := lt.answers.forRequest(t, "grants-backfill", "StaleOne")
	require.Equal(t, OutcomeCreated, res.Outcome, res.Decision.Reason)
	require.Equal(t, "Lovelace", lt.crm.holding("stale@example.org")[0].Values["LastName"], "decided on the fresh read")
	lt.mu.Lock()
	defer lt.mu.Unlock()
	require.Equal(t, []string{NamesOf("grants").AwardForceTaskQueue()}, lt.readOn)
	require.Len(t, lt.permits, 1)
	require.Equal(t, "grants", lt.permits[0].Integration, "a permit of grants' budget")
	require.Contains(t, lt.permits[0].ID, "/permits-grants-")
}

// A grant reaches the gate that asked for it: the workflow's own, or the
// one of the integration its request ID names (the longest that fits).
func TestAGrantReachesTheGateThatAskedForIt(t *testing.T) {
	own := &afGate{budgeted: true}
	require.Same(t, own, own.asker("wf/run/permits-3"))
	grants, grants2 := own.gateFor("grants"), own.gateFor("grants-2")
	require.Same(t, grants, own.gateFor("grants"), "one gate an integration")
	require.Same(t, own, own.gateFor(""))
	require.Same(t, own, own.asker("wf/run/permits-3x2"))
	require.Same(t, grants, own.asker("wf/run/permits-grants-3x2"))
	require.Same(t, grants2, own.asker("wf/run/permits-grants-2-3"))
	require.Same(t, grants, own.asker("wf/run/permits-grants-21"))
}

// Edits under a write are handed to each person's own integration's
// syncs, one start per integration; a batch of the lane's own people only
// starts them in one call, as before dependents.
func TestEditsUnderWritesStartEachIntegrationsSyncs(t *testing.T) {
	spec := *pairing.Default()
	reqs := []SyncRequest{{Slug: "a"}, {Slug: "b"}, {Slug: "c"}}
	require.Equal(t, []StartSyncsInput{{Spec: spec, Requests: reqs}}, startsByIntegration(spec, reqs, []string{"", "", ""}))
	require.Equal(t, []StartSyncsInput{
		{Spec: spec, Integration: "grants", Requests: []SyncRequest{{Slug: "a"}, {Slug: "c"}}},
		{Spec: spec, Requests: []SyncRequest{{Slug: "b"}}},
	}, startsByIntegration(spec, reqs, []string{"grants", "", "grants"}))
}

// Each integration's CRM watch takes, of the people the org's ledger pairs
// with a changed record, its own.
func TestEachWatchTakesItsOwnPeopleFromTheOrgsLedger(t *testing.T) {
	grants := NamesOf("grants").DependentOn(DefaultNames)
	for _, c := range []struct {
		n         Names
		who, slug string
		ours      bool
	}{
		{DefaultNames, "AbCd1234", "AbCd1234", true},
		{DefaultNames, "grants/AbCd1234", "", false},
		{grants, "grants/AbCd1234", "AbCd1234", true},
		{grants, "AbCd1234", "", false},
		{grants, "grants-2/AbCd1234", "", false},
	} {
		slug, ours := c.n.Slug(c.who)
		require.Equal(t, c.ours, ours, "%s in %s", c.who, c.n.Integration())
		if ours {
			require.Equal(t, c.slug, slug)
			require.Equal(t, c.who, c.n.Person(slug))
		}
	}
}

// sharedRequest is a request whose spec shares records across
// integrations (across_integrations: one_record), from integration ("" the
// lane's own).
func sharedRequest(id, integration string, trigger pairing.Trigger, items ...PairItem) PairRequest {
	r := dependentRequest(id, integration, trigger, items...)
	r.Spec.AcrossIntegrations = pairing.OneRecord
	return r
}

// With across_integrations: one_record, one address in two integrations is
// one person in two programmes: the second is paired with the first's
// record, which holds whoever synced last, for life (a lane that forgot
// them both finds it again through the ledger). One who then changes their
// address leaves the shared record, which keeps the address the other
// holds; the other's edits still land on it.
func TestOneRecordAcrossIntegrationsIsSharedAndLeftByWhoeverChangesAddress(t *testing.T) {
	org := newCRM()
	first := newLaneTestOn(t, testLaneSettings(), org, laneStart)
	first.send(0, sharedRequest("awards-signup", "", pairing.TriggerRegistration, person("AnnAward", "ann@example.org", "Ann", "Awards")))
	first.send(time.Minute, sharedRequest("grants-signup", "grants", pairing.TriggerRegistration, person("AnnGrant", "ANN@example.org", "Ann", "Grants")))
	first.runUntil(LaneInput{Lane: 0}, time.Hour)
	ann := first.answers.forRequest(t, "awards-signup", "AnnAward")
	gus := first.answers.forRequest(t, "grants-signup", "AnnGrant")
	require.Equal(t, OutcomeCreated, ann.Outcome, ann.Decision.Reason)
	require.Equal(t, OutcomeUpdated, gus.Outcome, gus.Decision.Reason)
	require.Equal(t, ann.RecordID, gus.RecordID, "one person in two programmes: one record")
	require.Len(t, org.records, 1)
	require.Equal(t, "Grants", org.records[0].Values["LastName"], "the values of whoever synced last")
	require.Equal(t, map[string]string{"AnnAward": normalID(ann.RecordID), "grants/AnnGrant": normalID(ann.RecordID)}, org.ledger)

	// A month on, a lane that remembers neither: Ann edits her awards
	// profile (her record, through the ledger), then changes her grants
	// address: she leaves the shared record there, which keeps the address
	// her awards profile holds.
	at := laneStart.Add(30 * 24 * time.Hour)
	later := newLaneTestOn(t, testLaneSettings(), org, at)
	edit := person("AnnAward", "ann@example.org", "Ann", "Awardson")
	edit.ReadAt = at
	moved := person("AnnGrant", "ann.new@example.org", "Ann", "Grants")
	moved.ReadAt = at
	later.send(0, sharedRequest("awards-edit", "", pairing.TriggerProfileUpdate, edit))
	later.send(time.Minute, sharedRequest("grants-move", "grants", pairing.TriggerProfileUpdate, moved))
	later.runUntil(LaneInput{Lane: 0}, time.Hour)
	require.Equal(t, ann.RecordID, later.answers.forRequest(t, "awards-edit", "AnnAward").RecordID)
	left := later.answers.forRequest(t, "grants-move", "AnnGrant")
	require.Equal(t, OutcomeCreated, left.Outcome, left.Decision.Reason)
	require.NotEqual(t, ann.RecordID, left.RecordID, "who changes their address leaves the shared record")
	require.Len(t, org.records, 2)
	for _, r := range org.records {
		switch r.ID {
		case ann.RecordID:
			require.Equal(t, map[string]string{"Email": "ann@example.org", "FirstName": "Ann", "LastName": "Awardson"}, r.Values)
		case left.RecordID:
			require.Equal(t, "ann.new@example.org", r.Values["Email"])
		}
	}
}

// With across_integrations: one_record, Ann's change in one programme and a
// registration of her address in another at the same moment: when she
// keeps her address, the registration is her in the other programme, and
// shares her record once her change is written (one identifier in flight
// at a time); when she leaves it, her record (hers alone) follows her, and
// whoever registers the address gets a record of their own, never hers.
func TestAChangeAndARegistrationOfItsAddressInAnotherProgrammeAtOnce(t *testing.T) {
	for _, c := range []struct {
		name, email, last string
		shares            bool
	}{
		{"she keeps her address", "ann@example.org", "Awardson", true},
		{"she leaves it", "ann.new@example.org", "Awards", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			org := newCRM()
			first := newLaneTestOn(t, testLaneSettings(), org, laneStart)
			first.send(0, sharedRequest("awards-signup", "", pairing.TriggerRegistration, person("AnnAward", "ann@example.org", "Ann", "Awards")))
			first.runUntil(LaneInput{Lane: 0}, time.Hour)
			ann := first.answers.forRequest(t, "awards-signup", "AnnAward")

			second := newLaneTestOn(t, testLaneSettings(), org, laneStart.Add(time.Minute))
			change := person("AnnAward", c.email, "Ann", c.last)
			change.ReadAt = laneStart.Add(time.Minute)
			signup := person("SomeGrnt", "ann@example.org", "Sam", "Grants")
			signup.ReadAt = change.ReadAt
			second.send(0,
				sharedRequest("awards-change", "", pairing.TriggerProfileUpdate, change),
				sharedRequest("grants-signup", "grants", pairing.TriggerRegistration, signup))
			second.runUntil(LaneInput{Lane: 0}, time.Hour)

			require.Equal(t, ann.RecordID, second.answers.forRequest(t, "awards-change", "AnnAward").RecordID, "her record stays hers")
			sam := second.answers.forRequest(t, "grants-signup", "SomeGrnt")
			if c.shares {
				require.Equal(t, ann.RecordID, sam.RecordID, "one person, one record: %s", sam.Decision.Reason)
				require.Len(t, org.records, 1)
				return
			}
			require.Equal(t, OutcomeCreated, sam.Outcome, sam.Decision.Reason)
			require.NotEqual(t, ann.RecordID, sam.RecordID)
			for _, r := range org.records {
				if r.ID == ann.RecordID {
					require.Equal(t, map[string]string{"Email": "ann.new@example.org", "FirstName": "Ann", "LastName": "Awards"}, r.Values, "never the newcomer's values")
				}
			}
		})
	}
}

// annShared is Ann paired in awards and grants with one shared record
// (across_integrations: one_record): the lane test that paired her
// (first), and the one her next syncs go to (second), sent after that long
// and read at: the same lane two hours on, or, when it forgot her, a lane
// a month on that finds her only in the ledger.
type annShared struct {
	org           *crm
	first, second *laneTest
	after         time.Duration
	at            time.Time
}

// annInTwoProgrammes pairs Ann in awards and grants with requests req
// makes.
func annInTwoProgrammes(t *testing.T, forgot bool, req func(id, integration string, trigger pairing.Trigger, items ...PairItem) PairRequest) annShared {
	a := annShared{org: newCRM()}
	a.first = newLaneTestOn(t, testLaneSettings(), a.org, laneStart)
	a.first.send(0, req("awards-signup", "", pairing.TriggerRegistration, person("AnnAward", "ann@example.org", "Ann", "Awards")))
	a.first.send(time.Minute, req("grants-signup", "grants", pairing.TriggerRegistration, person("AnnGrant", "ann@example.org", "Ann", "Grants")))
	a.second, a.after, a.at = a.first, 2*time.Hour, laneStart.Add(2*time.Hour)
	if forgot {
		a.first.runUntil(LaneInput{Lane: 0}, time.Hour)
		a.at = laneStart.Add(30 * 24 * time.Hour)
		a.second, a.after = newLaneTestOn(t, testLaneSettings(), a.org, a.at), 0
	}
	return a
}

// With across_integrations: one_record and three programmes: Ann shares a
// record between awards and grants; she leaves it in awards (a new
// address) at the moment she registers her old address in fellowships. The
// registration is her in a third programme: it shares the record grants
// still holds, never makes a second one for her address; whether the lane
// remembers them or finds them in the ledger.
func TestARegistrationWhileOneOfThreeSharersLeavesJoinsTheOthers(t *testing.T) {
	for _, forgot := range []bool{false, true} {
		t.Run(map[bool]string{false: "a lane that remembers them", true: "a lane that forgot them"}[forgot], func(t *testing.T) {
			ann := annInTwoProgrammes(t, forgot, sharedRequest)
			org, first, second, after, at := ann.org, ann.first, ann.second, ann.after, ann.at
			moved := person("AnnAward", "ann.new@example.org", "Ann", "Awards")
			moved.ReadAt = at
			joins := person("AnnFello", "ann@example.org", "Ann", "Fellows")
			joins.ReadAt = at
			second.send(after,
				sharedRequest("awards-move", "", pairing.TriggerProfileUpdate, moved),
				sharedRequest("fellows-signup", "fellows", pairing.TriggerRegistration, joins))
			second.runUntil(LaneInput{Lane: 0}, 3*time.Hour)

			shared := first.answers.forRequest(t, "awards-signup", "AnnAward").RecordID
			require.Equal(t, shared, first.answers.forRequest(t, "grants-signup", "AnnGrant").RecordID)
			left := second.answers.forRequest(t, "awards-move", "AnnAward")
			require.NotEqual(t, shared, left.RecordID, "who changes their address leaves the shared record: %s", left.Decision.Reason)
			fello := second.answers.forRequest(t, "fellows-signup", "AnnFello")
			require.Equal(t, shared, fello.RecordID, "the same address in a third programme shares grants' record: %s (%s)", fello.Outcome, fello.Decision.Reason)
			require.Equal(t, OutcomeUpdated, fello.Outcome, "joined once the sharer left, not failed")
			require.Len(t, org.holding("ann@example.org"), 1, "one record for the address")
			require.Equal(t, map[string]string{"Email": "ann@example.org", "FirstName": "Ann", "LastName": "Fellows"},
				org.holding("ann@example.org")[0].Values, "the values of whoever synced last")
			require.Equal(t, "ann.new@example.org", org.holding("ann.new@example.org")[0].Values["Email"])
			require.Equal(t, normalID(shared), org.ledger["fellows/AnnFello"], "the ledger pairs the third programme with the shared record")
		})
	}
}

// With across_integrations: one_record: Ann holds a record alone in
// awards; she registers her address in grants, and while that batch writes
// the record (the grants registration now shares it), her awards address
// changes. The move waits for the registration's batch, then leaves the
// record to grants (a record of her new address), never writing it in a
// batch of its own at the same moment: the record keeps grants' values
// and address, the new address has its own, whether the lane remembers
// the awards pairing or finds it in the ledger.
func TestASoleHolderMovingWhileANewcomerSharesTheirRecordLeavesIt(t *testing.T) {
	for _, forgot := range []bool{false, true} {
		t.Run(map[bool]string{false: "a lane that remembers them", true: "a lane that forgot them"}[forgot], func(t *testing.T) {
			org := newCRM()
			first := newLaneTestOn(t, testLaneSettings(), org, laneStart)
			first.send(0, sharedRequest("awards-signup", "", pairing.TriggerRegistration, person("AnnAward", "ann@example.org", "Ann", "Awards")))
			lt, after, at := first, 2*time.Hour, laneStart.Add(2*time.Hour)
			if forgot {
				first.runUntil(LaneInput{Lane: 0}, time.Hour)
				at = laneStart.Add(30 * 24 * time.Hour)
				lt, after = newLaneTestOn(t, testLaneSettings(), org, at), 0
			}
			org.writeLatency = 10 * time.Second
			joins := person("AnnGrant", "ann@example.org", "Ann", "Grants")
			joins.ReadAt = at
			lt.send(after, sharedRequest("grants-signup", "grants", pairing.TriggerRegistration, joins))
			moved := person("AnnAward", "ann.new@example.org", "Ann", "Awards")
			moved.ReadAt = at.Add(5 * time.Second)
			lt.send(after+5*time.Second, sharedRequest("awards-move", "", pairing.TriggerProfileUpdate, moved))
			lt.runUntil(LaneInput{Lane: 0}, after+time.Hour)

			shared := first.answers.forRequest(t, "awards-signup", "AnnAward").RecordID
			grant := lt.answers.forRequest(t, "grants-signup", "AnnGrant")
			require.Equal(t, shared, grant.RecordID, "grants shares the awards record: %s (%s)", grant.Outcome, grant.Decision.Reason)
			left := lt.answers.forRequest(t, "awards-move", "AnnAward")
			require.Equal(t, OutcomeCreated, left.Outcome, "the move leaves the record grants now shares: %s", left.Decision.Reason)
			require.Len(t, org.holding("ann@example.org"), 1, "one record for the address")
			require.Equal(t, map[string]string{"Email": "ann@example.org", "FirstName": "Ann", "LastName": "Grants"},
				org.holding("ann@example.org")[0].Values, "the shared record holds grants' values")
			require.Len(t, org.holding("ann.new@example.org"), 1)
			require.Equal(t, "Awards", org.holding("ann.new@example.org")[0].Values["LastName"])
			for _, w := range org.writes() {
				for _, u := range w.write.Updates {
					for _, c := range u.Values {
						require.False(t, normalID(u.ID) == normalID(shared) && c.After == "ann.new@example.org", "the shared record is never moved to the new address")
					}
				}
			}
			require.Equal(t, normalID(shared), org.ledger["grants/AnnGrant"])
			require.Equal(t, normalID(left.RecordID), org.ledger["AnnAward"], "the ledger pairs awards with its new record")
		})
	}
}

// With across_integrations: one_record: Ann leaves the record she shares
// with grants (a new awards address) while the lane remembers both
// pairings; a minute later her grants address changes too: the record is
// grants' alone now and follows it, as soon as it is synced: the batch
// that moved her awards pairing let go of the record it held, though she
// was known by another when it ended.
func TestARecordLeftBySharerIsFreeForTheOneWhoKeepsIt(t *testing.T) {
	org := newCRM()
	lt := newLaneTestOn(t, testLaneSettings(), org, laneStart)
	lt.send(0, sharedRequest("awards-signup", "", pairing.TriggerRegistration, person("AnnAward", "ann@example.org", "Ann", "Awards")))
	lt.send(time.Minute, sharedRequest("grants-signup", "grants", pairing.TriggerRegistration, person("AnnGrant", "ann@example.org", "Ann", "Grants")))
	moved := person("AnnAward", "ann.new@example.org", "Ann", "Awards")
	moved.ReadAt = laneStart.Add(10 * time.Minute)
	lt.send(10*time.Minute, sharedRequest("awards-move", "", pairing.TriggerProfileUpdate, moved))
	grantsMoved := person("AnnGrant", "ann.grants@example.org", "Ann", "Grants")
	grantsMoved.ReadAt = laneStart.Add(11 * time.Minute)
	lt.send(11*time.Minute, sharedRequest("grants-move", "grants", pairing.TriggerProfileUpdate, grantsMoved))
	lt.runUntil(LaneInput{Lane: 0}, time.Hour)

	shared := lt.answers.forRequest(t, "grants-signup", "AnnGrant").RecordID
	require.Equal(t, shared, lt.answers.forRequest(t, "awards-signup", "AnnAward").RecordID)
	left := lt.answers.forRequest(t, "awards-move", "AnnAward")
	require.NotEqual(t, shared, left.RecordID, "the awards move leaves the shared record: %s", left.Decision.Reason)
	follows := lt.answers.forRequest(t, "grants-move", "AnnGrant")
	require.Equal(t, OutcomeUpdated, follows.Outcome, "%s", follows.Decision.Reason)
	require.Equal(t, shared, follows.RecordID, "the record grants alone holds follows it")
	writes := lt.crm.writes()
	require.WithinDuration(t, laneStart.Add(11*time.Minute), writes[len(writes)-1].at, time.Minute, "written within the minute it came")
	require.Len(t, org.holding("ann.grants@example.org"), 1)
	require.Len(t, org.holding("ann.new@example.org"), 1)
	require.Empty(t, org.holding("ann@example.org"))
}

// With across_integrations: one_record, Ann's two programmes edited at the
// same moment, into one batch, a month after they were paired, once her
// awards profile was synced again: the lane knows her awards pairing from
// its memory and her grants one from the ledger, both on one record. One
// waits for the other's write (one identifier in flight at a time) and
// both land on the shared record within seconds; nobody gets a record of
// their own.
func TestTwoProgrammesKnownByOneRecordOneFromMemoryOneFromTheLedger(t *testing.T) {
	ann := annInTwoProgrammes(t, true, sharedRequest) // a month later, the lane has forgotten them
	org, first, later, at := ann.org, ann.first, ann.second, ann.at
	shared := first.answers.forRequest(t, "grants-signup", "AnnGrant").RecordID
	require.Equal(t, shared, first.answers.forRequest(t, "awards-signup", "AnnAward").RecordID)

	org.writeLatency = 10 * time.Second
	synced := person("AnnAward", "ann@example.org", "Ann", "Awardson")
	synced.ReadAt = at
	later.send(0, sharedRequest("awards-sync", "", pairing.TriggerProfileUpdate, synced))
	awards := person("AnnAward", "ann@example.org", "Annie", "Awardson")
	awards.ReadAt = at.Add(time.Minute)
	grants := person("AnnGrant", "ann@example.org", "Annie", "Grantson")
	grants.ReadAt = at.Add(time.Minute)
	later.send(time.Minute, sharedRequest("awards-edit", "", pairing.TriggerProfileUpdate, awards))
	later.send(time.Minute, sharedRequest("grants-edit", "grants", pairing.TriggerProfileUpdate, grants))
	later.runUntil(LaneInput{Lane: 0}, time.Hour)

	for _, got := range []UserSyncResult{
		later.answers.forRequest(t, "awards-edit", "AnnAward"),
		later.answers.forRequest(t, "grants-edit", "AnnGrant"),
	} {
		require.Equal(t, OutcomeUpdated, got.Outcome, "%s", got.Decision.Reason)
		require.Equal(t, shared, got.RecordID, "one record for Ann in both programmes")
	}
	require.Len(t, org.records, 1)
	require.Equal(t, "Annie", org.records[0].Values["FirstName"])
	// Each write takes 10 s: the two edits' writes of the shared record
	// follow one another, each with one person on it.
	var edits []crmCall
	for _, w := range later.crm.writes() {
		if w.at.After(at.Add(time.Minute)) {
			edits = append(edits, w)
		}
	}
	require.Len(t, edits, 2, "one write a programme")
	for _, w := range edits {
		require.Len(t, w.write.Updates, 1, "one person on the record a write: %+v", w.write)
	}
	require.False(t, edits[1].at.Add(-org.writeLatency).Before(edits[0].at), "the second write begins once the first has ended: %s, %s", edits[0].at.Sub(at), edits[1].at.Sub(at))
	require.WithinDuration(t, at.Add(time.Minute), edits[1].at, 25*time.Second, "the one who waited was written right after")
}
