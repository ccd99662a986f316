package workflows

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/pairing"
)

func TestALedgerFilterHoldsEveryKeyAddedAndFewOthers(t *testing.T) {
	f := newLedgerFilter()
	require.True(t, f.mayHold("s:Anyone12"), "not claimed: it vouches for nothing")
	f.Claimed = true
	for i := range ledgerFilterKeys {
		f.add(fmt.Sprintf("s:Slug%05d", i))
	}
	require.True(t, f.vouches())
	for i := range ledgerFilterKeys {
		require.True(t, f.mayHold(fmt.Sprintf("s:Slug%05d", i)), "key %d added, so never said absent", i)
	}
	maybe := 0
	for i := range 10_000 {
		if f.mayHold(fmt.Sprintf("r:Other%05d", i)) {
			maybe++
		}
	}
	// 7 probes into 2^18 bits with 24,000 keys: about 0.5% expected.
	require.Less(t, maybe, 100, "%d of 10,000 keys never added said maybe", maybe)

	// One more and it can no longer tell: it turns off for good and asks
	// for everyone.
	f.add("s:OneTooMany")
	require.True(t, f.Off)
	require.False(t, f.vouches())
	require.Nil(t, f.Bits, "nothing carried on")
	require.True(t, f.mayHold("r:Other00000"))
	f.add("s:Later123")
	require.True(t, f.Off)
}

// readAsOf is it as read at.
func readAsOf(it PairItem, at time.Time) PairItem {
	it.ReadAt = at
	return it
}

func TestALaneThatBeganItsLedgerAsksOnlyAboutWhomItPaired(t *testing.T) {
	lt := newLaneTest(t, testLaneSettings())
	ada := person("AdaLovel", "ada@example.org", "Ada", "Lovelace")
	lt.send(0, pairRequest("backfill", pairing.TriggerBackfill, ada, person("BobBobbo", "bob@example.org", "Bob", "Bobbo")))
	at := 10 * time.Minute
	lt.send(at,
		pairRequest("signup", pairing.TriggerRegistration, readAsOf(person("CatCatto", "cat@example.org", "Cat", "Catto"), laneStart.Add(at))),
		pairRequest("edit", pairing.TriggerProfileUpdate, readAsOf(withEmail(ada, "countess@example.org"), laneStart.Add(at))))
	lt.runUntil(LaneInput{Lane: 0}, time.Hour)

	require.True(t, lt.crm.claimed, "a lane that starts afresh claims its org's ledger")
	require.Equal(t, []string{"s:AdaLovel"}, lt.crm.asked,
		"nobody is asked about before anyone is paired; then only Ada, whose pairing is in the ledger")
	require.Equal(t, OutcomeUpdated, lt.answers.forRequest(t, "edit", "AdaLovel").Outcome)
	require.Equal(t, OutcomeCreated, lt.answers.one(t, "CatCatto").Outcome)
	require.Len(t, lt.crm.records, 3)
	require.Len(t, lt.crm.ledger, 3, "every pairing is written into the ledger")
	st := lt.status()
	require.Equal(t, map[string]int{"contact": 6}, st.LedgerVouched, "three pairings, a person and a record each")
	require.Equal(t, 3, st.Counts.LedgerNotAsked, "Ada and Bob before anyone was paired, then Cat")
}

