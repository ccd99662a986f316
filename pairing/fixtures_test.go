package pairing

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// contactDescribe is a trimmed Contact describe with the shapes Check cares
// about: system fields, a required field, a defaulted one, a boolean, an
// external id.
func contactDescribe() CRMObject {
	return describe("Contact", []CRMField{
		{Name: "Id", Type: "id", Length: 18},
		{Name: "Email", Type: "email", Length: 80, Createable: true, Updateable: true, Nillable: true},
		{Name: "FirstName", Type: "string", Length: 40, Createable: true, Updateable: true, Nillable: true},
		{Name: "LastName", Type: "string", Length: 80, Createable: true, Updateable: true},
		{Name: "Name", Type: "string", Length: 121},
		{Name: "Phone", Type: "phone", Length: 40, Createable: true, Updateable: true, Nillable: true},
		{Name: "Title", Type: "string", Length: 128, Createable: true, Updateable: true, Nillable: true},
		{Name: "Department", Type: "string", Length: 80, Createable: true, Updateable: true, Nillable: true},
		{Name: "LeadSource", Type: "picklist", Length: 255, Createable: true, Updateable: true, Nillable: true},
		{Name: "Sector__c", Type: "picklist", Length: 255, Createable: true, Updateable: true, Nillable: true,
			Picklist: []string{"Media", "Academia", "Creative industries", "Charity", "Other"}, Restricted: true},
		{Name: "OwnerId", Type: "reference", Length: 18, Createable: true, Updateable: true, DefaultedOnCreate: true},
		{Name: "HasOptedOutOfEmail", Type: "boolean", Createable: true, Updateable: true},
		{Name: "CreatedDate", Type: "datetime"},
		{Name: "AwardForce_Slug__c", Type: "string", Length: 8, Createable: true, Updateable: true, Nillable: true, ExternalID: true, Unique: true, CaseSensitive: true},
		{Name: "Legacy_Code__c", Type: "string", Length: 10, Createable: true, Nillable: true},
		{Name: "Score__c", Type: "string", Length: 4, Updateable: true, Nillable: true},
	})
}

func leadDescribe() CRMObject {
	return describe("Lead", []CRMField{
		{Name: "Id", Type: "id", Length: 18},
		{Name: "Email", Type: "email", Length: 80, Createable: true, Updateable: true, Nillable: true},
		{Name: "FirstName", Type: "string", Length: 40, Createable: true, Updateable: true, Nillable: true},
		{Name: "LastName", Type: "string", Length: 80, Createable: true, Updateable: true},
		{Name: "Company", Type: "string", Length: 255, Createable: true, Updateable: true},
		{Name: "Status", Type: "picklist", Length: 255, Createable: true, Updateable: true, DefaultedOnCreate: true},
	})
}

func describe(name string, fields []CRMField) CRMObject {
	o := CRMObject{Name: name, Fields: map[string]CRMField{}}
	for _, f := range fields {
		o.Fields[f.Name] = f
	}
	return o
}

// problemsOf returns the problems of a *ValidationError, failing otherwise.
func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	require.Error(t, err)
	var ve *ValidationError
	require.True(t, errors.As(err, &ve), "want *ValidationError, got %T: %v", err, err)
	require.NotEmpty(t, ve.Problems)
	return ve.Problems
}

// problemAt returns the problem reported for key, failing when there is none.
func problemAt(t *testing.T, err error, key string) Problem {
	t.Helper()
	ps := problemsOf(t, err)
	for _, p := range ps {
		if p.Key == key {
			return p
		}
	}
	t.Fatalf("no problem at %q; got %v", key, ps)
	return Problem{}
}
