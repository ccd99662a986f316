package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/salesforce"
	"github.com/afsync/afsync/sandbox/sfsim"
)

func newSalesforce(t *testing.T) (*Salesforce, *sfsim.Server) {
	t.Helper()
	return newSalesforceWith(t, sfsim.Options{})
}

// newSalesforceWith is newSalesforce on an org configured by opts.
func newSalesforceWith(t *testing.T, opts sfsim.Options) (*Salesforce, *sfsim.Server) {
	t.Helper()
	opts.ClientID, opts.ClientSecret = "id", "secret"
	sim := sfsim.New(opts)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c, err := salesforce.New(salesforce.Config{LoginURL: srv.URL, ClientID: "id", ClientSecret: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	return &Salesforce{Client: c}, sim
}

func TestFindRecordsBatchesIdentifiersWithinTheURILimit(t *testing.T) {
	a, sim := newSalesforce(t)
	var ids []string
	for i := range 700 {
		email := fmt.Sprintf("person.number.%04d@awards.example.com", i)
		ids = append(ids, email)
		if i%7 == 0 {
			sim.Insert("Contact", map[string]any{"Email": strings.ToUpper(email), "LastName": "P"})
		}
	}
	sim.Insert("Contact", map[string]any{"Email": "person.number.0007@awards.example.com", "LastName": "Twin"})
	ids = append(ids, ids[0], "", "  ") // repeats and blanks cost nothing

	res, err := a.FindRecords(context.Background(), FindRecordsInput{Spec: *pairing.Default(), Identifiers: ids})
	if err != nil {
		t.Fatal(err)
	}
	queries := sim.Stats().Queries
	if res.Queries != queries || queries < 2 || queries > 4 {
		t.Fatalf("%d queries (reported %d) for 700 identifiers: want a few, each as full as the URI limit allows", queries, res.Queries)
	}
	for i := 0; i < 700; i++ {
		m := res.Matches[IdentifierKey(ids[i])]
		want := 0
		if i%7 == 0 {
			want = 1
		}
		if i == 7 {
			want = 2
		}
		if len(m) != want {
			t.Fatalf("%s: %d matches, want %d", ids[i], len(m), want)
		}
	}
}

func TestBuildLookupQueriesStayUnderTheLimitAndCoverEveryIdentifier(t *testing.T) {
	var ids []string
	for i := range 2000 {
		ids = append(ids, fmt.Sprintf("o'hara+%d@例え.example.com", i)) // quotes and non-ASCII grow when encoded
	}
	qs := buildLookupQueries("Contact", "Email", []string{"Id", "Email"}, ids)
	seen := 0
	for _, q := range qs {
		if n := len("/services/data/v62.0/query?q=" + url.QueryEscape(q)); n > 16384 {
			t.Fatalf("query URI of %d bytes exceeds Salesforce's 16,384", n)
		}
		q, err := sfsim.ParseSOQL(q)
		if err != nil {
			t.Fatal(err)
		}
		seen += len(q.Comparisons()[0].Values)
	}
	if seen != len(ids) {
		t.Fatalf("queries cover %d identifiers, want %d", seen, len(ids))
	}
}

func TestFindRecordsRefusesASpecTheDescribeRefutes(t *testing.T) {
	a, sim := newSalesforce(t)
	spec := pairing.Default()
	spec.Fields = append(spec.Fields, pairing.FieldPair{AwardForce: "last_name", CRM: "Surname__c"})
	_, err := a.FindRecords(context.Background(), FindRecordsInput{Spec: *spec, Identifiers: []string{"a@example.org"}})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != ErrTypeInvalidSpec || !appErr.NonRetryable() {
		t.Fatalf("got %v, want a non-retryable %s", err, ErrTypeInvalidSpec)
	}
	if !strings.Contains(err.Error(), "Surname__c") {
		t.Fatalf("the error must name the field: %v", err)
	}
	if q := sim.Stats().Queries; q != 0 {
		t.Fatalf("%d queries ran with an invalid spec", q)
	}
}

func TestLookupQueriesJoinIdentifiersAndSlugsWithinTheURILimit(t *testing.T) {
	var ids, slugs []string
	for i := range 1500 {
		ids = append(ids, fmt.Sprintf("o'hara+%d@例え.example.com", i))
		slugs = append(slugs, fmt.Sprintf("Slug%04d", i))
	}
	qs := buildTermQueries("Contact", []string{"Id", "Email", "AwardForce_Slug__c"},
		lookupTerm{field: "Email", values: ids, key: IdentifierKey},
		lookupTerm{field: "AwardForce_Slug__c", values: append(slugs, "Slug0001"), key: strings.TrimSpace})
	seen := map[string]int{}
	for _, q := range qs {
		if n := len("/services/data/v62.0/query?q=" + url.QueryEscape(q)); n > 16384 {
			t.Fatalf("query URI of %d bytes exceeds Salesforce's 16,384", n)
		}
		parsed, err := sfsim.ParseSOQL(q)
		if err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
		for _, c := range parsed.Comparisons() {
			seen[c.Field] += len(c.Values)
		}
	}
	if seen["Email"] != len(ids) || seen["AwardForce_Slug__c"] != len(slugs) {
		t.Fatalf("queries cover %v, want %d of each (a repeated slug asked once)", seen, len(ids))
	}
	apart := len(buildLookupQueries("Contact", "Email", []string{"Id", "Email", "AwardForce_Slug__c"}, ids)) +
		len(buildLookupQueries("Contact", "AwardForce_Slug__c", []string{"Id", "Email", "AwardForce_Slug__c"}, slugs))
	if len(qs) >= apart {
		t.Fatalf("%d queries, %d when asked apart: the terms are not packed together", len(qs), apart)
	}
}

func TestFindRecordsFindsAPersonBySlugInTheSameQuery(t *testing.T) {
	a, sim := newSalesforce(t)
	spec := pairing.Default()
	spec.ExternalID = pairing.ExternalID{CRM: "AwardForce_Slug__c"}
	moved := sim.Insert("Contact", map[string]any{"Email": "old.address@example.org", "LastName": "Moved", "AwardForce_Slug__c": "MovedAAA"})
	sim.Insert("Contact", map[string]any{"Email": "before.afsync@example.org", "LastName": "Unstamped"})
	res, err := a.FindRecords(context.Background(), FindRecordsInput{Spec: *spec,
		Identifiers: []string{"new.address@example.org", "Before.Afsync@example.org"}, ExternalIDs: []string{"MovedAAA", "NobodyAA"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Queries != 1 {
		t.Fatalf("%d queries, want one for identifiers and slugs together", res.Queries)
	}
	if got := res.ByExternalID["MovedAAA"]; len(got) != 1 || got[0].ID != moved || got[0].Values["AwardForce_Slug__c"] != "MovedAAA" {
		t.Fatalf("by slug: %+v", res.ByExternalID)
	}
	if len(res.Matches["new.address@example.org"]) != 0 || len(res.ByExternalID["NobodyAA"]) != 0 {
		t.Fatalf("matches: %+v %+v", res.Matches, res.ByExternalID)
	}
	got := res.Matches["before.afsync@example.org"]
	if len(got) != 1 || got[0].Values["AwardForce_Slug__c"] != "" {
		t.Fatalf("by identifier: %+v, want the record, with its empty external id read", got)
	}
	if _, ok := got[0].Values["AwardForce_Slug__c"]; !ok {
		t.Fatal("the external id is not read: Decide cannot tell whose record it is")
	}
}

// Records people are known to be paired with are read by id in the same
// query as the identifiers (through queryAll: deleted and merged ones
// answer too); only the survivor of a merge costs one more.
func TestFindRecordsReadsKnownRecordsInTheIdentifiersQuery(t *testing.T) {
	a, sim := newSalesforce(t)
	ctx := context.Background()
	moved := sim.Insert("Contact", map[string]any{"Email": "old.address@example.org", "LastName": "Moved"})
	gone := sim.Insert("Contact", map[string]any{"Email": "gone@example.org", "LastName": "Gone"})
	if err := sim.DeleteAs("Contact", gone); err != nil {
		t.Fatal(err)
	}
	res, err := a.FindRecords(ctx, FindRecordsInput{Spec: *pairing.Default(),
		Identifiers: []string{"new.address@example.org", "gone@example.org"}, RecordIDs: []string{moved[:15], gone}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Queries != 1 {
		t.Fatalf("%d queries, want the identifiers and the ids in one", res.Queries)
	}
	if k, ok := res.ByID[moved]; !ok || k.Deleted || k.Record.Values["Email"] != "old.address@example.org" {
		t.Fatalf("the moved person's record, asked by its 15-character id: %+v", res.ByID)
	}
	if k := res.ByID[gone]; !k.Deleted {
		t.Fatalf("the deleted record: %+v", k)
	}
	if len(res.Matches["gone@example.org"]) != 0 {
		t.Fatalf("a deleted record matched its address: %+v", res.Matches)
	}

	// A merge: the survivor is read in a second query.
	survivor := sim.Insert("Contact", map[string]any{"Email": "survivor@example.org", "LastName": "Kept"})
	if err := sim.Merge("Contact", survivor, moved); err != nil {
		t.Fatal(err)
	}
	res, err = a.FindRecords(ctx, FindRecordsInput{Spec: *pairing.Default(), Identifiers: []string{"new.address@example.org"}, RecordIDs: []string{moved}})
	if err != nil {
		t.Fatal(err)
	}
	if k := res.ByID[moved]; !k.Deleted || k.MergedInto != survivor {
		t.Fatalf("the merged record: %+v", k)
	}
	if k, ok := res.ByID[survivor]; !ok || k.Deleted || res.Queries != 2 {
		t.Fatalf("the survivor %+v after %d queries, want it read by a second", k, res.Queries)
	}
}
