package activities

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

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

// The older batch and single-record activities meet duplicate rules the
// same way: CreateRecords and CreateRecord as their spec says, the updates,
// whose inputs carry no spec, respecting the rules.
func TestOlderActivitiesMeetDuplicateRules(t *testing.T) {
	ctx := context.Background()
	alert := sfsim.Options{DuplicateRules: []sfsim.DuplicateRule{{Object: "Contact", Action: sfsim.DuplicateAlert}}}
	allowing := *pairing.Default()
	allowing.DuplicateRules = pairing.DuplicatesAllowSave
	tests := []struct {
		name    string
		run     func(a *Salesforce, other string) (dupIDs []string, err error)
		refused bool
	}{
		{"CreateRecords respects the rules by default", func(a *Salesforce, _ string) ([]string, error) {
			res, err := a.createRecords(ctx, CreateRecordsInput{Spec: *pairing.Default(), Items: twinAndFine()}, false)
			return recordRefusal(res, err)
		}, true},
		{"CreateRecords with allow_save", func(a *Salesforce, _ string) ([]string, error) {
			res, err := a.createRecords(ctx, CreateRecordsInput{Spec: allowing, Items: twinAndFine()}, false)
			return recordRefusal(res, err)
		}, false},
		{"UpdateRecords respects the rules", func(a *Salesforce, other string) ([]string, error) {
			res, err := a.UpdateRecords(ctx, UpdateRecordsInput{Object: "Contact", Items: []UpdateItem{{Slug: "OtherOne", ID: other, Values: []pairing.Change{{Field: "Email", After: "taken@example.org"}}}}})
			return recordRefusal(res, err)
		}, true},
		{"CreateRecord respects the rules by default", func(a *Salesforce, _ string) ([]string, error) {
			it := twinAndFine()[0]
			_, err := a.createRecord(ctx, CreateRecordInput{Spec: *pairing.Default(), Slug: it.Slug, Identifier: it.Identifier, Values: it.Values}, false)
			return nil, err
		}, true},
		{"CreateRecord with allow_save", func(a *Salesforce, _ string) ([]string, error) {
			it := twinAndFine()[0]
			_, err := a.createRecord(ctx, CreateRecordInput{Spec: allowing, Slug: it.Slug, Identifier: it.Identifier, Values: it.Values}, false)
			return nil, err
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, sim := newSalesforceWith(t, alert)
			taken := sim.Insert("Contact", map[string]any{"LastName": "Taken", "Email": "taken@example.org"})
			other := sim.Insert("Contact", map[string]any{"LastName": "Other", "Email": "other@example.org"})
			ids, err := tt.run(a, other)
			if !tt.refused {
				if err != nil {
					t.Fatalf("%v, want it saved past the Alert rule", err)
				}
				return
			}
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != ErrTypeSalesforceRejected || !appErr.NonRetryable() {
				t.Fatalf("got %v, want a non-retryable %s", err, ErrTypeSalesforceRejected)
			}
			if !strings.Contains(err.Error(), "DUPLICATES_DETECTED") || !strings.Contains(err.Error(), taken) {
				t.Errorf("%v must name the duplicate %s", err, taken)
			}
			if ids != nil && !slices.Equal(ids, []string{taken}) {
				t.Errorf("duplicates %v, want [%s]", ids, taken)
			}
		})
	}
}

// recordRefusal turns the first refused record of a batch into the error
// a single-record write would give, with its duplicates; nil when every
// record was written.
func recordRefusal(res WriteRecordsResult, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	for _, r := range res.Results {
		if r.Error != "" {
			if r.ErrorType != ErrTypeSalesforceRejected {
				return nil, errors.New("classified " + r.ErrorType + ": " + r.Error)
			}
			return r.DuplicateIDs, temporal.NewNonRetryableApplicationError(r.Error, r.ErrorType, nil)
		}
	}
	return nil, nil
}
