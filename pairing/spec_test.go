package pairing

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const head = "object: Contact\nunique_identifier: {awardforce: email, crm: Email}\n"

// TestParseProblems has one case per message Parse can give: each names its key
// path, says what is wrong, and gives the fix.
func TestParseProblems(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		key      string
		line     int // 0: not asserted
		msg, fix string
	}{
		{"unknown top-level key", head + "objekt: Lead\n",
			"objekt", 3, `unknown key "objekt" at the top level`, `did you mean "object"? valid keys at the top level are: options, object, unique_identifier, external_id, record_id_field, fields`},
		{"unknown option", "options:\n  create_if_mising: true\n" + head,
			"options.create_if_mising", 2, `unknown key "create_if_mising" in options`, `did you mean "create_if_missing"?`},
		{"unknown pair key", head + "fields:\n  - {awardforce: first_name, crm: FirstName}\n  - {awardforce: last_name, crm: LastName, dirction: to_crm}\n",
			"fields[1].dirction", 5, `unknown key "dirction" in fields[1]`, "valid keys in fields[1] are: awardforce, crm, value, direction, overwrite"},
		{"unknown identifier key", "object: Contact\nunique_identifier: {awardforce: email, crm: Email, sf: Email}\n",
			"unique_identifier.sf", 2, `unknown key "sf" in unique_identifier`, "valid keys in unique_identifier are: awardforce, crm"},
		{"unknown external_id key", head + "external_id: {crm: AwardForce_Slug__c, field: X}\n",
			"external_id.field", 3, `unknown key "field" in external_id`, "valid keys in external_id are: crm"},
		{"repeated key", head + "object: Lead\n",
			"object", 3, `key "object" appears twice at the top level`, "keep only one"},
		{"not a mapping", "options: [create_if_missing]\n" + head,
			"options", 1, "options must be a mapping of keys, found a list", "get_details_from_crm, create_if_missing"},
		{"document not a mapping", "- Contact\n",
			"spec", 0, "the spec must be a mapping of keys", "options, object"},
		{"fields not a list", head + "fields: {awardforce: first_name, crm: FirstName}\n",
			"fields", 3, "fields must be a list of pairs, found a mapping", "- {awardforce: first_name, crm: FirstName}"},
		{"list where a value belongs", "object: [Contact]\nunique_identifier: {awardforce: email, crm: Email}\n",
			"object", 1, "object must be a single value, found a list", "write one text value"},
		{"bad boolean", "options: {create_if_missing: maybe}\n" + head,
			"options.create_if_missing", 1, `options.create_if_missing must be true or false, found "maybe"`, "`create_if_missing: true` or `create_if_missing: false`"},
		{"boolean without value", "options:\n  update_if_exists:\n" + head,
			"options.update_if_exists", 2, "options.update_if_exists has no value", "remove the key to keep the default (true)"},
		{"YAML syntax", "object: Contact\n  unique_identifier: x: y\n",
			"spec", 0, "the YAML cannot be read: yaml: line 2", "correct the YAML syntax"},
		{"object missing", "unique_identifier: {awardforce: email, crm: Email}\n",
			"object", 0, "object is missing", "set object: Contact, Lead, or a custom object's API name ending in __c"},
		{"object invalid", "object: Account\nunique_identifier: {awardforce: email, crm: Email}\n",
			"object", 1, `"Account" is not Contact, Lead or a custom object`, "ending in __c, e.g. Applicant__c"},
		{"object wrong case", "object: contact\nunique_identifier: {awardforce: email, crm: Email}\n",
			"object", 1, `"contact" is not Contact`, "write Contact"},
		{"custom object with bad characters", "object: My-Object__c\nunique_identifier: {awardforce: email, crm: Email}\n",
			"object", 1, `"My-Object__c" is not`, "ending in __c"},
		{"identifier missing", "object: Contact\n",
			"unique_identifier", 0, "unique_identifier is missing", "the unique identifier pair must be present, e.g. {awardforce: email, crm: Email}"},
		{"identifier without awardforce", "object: Contact\nunique_identifier: {crm: Email}\n",
			"unique_identifier.awardforce", 2, "unique_identifier has no awardforce field", "the unique identifier pair must be present, e.g. {awardforce: email, crm: Email}"},
		{"identifier without crm", "object: Contact\nunique_identifier:\n  awardforce: email\n",
			"unique_identifier.crm", 2, "unique_identifier has no crm field", "the unique identifier pair must be present, e.g. {awardforce: email, crm: Email}"},
		{"invalid CRM name", head + "fields:\n  - {awardforce: first_name, crm: First Name}\n",
			"fields[0].crm", 4, `"First Name" is not a valid CRM API field name`, "e.g. FirstName"},
		{"SOQL injection in a CRM name", "object: Contact\nunique_identifier: {awardforce: email, crm: \"Email FROM User--\"}\n",
			"unique_identifier.crm", 2, "is not a valid CRM API field name", "letters, digits and underscores"},
		{"invalid AF name", head + "fields:\n  - {awardforce: first name, crm: FirstName}\n",
			"fields[0].awardforce", 4, `"first name" is not a valid Award Force field name`, "email, first_name, last_name, mobile"},
		{"built-in in the wrong case", "object: Contact\nunique_identifier: {awardforce: Email, crm: Email}\n",
			"unique_identifier.awardforce", 2, "built-in names are lower case", "write email"},
		{"invalid external id name", head + "external_id: {crm: 'Slug c'}\n",
			"external_id.crm", 3, `"Slug c" is not a valid CRM API field name`, "e.g. FirstName"},
		{"external id without crm", head + "external_id: {}\n",
			"external_id.crm", 3, "external_id has no crm field", "set external_id: {crm: AwardForce_Slug__c}"},
		{"record id field is a built-in", head + "record_id_field: mobile\n",
			"record_id_field", 3, `record_id_field cannot be the built-in field "mobile"`, "create a text profile field"},
		{"record id field is the identifier", "object: Contact\nunique_identifier: {awardforce: memberno, crm: Member__c}\nrecord_id_field: memberno\n",
			"record_id_field", 3, "record_id_field is the unique identifier's Award Force field", "a profile field of its own"},
		{"pair without crm", head + "fields:\n  - {awardforce: first_name}\n",
			"fields[0].crm", 4, "the pair has no crm field", "crm: FirstName"},
		{"pair with awardforce and value", head + "fields:\n  - {awardforce: first_name, crm: FirstName, value: Ann}\n",
			"fields[0]", 4, "the pair has both awardforce and value", "not both"},
		{"pair with neither", head + "fields:\n  - {crm: FirstName}\n",
			"fields[0]", 4, "the pair has neither awardforce nor a value", "value: <text> for a static value"},
		{"static from the CRM", head + "fields:\n  - {crm: LeadSource, value: Award Force, direction: from_crm}\n",
			"fields[0].direction", 4, "a static value is only written to the CRM", "remove direction"},
		{"static both ways", head + "fields:\n  - {crm: LeadSource, value: Award Force, direction: both}\n",
			"fields[0].direction", 4, "direction both is impossible", "remove direction"},
		{"identifier pulled", head + "fields:\n  - {awardforce: email, crm: Other_Email__c, direction: from_crm}\n",
			"fields[0].direction", 4, "the unique identifier email is never pulled from the CRM", "set direction: to_crm"},
		{"bad direction", head + "fields:\n  - {awardforce: first_name, crm: FirstName, direction: sideways}\n",
			"fields[0].direction", 4, `"sideways" is not a direction`, "use to_crm (the default), from_crm or both"},
		{"bad overwrite", head + "fields:\n  - {awardforce: first_name, crm: FirstName, overwrite: never}\n",
			"fields[0].overwrite", 4, `"never" is not an overwrite policy`, "use always (the default for mapped fields) or if_empty"},
		{"duplicate CRM target", head + "fields:\n  - {awardforce: first_name, crm: FirstName}\n  - {awardforce: nickname, crm: firstname}\n",
			"fields[1].crm", 5, "CRM field firstname is already written by fields[0].crm", "a CRM field takes a single source"},
		{"pair repeats the identifier", head + "fields:\n  - {awardforce: email, crm: Email}\n",
			"fields[0].crm", 4, "CRM field Email is already written by unique_identifier.crm", "remove this pair: the unique identifier pair already writes Email"},
		{"pair writes the external id", head + "external_id: {crm: AwardForce_Slug__c}\nfields:\n  - {crm: AwardForce_Slug__c, value: x}\n",
			"fields[0].crm", 5, "already written by external_id.crm", "single source"},
		{"duplicate AF target", head + "record_id_field: sfid\nfields:\n  - {awardforce: sfid, crm: Legacy_Id__c, direction: from_crm}\n",
			"fields[0].awardforce", 5, "Award Force field sfid is already filled by record_id_field", "an Award Force field takes a single source"},
		{"bad duplicate rules policy", head + "duplicate_rules: allow\n",
			"duplicate_rules", 3, `"allow" is not a duplicate rules policy`, "use respect (the default"},
		{"duplicate rules not a single value", head + "duplicate_rules: [allow_save]\n",
			"duplicate_rules", 3, "duplicate_rules must be a single value, found a list", "write one text value"},
		{"Lead without Company", "object: Lead\nunique_identifier: {awardforce: email, crm: Email}\nfields:\n  - {awardforce: last_name, crm: LastName}\n  - {awardforce: company, crm: Company, direction: from_crm}\n",
			"fields", 3, "a Lead cannot be created without Company", "add a static value {crm: Company, value: <organisation>}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte(tc.yaml))
			require.Nil(t, s)
			p := problemAt(t, err, tc.key)
			assert.Contains(t, p.Message, tc.msg)
			assert.Contains(t, p.Fix, tc.fix)
			if tc.line > 0 {
				assert.Equal(t, tc.line, p.Line)
			}
			// The error text carries the key path, the message and the fix.
			assert.Contains(t, err.Error(), tc.key)
			assert.Contains(t, err.Error(), tc.msg)
			assert.Contains(t, err.Error(), tc.fix)
		})
	}
}

