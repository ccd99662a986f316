package pairing

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// formats is the context of syncs that apply the value rules.
func formats(t Trigger) Context {
	return Context{Trigger: t, Rules: RulesFieldFormats, Lengths: map[string]int{"Title": 10, "Department": 8}}
}

func TestValueMapsTranslateBothWays(t *testing.T) {
	role := FieldPair{AwardForce: "Category", CRM: "LeadSource", Map: map[string]string{"Student": "Web", "Professional": "Partner Referral"}, MapDefault: "Other"}
	s := withPairs(Options{CreateIfMissing: true, UpdateIfExists: true, GetDetailsFromCRM: true}, role,
		FieldPair{AwardForce: "Level", CRM: "Department", Direction: DirectionFromCRM, Map: map[string]string{"Senior": "SNR", "Junior": "JNR"}})
	p := Profile{Slug: "AbCdEfGh", Values: map[string]string{"email": "a@example.org", "Category": "Student", "Level": ""}}

	d := s.DecideWith(formats(TriggerRegistration), p, nil)
	assert.Contains(t, d.CRM, Change{Field: "LeadSource", Source: "Category", After: "Web"}, "a listed value is mapped")

	p.Values["Category"] = "Retired"
	d = s.DecideWith(formats(TriggerRegistration), p, nil)
	assert.Contains(t, d.CRM, Change{Field: "LeadSource", Source: "Category", After: "Other"}, "an unlisted value takes map_default")

	// An existing record that already holds the mapped value is up to date;
	// a pulled value comes back through the map.
	rec := CRMRecord{ID: "003A", Values: map[string]string{"Email": "a@example.org", "LeadSource": "Other", "Department": "SNR"}}
	d = s.DecideWith(formats(TriggerRegistration), p, []CRMRecord{rec})
	assert.Empty(t, d.CRM)
	assert.Equal(t, []Change{{Field: "Level", Source: "Department", After: "Senior"}}, d.AwardForce)

	// Without map_default an unlisted value goes as it is.
	role.MapDefault = ""
	s.Fields[0] = role
	d = s.DecideWith(formats(TriggerRegistration), p, nil)
	assert.Contains(t, d.CRM, Change{Field: "LeadSource", Source: "Category", After: "Retired"})
}

func TestTooLongValuesAreCutOrFlagged(t *testing.T) {
	s := withPairs(writeOnly,
		FieldPair{AwardForce: "JobTitle", CRM: "Title", Truncate: true},
		FieldPair{AwardForce: "Employer", CRM: "Department"},
	)
	p := Profile{Values: map[string]string{"email": "a@example.org", "JobTitle": "Chief Archivist", "Employer": "Analytical Engines"}}
	d := s.DecideWith(formats(TriggerRegistration), p, nil)
	assert.Contains(t, d.CRM, Change{Field: "Title", Source: "JobTitle", After: "Chief Arch", Note: "cut to Title's 10 characters (truncate)"})
	var dept Change
	for _, c := range d.CRM {
		if c.Field == "Department" {
			dept = c
		}
	}
	assert.Equal(t, "Analytical Engines", dept.After, "without truncate the value goes as it is…")
	assert.Contains(t, dept.Note, "STRING_TOO_LONG", "…flagged for the plan")

	// A record already holding the cut value needs no update.
	rec := CRMRecord{ID: "003A", Values: map[string]string{"Email": "a@example.org", "Title": "Chief Arch", "Department": "Analytical Engines"}}
	d = s.DecideWith(formats(TriggerBackfill), p, []CRMRecord{rec})
	assert.Empty(t, d.CRM)

	// Syncs started before the rules write values as they are.
	d = s.Decide(TriggerRegistration, p, nil)
	assert.Contains(t, d.CRM, Change{Field: "Title", Source: "JobTitle", After: "Chief Archivist"})
}

func TestPhonesPulledIntoMobileAreE164(t *testing.T) {
	s := withPairs(Options{GetDetailsFromCRM: true, UpdateIfExists: true, CreateIfMissing: true},
		FieldPair{AwardForce: "mobile", CRM: "Phone", Direction: DirectionBoth},
		FieldPair{AwardForce: "JobTitle", CRM: "Title", Direction: DirectionFromCRM},
	)
	s.PhoneRegion = "US"
	p := Profile{Values: map[string]string{"email": "a@example.org", "mobile": "", "JobTitle": ""}}
	for _, tc := range []struct {
		crm, want, skipped string
	}{
		{crm: "(415) 555-2671", want: "+14155552671"},
		{crm: "+44 20 7946 0958", want: "+442079460958"},
		{crm: "0044 20 7946 0958", want: "+442079460958"},
		{crm: "call me", skipped: "not a phone number"},
		{crm: "555-01", skipped: "not a valid phone number"},
	} {
		rec := CRMRecord{ID: "003A", Values: map[string]string{"Email": "a@example.org", "Phone": tc.crm, "Title": "Dean"}}
		d := s.DecideWith(formats(TriggerRegistration), p, []CRMRecord{rec})
		if tc.skipped != "" {
			require.Len(t, d.SkippedFields, 1, tc.crm)
			assert.Equal(t, "mobile", d.SkippedFields[0].Field)
			assert.Contains(t, d.SkippedFields[0].Reason, tc.skipped)
			assert.Equal(t, []Change{{Field: "JobTitle", Source: "Title", After: "Dean"}}, d.AwardForce, "the rest of the user's values still come")
			continue
		}
		assert.Empty(t, d.SkippedFields, tc.crm)
		assert.Contains(t, d.AwardForce, Change{Field: "mobile", Source: "Phone", After: tc.want}, tc.crm)
	}

	// The same number in the CRM's words is no change either way.
	p.Values["mobile"] = "+14155552671"
	rec := CRMRecord{ID: "003A", Values: map[string]string{"Email": "a@example.org", "Phone": "(415) 555-2671", "Title": "Dean"}}
	d := s.DecideWith(formats(TriggerBackfill), p, []CRMRecord{rec})
	assert.Empty(t, d.CRM, "the CRM's formatting is left alone")

	// Without a region only numbers with a country code can be read.
	s.PhoneRegion = ""
	p.Values["mobile"] = ""
	d = s.DecideWith(formats(TriggerRegistration), p, []CRMRecord{rec})
	require.Len(t, d.SkippedFields, 1)
	assert.Contains(t, d.SkippedFields[0].Reason, "phone_region")
}

