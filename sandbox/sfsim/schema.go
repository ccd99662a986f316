package sfsim

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// fieldDef describes one field as describe reports it.
type fieldDef struct {
	Name       string
	Label      string
	Type       string // id, string, email, phone, picklist, textarea, reference, datetime, boolean
	Length     int
	Createable bool
	Updateable bool
	Nillable   bool
	ExternalID bool
	Unique     bool
	// CaseSensitive makes a Unique field tell values apart by case; see
	// matchFolds and uniqueFolds for what it changes.
	CaseSensitive bool
	IDLookup      bool
	Default       string   // value on create when absent (defaultedOnCreate)
	DefaultID     bool     // Name on a custom object defaults to the record Id
	Picklist      []string // picklist values
	RefPrefix     string   // key prefix a reference must carry
	RefTo         string   // the object a reference names, for describe
	// Restricted makes a picklist refuse values Picklist does not list
	// (INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST); an unrestricted one takes
	// any value, as the platform's advisory picklists do.
	Restricted bool
}

func (f *fieldDef) defaulted() bool { return f.Default != "" || f.DefaultID || !f.Createable }

// required reports whether create must supply the field.
func (f *fieldDef) required() bool { return !f.Nillable && f.Createable && !f.defaulted() }

// isText reports whether values compare case-insensitively in queries:
// every type but ids, references, date-times and booleans.
func (f *fieldDef) isText() bool {
	switch f.Type {
	case "id", "reference", "datetime", "boolean":
		return false
	}
	return true
}

// matchFolds reports whether an upsert, or a GET by external id, matches
// f's values case-insensitively. As on the platform, external-ID matching is
// case-sensitive unless the field is Unique and not CaseSensitive; SOQL's =
// and IN stay case-insensitive for every text field regardless.
func (f *fieldDef) matchFolds() bool { return f.isText() && f.Unique && !f.CaseSensitive }

// uniqueFolds reports whether a Unique field's values count as duplicates
// when they differ only in case (DUPLICATE_VALUE).
func (f *fieldDef) uniqueFolds() bool { return f.isText() && !f.CaseSensitive }

// matchKey is the key under which external-ID matching compares v: folded
// when matching ignores case, the 18-character form for ids, else v itself.
// Two values name the same record to an upsert exactly when their keys are
// equal.
func (f *fieldDef) matchKey(v string) string {
	switch {
	case !f.isText():
		if id, ok := normalizeID(v); ok {
			return id
		}
		return v
	case f.matchFolds():
		return fold(v)
	}
	return v
}

type objectDef struct {
	Name      string
	Label     string
	KeyPrefix string
	Custom    bool
	// Mergeable objects (Contact, Lead, Account) can be merged and carry
	// MasterRecordId.
	Mergeable bool
	Fields    []*fieldDef
	byLower   map[string]*fieldDef
}

func (o *objectDef) field(name string) *fieldDef { return o.byLower[strings.ToLower(name)] }

// userPrefix is the key prefix of User ids.
const userPrefix = "005"

// newObject defines an object with the system fields every object has, in
// the platform's order: Id, IsDeleted (and MasterRecordId on Contact, Lead
// and Account) first, the audit fields last. None of them is createable or
// updateable through the API.
func newObject(name, label, prefix string, fields ...*fieldDef) *objectDef {
	o := &objectDef{Name: name, Label: label, KeyPrefix: prefix, Custom: strings.HasSuffix(name, "__c"), Mergeable: name == "Contact" || name == "Lead" || name == "Account", byLower: map[string]*fieldDef{}}
	sys := []*fieldDef{
		{Name: "Id", Label: label + " ID", Type: "id", Length: 18, IDLookup: true},
		{Name: "IsDeleted", Label: "Deleted", Type: "boolean"},
	}
	if o.Mergeable {
		sys = append(sys, &fieldDef{Name: "MasterRecordId", Label: "Master Record ID", Type: "reference", Length: 18, Nillable: true, RefPrefix: prefix, RefTo: name})
	}
	user := func(name, label string) *fieldDef {
		return &fieldDef{Name: name, Label: label, Type: "reference", Length: 18, RefPrefix: userPrefix, RefTo: "User"}
	}
	tail := []*fieldDef{
		{Name: "CreatedDate", Label: "Created Date", Type: "datetime"},
		user("CreatedById", "Created By ID"),
		{Name: "LastModifiedDate", Label: "Last Modified Date", Type: "datetime"},
		user("LastModifiedById", "Last Modified By ID"),
		{Name: "SystemModstamp", Label: "System Modstamp", Type: "datetime"},
	}
	o.Fields = append(append(sys, fields...), tail...)
	for _, f := range o.Fields {
		o.byLower[strings.ToLower(f.Name)] = f
	}
	return o
}