func TestParseCollectsEveryProblem(t *testing.T) {
	_, err := Parse([]byte(`
object: Acount
options: {create_if_missing: maybe, bogus: 1}
fields:
  - {awardforce: first_name, crm: FirstName, direction: sideways}
  - {crm: LeadSource}
`))
	ps := problemsOf(t, err)
	var keys []string
	for _, p := range ps {
		keys = append(keys, p.Key)
	}
	assert.ElementsMatch(t, []string{
		"options.bogus", "options.create_if_missing", "object", "unique_identifier",
		"fields[0].direction", "fields[1]",
	}, keys)
	assert.Contains(t, err.Error(), "6 problems")
}

func TestParseDefaults(t *testing.T) {
	s, err := Parse([]byte(head + `
fields:
  - {awardforce: first_name, crm: FirstName}
  - {crm: LeadSource, value: "  Award Force  "}
  - {awardforce: job_title, crm: Title, direction: from_crm}
`))
	require.NoError(t, err)
	assert.Equal(t, Options{CreateIfMissing: true, UpdateIfExists: true, UpdateOnProfileChange: true}, s.Options)
	assert.Equal(t, []FieldPair{
		{AwardForce: "first_name", CRM: "FirstName", Direction: DirectionToCRM, Overwrite: OverwriteAlways},
		{CRM: "LeadSource", Value: "Award Force", Direction: DirectionToCRM, Overwrite: OverwriteIfEmpty},
		{AwardForce: "job_title", CRM: "Title", Direction: DirectionFromCRM, Overwrite: OverwriteAlways},
	}, s.Fields)
	assert.Empty(t, s.ExternalID.CRM)
	assert.Empty(t, s.RecordIDField)

	// Options given override only themselves.
	s, err = Parse([]byte("options: {get_details_from_crm: true, update_on_profile_change: false}\n" + head))
	require.NoError(t, err)
	assert.Equal(t, Options{GetDetailsFromCRM: true, CreateIfMissing: true, UpdateIfExists: true}, s.Options)
	assert.Empty(t, s.Fields)
}

