package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/workflows"
)

// The same workflow pairs users with Leads and with custom objects, given
// a spec for them.
func TestIntegrationLeadsAndCustomObjects(t *testing.T) {
	stack := startStack(t, sandbox.Options{})
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
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
		"Lead":                 af.AddUser(afsim.User{Slug: "LeadUser", Email: "lise.meitner@example.org", FirstName: "Lise", LastName: "Meitner"}),
		"Award_Participant__c": af.AddUser(afsim.User{Slug: "CustomUs", Email: "emmy.noether@example.org", FirstName: "Emmy", LastName: "Noether", Mobile: "+4915123456789"}),
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
