package workflows

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// accountCall is one Accounts activity the fake org answered.
type accountCall struct {
	at, end time.Time
	in      activities.AccountsInput
	created []string // the organisations whose Account it made
}

// findAccounts is the Accounts activity: one query, and one collection call
// for the creates.
func (c *crm) findAccounts(_ context.Context, in activities.AccountsInput) (activities.AccountsResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.env.Now()
	call := accountCall{at: now.Add(-c.accountLatency), end: now, in: in}
	res := activities.AccountsResult{Accounts: map[string]activities.AccountOutcome{}, Queries: 1, Calls: 1}
	c.requests++
	var missing []string
	for _, org := range in.Organisations {
		k := activities.AccountKey(org)
		if _, seen := res.Accounts[k]; seen || k == "" {
			continue
		}
		var o activities.AccountOutcome
		for _, a := range c.accounts {
			if activities.AccountKey(a.Values["Name"]) == k {
				o.IDs = append(o.IDs, a.ID)
			}
		}
		res.Accounts[k] = o
		if len(o.IDs) == 0 {
			missing = append(missing, org)
		}
	}
	if in.Create && len(missing) > 0 {
		res.Calls++
		c.requests++
		for _, org := range missing {
			var w activities.WriteOutcome
			f, faulty := c.accountFault(org)
			if !faulty || f.commits {
				id := fmt.Sprintf("001LANE%011d", len(c.accounts)+1)
				c.accounts = append(c.accounts, pairing.CRMRecord{ID: id, Values: map[string]string{"Name": org}})
				w.ID, w.Created = id, true
				call.created = append(call.created, org)
			}
			w = answered(w, f, faulty)
			o := res.Accounts[activities.AccountKey(org)]
			o.Create = &w
			res.Accounts[activities.AccountKey(org)] = o
		}
	}
	c.accountCalls = append(c.accountCalls, call)
	if err := c.failNextAccounts; err != nil && in.Create {
		c.failNextAccounts = nil
		return activities.AccountsResult{}, err
	}
	return res, nil
}

// accountFault takes the next fault of the organisation's Account creates.
func (c *crm) accountFault(org string) (recordFault, bool) {
	fs := c.accountFaults[org]
	if len(fs) == 0 {
		return recordFault{}, false
	}
	c.accountFaults[org] = fs[1:]
	return fs[0], true
}

// addAccount puts an Account in the org.
func (c *crm) addAccount(id, name string) {
	c.accounts = append(c.accounts, pairing.CRMRecord{ID: id, Values: map[string]string{"Name": name}})
}

// accountsNamed lists the ids of the Accounts named name (in any case).
func (c *crm) accountsNamed(name string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, a := range c.accounts {
		if activities.AccountKey(a.Values["Name"]) == activities.AccountKey(name) {
			out = append(out, a.ID)
		}
	}
	return out
}

// askedAccounts lists the Accounts activities asked so far.
func (c *crm) askedAccounts() []accountCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.accountCalls)
}

// linkSpec is the default spec, linking Contacts to the Account named by
// Employer, creating it when create.
func linkSpec(create bool) pairing.Spec {
	s := *pairing.Default()
	s.Account = &pairing.AccountLink{AwardForce: "Employer", Match: "Name", Create: create}
	return s
}

// linkRequest is pairRequest with spec.
func linkRequest(id string, spec pairing.Spec, trigger pairing.Trigger, items ...PairItem) PairRequest {
	r := pairRequest(id, trigger, items...)
	r.Spec = spec
	return r
}

// employee is person with an organisation ("" for none).
func employee(slug, email, last, org string) PairItem {
	it := person(slug, email, "Fay", last)
	if org != "" {
		it.Profile.Values["Employer"] = org
	}
	return it
}

// accountOf is the AccountId of the one Contact holding email.
func (lt *laneTest) accountOf(email string) string {
	lt.t.Helper()
	recs := lt.crm.holding(email)
	require.Len(lt.t, recs, 1, "one Contact holds %s", email)
	return recs[0].Values["AccountId"]
}

