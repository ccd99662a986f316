package activities

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox/sfsim"
)

// accountSpec is the default spec linking Contacts to Accounts by match.
func accountSpec(match string, create bool) pairing.Spec {
	s := *pairing.Default()
	s.Account = &pairing.AccountLink{AwardForce: "Employer", Match: match, Create: create}
	return s
}

// accountsNamed lists the live Accounts whose Name is name, in any case.
func accountsNamed(sim *sfsim.Server, name string) []map[string]any {
	var out []map[string]any
	for _, r := range sim.Records("Account") {
		if n, _ := r["Name"].(string); strings.EqualFold(n, name) {
			out = append(out, r)
		}
	}
	return out
}

func TestAccountsFindsByNameWithOneQueryAndCreatesNothingUnasked(t *testing.T) {
	ctx := context.Background()
	a, sim := newSalesforce(t)
	acme := sim.Insert("Account", map[string]any{"Name": "Acme Ltd"})
	twin1 := sim.Insert("Account", map[string]any{"Name": "Twin Co"})
	twin2 := sim.Insert("Account", map[string]any{"Name": "TWIN CO"})
	sim.ResetStats()

	res, err := a.Accounts(ctx, AccountsInput{Spec: accountSpec("", false), Organisations: []string{"acme ltd", " Twin Co", "Nobody Inc", "", "ACME LTD"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Accounts[AccountKey("Acme Ltd")]; !slices.Equal(got.IDs, []string{acme}) || got.Create != nil {
		t.Errorf("Acme: %+v, want %s, found case-insensitively", got, acme)
	}
	if got := res.Accounts[AccountKey("twin co")]; !sameSet(got.IDs, []string{twin1, twin2}) {
		t.Errorf("Twin: %+v, want both %s and %s", got, twin1, twin2)
	}
	if got, ok := res.Accounts[AccountKey("Nobody Inc")]; !ok || len(got.IDs) != 0 || got.Create != nil {
		t.Errorf("Nobody: %+v (%v), want none found and none made", got, ok)
	}
	if len(res.Accounts) != 3 {
		t.Errorf("%d organisations answered (%v), want the 3 distinct ones", len(res.Accounts), res.Accounts)
	}
	st := sim.Stats()
	if res.Queries != 1 || res.Calls != 1 || st.QueriesFrom["Account"] != 1 || st.Writes != 0 {
		t.Errorf("%d queries, %d calls (%+v), want one query and no write", res.Queries, res.Calls, st)
	}
	if n := len(sim.Records("Account")); n != 3 {
		t.Errorf("%d Accounts, want the 3 there were", n)
	}
}

func TestAccountsCreatesEachMissingOrganisationOnce(t *testing.T) {
	ctx := context.Background()
	a, sim := newSalesforce(t)
	acme := sim.Insert("Account", map[string]any{"Name": "Acme Ltd"})
	sim.ResetStats()

	in := AccountsInput{Spec: accountSpec("Name", true), Organisations: []string{"Acme Ltd", "Globex", "GLOBEX ", "Initech"}, Create: true}
	res, err := a.Accounts(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Accounts[AccountKey("Acme Ltd")]; !slices.Equal(got.IDs, []string{acme}) || got.Create != nil {
		t.Errorf("Acme: %+v, want found, not made", got)
	}
	for _, org := range []string{"Globex", "Initech"} {
		got := res.Accounts[AccountKey(org)]
		recs := accountsNamed(sim, org)
		if got.Create == nil || got.Create.Error != "" || !got.Create.Created || len(recs) != 1 || recs[0]["Id"] != got.Create.ID {
			t.Errorf("%s: %+v, Accounts %v, want one made", org, got, recs)
		}
	}
	if n := accountsNamed(sim, "Globex")[0]["Name"]; n != "Globex" {
		t.Errorf("Name %v, want the first spelling", n)
	}
	if res.Queries != 1 || res.Calls != 2 || sim.Stats().ByRoute["POST /composite/sobjects"] != 1 {
		t.Errorf("%d queries, %d calls (%v), want a query and one collection call", res.Queries, res.Calls, sim.Stats().ByRoute)
	}

	// Asked again, they are found.
	res, err = a.Accounts(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, org := range []string{"Globex", "Initech"} {
		if got := res.Accounts[AccountKey(org)]; len(got.IDs) != 1 || got.Create != nil {
			t.Errorf("%s again: %+v, want found", org, got)
		}
	}
	if n := len(sim.Records("Account")); n != 3 {
		t.Errorf("%d Accounts, want 3", n)
	}
}

func TestAccountsUpsertsOnAnExternalID(t *testing.T) {
	ctx := context.Background()
	a, sim := newSalesforce(t)
	known := sim.Insert("Account", map[string]any{"Name": "Acme Limited", "AwardForce_Org__c": "Acme"})
	sim.ResetStats()

	res, err := a.Accounts(ctx, AccountsInput{Spec: accountSpec("AwardForce_Org__c", true), Organisations: []string{"ACME", "Globex"}, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Accounts[AccountKey("acme")]; !slices.Equal(got.IDs, []string{known}) {
		t.Errorf("Acme: %+v, want %s by its external id", got, known)
	}
	got := res.Accounts[AccountKey("Globex")]
	if got.Create == nil || got.Create.Error != "" || !got.Create.Created {
		t.Fatalf("Globex: %+v, want made", got)
	}
	rec, _ := sim.Record("Account", got.Create.ID)
	if rec["Name"] != "Globex" || rec["AwardForce_Org__c"] != "Globex" {
		t.Errorf("the new Account %v, want Name and AwardForce_Org__c set to the organisation", rec)
	}
	if n := sim.Stats().ByRoute["PATCH /composite/sobjects/Account/AwardForce_Org__c"]; n != 1 {
		t.Errorf("%v, want one upsert collection call", sim.Stats().ByRoute)
	}
}

// Each organisation's create has its own fate: refused (with Salesforce's
// message), transient, or unknown when its answer is lost; the lookup
// failing fails the activity before any create.
func TestAccountsReportsEachCreatesFate(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("L", 256)
	t.Run("a refused record fails alone", func(t *testing.T) {
		a, sim := newSalesforce(t)
		res, err := a.Accounts(ctx, AccountsInput{Spec: accountSpec("", true), Organisations: []string{long, "Globex"}, Create: true})
		if err != nil {
			t.Fatal(err)
		}
		if c := res.Accounts[AccountKey(long)].Create; c == nil || c.ErrorType != ErrTypeSalesforceRejected || !strings.Contains(c.Error, "STRING_TOO_LONG") || c.Unknown {
			t.Errorf("the long name: %+v, want refused with STRING_TOO_LONG", c)
		}
		if c := res.Accounts[AccountKey("Globex")].Create; c == nil || c.ID == "" || len(accountsNamed(sim, "Globex")) != 1 {
			t.Errorf("Globex: %+v, want made", c)
		}
	})
	t.Run("a locked row is transient", func(t *testing.T) {
		a, sim := newSalesforce(t)
		sim.InjectRecordFaults(1, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")
		res, err := a.Accounts(ctx, AccountsInput{Spec: accountSpec("", true), Organisations: []string{"Globex"}, Create: true})
		if err != nil {
			t.Fatal(err)
		}
		if c := res.Accounts[AccountKey("Globex")].Create; c == nil || c.ErrorType != ErrTypeSalesforceUnavailable || c.Unknown {
			t.Errorf("%+v, want a transient refusal", c)
		}
	})
	t.Run("a lost answer is unknown", func(t *testing.T) {
		a, sim := newSalesforce(t)
		// Describe the objects first: the fault is for the create.
		if _, err := a.Accounts(ctx, AccountsInput{Spec: accountSpec("", true)}); err != nil {
			t.Fatal(err)
		}
		sim.InjectLostResponses(1)
		res, err := a.Accounts(ctx, AccountsInput{Spec: accountSpec("", true), Organisations: []string{"Globex"}})
		if err != nil || res.Accounts[AccountKey("Globex")].Create != nil {
			t.Fatalf("%+v %v: a lookup alone loses no write", res, err)
		}
		res, err = a.Accounts(ctx, AccountsInput{Spec: accountSpec("", true), Organisations: []string{"Globex"}, Create: true})
		if err != nil {
			t.Fatal(err)
		}
		if c := res.Accounts[AccountKey("Globex")].Create; c == nil || !c.Unknown || c.ErrorType != ErrTypeSalesforceOutcomeUnknown {
			t.Errorf("%+v, want its outcome unknown", c)
		}
	})
	t.Run("a failed lookup fails the activity", func(t *testing.T) {
		a, sim := newSalesforce(t)
		if _, err := a.Accounts(ctx, AccountsInput{Spec: accountSpec("", true)}); err != nil {
			t.Fatal(err)
		}
		sim.InjectFaults(1, 503, "SERVER_UNAVAILABLE", "Server temporarily unavailable")
		if _, err := a.Accounts(ctx, AccountsInput{Spec: accountSpec("", true), Organisations: []string{"Globex"}, Create: true}); err == nil {
			t.Fatal("want the lookup's fault")
		}
		if n := len(sim.Records("Account")); n != 0 {
			t.Errorf("%d Accounts made after a failed lookup", n)
		}
	})
}

func TestAccountsChunksTheLookupWithinTheURILimit(t *testing.T) {
	a, sim := newSalesforce(t)
	var orgs []string
	for i := range 600 {
		orgs = append(orgs, fmt.Sprintf("Organisation number %04d of a long list of organisations", i))
	}
	sim.Insert("Account", map[string]any{"Name": orgs[599]})
	sim.ResetStats()
	res, err := a.Accounts(context.Background(), AccountsInput{Spec: accountSpec("", false), Organisations: orgs})
	if err != nil {
		t.Fatal(err)
	}
	if res.Queries < 2 || res.Queries != sim.Stats().QueriesFrom["Account"] {
		t.Errorf("%d queries (%v), want a few, within the URI limit", res.Queries, sim.Stats().QueriesFrom)
	}
	if got := res.Accounts[AccountKey(orgs[599])]; len(got.IDs) != 1 {
		t.Errorf("the last organisation: %+v, want found", got)
	}
}

func TestAccountsRefusesASpecTheAccountDescribeRefutes(t *testing.T) {
	a, sim := newSalesforce(t)
	sim.ResetStats()
	_, err := a.Accounts(context.Background(), AccountsInput{Spec: accountSpec("Industry", true), Organisations: []string{"Acme"}})
	if err == nil || !strings.Contains(err.Error(), "Account.Industry is not an external-id field") {
		t.Fatalf("%v, want the spec refused", err)
	}
	if st := sim.Stats(); st.Queries != 0 || st.Writes != 0 {
		t.Errorf("%+v: nothing is read or written for a refused spec", st)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
