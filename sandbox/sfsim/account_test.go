package sfsim

import (
	"testing"
)

// Account is there for Contacts to belong to: Name required, an
// external id for the organisation that matches case-insensitively (Unique,
// not case-sensitive), Contact.AccountId taking its ids, queries counted by
// the object they read, and merges.
func TestAccounts(t *testing.T) {
	e := newEnv(t, Options{})
	d := e.do("GET", "/sobjects/Account/describe", nil).object(t, 200)
	if d["keyPrefix"] != "001" {
		t.Errorf("key prefix %v", d["keyPrefix"])
	}
	fields := map[string]map[string]any{}
	for _, f := range d["fields"].([]any) {
		m := f.(map[string]any)
		fields[m["name"].(string)] = m
	}
	for name, want := range map[string]map[string]any{
		"Name":              {"type": "string", "length": 255.0, "nillable": false, "createable": true},
		"AccountNumber":     {"type": "string", "nillable": true},
		"Industry":          {"type": "picklist", "restrictedPicklist": false},
		"Description":       {"type": "textarea"},
		"AwardForce_Org__c": {"externalId": true, "unique": true, "caseSensitive": false, "length": 255.0},
		"MasterRecordId":    {"type": "reference"},
	} {
		for k, v := range want {
			if got := fields[name][k]; got != v {
				t.Errorf("Account.%s %s = %v, want %v", name, k, got, v)
			}
		}
	}

	e.do("POST", "/sobjects/Account", map[string]any{"Industry": "Media"}).apiErr(t, 400, "REQUIRED_FIELD_MISSING")
	path := "/sobjects/Account/AwardForce_Org__c/"
	acme := e.do("PATCH", path+"Acme", map[string]any{"Name": "Acme"}).object(t, 201)["id"].(string)
	if m := e.do("PATCH", path+"ACME", map[string]any{"Name": "Acme"}).object(t, 200); m["id"] != acme {
		t.Errorf("ACME upserted %v, want Acme's %s: the organisation matches case-insensitively", m["id"], acme)
	}
	contact := e.do("POST", "/sobjects/Contact", map[string]any{"LastName": "Lee", "AccountId": acme}).object(t, 201)["id"].(string)
	if rec, _ := e.sim.Record("Contact", contact); rec["AccountId"] != acme {
		t.Errorf("Contact %v, want AccountId %s", rec, acme)
	}

	e.sim.ResetStats()
	other := e.sim.Insert("Account", map[string]any{"Name": "acme"})
	var res struct{ TotalSize int }
	mustJSON(t, e.do("GET", q("SELECT Id, Name FROM Account WHERE Name IN ('ACME')"), nil).body, &res)
	e.do("GET", q("SELECT Id FROM Contact WHERE LastName = 'Lee'"), nil)
	if res.TotalSize != 2 {
		t.Errorf("%d Accounts named ACME in any case, want 2", res.TotalSize)
	}
	if st := e.sim.Stats(); st.QueriesFrom["Account"] != 1 || st.QueriesFrom["Contact"] != 1 || st.Queries != 2 {
		t.Errorf("queries %d by object %v, want one from each", st.Queries, st.QueriesFrom)
	}
	if err := e.sim.Merge("Account", acme, other); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.sim.Record("Account", other); ok {
		t.Error("the merged Account is still live")
	}
}
