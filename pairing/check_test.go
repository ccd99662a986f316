package pairing

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustParse(t *testing.T, y string) *Spec {
	t.Helper()
	s, err := Parse([]byte(y))
	require.NoError(t, err)
	return s
}

// TestCheckProblems has one case per message Check can give.
func TestCheckProblems(t *testing.T) {
	const last = "  - {awardforce: last_name, crm: LastName}\n"
	tests := []struct {
		name     string
		yaml     string
		crm      CRMObject
		slugs    []string
		key      string
		msg, fix string
	}{
		{"describe of another object", head, leadDescribe(), nil,
			"object", "the describe is of Lead but the spec's object is Contact", "check the spec against the describe of Contact"},
		{"unknown field with a near match", head + "fields:\n" + last + "  - {awardforce: first_name, crm: First_Name}\n", contactDescribe(), nil,
			"fields[1].crm", "Contact has no field First_Name", "did you mean FirstName?"},
		{"transposed letters", "object: Contact\nunique_identifier: {awardforce: email, crm: Emial}\nfields:\n" + last, contactDescribe(), nil,
			"unique_identifier.crm", "Contact has no field Emial", "did you mean Email?"},
		{"custom field without __c", head + "external_id: {crm: AwardForce_Slug}\nfields:\n" + last, contactDescribe(), nil,
			"external_id.crm", "Contact has no field AwardForce_Slug", "did you mean AwardForce_Slug__c?"},
		{"unknown field, nothing near", head + "fields:\n" + last + "  - {awardforce: tshirt, crm: Shirt_Size__c}\n", contactDescribe(), []string{"tshirt"},
			"fields[1].crm", "Contact has no field Shirt_Size__c", "use a field's API name from the Contact describe"},
		{"not createable", head + "fields:\n" + last + "  - {awardforce: score, crm: Score__c}\n", contactDescribe(), []string{"score"},
			"fields[1].crm", "Contact.Score__c is not createable", "options.create_if_missing: false"},
		{"not updateable", head + "fields:\n" + last + "  - {awardforce: code, crm: Legacy_Code__c}\n", contactDescribe(), []string{"code"},
			"fields[1].crm", "Contact.Legacy_Code__c is not updateable", "turn off both update options"},
		{"identifier not createable", "object: Contact\nunique_identifier: {awardforce: email, crm: Name}\nfields:\n" + last, contactDescribe(), nil,
			"unique_identifier.crm", "Contact.Name is not createable", "create access"},
		{"system field written", head + "fields:\n" + last + "  - {crm: CreatedDate, value: today}\n", contactDescribe(), nil,
			"fields[1].crm", "Contact.CreatedDate is not createable", "remove the pair"},
		{"static value too long", head + "fields:\n" + last + "  - {crm: FirstName, value: " + "an extremely long first name that cannot possibly fit in 40" + "}\n", contactDescribe(), nil,
			"fields[1].value", "the static value has 59 characters but Contact.FirstName holds 40", "shorten the value"},
		{"external id is not an external id", head + "external_id: {crm: Department}\nfields:\n" + last, contactDescribe(), nil,
			"external_id.crm", "Contact.Department is not an external-id field", "tick External ID"},
		{"external id too short", head + "external_id: {crm: Ext__c}\nfields:\n" + last,
			func() CRMObject {
				o := contactDescribe()
				o.Fields["Ext__c"] = CRMField{Name: "Ext__c", Type: "string", Length: 6, Createable: true, Updateable: true, Nillable: true, ExternalID: true, Unique: true, CaseSensitive: true}
				return o
			}(), nil,
			"external_id.crm", "holds 6 characters, too few for an 8-letter Award Force slug", "at least 8 characters"},
		{"external id case-insensitive", head + "external_id: {crm: Ext__c}\nfields:\n" + last,
			func() CRMObject {
				o := contactDescribe()
				o.Fields["Ext__c"] = CRMField{Name: "Ext__c", Type: "string", Length: 20, Createable: true, Updateable: true, Nillable: true, ExternalID: true, Unique: true}
				return o
			}(), nil,
			"external_id.crm", "Contact.Ext__c is Unique but case-insensitive: slugs that differ only in case", "case sensitive"},
		{"external id not unique", head + "external_id: {crm: Ext__c}\nfields:\n" + last,
			func() CRMObject {
				o := contactDescribe()
				o.Fields["Ext__c"] = CRMField{Name: "Ext__c", Type: "string", Length: 20, Createable: true, Updateable: true, Nillable: true, ExternalID: true}
				return o
			}(), nil,
			"external_id.crm", "Contact.Ext__c is an external id but not Unique: two upserts of one person at the same moment could create two records", "tick Unique on the field"},
		{"required field not written", head + "fields:\n  - {awardforce: first_name, crm: FirstName}\n", contactDescribe(), nil,
			"fields", "Contact requires LastName on create, but no pair writes it", "add a pair {awardforce: <field>, crm: LastName}"},
		{"required field only pulled", head + "fields:\n  - {awardforce: last_name, crm: LastName, direction: from_crm}\n", contactDescribe(), nil,
			"fields", "Contact requires LastName on create", "options.create_if_missing: false"},
		{"Lead requires Company", "object: Lead\nunique_identifier: {awardforce: email, crm: Email}\nfields:\n  - {awardforce: last_name, crm: LastName}\n  - {awardforce: org, crm: Company}\n",
			func() CRMObject {
				o := leadDescribe()
				o.Fields["Industry__c"] = CRMField{Name: "Industry__c", Type: "string", Length: 40, Createable: true, Updateable: true}
				return o
			}(), []string{"org"},
			"fields", "Lead requires Industry__c on create", "{crm: Industry__c, value: <text>}"},
		{"unknown profile field with a near match", head + "fields:\n" + last + "  - {awardforce: jobtitle, crm: Title}\n", contactDescribe(), []string{"job_title", "salesforce_id"},
			"fields[1].awardforce", `Award Force has no profile field "jobtitle"`, "did you mean job_title?"},
		{"unknown record id field", head + "record_id_field: salesforce_id\nfields:\n" + last, contactDescribe(), []string{"job_title"},
			"record_id_field", `Award Force has no profile field "salesforce_id"`, "create the profile field in Award Force"},
		{"unknown identifier profile field", "object: Contact\nunique_identifier: {awardforce: memberno, crm: Department}\nfields:\n" + last, contactDescribe(), nil,
			"unique_identifier.awardforce", `Award Force has no profile field "memberno"`, "GET /field?resource=users"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := mustParse(t, tc.yaml).Check(tc.crm, tc.slugs)
			p := problemAt(t, err, tc.key)
			assert.Contains(t, p.Message, tc.msg)
			assert.Contains(t, p.Fix, tc.fix)
			assert.Contains(t, err.Error(), tc.key)
		})
	}
}