func TestLaneLinksContactsToTheAccountsOfTheirOrganisations(t *testing.T) {
	lt := newLaneTest(t, testLaneSettings())
	const acme, other = "001000000000ACMEAA", "001000000000OTHRAA"
	lt.crm.addAccount(acme, "Acme Ltd")
	lt.crm.add("003000000000000BEA", "bea@example.org", "Fay", "Bell")
	lt.crm.records[0].Values["AccountId"] = other
	lt.crm.add("003000000000000CAL", "cal@example.org", "Fay", "Cole")
	lt.crm.records[1].Values["AccountId"] = acme
	lt.send(0, linkRequest("signup", linkSpec(true), pairing.TriggerRegistration,
		employee("AdaLovel", "ada@example.org", "Lovelace", "Acme Ltd"),
		employee("BeaBellx", "bea@example.org", "Bell", "acme ltd"),
		employee("CalColex", "cal@example.org", "Cole", "Acme Ltd"),
		employee("DanNoOrg", "dan@example.org", "Dunn", ""),
		employee("EveGlobx", "eve@example.org", "Eden", "Globex"),
		employee("FayGlobx", "fay@example.org", "Fox", " GLOBEX ")))
	lt.runUntil(LaneInput{Lane: 0}, time.Hour)

	calls := lt.crm.askedAccounts()
	require.Len(t, calls, 1, "one Accounts activity for the batch")
	require.Equal(t, []string{"Acme Ltd", "Globex"}, calls[0].in.Organisations, "each organisation once; nobody without one")
	require.True(t, calls[0].in.Create)
	globex := lt.crm.accountsNamed("Globex")
	require.Len(t, globex, 1, "an Account made once for its two people")

	ada := lt.answers.one(t, "AdaLovel")
	require.Equal(t, OutcomeCreated, ada.Outcome)
	require.Equal(t, acme, lt.accountOf("ada@example.org"))
	require.Contains(t, ada.Decision.CRM, pairing.Change{Field: "AccountId", Source: "Employer", After: acme, Note: `Account "Acme Ltd" (by Name)`})

	bea := lt.answers.one(t, "BeaBellx")
	require.Equal(t, OutcomeUpdated, bea.Outcome)
	require.Equal(t, []pairing.Change{{Field: "AccountId", Source: "Employer", Before: other, After: acme, Note: `Account "acme ltd" (by Name)`}}, bea.Decision.CRM)
	require.Equal(t, acme, lt.accountOf("bea@example.org"))

	require.Equal(t, OutcomeUnchanged, lt.answers.one(t, "CalColex").Outcome, "linked already")
	require.Equal(t, OutcomeCreated, lt.answers.one(t, "DanNoOrg").Outcome)
	require.Empty(t, lt.accountOf("dan@example.org"), "no organisation, no Account")
	for _, p := range []struct{ slug, email string }{{"EveGlobx", "eve@example.org"}, {"FayGlobx", "fay@example.org"}} {
		res := lt.answers.one(t, p.slug)
		require.Equal(t, OutcomeCreated, res.Outcome)
		require.Equal(t, globex[0], lt.accountOf(p.email))
	}
	require.Equal(t, 5, lt.crm.made(), "a lookup, an Accounts query and create, a Contact create and update")
	require.InDelta(t, float64(lt.crm.made()), lt.answers.calls(), 1e-9, "the replies share every call, the Accounts' too")
}

// Many people of one organisation at the same moment, more than a batch
// holds: the batches that hold the organisation run one after the other,
// and its Account is made once; another organisation's people go on
// meanwhile.
func TestLaneMakesAnOrganisationsAccountOnceAcrossBatches(t *testing.T) {
	s := testLaneSettings()
	s.MaxBatch, s.Concurrency = 5, 4
	lt := newLaneTest(t, s)
	lt.crm.accountLatency = 2 * time.Second
	var reqs []PairRequest
	for i := range 30 {
		reqs = append(reqs, linkRequest(fmt.Sprintf("signup-%d", i), linkSpec(true), pairing.TriggerRegistration,
			employee(fmt.Sprintf("Initec%02d", i), fmt.Sprintf("initech%02d@example.org", i), "Lumbergh", "Initech")))
	}
	for i := range 5 {
		reqs = append(reqs, linkRequest(fmt.Sprintf("other-%d", i), linkSpec(true), pairing.TriggerRegistration,
			employee(fmt.Sprintf("Umbrel%02d", i), fmt.Sprintf("umbrella%02d@example.org", i), "Wesker", "Umbrella")))
	}
	lt.send(0, reqs...)
	lt.runUntil(LaneInput{Lane: 0}, time.Hour)

	initech := lt.crm.accountsNamed("Initech")
	require.Len(t, initech, 1, "one Account for the organisation")
	require.Len(t, lt.crm.accountsNamed("Umbrella"), 1)
	for i := range 30 {
		require.Equal(t, OutcomeCreated, lt.answers.one(t, fmt.Sprintf("Initec%02d", i)).Outcome)
		require.Equal(t, initech[0], lt.accountOf(fmt.Sprintf("initech%02d@example.org", i)))
	}
	var mine, others []accountCall
	for _, call := range lt.crm.askedAccounts() {
		if slices.Contains(call.in.Organisations, "Initech") {
			mine = append(mine, call)
		} else {
			others = append(others, call)
		}
	}
	require.Len(t, mine, 6, "30 people, 5 a batch")
	for j := 1; j < len(mine); j++ {
		require.False(t, mine[j].at.Before(mine[j-1].end), "the organisation's batches never overlap: %+v", mine)
	}
	require.NotEmpty(t, others)
	require.True(t, others[0].at.Before(mine[0].end), "another organisation's people do not wait for it")
}

