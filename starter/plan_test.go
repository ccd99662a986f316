package main

import (
	"reflect"
	"testing"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/workflows"
)

func TestPlanRowsOneRowPerChangeAndDefusedFormulas(t *testing.T) {
	u := workflows.UserSyncResult{
		Slug: "aBcD", Outcome: workflows.OutcomeUpdated, RecordID: "003000000000001AAA",
		Decision: pairing.Decision{
			Action: pairing.ActionUpdate, Reason: "one record matches",
			CRM: []pairing.Change{
				{Field: "LastName", Source: "last_name", Before: "Smith", After: `=HYPERLINK("http://x","y")`},
				{Field: "Phone", Source: "mobile", Before: "", After: "+44 7700 900123"},
				{Field: "Title", Source: "JobTitle", After: "Chief Arch", Note: "cut to Title's 10 characters (truncate)"},
			},
			AwardForce:    []pairing.Change{{Field: "job-title", Source: "Title", Before: "@boss", After: "Engineer"}},
			SkippedFields: []pairing.SkippedField{{Field: "mobile", Value: "call me", Reason: "not a phone number"}},
		},
	}
	want := [][]string{
		{"aBcD", "update", "updated", "003000000000001AAA", "one record matches", "salesforce", "LastName", "last_name", "Smith", `'=HYPERLINK("http://x","y")`, ""},
		{"aBcD", "update", "updated", "003000000000001AAA", "one record matches", "salesforce", "Phone", "mobile", "", "'+44 7700 900123", ""},
		{"aBcD", "update", "updated", "003000000000001AAA", "one record matches", "salesforce", "Title", "JobTitle", "", "Chief Arch", "cut to Title's 10 characters (truncate)"},
		{"aBcD", "update", "updated", "003000000000001AAA", "one record matches", "awardforce", "job-title", "Title", "'@boss", "Engineer", ""},
		{"aBcD", "update", "updated", "003000000000001AAA", "one record matches", "awardforce", "mobile", "", "", "call me", "left out: not a phone number"},
	}
	if got := planRows(u); !reflect.DeepEqual(got, want) {
		t.Fatalf("rows:\n got %q\nwant %q", got, want)
	}
	for _, r := range want {
		if len(r) != len(planHeader) {
			t.Fatalf("a row of %d cells under a header of %d", len(r), len(planHeader))
		}
	}

	unchanged := workflows.UserSyncResult{Slug: "eFgH", Outcome: workflows.OutcomeUnchanged,
		Decision: pairing.Decision{Action: pairing.ActionNoChange, Reason: "-nothing differs"}}
	if got := planRows(unchanged); len(got) != 1 || got[0][4] != "'-nothing differs" || got[0][5] != "" {
		t.Fatalf("an unchanged user is one row with empty change cells: %q", got)
	}
}

func TestSpreadsheetSafe(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "Ada": "Ada", "=1+1": "'=1+1", "+1": "'+1", "-2": "'-2", "@SUM(A1)": "'@SUM(A1)",
		"\tx": "'\tx", "\rx": "'\rx", "a=b": "a=b", "ada@example.com": "ada@example.com",
	} {
		if got := spreadsheetSafe(in); got != want {
			t.Errorf("spreadsheetSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
