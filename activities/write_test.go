package activities

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/afsync/afsync/pairing"
)

func creates(slugs ...string) []CreateItem {
	out := make([]CreateItem, len(slugs))
	for i, s := range slugs {
		out[i] = CreateItem{Slug: s, Identifier: s + "@example.org", Values: []pairing.Change{
			{Field: "Email", After: s + "@example.org"}, {Field: "LastName", After: "L" + s},
		}}
	}
	return out
}

// Write makes one attempt and reports each record's fate, telling apart
// what Salesforce refused, what it may still be doing, and what worked.
func TestWriteReportsEachRecordsFate(t *testing.T) {
	ctx := context.Background()
	t.Run("a locked row fails its record alone, transiently", func(t *testing.T) {
		a, sim := newSalesforce(t)
		sim.InjectRecordFaults(1, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")
		out, err := a.Write(ctx, WriteInput{Spec: *pairing.Default(), Creates: creates("AaAaAaAa", "BbBbBbBb")})
		if err != nil {
			t.Fatal(err)
		}
		locked, fine := out.Creates[0], out.Creates[1]
		if locked.ErrorType != ErrTypeSalesforceUnavailable || locked.Unknown || locked.CallFailed {
			t.Errorf("locked record: %+v, want a transient refusal of this record alone", locked)
		}
		if fine.Error != "" || fine.ID == "" || !fine.Created {
			t.Errorf("the other record: %+v, want created", fine)
		}
		if n := len(sim.Records("Contact")); n != 1 || out.Calls != 1 {
			t.Errorf("%d contacts after %d calls, want 1 after 1", n, out.Calls)
		}
	})
	t.Run("a refused call fails every record, and nothing is in doubt", func(t *testing.T) {
		a, sim := newSalesforce(t)
		sim.InjectFaults(1, 503, "SERVER_UNAVAILABLE", "Server temporarily unavailable")
		out, err := a.Write(ctx, WriteInput{Spec: *pairing.Default(), Creates: creates("AaAaAaAa", "BbBbBbBb")})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Creates {
			if o.ErrorType != ErrTypeSalesforceUnavailable || o.Unknown || !o.CallFailed {
				t.Errorf("%+v, want a transient failure of the whole call, known not to have committed", o)
			}
		}
	})
	t.Run("a lost answer leaves every record in doubt", func(t *testing.T) {
		a, sim := newSalesforce(t)
		sim.InjectLostResponses(1)
		out, err := a.Write(ctx, WriteInput{Spec: *pairing.Default(), Creates: creates("AaAaAaAa")})
		if err != nil {
			t.Fatal(err)
		}
		if o := out.Creates[0]; !o.Unknown || o.ErrorType != ErrTypeSalesforceOutcomeUnknown {
			t.Errorf("%+v, want its outcome unknown", o)
		}
		if n := len(sim.Records("Contact")); n != 1 {
			t.Errorf("%d contacts: the write committed before its answer was lost", n)
		}
	})
	t.Run("a late commit too, and it lands afterwards", func(t *testing.T) {
		a, sim := newSalesforce(t)
		sim.InjectLateCommits(1, 200*time.Millisecond)
		out, err := a.Write(ctx, WriteInput{Spec: *pairing.Default(), Creates: creates("AaAaAaAa")})
		if err != nil {
			t.Fatal(err)
		}
		if o := out.Creates[0]; !o.Unknown {
			t.Errorf("%+v, want its outcome unknown", o)
		}
		if n := len(sim.Records("Contact")); n != 0 {
			t.Fatalf("%d contacts at once, want the commit later", n)
		}
		time.Sleep(400 * time.Millisecond)
		if n := len(sim.Records("Contact")); n != 1 {
			t.Errorf("%d contacts after the delay, want the late commit", n)
		}
	})
	t.Run("a subrequest refused as a whole fails its records alone, with Salesforce's message", func(t *testing.T) {
		a, sim := newSalesforce(t)
		id := sim.Insert("Contact", map[string]any{"Email": "old@example.org", "LastName": "Old"})
		in := WriteInput{
			Spec:    *pairing.Default(),
			Creates: creates("AaAaAaAa"),
			Updates: []UpdateItem{{Slug: "CcCcCcCc", ID: id, Values: []pairing.Change{{Field: "FirstName", After: "Cee"}}}},
		}
		in.Creates[0].Values = append(in.Creates[0].Values, pairing.Change{Field: "NoSuchField__c", After: "x"})
		out, err := a.Write(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if o := out.Creates[0]; o.Unknown || o.Error == "" || !strings.Contains(o.Error, "NoSuchField__c") {
			t.Errorf("the create: %+v, want refused with Salesforce's message", o)
		}
		if o := out.Updates[0]; o.Error != "" || out.Calls != 1 {
			t.Errorf("the update: %+v (%d calls), want written in the same call", o, out.Calls)
		}
		if rec, _ := sim.Record("Contact", id); rec["FirstName"] != "Cee" {
			t.Errorf("the update did not land: %v", rec)
		}
	})
	t.Run("creates and updates in one attempt; an external id makes creates upserts", func(t *testing.T) {
		a, sim := newSalesforce(t)
		spec := *pairing.Default()
		spec.ExternalID.CRM = "AwardForce_Slug__c"
		id := sim.Insert("Contact", map[string]any{"Email": "old@example.org", "LastName": "Old", "AwardForce_Slug__c": "CcCcCcCc"})
		out, err := a.Write(ctx, WriteInput{
			Spec:    spec,
			Creates: creates("AaAaAaAa", "CcCcCcCc"), // the second already exists: the upsert updates it
			Updates: []UpdateItem{{Slug: "CcCcCcCc", ID: id, Values: []pairing.Change{{Field: "FirstName", After: "Cee"}}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		// Both kinds in one composite request: one API call.
		if !out.Creates[0].Created || out.Creates[1].Created || out.Creates[1].ID != id || out.Updates[0].Error != "" || out.Calls != 1 {
			t.Errorf("%+v", out)
		}
		if st := sim.Stats(); st.ByRoute["POST /composite"] != 1 || st.APICalls != 1 {
			t.Errorf("calls by route %v (%d in all)", st.ByRoute, st.APICalls)
		}
		rec, _ := sim.Record("Contact", id)
		if rec["FirstName"] != "Cee" || rec["LastName"] != "LCcCcCcCc" || len(sim.Records("Contact")) != 2 {
			t.Errorf("after the write: %v, %d contacts", rec, len(sim.Records("Contact")))
		}
	})
}

// With ReadBack, Write reads its updated records back in one query: what
// Salesforce holds right after the write, an edit made under it included.
func TestWriteReadsItsUpdatesBack(t *testing.T) {
	a, sim := newSalesforce(t)
	spec := pairing.Default()
	spec.Fields = append(spec.Fields, pairing.FieldPair{AwardForce: "JobTitle", CRM: "Title", Direction: pairing.DirectionFromCRM})
	id := sim.Insert("Contact", map[string]any{"Email": "ada@example.org", "LastName": "Byron", "Title": "Director"})
	out, err := a.Write(context.Background(), WriteInput{Spec: *spec, ReadBack: true,
		Updates: []UpdateItem{{Slug: "AdaLovel", ID: id, Values: []pairing.Change{{Field: "LastName", After: "Lovelace"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	o := out.Updates[0]
	if o.Error != "" || o.After == nil {
		t.Fatalf("outcome %+v, want the record read back", o)
	}
	if o.After.Value("LastName") != "Lovelace" || o.After.Value("Title") != "Director" {
		t.Fatalf("read back %v", o.After.Values)
	}
	if out.Calls != 2 {
		t.Fatalf("%d calls, want the update and one query", out.Calls)
	}
	// Without ReadBack nothing more is asked.
	out, err = a.Write(context.Background(), WriteInput{Spec: *spec,
		Updates: []UpdateItem{{Slug: "AdaLovel", ID: id, Values: []pairing.Change{{Field: "LastName", After: "King"}}}}})
	if err != nil || out.Updates[0].After != nil || out.Calls != 1 {
		t.Fatalf("without ReadBack: %+v, %v", out, err)
	}
}

// A Write records that it began, and waits for that record, before its
// first Salesforce call: a Write that failed without it called nobody, and
// its people are not in doubt (WriteWasNotBegun).
func TestWriteRecordsThatItBeganBeforeItsFirstCall(t *testing.T) {
	for _, tc := range []struct {
		name      string
		beginErr  error
		wantCalls int
	}{
		{"begun, then written", nil, 1},
		{"the server did not take the record: nothing is written", errors.New("rpc error: code = Unavailable"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, sim := newSalesforce(t)
			callsAtBegin := -1
			a.Begin = func(ctx context.Context) error {
				callsAtBegin = sim.Stats().APICalls
				return tc.beginErr
			}
			var s testsuite.WorkflowTestSuite
			env := s.NewTestActivityEnvironment()
			env.RegisterActivity(a)
			v, err := env.ExecuteActivity(a.Write, WriteInput{Spec: *pairing.Default(), Creates: creates("AaAaAaAa")})
			if callsAtBegin != 0 {
				t.Fatalf("Salesforce had %d calls when the write recorded that it began, want 0", callsAtBegin)
			}
			if got := sim.Stats().APICalls; got != tc.wantCalls {
				t.Errorf("%d Salesforce calls, want %d", got, tc.wantCalls)
			}
			if tc.beginErr == nil {
				var out WriteOutput
				if err != nil || v.Get(&out) != nil || len(out.Creates) != 1 || out.Creates[0].ID == "" {
					t.Fatalf("write: %+v, %v; want the record created", out, err)
				}
				return
			}
			if !WriteWasNotBegun(err) {
				t.Fatalf("error %v: want one the lane knows made no call", err)
			}
		})
	}
}

func TestWriteWasNotBegunOnlyWithoutTheBeginning(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"timed out with no heartbeat: its task never reached a worker", temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil), true},
		{"timed out after it began", temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil, WriteBegun), false},
		{"ran out of time after it began", temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_START_TO_CLOSE, nil, WriteBegun), false},
		{"could not record that it began", temporal.NewApplicationError("no", ErrTypeWriteNotBegun), true},
		{"failed mid-call", errors.New("context deadline exceeded"), false},
		{"a worker stopped under it", temporal.NewApplicationError("worker stopping", ErrTypeSalesforceOutcomeUnknown), false},
	} {
		if got := WriteWasNotBegun(tc.err); got != tc.want {
			t.Errorf("%s: WriteWasNotBegun = %v, want %v", tc.name, got, tc.want)
		}
	}
}
