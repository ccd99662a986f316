package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/afsync/afsync/internal/devstack"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/sandbox/afsim"
)

// sluggedSpec is the example spec's shape: the slug in an external id, the
// record id written back into Award Force.
const sluggedSpec = `object: Contact
unique_identifier: {awardforce: email, crm: Email}
external_id: {crm: AwardForce_Slug__c}
record_id_field: SfRecord
fields:
  - {awardforce: first_name, crm: FirstName}
  - {awardforce: last_name, crm: LastName}
`

// identityStack starts the stack with spec (the built-in default when
// empty), the sandbox's webhooks reaching the worker as in production.
func identityStack(t *testing.T, spec string, sb sandbox.Options) *devstack.Stack {
	t.Helper()
	var stack *devstack.Stack
	if spec == "" {
		stack = startStack(t, sb)
	} else {
		path := filepath.Join(t.TempDir(), "spec.yaml")
		if err := os.WriteFile(path, []byte(spec), 0o600); err != nil {
			t.Fatal(err)
		}
		stack = startStackWithSpec(t, sb, path)
	}
	sandboxWebhooks(t, stack)
	return stack
}

// contactByID is the sandbox org's Contact id, or nil.
func contactByID(stack *devstack.Stack, id string) map[string]any {
	for _, r := range stack.Sandbox.Salesforce.Records("Contact") {
		if r["Id"] == id {
			return r
		}
	}
	return nil
}

// registered registers u and waits until a Contact holds their address;
// it returns the user and that Contact's id.
func registered(t *testing.T, stack *devstack.Stack, u afsim.User) (afsim.User, string) {
	t.Helper()
	u = stack.Sandbox.AwardForce.Register(u)
	var id string
	waitForLong(t, func() bool {
		recs := contactsByEmail(stack.Sandbox.Salesforce.Records("Contact"))[strings.ToLower(u.Email)]
		if len(recs) == 1 && recs[0]["FirstName"] == u.FirstName {
			id, _ = recs[0]["Id"].(string)
		}
		return id != ""
	}, u.FirstName+"'s Contact", time.Minute)
	return u, id
}

// A person's email change reaches the record they are paired with, whatever
// the spec; the address they freed, registered by a newcomer, gets a record
// of its own and never the first person's.
func TestIntegrationAPersonKeepsTheirRecordThroughAnEmailChange(t *testing.T) {
	for _, tc := range []struct{ name, spec string }{
		{"the built-in default spec", ""},
		{"the slug in an external id and record_id_field", sluggedSpec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stack := identityStack(t, tc.spec, sandbox.Options{})
			af := stack.Sandbox.AwardForce
			ada, adaRec := registered(t, stack, afsim.User{Email: "ada@example.org", FirstName: "Ada", LastName: "Lovelace"})

			// Ada changes her address in Award Force (a signed webhook).
			af.Edit(ada.Slug, func(u *afsim.User) { u.Email = "countess@example.org" })
			waitForLong(t, func() bool {
				r := contactByID(stack, adaRec)
				return r != nil && r["Email"] == "countess@example.org"
			}, "Ada's new address on her record", time.Minute)

			// A newcomer registers with the address Ada gave up.
			ned, nedRec := registered(t, stack, afsim.User{Email: "ada@example.org", FirstName: "Ned", LastName: "Owner"})
			if nedRec == adaRec {
				t.Fatalf("the newcomer %s took Ada's record %s", ned.Slug, adaRec)
			}
			r := contactByID(stack, adaRec)
			if r["FirstName"] != "Ada" || r["Email"] != "countess@example.org" {
				t.Fatalf("Ada's record now holds %v", r)
			}
			if n := len(stack.Sandbox.Salesforce.Records("Contact")); n != 2 {
				t.Fatalf("%d Contacts, want one each: %v", n, stack.Sandbox.Salesforce.Records("Contact"))
			}
			if tc.spec != "" {
				if r["AwardForce_Slug__c"] != ada.Slug {
					t.Fatalf("Ada's record carries slug %v, want %s", r["AwardForce_Slug__c"], ada.Slug)
				}
				waitForLong(t, func() bool {
					a, _ := af.User(ada.Slug)
					n, _ := af.User(ned.Slug)
					return a.Fields["SfRecord"] == adaRec && n.Fields["SfRecord"] == nedRec
				}, "each record id written back to its own person", 30*time.Second)
			}
		})
	}
}

// A record made before afsync, found by its address, is adopted: it is
// given the person's slug, so that an email change made later still finds it.
func TestIntegrationARecordFoundByAddressIsAdopted(t *testing.T) {
	stack := identityStack(t, sluggedSpec, sandbox.Options{})
	sf := stack.Sandbox.Salesforce
	pre := sf.Insert("Contact", map[string]any{"Email": "grace@example.org", "FirstName": "Grace", "LastName": "Hopper"})
	grace, rec := registered(t, stack, afsim.User{Email: "grace@example.org", FirstName: "Grace", LastName: "Hopper"})
	if rec != pre {
		t.Fatalf("paired with %s, want the existing %s", rec, pre)
	}
	waitForLong(t, func() bool { return contactByID(stack, pre)["AwardForce_Slug__c"] == grace.Slug }, "the slug stamped on the record", time.Minute)
	waitForLong(t, func() bool { g, _ := stack.Sandbox.AwardForce.User(grace.Slug); return g.Fields["SfRecord"] == pre }, "the record id written back", time.Minute)
	// The address changes and the record id is lost: the slug on the record
	// is what still finds it.
	stack.Sandbox.AwardForce.Edit(grace.Slug, func(u *afsim.User) { u.Email = "admiral@example.org"; u.Fields["SfRecord"] = "" })
	waitForLong(t, func() bool { return contactByID(stack, pre)["Email"] == "admiral@example.org" }, "the new address on the adopted record", time.Minute)
	if n := len(sf.Records("Contact")); n != 1 {
		t.Fatalf("%d Contacts, want 1", n)
	}
}

// Someone fixes a typo while their registration's sync is writing back the
// record id: Award Force's answer to that write-back shows the edit, and
// the sync runs once more for it (before, the write-back's own version
// counted as paired and the edit's webhook was dropped as a duplicate).
func TestIntegrationAnEditBetweenTheReadAndTheWriteBackIsNotLost(t *testing.T) {
	stack := identityStack(t, sluggedSpec, sandbox.Options{Latency: 600 * time.Millisecond})
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	u := af.Register(afsim.User{Email: "typo@example.org", FirstName: "Tia", LastName: "Tpyo"})
	// Salesforce is written; the write-back of the record id is on its way.
	waitForLong(t, func() bool { return len(sf.Records("Contact")) == 1 }, "the Contact", time.Minute)
	af.Edit(u.Slug, func(u *afsim.User) { u.LastName = "Typo" })
	waitForLong(t, func() bool {
		recs := sf.Records("Contact")
		return len(recs) == 1 && recs[0]["LastName"] == "Typo"
	}, "the corrected name in Salesforce", 2*time.Minute)
	got, _ := af.User(u.Slug)
	if got.LastName != "Typo" || got.Fields["SfRecord"] == "" {
		t.Fatalf("Award Force holds %q and record id %q", got.LastName, got.Fields["SfRecord"])
	}
}