func TestLaneMakesAPersonOfSeveralAccountsAmbiguous(t *testing.T) {
	lt := newLaneTest(t, testLaneSettings())
	lt.crm.addAccount("001000000000TWN1AA", "Twin Co")
	lt.crm.addAccount("001000000000TWN2AA", "TWIN CO")
	lt.send(0, linkRequest("signup", linkSpec(true), pairing.TriggerRegistration,
		employee("AdaLovel", "ada@example.org", "Lovelace", "Twin Co"),
		employee("BeaBellx", "bea@example.org", "Bell", "Globex")))
	lt.runUntil(LaneInput{Lane: 0}, time.Hour)

	ada := lt.answers.one(t, "AdaLovel")
	require.Equal(t, OutcomeAmbiguous, ada.Outcome)
	require.Equal(t, []string{"001000000000TWN1AA", "001000000000TWN2AA"}, ada.Decision.CandidateIDs, "the Accounts, nothing guessed")
	require.Contains(t, ada.Decision.Reason, "2 Accounts match the user's Employer")
	require.Empty(t, lt.crm.holding("ada@example.org"), "not written")
	require.Len(t, lt.crm.accountsNamed("Twin Co"), 2, "no third Account")
	require.Equal(t, OutcomeCreated, lt.answers.one(t, "BeaBellx").Outcome, "the batch's other person is written")
}

func TestLaneSettlesAPersonWhoseAccountSalesforceRefuses(t *testing.T) {
	lt := newLaneTest(t, testLaneSettings())
	lt.crm.accountFaults["Toolong Org"] = []recordFault{{errType: activities.ErrTypeSalesforceRejected, msg: "STRING_TOO_LONG: Account Name: data value too large (Name)"}}
	lt.crm.accountFaults["Locked Org"] = []recordFault{{errType: activities.ErrTypeSalesforceUnavailable, msg: "UNABLE_TO_LOCK_ROW: unable to obtain exclusive access to this record"}}
	lt.crm.accountFaults["Dup Org"] = []recordFault{{errType: activities.ErrTypeSalesforceRejected, dups: []string{"001000000000DUPAAA"},
		msg: "DUPLICATES_DETECTED: Use one of these records? (duplicates: 001000000000DUPAAA)"}}
	lt.send(0, linkRequest("signup", linkSpec(true), pairing.TriggerRegistration,
		employee("TooLongA", "long@example.org", "Long", "Toolong Org"),
		employee("LockedAc", "locked@example.org", "Locke", "Locked Org"),
		employee("DupAccnt", "dup@example.org", "Dupe", "Dup Org"),
		employee("FineUser", "fine@example.org", "Fine", "Globex")))
	lt.runUntil(LaneInput{Lane: 0}, time.Hour)

	refused := lt.answers.one(t, "TooLongA")
	require.Equal(t, OutcomeFailed, refused.Outcome)
	require.Equal(t, activities.ErrTypeSalesforceRejected, refused.ErrorType)
	require.Contains(t, refused.Error, "creating the Account: STRING_TOO_LONG: Account Name: data value too large", "Salesforce's own message")
	require.Equal(t, pairing.ActionCreate, refused.Decision.Action, "the audit keeps the decision")
	require.Empty(t, lt.crm.holding("long@example.org"))

	dup := lt.answers.one(t, "DupAccnt")
	require.Equal(t, OutcomeAmbiguous, dup.Outcome)
	require.Equal(t, []string{"001000000000DUPAAA"}, dup.Decision.CandidateIDs, "the Accounts the duplicate rule named")
	require.Empty(t, lt.crm.holding("dup@example.org"))

	locked := lt.answers.one(t, "LockedAc")
	require.Equal(t, OutcomeCreated, locked.Outcome, "a locked row is tried again")
	require.Equal(t, lt.crm.accountsNamed("Locked Org"), []string{lt.accountOf("locked@example.org")})

	require.Equal(t, OutcomeCreated, lt.answers.one(t, "FineUser").Outcome)
	require.Equal(t, lt.crm.accountsNamed("Globex"), []string{lt.accountOf("fine@example.org")})
	require.InDelta(t, float64(lt.crm.made()), lt.answers.calls(), 1e-9)
}

