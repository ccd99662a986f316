package pairing

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func rec(id string, kv ...string) CRMRecord {
	r := CRMRecord{ID: id, Values: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Values[kv[i]] = kv[i+1]
	}
	return r
}

func prof(kv ...string) Profile {
	p := Profile{Slug: "AbCdEfGh", Values: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		p.Values[kv[i]] = kv[i+1]
	}
	return p
}

// withPairs is a Contact spec identified by email with the given pairs and options.
func withPairs(o Options, pairs ...FieldPair) *Spec {
	return &Spec{Options: o, Object: "Contact", UniqueIdentifier: Identifier{AwardForce: "email", CRM: "Email"}, Fields: pairs}
}

var (
	writeOnly = Options{CreateIfMissing: true, UpdateIfExists: true, UpdateOnProfileChange: true}
	allOn     = Options{GetDetailsFromCRM: true, CreateIfMissing: true, UpdateIfExists: true, UpdateOnProfileChange: true}
	pullOnly  = Options{GetDetailsFromCRM: true}
)

func TestDecideCases(t *testing.T) {
	tests := []struct {
		name    string
		spec    *Spec
		trigger Trigger
		profile Profile
		matches []CRMRecord
		want    Decision
		reason  string // substring of Reason, when asserted
	}{
		{
			name:    "email differs only in case, stale LastName: update LastName only",
			spec:    Default(),
			trigger: TriggerRegistration,
			profile: prof("email", "ann.lee@example.org", "first_name", "Ann", "last_name", "Lee", "mobile", "+44 1"),
			matches: []CRMRecord{rec("003A", "Email", "Ann.Lee@EXAMPLE.org", "FirstName", "Ann", "LastName", "Leigh", "Phone", "+44 1")},
			want: Decision{Action: ActionUpdate, RecordID: "003A",
				CRM: []Change{{Field: "LastName", Source: "last_name", Before: "Leigh", After: "Lee"}}},
		},
		{
			name:    "always overwrites a differing CRM value",
			spec:    withPairs(writeOnly, FieldPair{AwardForce: "mobile", CRM: "Phone", Overwrite: OverwriteAlways}),
			trigger: TriggerProfileUpdate,
			profile: prof("email", "a@x.org", "mobile", "222"),
			matches: []CRMRecord{rec("003A", "Phone", "111")},
			want: Decision{Action: ActionUpdate, RecordID: "003A",
				CRM: []Change{{Field: "Phone", Source: "mobile", Before: "111", After: "222"}}},
		},
		{
			name:    "if_empty keeps a filled CRM value",
			spec:    withPairs(writeOnly, FieldPair{AwardForce: "mobile", CRM: "Phone", Overwrite: OverwriteIfEmpty}),
			trigger: TriggerRegistration,
			profile: prof("email", "a@x.org", "mobile", "222"),
			matches: []CRMRecord{rec("003A", "Phone", "111")},
			want:    Decision{Action: ActionNoChange, RecordID: "003A"},
			reason:  "up to date",
		},
		{
			name:    "if_empty fills an empty (blank) CRM value",
			spec:    withPairs(writeOnly, FieldPair{AwardForce: "mobile", CRM: "Phone", Overwrite: OverwriteIfEmpty}),
			trigger: TriggerRegistration,
			profile: prof("email", "a@x.org", "mobile", "222"),
			matches: []CRMRecord{rec("003A", "Phone", "  ")},
			want: Decision{Action: ActionUpdate, RecordID: "003A",
				CRM: []Change{{Field: "Phone", Source: "mobile", Before: "  ", After: "222"}}},
		},
		{
			name:    "an empty or missing AF value never blanks the CRM",
			spec:    Default(),
			trigger: TriggerRegistration,
			profile: prof("email", "a@x.org", "last_name", " "),
			matches: []CRMRecord{rec("003A", "FirstName", "Ann", "LastName", "Lee", "Phone", "1")},
			want:    Decision{Action: ActionNoChange, RecordID: "003A"},
		},
		{
			name:    "a static value fills an empty CRM field (if_empty by default)",
			spec:    withPairs(writeOnly, FieldPair{CRM: "LeadSource", Value: "Award Force"}),
			trigger: TriggerBackfill,
			profile: prof("email", "a@x.org"),
			matches: []CRMRecord{rec("003A", "LeadSource", "")},
			want: Decision{Action: ActionUpdate, RecordID: "003A",
				CRM: []Change{{Field: "LeadSource", Source: "static", After: "Award Force"}}},
		},
		{
			name:    "a static value keeps a filled CRM field (if_empty by default)",
			spec:    withPairs(writeOnly, FieldPair{CRM: "LeadSource", Value: "Award Force"}),
			trigger: TriggerBackfill,
			profile: prof("email", "a@x.org"),
			matches: []CRMRecord{rec("003A", "LeadSource", "Web")},
			want:    Decision{Action: ActionNoChange, RecordID: "003A"},
		},
		{
			name: "a static value with always overwrites a different value only",
			spec: withPairs(writeOnly,
				FieldPair{CRM: "LeadSource", Value: "Award Force", Overwrite: OverwriteAlways},
				FieldPair{CRM: "Rating", Value: "Hot", Overwrite: OverwriteAlways}),
			trigger: TriggerManual,
			profile: prof("email", "a@x.org"),
			matches: []CRMRecord{rec("003A", "LeadSource", "Web", "Rating", "Hot")},
			want: Decision{Action: ActionUpdate, RecordID: "003A",
				CRM: []Change{{Field: "LeadSource", Source: "static", Before: "Web", After: "Award Force"}}},
		},
		{
			name:    "from_crm with always pulls a differing value",
			spec:    withPairs(pullOnly, FieldPair{AwardForce: "job_title", CRM: "Title", Direction: DirectionFromCRM}),
			trigger: TriggerRegistration,
			profile: prof("email", "a@x.org", "job_title", "Judge"),
			matches: []CRMRecord{rec("003A", "Title", " Chief Judge ")},
			want: Decision{Action: ActionNoChange, RecordID: "003A",
				AwardForce: []Change{{Field: "job_title", Source: "Title", Before: "Judge", After: "Chief Judge"}}},
			reason: "update_if_exists (option 3) is off",
		},
		{
			name:    "an empty CRM value never blanks Award Force",
			spec:    withPairs(pullOnly, FieldPair{AwardForce: "job_title", CRM: "Title", Direction: DirectionFromCRM}),
			trigger: TriggerRegistration,
			profile: prof("email", "a@x.org", "job_title", "Judge"),
			matches: []CRMRecord{rec("003A")},
			want:    Decision{Action: ActionNoChange, RecordID: "003A"},
		},
		{
			name: "from_crm with if_empty fills only an empty AF value",
			spec: withPairs(pullOnly,
				FieldPair{AwardForce: "job_title", CRM: "Title", Direction: DirectionFromCRM, Overwrite: OverwriteIfEmpty},
				FieldPair{AwardForce: "dept", CRM: "Department", Direction: DirectionFromCRM, Overwrite: OverwriteIfEmpty}),
			trigger: TriggerRegistration,
			profile: prof("email", "a@x.org", "job_title", "Judge"),
			matches: []CRMRecord{rec("003A", "Title", "Chief", "Department", "Arts")},
			want: Decision{Action: ActionNoChange, RecordID: "003A",
				AwardForce: []Change{{Field: "dept", Source: "Department", After: "Arts"}}},
		},
		{
			name:    "both sends a differing AF value to the CRM and does not pull",
			spec:    withPairs(allOn, FieldPair{AwardForce: "mobile", CRM: "Phone", Direction: DirectionBoth}),
			trigger: TriggerRegistration,
			profile: prof("email", "a@x.org", "mobile", "222"),
			matches: []CRMRecord{rec("003A", "Phone", "111")},
			want: Decision{Action: ActionUpdate, RecordID: "003A",
				CRM: []Change{{Field: "Phone", Source: "mobile", Before: "111", After: "222"}}},
		},
		{
			name:    "both fills an empty AF value from the CRM",
			spec:    withPairs(allOn, FieldPair{AwardForce: "mobile", CRM: "Phone", Direction: DirectionBoth}),
			trigger: TriggerRegistration,
			profile: prof("email", "a@x.org"),
			matches: []CRMRecord{rec("003A", "Phone", "111")},
			want: Decision{Action: ActionNoChange, RecordID: "003A",
				AwardForce: []Change{{Field: "mobile", Source: "Phone", After: "111"}}},
		},
		{
			name:    "both with if_empty writes only an empty CRM field",
			spec:    withPairs(allOn, FieldPair{AwardForce: "mobile", CRM: "Phone", Direction: DirectionBoth, Overwrite: OverwriteIfEmpty}),
			trigger: TriggerRegistration,
			profile: prof("email", "a@x.org", "mobile", "222"),
			matches: []CRMRecord{rec("003A", "Phone", "111")},
			want:    Decision{Action: ActionNoChange, RecordID: "003A"},
		},
		{
			name:    "a profile update never pulls field values",
			spec:    withPairs(allOn, FieldPair{AwardForce: "mobile", CRM: "Phone", Direction: DirectionBoth}, FieldPair{AwardForce: "job_title", CRM: "Title", Direction: DirectionFromCRM}),
			trigger: TriggerProfileUpdate,
			profile: prof("email", "a@x.org", "job_title", "Judge"),
			matches: []CRMRecord{rec("003A", "Phone", "111", "Title", "Chief")},
			want:    Decision{Action: ActionNoChange, RecordID: "003A"},
		},
		{
			name:    "non-email fields compare exactly (case matters)",
			spec:    Default(),
			trigger: TriggerRegistration,
			profile: prof("email", "a@x.org", "first_name", "Ann"),
			matches: []CRMRecord{rec("003A", "FirstName", "ann")},
			want: Decision{Action: ActionUpdate, RecordID: "003A",
				CRM: []Change{{Field: "FirstName", Source: "first_name", Before: "ann", After: "Ann"}}},
		},
		{
			name:    "values compare after trimming",
			spec:    Default(),
			trigger: TriggerRegistration,
			profile: prof("email", " a@x.org ", "first_name", " Ann "),
			matches: []CRMRecord{rec("003A", "FirstName", "Ann  ")},
			want:    Decision{Action: ActionNoChange, RecordID: "003A"},
		},
		{
			name:    "a pair whose AF side is email compares case-insensitively",
			spec:    withPairs(writeOnly, FieldPair{AwardForce: "email", CRM: "Secondary_Email__c"}, FieldPair{AwardForce: "work_email", CRM: "Work_Email__c"}),
			trigger: TriggerRegistration,
			profile: prof("email", "ann@x.org", "work_email", "ann@work.org"),
			matches: []CRMRecord{rec("003A", "Secondary_Email__c", "ANN@x.org", "Work_Email__c", "ANN@work.org")},
			want: Decision{Action: ActionUpdate, RecordID: "003A",
				CRM: []Change{{Field: "Work_Email__c", Source: "work_email", Before: "ANN@work.org", After: "ann@work.org"}}},
		},
		{
			name:    "record_id_field receives a differing record id (even with option 1 off)",
			spec:    func() *Spec { s := Default(); s.RecordIDField = "salesforce_id"; return s }(),
			trigger: TriggerRegistration,
			profile: prof("email", "a@x.org", "salesforce_id", "003OLD"),
			matches: []CRMRecord{rec("003A")},
			want: Decision{Action: ActionNoChange, RecordID: "003A",
				AwardForce: []Change{{Field: "salesforce_id", Source: "Id", Before: "003OLD", After: "003A"}}},
		},
		{
			name:    "record_id_field already holding the id: nothing to pull",
			spec:    func() *Spec { s := Default(); s.RecordIDField = "salesforce_id"; return s }(),
			trigger: TriggerBackfill,
			profile: prof("email", "a@x.org", "salesforce_id", "003A"),
			matches: []CRMRecord{rec("003A")},
			want:    Decision{Action: ActionNoChange, RecordID: "003A"},
		},
		{
			name:    "record_id_field is filled on a profile update too, after the field pulls",
			spec:    func() *Spec { s := Default(); s.RecordIDField = "salesforce_id"; return s }(),
			trigger: TriggerProfileUpdate,
			profile: prof("email", "a@x.org", "last_name", "Lee"),
			matches: []CRMRecord{rec("003A", "LastName", "Leigh")},
			want: Decision{Action: ActionUpdate, RecordID: "003A",
				CRM:        []Change{{Field: "LastName", Source: "last_name", Before: "Leigh", After: "Lee"}},
				AwardForce: []Change{{Field: "salesforce_id", Source: "Id", After: "003A"}}},
		},
		{
			name: "create: identifier, to-CRM pairs with values and statics in spec order, then the external id",
			spec: func() *Spec {
				s := withPairs(allOn,
					FieldPair{AwardForce: "first_name", CRM: "FirstName"},
					FieldPair{CRM: "LeadSource", Value: "Award Force"},
					FieldPair{AwardForce: "job_title", CRM: "Title", Direction: DirectionFromCRM},
					FieldPair{AwardForce: "mobile", CRM: "Phone", Direction: DirectionBoth},
					FieldPair{AwardForce: "last_name", CRM: "LastName"})
				s.ExternalID.CRM = "AwardForce_Slug__c"
				s.RecordIDField = "salesforce_id"
				return s
			}(),
			trigger: TriggerRegistration,
			profile: prof("email", " Ann@X.org ", "first_name", "", "last_name", " Lee ", "job_title", "Judge", "mobile", "5"),
			want: Decision{Action: ActionCreate, CRM: []Change{
				{Field: "Email", Source: "email", After: "Ann@X.org"},
				{Field: "LeadSource", Source: "static", After: "Award Force"},
				{Field: "Phone", Source: "mobile", After: "5"},
				{Field: "LastName", Source: "last_name", After: "Lee"},
				{Field: "AwardForce_Slug__c", Source: "slug", After: "AbCdEfGh"},
			}},
		},
		{
			name:    "create on a profile update when no record matches",
			spec:    Default(),
			trigger: TriggerProfileUpdate,
			profile: prof("email", "a@x.org", "last_name", "Lee"),
			want: Decision{Action: ActionCreate, CRM: []Change{
				{Field: "Email", Source: "email", After: "a@x.org"},
				{Field: "LastName", Source: "last_name", After: "Lee"},
			}},
		},
		{
			name:    "a record without values (nulls) is all empty",
			spec:    Default(),
			trigger: TriggerRegistration,
			profile: prof("email", "a@x.org", "first_name", "Ann"),
			matches: []CRMRecord{{ID: "003A"}},
			want: Decision{Action: ActionUpdate, RecordID: "003A",
				CRM: []Change{{Field: "FirstName", Source: "first_name", After: "Ann"}}},
		},
		{
			name:    "CRM values are looked up case-insensitively",
			spec:    withPairs(writeOnly, FieldPair{AwardForce: "first_name", CRM: "firstname"}),
			trigger: TriggerRegistration,
			profile: prof("email", "a@x.org", "first_name", "Ann"),
			matches: []CRMRecord{rec("003A", "FirstName", "Ann")},
			want:    Decision{Action: ActionNoChange, RecordID: "003A"},
		},
		{
			name:    "an identifier of spaces only is empty",
			spec:    Default(),
			trigger: TriggerManual,
			profile: prof("email", " \t "),
			matches: []CRMRecord{rec("003A")},
			want:    Decision{Action: ActionSkip},
			reason:  "user has no email",
		},
		{
			name: "an identifier held in a profile field names that field when empty",
			spec: &Spec{Options: writeOnly, Object: "Applicant__c",
				UniqueIdentifier: Identifier{AwardForce: "memberno", CRM: "Member_No__c"}},
			trigger: TriggerRegistration,
			profile: prof("email", "a@x.org"),
			want:    Decision{Action: ActionSkip},
			reason:  "user has no memberno",
		},
		{
			name:    "the identifier is never pulled, even from a spec that skipped validation",
			spec:    withPairs(allOn, FieldPair{AwardForce: "email", CRM: "Other_Email__c", Direction: DirectionFromCRM}),
			trigger: TriggerRegistration,
			profile: prof("email", "a@x.org"),
			matches: []CRMRecord{rec("003A", "Other_Email__c", "b@y.org")},
			want:    Decision{Action: ActionNoChange, RecordID: "003A"},
		},
		{
			name:    "several matches: ambiguous with every candidate in order and nothing else",
			spec:    func() *Spec { s := Default(); s.RecordIDField = "salesforce_id"; return s }(),
			trigger: TriggerRegistration,
			profile: prof("email", "a@x.org", "last_name", "Lee"),
			matches: []CRMRecord{rec("003C", "LastName", "X"), rec("003A"), rec("003B")},
			want:    Decision{Action: ActionAmbiguous, CandidateIDs: []string{"003C", "003A", "003B"}},
			reason:  "3 Contact records share the user's Email",
		},
		{
			name:    "registration with a match and options 1 and 3 off",
			spec:    withPairs(Options{CreateIfMissing: true}),
			trigger: TriggerRegistration,
			profile: prof("email", "a@x.org"),
			matches: []CRMRecord{rec("003A")},
			want:    Decision{Action: ActionSkip},
			reason:  "update_if_exists (option 3) and get_details_from_crm (option 1) are off",
		},
		{
			name:    "registration with options 1-3 off",
			spec:    withPairs(Options{UpdateOnProfileChange: true}),
			trigger: TriggerRegistration,
			profile: prof("email", "a@x.org"),
			matches: []CRMRecord{rec("003A"), rec("003B")},
			want:    Decision{Action: ActionSkip},
			reason:  "options 1–3",
		},
		{
			name:    "an unknown trigger is skipped",
			spec:    Default(),
			trigger: Trigger("webhook"),
			profile: prof("email", "a@x.org"),
			want:    Decision{Action: ActionSkip},
			reason:  `unknown trigger "webhook"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.spec.Decide(tc.trigger, tc.profile, tc.matches)
			assertDecision(t, tc.name, tc.want, got)
			assert.NotEmpty(t, got.Reason)
			if tc.reason != "" {
				assert.Contains(t, got.Reason, tc.reason)
			}
		})
	}
}

func TestDecideFollowsSpecOrderAndIsDeterministic(t *testing.T) {
	pairs := []FieldPair{
		{AwardForce: "a1", CRM: "A__c"}, {AwardForce: "b1", CRM: "B__c"}, {AwardForce: "c1", CRM: "C__c"},
		{AwardForce: "d1", CRM: "D__c"}, {AwardForce: "e1", CRM: "E__c"},
	}
	p := prof("email", "a@x.org", "a1", "1", "b1", "2", "c1", "3", "d1", "4", "e1", "5")
	m := []CRMRecord{rec("003A")}
	fields := func(d Decision) []string {
		var out []string
		for _, c := range d.CRM {
			out = append(out, c.Field)
		}
		return out
	}
	s := withPairs(writeOnly, pairs...)
	first := s.Decide(TriggerRegistration, p, m)
	assert.Equal(t, []string{"A__c", "B__c", "C__c", "D__c", "E__c"}, fields(first))
	for range 20 {
		assert.Equal(t, first, s.Decide(TriggerRegistration, p, m))
	}
	reversed := withPairs(writeOnly, pairs[4], pairs[3], pairs[2], pairs[1], pairs[0])
	assert.Equal(t, []string{"E__c", "D__c", "C__c", "B__c", "A__c"}, fields(reversed.Decide(TriggerRegistration, p, m)))
}

func TestHandles(t *testing.T) {
	assert.True(t, Default().Handles(TriggerRegistration))
	assert.True(t, Default().Handles(TriggerProfileUpdate))
	assert.False(t, withPairs(Options{GetDetailsFromCRM: true}).Handles(TriggerProfileUpdate))
	assert.True(t, withPairs(Options{GetDetailsFromCRM: true}).Handles(TriggerBackfill))
	assert.False(t, withPairs(Options{UpdateOnProfileChange: true}).Handles(TriggerManual))
	assert.False(t, Default().Handles(Trigger("")))
}

func TestDecisionJSON(t *testing.T) {
	d := Default().Decide(TriggerRegistration, prof("email", "a@x.org", "last_name", "Lee"), []CRMRecord{rec("003A", "LastName", "L")})
	data, err := json.Marshal(d)
	require.NoError(t, err)
	assert.JSONEq(t, `{"action":"update","reason":"1 Contact field(s) differ","record_id":"003A",
		"crm":[{"field":"LastName","source":"last_name","before":"L","after":"Lee"}]}`, string(data))
	var back Decision
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, d, back)
}

func TestTriggerKnown(t *testing.T) {
	for _, tr := range []Trigger{TriggerRegistration, TriggerProfileUpdate, TriggerBackfill, TriggerManual} {
		if !tr.Known() {
			t.Errorf("%q must be known", tr)
		}
	}
	for _, tr := range []Trigger{"", "profile-update", "Manual", "deleted"} {
		if tr.Known() {
			t.Errorf("%q must not be known", tr)
		}
	}
}