func TestParseAcceptsLeadsAndCustomObjects(t *testing.T) {
	for _, y := range []string{
		"object: Lead\nunique_identifier: {awardforce: email, crm: Email}\nfields:\n  - {crm: Company, value: Unknown}\n",
		"object: Lead\nunique_identifier: {awardforce: email, crm: Email}\nfields:\n  - {awardforce: company, crm: Company, direction: both}\n",
		"object: Lead\noptions: {create_if_missing: false}\nunique_identifier: {awardforce: email, crm: Email}\n",
		"object: Applicant__c\nunique_identifier: {awardforce: memberno, crm: Member_No__c}\n",
		"object: ns__Applicant__c\nunique_identifier: {awardforce: email, crm: ns__Email__c}\n",
	} {
		_, err := Parse([]byte(y))
		assert.NoError(t, err, y)
	}
}

func TestDefault(t *testing.T) {
	d := Default()
	require.NoError(t, d.Validate())
	require.NoError(t, d.Check(contactDescribe(), nil))
	assert.Equal(t, "Contact", d.Object)
	assert.Equal(t, Identifier{AwardForce: "email", CRM: "Email"}, d.UniqueIdentifier)
	assert.Equal(t, Options{CreateIfMissing: true, UpdateIfExists: true, UpdateOnProfileChange: true}, d.Options)
	assert.Equal(t, []string{"Id", "Email", "FirstName", "LastName", "Phone"}, d.CRMFields())
	assert.Empty(t, d.ProfileFieldSlugs())

	// The YAML the docs show for the default is the default.
	p, err := Parse([]byte(head + `fields:
  - {awardforce: first_name, crm: FirstName}
  - {awardforce: last_name, crm: LastName}
  - {awardforce: mobile, crm: Phone}
`))
	require.NoError(t, err)
	assert.Equal(t, d, p)
	assert.Equal(t, d.Fingerprint(), p.Fingerprint())
}