// An Account create whose answer never came may still commit: its people,
// and everyone of its organisation, wait until the commit horizon has
// passed; then the lookup finds it, and nobody makes a second.
func TestLaneWaitsOutAnAccountCreateWithNoAnswer(t *testing.T) {
	for _, tc := range []struct {
		name string
		lose func(lt *laneTest)
	}{
		{"the Account's answer is lost", func(lt *laneTest) {
			lt.crm.accountFaults["Lost Org"] = []recordFault{{errType: activities.ErrTypeSalesforceOutcomeUnknown, msg: "read tcp: i/o timeout", unknown: true, commits: true}}
		}},
		{"the Accounts activity times out", func(lt *laneTest) {
			lt.crm.failNextAccounts = temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lt := newLaneTest(t, testLaneSettings())
			tc.lose(lt)
			lt.send(0, linkRequest("signup", linkSpec(true), pairing.TriggerRegistration, employee("AdaLovel", "ada@example.org", "Lovelace", "Lost Org")))
			// Someone else of the organisation, during the wait.
			lt.send(2*time.Minute, linkRequest("later", linkSpec(true), pairing.TriggerRegistration, employee("BeaBellx", "bea@example.org", "Bell", "LOST ORG")))
			lt.runUntil(LaneInput{Lane: 0}, 2*time.Hour)

			lost := lt.crm.accountsNamed("Lost Org")
			require.Len(t, lost, 1, "made once")
			calls := lt.crm.askedAccounts()
			require.GreaterOrEqual(t, len(calls), 2)
			for _, call := range calls[1:] {
				require.GreaterOrEqual(t, call.at.Sub(calls[0].end), testHorizon, "nobody asks for the organisation before the horizon: %+v", calls)
			}
			for _, p := range []struct{ slug, email string }{{"AdaLovel", "ada@example.org"}, {"BeaBellx", "bea@example.org"}} {
				require.Equal(t, OutcomeCreated, lt.answers.one(t, p.slug).Outcome)
				require.Equal(t, lost[0], lt.accountOf(p.email), "linked to the Account that committed late")
			}
		})
	}
}

// A spec without account asks for no version and no Accounts: its
// histories replay as before.
func TestLaneWithoutAccountIssuesNoNewCommands(t *testing.T) {
	lt := newLaneTest(t, testLaneSettings())
	lt.env.OnGetVersion(ChangeAccounts, workflow.DefaultVersion, 1).Never()
	lt.send(0, pairRequest("signup", pairing.TriggerRegistration, employee("AdaLovel", "ada@example.org", "Lovelace", "Acme Ltd")))
	lt.runUntil(LaneInput{Lane: 0}, time.Hour)
	require.Equal(t, OutcomeCreated, lt.answers.one(t, "AdaLovel").Outcome)
	require.Empty(t, lt.crm.askedAccounts())
	require.Empty(t, lt.accountOf("ada@example.org"))
}