func text(name, label string, n int) *fieldDef {
	return &fieldDef{Name: name, Label: label, Type: "string", Length: n, Createable: true, Updateable: true, Nillable: true}
}

func typed(typ, name, label string, n int) *fieldDef {
	f := text(name, label, n)
	f.Type = typ
	return f
}

func requiredText(name, label string, n int) *fieldDef {
	f := text(name, label, n)
	f.Nillable = false
	return f
}

// slugField is a Unique, case-sensitive external id: Award Force slugs are
// case-sensitive, so "AbCdEfGh" and "abcdefgh" are two users, and the
// unique index is what stops two concurrent upserts of one slug from
// creating two records.
func slugField() *fieldDef {
	f := text("AwardForce_Slug__c", "Award Force Slug", 8)
	f.ExternalID, f.Unique, f.CaseSensitive, f.IDLookup = true, true, true, true
	return f
}

// orgField is the external id an org keeps on Account for the
// organisation's name in Award Force: Unique and case-insensitive, so that
// "Acme" and "ACME" are one Account, to upserts and to the unique index.
func orgField() *fieldDef {
	f := text("AwardForce_Org__c", "Award Force Organisation", 255)
	f.ExternalID, f.Unique, f.IDLookup = true, true, true
	return f
}

// idField is a non-unique external id, so upserts on it can match several
// records (the 300 case) and match case-sensitively.
func idField() *fieldDef {
	f := text("AwardForce_Id__c", "Award Force Id", 32)
	f.ExternalID, f.IDLookup = true, true
	return f
}

var leadSources = []string{"Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"}

// sectors are the values of Contact.Sector__c, a custom restricted picklist
// (as orgs keep a reporting field to its values).
var sectors = []string{"Media", "Academia", "Creative industries", "Charity", "Other"}

func sector() *fieldDef {
	f := typed("picklist", "Sector__c", "Sector", 255)
	f.Picklist, f.Restricted = sectors, true
	return f
}

func schema() map[string]*objectDef {
	leadSource := typed("picklist", "LeadSource", "Lead Source", 255)
	leadSource.Picklist = leadSources
	account := typed("reference", "AccountId", "Account ID", 18)
	account.RefPrefix, account.RefTo = "001", "Account"
	contact := newObject("Contact", "Contact", "003",
		text("FirstName", "First Name", 40),
		requiredText("LastName", "Last Name", 80),
		typed("email", "Email", "Email", 80),
		typed("phone", "Phone", "Business Phone", 40),
		typed("phone", "MobilePhone", "Mobile Phone", 40),
		text("Title", "Title", 128),
		text("Department", "Department", 80),
		leadSource,
		sector(),
		typed("textarea", "Description", "Contact Description", 32000),
		account,
		slugField(),
		idField(),
	)
	leadSource2 := *leadSource
	status := typed("picklist", "Status", "Status", 255)
	status.Nillable, status.Default = false, "Open - Not Contacted"
	// Lead Status drives conversion, so orgs keep it to its values;
	// LeadSource stays advisory, as it is by default.
	status.Restricted = true
	status.Picklist = []string{"Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"}
	lead := newObject("Lead", "Lead", "00Q",
		text("FirstName", "First Name", 40),
		requiredText("LastName", "Last Name", 80),
		typed("email", "Email", "Email", 80),
		typed("phone", "Phone", "Phone", 40),
		typed("phone", "MobilePhone", "Mobile Phone", 40),
		text("Title", "Title", 128),
		requiredText("Company", "Company", 255),
		status,
		&leadSource2,
		typed("textarea", "Description", "Description", 32000),
		slugField(),
		idField(),
	)
	name := requiredText("Name", "Award Participant Name", 80)
	name.DefaultID = true
	participant := newObject("Award_Participant__c", "Award Participant", "a0B",
		name,
		typed("email", "Email__c", "Email", 80),
		text("First_Name__c", "First Name", 40),
		text("Last_Name__c", "Last Name", 80),
		typed("phone", "Mobile__c", "Mobile", 40),
		slugField(),
	)
	industry := typed("picklist", "Industry", "Industry", 255)
	industry.Picklist = []string{"Agriculture", "Education", "Entertainment", "Media", "Not For Profit", "Technology", "Other"}
	acct := newObject("Account", "Account", "001",
		requiredText("Name", "Account Name", 255),
		text("AccountNumber", "Account Number", 40),
		industry,
		typed("textarea", "Description", "Account Description", 32000),
		orgField(),
	)
	return map[string]*objectDef{"contact": contact, "lead": lead, "award_participant__c": participant, "account": acct}
}