func TestLoad(t *testing.T) {
	s, err := Load("")
	require.NoError(t, err)
	assert.Equal(t, Default(), s)

	_, err = Load(filepath.Join(t.TempDir(), "missing.yaml"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing.yaml")

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("object: Contact\n"), 0o600))
	_, err = Load(bad)
	assert.Contains(t, err.Error(), "bad.yaml")
	problemAt(t, err, "unique_identifier")
}

func TestExample(t *testing.T) {
	s, err := Load("testdata/example.yaml")
	require.NoError(t, err)
	assert.True(t, s.Options.GetDetailsFromCRM)
	assert.Equal(t, "AwardForce_Slug__c", s.ExternalID.CRM)
	assert.Equal(t, []string{"Id", "Email", "FirstName", "LastName", "Phone", "Title", "Department", "LeadSource", "Sector__c"}, s.CRMFields())
	assert.Equal(t, []string{"JobTitle", "Employer", "Industry", "SfRecord"}, s.ProfileFieldSlugs())
	assert.Equal(t, "GB", s.PhoneRegion)
	require.NoError(t, s.Check(contactDescribe(), []string{"Employer", "JobTitle", "Industry", "SfRecord", "unused"}))

	// The map covers the sandbox's Industry options; the default takes the
	// rest, into a picklist that refuses anything else.
	d := s.DecideWith(Context{Trigger: TriggerRegistration, Rules: RulesFieldFormats},
		prof("email", "a@x.org", "first_name", "A", "last_name", "B", "Industry", "Film & TV"), nil)
	assert.Contains(t, d.CRM, Change{Field: "Sector__c", Before: "", After: "Media", Source: "Industry"})
	d = s.DecideWith(Context{Trigger: TriggerRegistration, Rules: RulesFieldFormats},
		prof("email", "a@x.org", "first_name", "A", "last_name", "B", "Industry", "Education"), nil)
	assert.Contains(t, d.CRM, Change{Field: "Sector__c", Before: "", After: "Other", Source: "Industry"})
}

