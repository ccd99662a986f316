package activities

import (
	"context"
	"testing"
	"time"

	"github.com/afsync/afsync/pairing"
)

// The changed records of a window, over real HTTP: afsync's own writes are
// echoes, an edit by someone else is a change with its identifier, a merge
// names its survivor and a deletion is a change too.
func TestChangedRecordsTellsOthersChangesFromAfsyncsOwn(t *testing.T) {
	a, sim := newSalesforce(t)
	ctx := context.Background()
	start := time.Now().Add(-time.Minute)
	spec := *pairing.Default()
	spec.ExternalID.CRM = "AwardForce_Slug__c"

	wrote, err := a.Write(ctx, WriteInput{Spec: *pairing.Default(), Creates: []CreateItem{{Slug: "OwnWrite", Identifier: "own@example.org",
		Values: []pairing.Change{{Field: "Email", After: "own@example.org"}, {Field: "LastName", After: "Own"}}}}})
	if err != nil || wrote.Creates[0].Error != "" {
		t.Fatal(err, wrote)
	}
	own := wrote.Creates[0]
	edited := sim.Insert("Contact", map[string]any{"Email": "edited@example.org", "LastName": "E", "AwardForce_Slug__c": "EditedAA"})
	survivor := sim.Insert("Contact", map[string]any{"Email": "merged@example.org", "LastName": "S"})
	merged := sim.Insert("Contact", map[string]any{"Email": "merged@example.org", "LastName": "M"})
	gone := sim.Insert("Contact", map[string]any{"Email": "gone@example.org", "LastName": "G"})
	if err := sim.EditAs("Contact", edited, map[string]any{"Title": "Dean"}); err != nil {
		t.Fatal(err)
	}
	if err := sim.Merge("Contact", survivor, merged); err != nil {
		t.Fatal(err)
	}
	if err := sim.DeleteAs("Contact", gone); err != nil {
		t.Fatal(err)
	}

	res, err := a.ChangedRecords(ctx, ChangesInput{Spec: spec, Start: start, End: time.Now().Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Echoes != 1 {
		t.Errorf("echoes %d, want afsync's own create (%s) alone", res.Echoes, own.ID)
	}
	got := map[string]CRMChange{}
	for _, c := range res.Changes {
		got[c.RecordID] = c
	}
	if c := got[edited]; c.Identifier != "edited@example.org" || c.Slug != "EditedAA" || c.Deleted || c.Modified.IsZero() {
		t.Errorf("the edited record: %+v", c)
	}
	if c := got[merged]; !c.Deleted || c.MergedInto != survivor {
		t.Errorf("the merged record: %+v, want deleted into %s", c, survivor)
	}
	if c := got[gone]; !c.Deleted || c.MergedInto != "" || c.Identifier != "gone@example.org" {
		t.Errorf("the deleted record: %+v", c)
	}
	if _, ok := got[own.ID]; ok {
		t.Error("afsync's own write came back as a change")
	}
	if _, ok := got[survivor]; !ok {
		t.Error("the survivor of the merge (modified by the merge) is not a change")
	}
	if res.Covered.IsZero() || res.Calls != 2 { // GET updated, one queryAll
		t.Errorf("covered %s after %d calls", res.Covered, res.Calls)
	}
}