func TestALaneThatBeganItsLedgerFollowsThoseItForgotThroughIt(t *testing.T) {
	for _, withLedger := range []bool{true, false} {
		t.Run(fmt.Sprintf("ledger %v", withLedger), func(t *testing.T) {
			org := newCRM()
			org.noLedger = !withLedger
			lt := newLaneTestOn(t, testLaneSettings(), org, laneStart)
			ada := person("AdaLovel", "ada@example.org", "Ada", "Lovelace")
			lt.send(0, pairRequest("signup", pairing.TriggerRegistration, ada))
			// Past the lane's memory of Ada (an hour), in the same lane: a
			// newcomer registers the address Ada is giving up, and her
			// change comes.
			at := 3 * time.Hour
			lt.send(at,
				pairRequest("newcomer", pairing.TriggerRegistration, readAsOf(person("NewOwner", "ada@example.org", "Ned", "Owner"), laneStart.Add(at))),
				pairRequest("edit", pairing.TriggerProfileUpdate, readAsOf(withEmail(ada, "countess@example.org"), laneStart.Add(at))))
			lt.runUntil(LaneInput{Lane: 0}, 4*time.Hour)

			require.True(t, org.claimed)
			adaRec := lt.answers.forRequest(t, "signup", "AdaLovel").RecordID
			ned := lt.answers.one(t, "NewOwner")
			require.Contains(t, org.asked, "s:AdaLovel", "the filter holds Ada: she is asked about")
			// The ledger's answer is what keeps her: the lane has forgotten
			// her (without it, she loses her record).
			adaKeptHerRecord(t, org, adaRec, ned, lt.answers.forRequest(t, "edit", "AdaLovel"), withLedger)
		})
	}
}

func TestALaneAsksAboutEveryoneWhenItCannotVouchForTheLedger(t *testing.T) {
	for _, c := range []struct {
		name  string
		in    LaneInput
		setup func(*crm)
		claim bool // the lane asks for the claim
	}{
		// Another chain (a lane terminated and started again) took it.
		{"claimed before", LaneInput{Lane: 0}, func(o *crm) { o.claimed = true }, true},
		// Pages from before claims existed.
		{"pages before the claim", LaneInput{Lane: 0}, func(o *crm) { o.ledger["Someone1"] = "003000000000000SOM" }, true},
		// A chain that carries state began before (an upgrade): it claims nothing.
		{"a chain from before", LaneInput{Lane: 0, State: &LaneState{}}, func(*crm) {}, false},
		// The claim could not be asked (the server unreachable for the
		// local activity's minute).
		{"a claim that fails", LaneInput{Lane: 0}, func(o *crm) { o.claimErr = errors.New("server unavailable") }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			org := newCRM()
			c.setup(org)
			claimedBefore := org.claimed
			lt := newLaneTestOn(t, testLaneSettings(), org, laneStart)
			lt.send(0, pairRequest("backfill", pairing.TriggerBackfill,
				person("AdaLovel", "ada@example.org", "Ada", "Lovelace"), person("BobBobbo", "bob@example.org", "Bob", "Bobbo")))
			at := 10 * time.Minute
			lt.send(at, pairRequest("signup", pairing.TriggerRegistration, readAsOf(person("CatCatto", "cat@example.org", "Cat", "Catto"), laneStart.Add(at))))
			lt.runUntil(c.in, time.Hour)

			require.Equal(t, claimedBefore || c.claim, org.claimed)
			require.Equal(t, []string{"s:AdaLovel", "s:BobBobbo", "s:CatCatto"}, org.asked, "everyone is asked about")
			require.Equal(t, OutcomeCreated, lt.answers.one(t, "CatCatto").Outcome)
		})
	}
}

func TestALaneCarriesItsLedgerFilterIntoItsNextRun(t *testing.T) {
	s := testLaneSettings()
	s.BatchesPerRun = 1
	lt := newLaneTest(t, s)
	lt.send(0, pairRequest("backfill", pairing.TriggerBackfill, person("AdaLovel", "ada@example.org", "Ada", "Lovelace")))
	next := lt.runToBound(LaneInput{Lane: 0})
	f := next.State.Ledgers["contact"]
	require.NotNil(t, f)
	require.True(t, f.vouches(), "the next run vouches for the ledger its chain began")
	require.True(t, f.mayHold("s:AdaLovel"))
	require.False(t, f.mayHold("s:BobBobbo"))
	require.True(t, next.State.MayClaim)

	require.True(t, f.mayHold("r:"+normalID(lt.answers.one(t, "AdaLovel").RecordID)))
}

// status is the lane's answer to LaneQuery.
func (lt *laneTest) status() LaneStatus {
	lt.t.Helper()
	v, err := lt.env.QueryWorkflow(LaneQuery)
	require.NoError(lt.t, err)
	var s LaneStatus
	require.NoError(lt.t, v.Get(&s))
	return s
}