func TestJSONRoundTrip(t *testing.T) {
	s, err := Load("testdata/example.yaml")
	require.NoError(t, err)
	data, err := json.Marshal(s)
	require.NoError(t, err)
	for _, key := range []string{`"options"`, `"get_details_from_crm"`, `"unique_identifier"`, `"external_id"`, `"record_id_field"`, `"awardforce"`, `"overwrite"`} {
		assert.Contains(t, string(data), key)
	}
	var back Spec
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, s, &back)
	assert.Equal(t, s.Fingerprint(), back.Fingerprint())

	// No external id: the key is left out rather than sent empty.
	data, err = json.Marshal(Default())
	require.NoError(t, err)
	assert.NotContains(t, string(data), "external_id")
}

func TestFingerprint(t *testing.T) {
	base := Default()
	fp := base.Fingerprint()
	assert.Len(t, fp, 12)
	assert.Equal(t, fp, Default().Fingerprint(), "stable across calls")

	// Defaults left implicit hash like defaults spelled out.
	implicit := Default()
	for i := range implicit.Fields {
		implicit.Fields[i].Direction, implicit.Fields[i].Overwrite = "", ""
	}
	assert.Equal(t, fp, implicit.Fingerprint())
	assert.Empty(t, implicit.Fields[0].Direction, "Fingerprint must not mutate the spec")

	changes := map[string]func(s *Spec){
		"option 1":        func(s *Spec) { s.Options.GetDetailsFromCRM = true },
		"option 2":        func(s *Spec) { s.Options.CreateIfMissing = false },
		"option 3":        func(s *Spec) { s.Options.UpdateIfExists = false },
		"option 4":        func(s *Spec) { s.Options.UpdateOnProfileChange = false },
		"object":          func(s *Spec) { s.Object = "Lead" },
		"identifier":      func(s *Spec) { s.UniqueIdentifier.CRM = "Other_Email__c" },
		"external id":     func(s *Spec) { s.ExternalID.CRM = "AwardForce_Slug__c" },
		"record id field": func(s *Spec) { s.RecordIDField = "salesforce_id" },
		"field order":     func(s *Spec) { s.Fields[0], s.Fields[1] = s.Fields[1], s.Fields[0] },
		"direction":       func(s *Spec) { s.Fields[2].Direction = DirectionBoth },
		"overwrite":       func(s *Spec) { s.Fields[2].Overwrite = OverwriteIfEmpty },
		"new static":      func(s *Spec) { s.Fields = append(s.Fields, FieldPair{CRM: "LeadSource", Value: "AF"}) },
		"static value":    func(s *Spec) { s.Fields = append(s.Fields, FieldPair{CRM: "LeadSource", Value: "AF2"}) },
		"removed field":   func(s *Spec) { s.Fields = s.Fields[:2] },
		"duplicate rules": func(s *Spec) { s.DuplicateRules = DuplicatesAllowSave },
	}
	seen := map[string]string{fp: "base"}
	for name, change := range changes {
		s := Default()
		change(s)
		got := s.Fingerprint()
		if other, dup := seen[got]; dup {
			t.Errorf("%s: fingerprint %s equals that of %s", name, got, other)
		}
		seen[got] = name
	}
}

