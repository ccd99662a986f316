package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/sandbox/sfsim"
	"github.com/afsync/afsync/workflows"
)

// The same workflow pairs users with Leads and with custom objects, given
// a spec for them.
func TestIntegrationLeadsAndCustomObjects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	specs := map[string]string{
		"Lead": `
object: Lead
unique_identifier: {awardforce: email, crm: Email}
fields:
  - {awardforce: first_name, crm: FirstName}
  - {awardforce: last_name, crm: LastName}
  - {crm: Company, value: Award Force applicant}
  - {crm: LeadSource, value: Award Force}
`,
		"Award_Participant__c": `
object: Award_Participant__c
unique_identifier: {awardforce: email, crm: Email__c}
external_id: {crm: AwardForce_Slug__c}
fields:
  - {awardforce: first_name, crm: First_Name__c}
  - {awardforce: last_name, crm: Last_Name__c}
  - {awardforce: mobile, crm: Mobile__c}
`,
	}
	users := map[string]afsim.User{
		"Lead":                 {Slug: "LeadUser", Email: "lise.meitner@example.org", FirstName: "Lise", LastName: "Meitner"},
		"Award_Participant__c": {Slug: "CustomUs", Email: "emmy.noether@example.org", FirstName: "Emmy", LastName: "Noether", Mobile: "+4915123456789"},
	}
	for object, yaml := range specs {
		t.Run(object, func(t *testing.T) {
			path := filepath.Join(dir, object+".yaml")
			if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := pairing.Load(path); err != nil {
				t.Fatal(err)
			}
			// The worker owns its spec: each object gets a worker
			// started with that object's spec, as a deployment would.
			stack := startStackWithSpec(t, sandbox.Options{}, path)
			sf := stack.Sandbox.Salesforce
			stack.Sandbox.AwardForce.AddUser(users[object])
			var out bytes.Buffer
			o := &syncOptions{
				globalOptions: &globalOptions{temporal: configFor(stack), specPath: path},
				user:          users[object].Slug, trigger: string(pairing.TriggerRegistration), json: true,
				timeout: time.Minute, out: &out,
			}
			if err := runSync(context.Background(), o); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			var res workflows.UserSyncResult
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatal(err)
			}
			rec, ok := sf.Record(object, res.RecordID)
			if res.Outcome != workflows.OutcomeCreated || !ok {
				t.Fatalf("outcome %q, record %s in %s: %v", res.Outcome, res.RecordID, object, ok)
			}
			switch object {
			case "Lead":
				if rec["Company"] != "Award Force applicant" || rec["LastName"] != "Meitner" || rec["LeadSource"] != "Award Force" {
					t.Fatalf("lead: %v", rec)
				}
			default:
				if rec["AwardForce_Slug__c"] != "CustomUs" || rec["Mobile__c"] != "+4915123456789" || rec["Last_Name__c"] != "Noether" {
					t.Fatalf("custom record: %v", rec)
				}
			}
		})
	}
}

// An org's duplicate rule on the real dev server: pairing by mobile, a user
// whose email an existing contact has is refused by an Alert rule and
// reported ambiguous with that contact as the candidate, never retried and
// never failing the rest; with duplicate_rules: allow_save the same create
// passes the Alert rule.
func TestIntegrationDuplicateRules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	spec := func(name, extra string) string {
		path := filepath.Join(dir, name)
		body := "object: Contact\nunique_identifier: {awardforce: mobile, crm: MobilePhone}\n" + extra +
			"fields:\n  - {awardforce: email, crm: Email}\n  - {awardforce: last_name, crm: LastName}\n"
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	respect, allow := spec("respect.yaml", ""), spec("allow.yaml", "duplicate_rules: allow_save\n")
	for _, tc := range []struct {
		name, path string
		want       workflows.Outcome
	}{{"respect", respect, workflows.OutcomeAmbiguous}, {"allow_save", allow, workflows.OutcomeCreated}} {
		t.Run(tc.name, func(t *testing.T) {
			stack := startStackWithSpec(t, sandbox.Options{SalesforceDuplicateRules: []sfsim.DuplicateRule{{Object: "Contact", Action: sfsim.DuplicateAlert}}}, tc.path)
			af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
			existing := sf.Insert("Contact", map[string]any{"Email": "ada@example.org", "LastName": "Lovelace", "MobilePhone": "+447700900100"})
			ada := af.AddUser(afsim.User{Slug: "AdaDupli", Email: "Ada@Example.org", LastName: "Lovelace", Mobile: "+447700900200"})
			fresh := af.AddUser(afsim.User{Slug: "FreshOne", Email: "fresh@example.org", LastName: "Fresh", Mobile: "+447700900300"})

			res, err := syncWithSpec(stack, tc.path, ada.Slug)
			if res.Outcome != tc.want {
				t.Fatalf("outcome %s (%v), want %s: %+v", res.Outcome, err, tc.want, res)
			}
			if tc.want == workflows.OutcomeAmbiguous {
				if len(res.Decision.CandidateIDs) != 1 || res.Decision.CandidateIDs[0] != existing || !strings.Contains(res.Decision.Reason, "duplicate rule") {
					t.Errorf("candidates %v reason %q, want the existing contact %s named by the rule", res.Decision.CandidateIDs, res.Decision.Reason, existing)
				}
				if n := len(sf.Records("Contact")); n != 1 {
					t.Errorf("%d contacts, want the existing one alone", n)
				}
			}
			if res, err := syncWithSpec(stack, tc.path, fresh.Slug); err != nil || res.Outcome != workflows.OutcomeCreated {
				t.Errorf("a user no rule matches: %+v %v", res, err)
			}
		})
	}
}