// resetRun makes every workflow see its run as one reset from another
// (WorkflowInfo.OriginalRunID), as a run reset from the UI does.
type resetRun struct {
	interceptor.WorkerInterceptorBase
}

func (*resetRun) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &resetInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}}
}

type resetInbound struct {
	interceptor.WorkflowInboundInterceptorBase
}

func (r *resetInbound) Init(out interceptor.WorkflowOutboundInterceptor) error {
	return r.Next.Init(&resetOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: out}})
}

type resetOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
}

func (r *resetOutbound) GetInfo(ctx workflow.Context) *workflow.Info {
	info := *r.Next.GetInfo(ctx)
	info.OriginalRunID = "the-run-it-was-reset-from"
	return &info
}

func TestARunResetFromTheUIAsksAboutEveryoneAndCarriesNoFilterOn(t *testing.T) {
	s := testLaneSettings()
	s.BatchesPerRun = 2
	lt := newLaneTest(t, s)
	lt.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{&resetRun{}}})
	lt.send(0, pairRequest("backfill", pairing.TriggerBackfill, person("AdaLovel", "ada@example.org", "Ada", "Lovelace")))
	at := 10 * time.Minute
	lt.send(at, pairRequest("signup", pairing.TriggerRegistration, readAsOf(person("CatCatto", "cat@example.org", "Cat", "Catto"), laneStart.Add(at))))
	next := lt.runToBound(LaneInput{Lane: 0})

	// Its replay rebuilt a filter that misses whatever the run wrote after
	// the point it was reset to: it is not trusted, nor carried on.
	require.Equal(t, []string{"s:AdaLovel", "s:CatCatto"}, lt.crm.asked, "everyone is asked about")
	require.True(t, next.State.Ledgers["contact"].Off)
	require.False(t, next.State.Ledgers["contact"].vouches())
}

func TestALaneThatBeganItsLedgerAsksWhoOwnsARecordItForgot(t *testing.T) {
	lt := newLaneTest(t, testLaneSettings())
	lt.send(0, pairRequest("signup", pairing.TriggerRegistration, person("AdaLovel", "ada@example.org", "Ada", "Lovelace")))
	// Past the lane's memory of Ada, a newcomer registers her address
	// (freed in Award Force, her change not synced yet): her record is
	// found by it.
	at := 3 * time.Hour
	lt.send(at, pairRequest("newcomer", pairing.TriggerRegistration, readAsOf(person("NewOwner", "ada@example.org", "Ned", "Owner"), laneStart.Add(at))))
	lt.runUntil(LaneInput{Lane: 0}, 4*time.Hour)

	adaRec := lt.answers.one(t, "AdaLovel").RecordID
	require.Contains(t, lt.crm.asked, "r:"+normalID(adaRec), "the filter holds Ada's record: who owns it is asked")
	ned := lt.answers.one(t, "NewOwner")
	require.Equal(t, OutcomeCreated, ned.Outcome, ned.Decision.Reason)
	require.NotEqual(t, adaRec, ned.RecordID, "the newcomer never takes Ada's record")
}

func TestALaneVouchesForOneObjectsLedgerOnly(t *testing.T) {
	lt := newLaneTest(t, testLaneSettings())
	lt.send(0, pairRequest("contacts", pairing.TriggerBackfill, person("AdaLovel", "ada@example.org", "Ada", "Lovelace")))
	leads := pairRequest("leads", pairing.TriggerBackfill, readAsOf(person("BobBobbo", "bob@example.org", "Bob", "Bobbo"), laneStart.Add(10*time.Minute)))
	leads.Spec.Object = "Lead"
	lt.send(10*time.Minute, leads)
	lt.runUntil(LaneInput{Lane: 0}, time.Hour)

	// Each filter weighs 43 KB of the lane's input: the second object's
	// ledger is asked as before.
	require.Equal(t, []string{"s:BobBobbo"}, lt.crm.asked)
	st := lt.status()
	require.Equal(t, map[string]int{"contact": 2}, st.LedgerVouched)
	require.Equal(t, 1, st.LedgerAsked)
}