// describe renders the subset of the describe payload clients rely on.
func (o *objectDef) describe() map[string]any {
	fields := make([]map[string]any, 0, len(o.Fields))
	for _, f := range o.Fields {
		pl := []map[string]any{}
		for _, v := range f.Picklist {
			pl = append(pl, map[string]any{"value": v, "label": v, "active": true, "defaultValue": f.Default == v})
		}
		refTo := []string{}
		if f.RefTo != "" {
			refTo = []string{f.RefTo}
		}
		fields = append(fields, map[string]any{
			"name":               f.Name,
			"label":              f.Label,
			"type":               f.Type,
			"length":             f.Length,
			"createable":         f.Createable,
			"updateable":         f.Updateable,
			"nillable":           f.Nillable,
			"externalId":         f.ExternalID,
			"unique":             f.Unique,
			"caseSensitive":      f.CaseSensitive,
			"idLookup":           f.IDLookup,
			"defaultedOnCreate":  f.defaulted(),
			"custom":             strings.HasSuffix(f.Name, "__c"),
			"filterable":         true,
			"sortable":           f.Type != "textarea",
			"picklistValues":     pl,
			"restrictedPicklist": f.Restricted,
			"referenceTo":        refTo,
		})
	}
	return map[string]any{
		"name":       o.Name,
		"label":      o.Label,
		"keyPrefix":  o.KeyPrefix,
		"custom":     o.Custom,
		"createable": true,
		"updateable": true,
		"deletable":  true,
		"queryable":  true,
		"fields":     fields,
	}
}

// apiError is one element of an error array; in collections it is rendered
// with statusCode instead of errorCode.
type apiError struct {
	Code    string
	Message string
	Fields  []string
	// Duplicates is the duplicateResult of a DUPLICATES_DETECTED error.
	Duplicates ordered
}

func (e apiError) top() map[string]any {
	return e.with(map[string]any{"errorCode": e.Code, "message": e.Message, "fields": nonNil(e.Fields)})
}

func (e apiError) record() map[string]any {
	return e.with(map[string]any{"statusCode": e.Code, "message": e.Message, "fields": nonNil(e.Fields)})
}

func (e apiError) with(m map[string]any) map[string]any {
	if e.Duplicates != nil {
		m["duplicateResult"] = e.Duplicates
	}
	return m
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// validateEmail is deliberately close to what the platform accepts: one @,
// a non-empty local part without spaces, and a dotted domain.
func validEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at != strings.LastIndexByte(s, '@') || strings.ContainsAny(s, " \t\r\n,;<>()[]\\\"") {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return false
	}
	dot := strings.LastIndexByte(domain, '.')
	if dot <= 0 || dot == len(domain)-1 || strings.Contains(domain, "..") || strings.HasPrefix(domain, "-") {
		return false
	}
	return true
}

// coerce turns a decoded JSON value into the stored form for f: text fields
// hold strings, and "" means null, as on the platform.
func coerce(f *fieldDef, v any) (any, *apiError) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		if v == "" {
			return nil, nil
		}
		return v, nil
	case bool:
		return fmt.Sprint(v), nil
	case interface{ String() string }: // json.Number
		return v.String(), nil
	case float64, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		// Decoded JSON holds json.Numbers; Go callers (EditAs) may pass
		// plain numbers.
		return fmt.Sprint(v), nil
	default:
		return nil, &apiError{Code: "JSON_PARSER_ERROR", Message: fmt.Sprintf("Cannot deserialize instance of %s from %T value", f.Type, v), Fields: []string{f.Name}}
	}
}

// checkValue validates a non-nil stored value against its field.
func checkValue(f *fieldDef, s string) *apiError {
	if f.Length > 0 && utf8.RuneCountInString(s) > f.Length {
		return &apiError{Code: "STRING_TOO_LONG", Message: fmt.Sprintf("%s: data value too large: %s (max length=%d)", f.Label, truncate(s, 40), f.Length), Fields: []string{f.Name}}
	}
	switch f.Type {
	case "email":
		if !validEmail(s) {
			return &apiError{Code: "INVALID_EMAIL_ADDRESS", Message: fmt.Sprintf("%s: invalid email address: %s", f.Label, truncate(s, 80)), Fields: []string{f.Name}}
		}
	case "picklist":
		if f.Restricted && !slices.Contains(f.Picklist, s) {
			return &apiError{Code: "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", Message: "bad value for restricted picklist field: " + truncate(s, 255), Fields: []string{f.Name}}
		}
	case "reference":
		id, ok := normalizeID(s)
		if !ok {
			return &apiError{Code: "MALFORMED_ID", Message: fmt.Sprintf("%s: id value of incorrect type: %s", f.Label, truncate(s, 40)), Fields: []string{f.Name}}
		}
		if f.RefPrefix != "" && id[:3] != f.RefPrefix {
			return &apiError{Code: "FIELD_INTEGRITY_EXCEPTION", Message: fmt.Sprintf("%s: id value of incorrect type: %s", f.Label, s), Fields: []string{f.Name}}
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "..."
}