func TestCheckPasses(t *testing.T) {
	// Case-insensitive field names, booleans and defaulted fields not required,
	// read-only fields only pulled, non-createable fields fine without creates.
	s := mustParse(t, head+`
external_id: {crm: awardforce_slug__c}
fields:
  - {awardforce: last_name, crm: lastname}
  - {awardforce: created, crm: CreatedDate, direction: from_crm}
  - {awardforce: code, crm: Legacy_Code__c, direction: from_crm}
`)
	require.NoError(t, s.Check(contactDescribe(), []string{"created", "code"}))

	s = mustParse(t, "options: {create_if_missing: false}\n"+head+"fields:\n  - {awardforce: score, crm: Score__c}\n")
	require.NoError(t, s.Check(contactDescribe(), []string{"score"}), "no creates: LastName and createable do not matter")

	s = mustParse(t, "options: {update_if_exists: false, update_on_profile_change: false}\n"+head+
		"fields:\n  - {awardforce: last_name, crm: LastName}\n  - {awardforce: code, crm: Legacy_Code__c}\n")
	require.NoError(t, s.Check(contactDescribe(), []string{"code"}), "no updates: updateable does not matter")

	s = mustParse(t, "object: Lead\nunique_identifier: {awardforce: email, crm: Email}\nfields:\n  - {awardforce: last_name, crm: LastName}\n  - {crm: Company, value: Unknown}\n")
	require.NoError(t, s.Check(leadDescribe(), nil))

	// An empty describe name skips the object check.
	o := contactDescribe()
	o.Name = ""
	require.NoError(t, Default().Check(o, nil))
}

func TestCheckCollectsEveryProblem(t *testing.T) {
	s := mustParse(t, head+`
record_id_field: sfid
fields:
  - {awardforce: first_name, crm: FirstNam}
  - {awardforce: score, crm: Score__c}
`)
	ps := problemsOf(t, s.Check(contactDescribe(), nil))
	var keys []string
	for _, p := range ps {
		keys = append(keys, p.Key)
	}
	assert.Equal(t, []string{"fields[0].crm", "fields[1].crm", "fields", "fields[1].awardforce", "record_id_field"}, keys)
}

func TestNearest(t *testing.T) {
	names := []string{"Email", "FirstName", "LastName", "Id", "AwardForce_Slug__c"}
	for in, want := range map[string]string{
		"email":           "Email",
		"Emial":           "Email",
		"first_name":      "FirstName",
		"Lastname":        "LastName",
		"LastNme":         "LastName",
		"AwardForce_Slug": "AwardForce_Slug__c",
		"Ix":              "", // too short to guess
		"Phone":           "",
		"Company":         "",
	} {
		assert.Equal(t, want, nearest(in, names), in)
	}
}