func TestValueRulesAreValidated(t *testing.T) {
	for yaml, key := range map[string]string{
		"fields:\n  - {crm: LeadSource, value: Web, map: {a: b}}":                                                "fields[0].map",
		"fields:\n  - {awardforce: Category, crm: LeadSource, map_default: Other}":                               "fields[0].map_default",
		"fields:\n  - {awardforce: Category, crm: LeadSource, direction: from_crm, map: {a: b}, map_default: c}": "fields[0].map_default",
		"fields:\n  - {awardforce: Category, crm: LeadSource, direction: both, map: {Judge: Web, Entrant: Web}}": `fields[0].map["Judge"]`,
		"fields:\n  - {awardforce: Category, crm: LeadSource, map: {Judge: ''}}":                                 `fields[0].map["Judge"]`,
		"fields:\n  - {awardforce: Category, crm: LeadSource, map: [Judge]}":                                     "fields[0].map",
		"fields:\n  - {awardforce: JobTitle, crm: Title, direction: from_crm, truncate: true}":                   "fields[0].truncate",
		"fields:\n  - {awardforce: JobTitle, crm: Title, truncate: maybe}":                                       "fields[0].truncate",
		"phone_region: uk": "phone_region",
		"phone_region: ZZ": "phone_region",
	} {
		_, err := Parse([]byte(head + yaml + "\n"))
		problemAt(t, err, key)
	}
	s, err := Parse([]byte(head + "phone_region: GB\nfields:\n  - {awardforce: Category, crm: LeadSource, map: {Student: Web}, map_default: Other}\n  - {awardforce: JobTitle, crm: Title, truncate: true}\n"))
	require.NoError(t, err)
	assert.Equal(t, "GB", s.PhoneRegion)
	assert.Equal(t, map[string]string{"Student": "Web"}, s.Fields[0].Map)
	assert.True(t, s.Fields[1].Truncate)
}

func TestTheCheckKnowsRestrictedPicklistsAndLengths(t *testing.T) {
	crm := contactDescribe()
	ls := crm.Fields["LeadSource"]
	ls.Picklist, ls.Restricted = []string{"Web", "Partner Referral", "Other"}, true
	crm.Fields["LeadSource"] = ls

	s := withPairs(writeOnly, FieldPair{AwardForce: "Category", CRM: "LeadSource", Map: map[string]string{"Student": "Web", "Judge": "Reviewer"}, MapDefault: "Other"})
	p := problemAt(t, s.Check(crm, []string{"Category"}), `fields[0].map["Judge"]`)
	assert.Contains(t, p.Message, `"Reviewer"`)
	assert.Contains(t, p.Fix, `"Partner Referral"`)

	s = withPairs(writeOnly, FieldPair{AwardForce: "Category", CRM: "LeadSource", Map: map[string]string{"Student": "Web"}})
	problemAt(t, s.Check(crm, []string{"Category"}), "fields[0].map_default")

	s = withPairs(writeOnly, FieldPair{CRM: "LeadSource", Value: "Award Force"})
	problemAt(t, s.Check(crm, nil), "fields[0].value")

	s = withPairs(writeOnly, FieldPair{AwardForce: "Category", CRM: "Title", Map: map[string]string{"Student": "A title far longer than the hundred and twenty-eight characters Contact.Title holds, which the check must notice before any record is refused"}})
	problemAt(t, s.Check(crm, []string{"Category"}), `fields[0].map["Student"]`)

	last := FieldPair{AwardForce: "last_name", CRM: "LastName"}
	s = withPairs(writeOnly, last, FieldPair{AwardForce: "Category", CRM: "LeadSource", Map: map[string]string{"Student": "Web"}, MapDefault: "Other"})
	require.NoError(t, s.Check(crm, []string{"Category"}))
	ls.Restricted = false
	crm.Fields["LeadSource"] = ls
	s = withPairs(writeOnly, last, FieldPair{AwardForce: "Category", CRM: "LeadSource", Map: map[string]string{"Judge": "Reviewer"}})
	require.NoError(t, s.Check(crm, []string{"Category"}), "an unrestricted picklist takes any value")
}