func TestCRMFieldsAndProfileSlugs(t *testing.T) {
	s, err := Parse([]byte(`
object: Applicant__c
unique_identifier: {awardforce: memberno, crm: Member_No__c}
record_id_field: sfid
fields:
  - {awardforce: first_name, crm: First__c}
  - {awardforce: memberno, crm: Legacy_Member__c}
  - {awardforce: region, crm: Region__c, direction: from_crm}
  - {awardforce: region2, crm: region__c, direction: from_crm}
  - {crm: Source__c, value: AF}
`))
	require.NoError(t, err)
	assert.Equal(t, []string{"Id", "Member_No__c", "First__c", "Legacy_Member__c", "Region__c", "Source__c"}, s.CRMFields())
	assert.Equal(t, []string{"memberno", "region", "region2", "sfid"}, s.ProfileFieldSlugs())
	assert.True(t, strings.HasPrefix(s.CRMFields()[0], "Id"))
}

// FuzzParse checks that no input makes Parse panic, that it either returns a
// spec or a *ValidationError, and that an accepted spec validates and decides.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("testdata/example.yaml")
	require.NoError(f, err)
	f.Add(example)
	f.Add([]byte(head))
	f.Add([]byte("options: [1]\nfields: {a: b}\n"))
	f.Add([]byte("a: &x {b: *x}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			problemsOf(t, err)
			return
		}
		require.NoError(t, s.Validate())
		s.Decide(TriggerRegistration, prof("email", "a@x.org"), []CRMRecord{rec("003A")})
		_ = s.Fingerprint()
	})
}

// duplicate_rules is respect unless set; only allow_save asks Salesforce to
// save past Alert rules, and a spec without the key hashes and travels as
// before it existed.
func TestDuplicateRulesKey(t *testing.T) {
	for _, tc := range []struct {
		yaml  string
		want  DuplicatePolicy
		allow bool
	}{
		{head, "", false},
		{head + "duplicate_rules: respect\n", DuplicatesRespect, false},
		{head + "duplicate_rules: allow_save\n", DuplicatesAllowSave, true},
	} {
		s, err := Parse([]byte(tc.yaml))
		require.NoError(t, err, tc.yaml)
		assert.Equal(t, tc.want, s.DuplicateRules, tc.yaml)
		assert.Equal(t, tc.allow, s.AllowsDuplicateSave(), tc.yaml)
	}

	data, err := json.Marshal(Default())
	require.NoError(t, err)
	assert.NotContains(t, string(data), "duplicate_rules")
	s, err := Parse([]byte(head + "duplicate_rules: allow_save\n"))
	require.NoError(t, err)
	var back Spec
	data, err = json.Marshal(s)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &back))
	assert.True(t, back.AllowsDuplicateSave(), "the policy travels in payloads")

	bad := Default()
	bad.DuplicateRules = "ignore"
	p := problemAt(t, bad.Validate(), "duplicate_rules")
	assert.Contains(t, p.Message, `"ignore" is not a duplicate rules policy`)
}

// across_integrations is a_record_each unless a spec says one_record; the
// default named or not is one spec (one fingerprint), and anything else is
// refused naming the key and the two policies.
func TestAcrossIntegrations(t *testing.T) {
	plain, err := Parse([]byte(head))
	require.NoError(t, err)
	named, err := Parse([]byte("across_integrations: a_record_each\n" + head))
	require.NoError(t, err)
	shared, err := Parse([]byte("across_integrations: one_record\n" + head))
	require.NoError(t, err)
	assert.False(t, plain.SharesAcrossIntegrations())
	assert.False(t, named.SharesAcrossIntegrations())
	assert.True(t, shared.SharesAcrossIntegrations())
	assert.Equal(t, plain.Fingerprint(), named.Fingerprint())
	assert.NotEqual(t, plain.Fingerprint(), shared.Fingerprint())
	_, err = Parse([]byte("across_integrations: merge\n" + head))
	require.ErrorContains(t, err, `across_integrations (line 1): "merge" is not an across_integrations policy`)
	require.ErrorContains(t, err, "one_record")
}