func TestLaneRunsFromBeforeAccountsOrTheWatch(t *testing.T) {
	t.Run("a run from before accounts leaves AccountId alone", func(t *testing.T) {
		lt := newLaneTest(t, testLaneSettings())
		lt.env.OnGetVersion(ChangeAccounts, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
		lt.crm.addAccount("001000000000ACMEAA", "Acme Ltd")
		lt.send(0, linkRequest("signup", linkSpec(true), pairing.TriggerRegistration, employee("AdaLovel", "ada@example.org", "Lovelace", "Acme Ltd")))
		lt.runUntil(LaneInput{Lane: 0}, time.Hour)
		require.Equal(t, OutcomeCreated, lt.answers.one(t, "AdaLovel").Outcome)
		require.Empty(t, lt.crm.askedAccounts())
		require.Empty(t, lt.accountOf("ada@example.org"))
	})
	t.Run("a run from before the watch links the Account", func(t *testing.T) {
		lt := newLaneTest(t, testLaneSettings())
		lt.env.OnGetVersion(ChangeCRMChanges, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
		lt.crm.addAccount("001000000000ACMEAA", "Acme Ltd")
		lt.send(0, linkRequest("signup", linkSpec(false), pairing.TriggerRegistration, employee("AdaLovel", "ada@example.org", "Lovelace", "Acme Ltd")))
		lt.runUntil(LaneInput{Lane: 0}, time.Hour)
		require.Equal(t, OutcomeCreated, lt.answers.one(t, "AdaLovel").Outcome)
		require.Equal(t, "001000000000ACMEAA", lt.accountOf("ada@example.org"))
	})
}

func TestLaneLeavesAContactWithoutAnAccountWhenNoneMatchesAndNoneIsMade(t *testing.T) {
	lt := newLaneTest(t, testLaneSettings())
	lt.send(0, linkRequest("signup", linkSpec(false), pairing.TriggerRegistration, employee("AdaLovel", "ada@example.org", "Lovelace", "Nobody Inc")))
	lt.runUntil(LaneInput{Lane: 0}, time.Hour)
	require.Equal(t, OutcomeCreated, lt.answers.one(t, "AdaLovel").Outcome)
	require.Empty(t, lt.accountOf("ada@example.org"))
	calls := lt.crm.askedAccounts()
	require.Len(t, calls, 1)
	require.False(t, calls[0].in.Create)
	require.Empty(t, lt.crm.accountsNamed("Nobody Inc"))
}

// A dry run finds the Accounts read-only, with the same Decide: the plan
// shows the AccountId change, the Account account.create would make, and
// the user ambiguous between two.
func TestDryRunPlansAccountsWithoutMakingThem(t *testing.T) {
	w := newWorld(0)
	add := func(slug, email, org string) {
		w.users = append(w.users, pairing.Profile{Slug: slug, Values: map[string]string{"email": email, "last_name": "L", "Employer": org}})
	}
	add("AdaLovel", "ada@example.org", "Acme Ltd")
	add("BeaBellx", "bea@example.org", "Globex")
	add("CalColex", "cal@example.org", "Twin Co")
	add("DanNoOrg", "dan@example.org", "")
	w.contacts["bea@example.org"] = []pairing.CRMRecord{{ID: "003000000000000BEA", Values: map[string]string{"Email": "bea@example.org", "LastName": "L", "AccountId": "001000000000OTHRAA"}}}
	var asked []activities.AccountsInput
	env := listingEnv(w)
	w.onReads(env)
	env.OnActivity(sf.FindRecords, mock.Anything, mock.Anything).Return(w.findRecords)
	env.OnActivity(sf.Accounts, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.AccountsInput) (activities.AccountsResult, error) {
		asked = append(asked, in)
		return activities.AccountsResult{Queries: 1, Calls: 1, Accounts: map[string]activities.AccountOutcome{
			"acme ltd": {IDs: []string{"001000000000ACMEAA"}},
			"globex":   {},
			"twin co":  {IDs: []string{"001000000000TWN1AA", "001000000000TWN2AA"}},
		}}, nil
	})
	env.ExecuteWorkflow(BackfillChunk, ChunkInput{Spec: linkSpec(true), FirstPage: 1, LastPage: 1, DryRun: true})
	require.NoError(t, env.GetWorkflowError())
	var plan ChunkResult
	require.NoError(t, env.GetWorkflowResult(&plan))
	env.AssertActivityNotCalled(t, "Submit", mock.Anything, mock.Anything, mock.Anything)
	env.AssertActivityNotCalled(t, "Write", mock.Anything, mock.Anything)

	require.Len(t, asked, 1)
	require.False(t, asked[0].Create, "a dry run makes no Account")
	require.Equal(t, []string{"Acme Ltd", "Globex", "Twin Co"}, asked[0].Organisations)
	byslug := map[string]UserSyncResult{}
	for _, u := range plan.Users {
		byslug[u.Slug] = u
	}
	require.Contains(t, byslug["AdaLovel"].Decision.CRM, pairing.Change{Field: "AccountId", Source: "Employer", After: "001000000000ACMEAA", Note: `Account "Acme Ltd" (by Name)`})
	require.Equal(t, []pairing.Change{{Field: "AccountId", Source: "Employer", Before: "001000000000OTHRAA", After: "(new Account: Globex)", Note: `Account "Globex", to be created (account.create)`}},
		byslug["BeaBellx"].Decision.CRM)
	require.Equal(t, OutcomeAmbiguous, byslug["CalColex"].Outcome)
	require.Equal(t, []string{"001000000000TWN1AA", "001000000000TWN2AA"}, byslug["CalColex"].Decision.CandidateIDs)
	require.Equal(t, pairing.ActionCreate, byslug["DanNoOrg"].Decision.Action)
	require.Equal(t, 2, plan.Counts.SalesforceCalls, "the lookup and the Accounts query")
}
