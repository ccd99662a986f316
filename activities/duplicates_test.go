package activities

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox/sfsim"
)

// A record a duplicate rule refuses is that record's permanent refusal,
// naming the duplicates Salesforce named; the batch's other records are
// written. duplicate_rules: allow_save saves past Alert rules, never past
// Block ones. Every write path of Write, over HTTP against the simulator.
func TestWriteMeetsDuplicateRulesAsTheSpecSays(t *testing.T) {
	ctx := context.Background()
	type path struct {
		name  string
		ext   string
		input func(taken, other string) WriteInput
		// outcome picks the outcome of the duplicate, and of the fine record.
		outcome func(out WriteOutput) (dup, fine WriteOutcome)
	}
	paths := []path{
		{"create", "", func(string, string) WriteInput {
			return WriteInput{Creates: twinAndFine()}
		}, func(out WriteOutput) (WriteOutcome, WriteOutcome) { return out.Creates[0], out.Creates[1] }},
		{"upsert on the external id", "AwardForce_Slug__c", func(string, string) WriteInput {
			return WriteInput{Creates: twinAndFine()}
		}, func(out WriteOutput) (WriteOutcome, WriteOutcome) { return out.Creates[0], out.Creates[1] }},
		{"update", "", func(_, other string) WriteInput {
			return WriteInput{
				Updates: []UpdateItem{{Slug: "OtherOne", ID: other, Values: []pairing.Change{{Field: "Email", After: "taken@example.org"}}}},
				Creates: creates("FineFine"),
			}
		}, func(out WriteOutput) (WriteOutcome, WriteOutcome) { return out.Updates[0], out.Creates[0] }},
	}
	for _, p := range paths {
		for _, action := range []sfsim.DuplicateAction{sfsim.DuplicateAlert, sfsim.DuplicateBlock} {
			for _, policy := range []pairing.DuplicatePolicy{"", pairing.DuplicatesRespect, pairing.DuplicatesAllowSave} {
				refused := action == sfsim.DuplicateBlock || policy != pairing.DuplicatesAllowSave
				t.Run(p.name+"/"+string(action)+"/"+cmp.Or(string(policy), "unset"), func(t *testing.T) {
					a, sim := newSalesforceWith(t, sfsim.Options{DuplicateRules: []sfsim.DuplicateRule{{Object: "Contact", Action: action}}})
					taken := sim.Insert("Contact", map[string]any{"LastName": "Taken", "Email": "TAKEN@example.org"})
					other := sim.Insert("Contact", map[string]any{"LastName": "Other", "Email": "other@example.org"})
					in := p.input(taken, other)
					in.Spec = *pairing.Default()
					in.Spec.ExternalID.CRM = p.ext
					in.Spec.DuplicateRules = policy
					out, err := a.Write(ctx, in)
					if err != nil {
						t.Fatalf("Write failed as a whole: %v", err)
					}
					dup, fine := p.outcome(out)
					if fine.Error != "" || fine.ID == "" {
						t.Errorf("the batch's other record: %+v, want it written", fine)
					}
					if !refused {
						if dup.Error != "" || dup.ID == "" {
							t.Errorf("%+v, want it saved past the Alert rule", dup)
						}
						return
					}
					if dup.ErrorType != ErrTypeSalesforceRejected || dup.Unknown || dup.CallFailed {
						t.Errorf("%+v, want a permanent refusal of this record alone", dup)
					}
					if !slices.Equal(dup.DuplicateIDs, []string{taken}) {
						t.Errorf("duplicates %v, want [%s]", dup.DuplicateIDs, taken)
					}
					if !strings.HasPrefix(dup.Error, "DUPLICATES_DETECTED: ") || !strings.Contains(dup.Error, taken) {
						t.Errorf("error %q must keep Salesforce's code and message and name the duplicate", dup.Error)
					}
				})
			}
		}
	}
}

// twinAndFine are two creates: one whose email an existing contact holds
// (TAKEN@example.org, in another case), and one nobody holds.
func twinAndFine() []CreateItem {
	items := creates("TwinTwin", "FineFine")
	items[0].Identifier = "taken@example.org"
	items[0].Values[0].After = "taken@example.org"
	return items
}
