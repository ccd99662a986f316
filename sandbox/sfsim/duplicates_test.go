package sfsim

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// A restricted picklist refuses a value it does not list, on every write
// path; an unrestricted one takes any value.
func TestRestrictedPicklists(t *testing.T) {
	e := newEnv(t, Options{})
	type field struct {
		Name               string
		RestrictedPicklist bool
		PicklistValues     []struct{ Value string }
	}
	describe := func(obj string) map[string]field {
		var d struct{ Fields []field }
		mustJSON(t, e.do("GET", "/sobjects/"+obj+"/describe", nil).body, &d)
		out := map[string]field{}
		for _, f := range d.Fields {
			out[f.Name] = f
		}
		return out
	}
	lead, contact := describe("Lead"), describe("Contact")
	if !lead["Status"].RestrictedPicklist || len(lead["Status"].PicklistValues) != 4 {
		t.Errorf("Lead.Status %+v, want a restricted picklist of 4 values", lead["Status"])
	}
	if lead["LeadSource"].RestrictedPicklist || contact["LeadSource"].RestrictedPicklist || contact["LastName"].RestrictedPicklist {
		t.Errorf("LeadSource and text fields must not be restricted: %+v %+v", lead["LeadSource"], contact["LeadSource"])
	}

	refused := func(t *testing.T, m map[string]any, code string) {
		t.Helper()
		if m[code] != "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" || m["message"] != "bad value for restricted picklist field: Hot" || fmt.Sprint(m["fields"]) != "[Status]" {
			t.Errorf("refusal %v", m)
		}
	}
	good := map[string]any{"LastName": "Franklin", "Company": "King's", "Status": "Working - Contacted", "LeadSource": "Award Force"}
	bad := map[string]any{"LastName": "Wilkins", "Company": "King's", "Status": "Hot"}
	id := e.do("POST", "/sobjects/Lead", good).object(t, 201)["id"].(string)

	tests := []struct {
		name string
		do   func(t *testing.T) map[string]any
		code string // errorCode or statusCode
	}{
		{"create", func(t *testing.T) map[string]any {
			return e.do("POST", "/sobjects/Lead", bad).apiErr(t, 400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
		}, "errorCode"},
		{"update", func(t *testing.T) map[string]any {
			return e.do("PATCH", "/sobjects/Lead/"+id, map[string]any{"Status": "Hot"}).apiErr(t, 400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
		}, "errorCode"},
		{"upsert that creates", func(t *testing.T) map[string]any {
			return e.do("PATCH", "/sobjects/Lead/AwardForce_Slug__c/NewLead1", bad).apiErr(t, 400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
		}, "errorCode"},
		{"upsert that updates", func(t *testing.T) map[string]any {
			e.sim.Insert("Lead", map[string]any{"LastName": "Gosling", "Company": "King's", "AwardForce_Slug__c": "OldLead1"})
			return e.do("PATCH", "/sobjects/Lead/AwardForce_Slug__c/OldLead1", map[string]any{"Status": "Hot"}).apiErr(t, 400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
		}, "errorCode"},
		{"collection create", func(t *testing.T) map[string]any {
			res := e.collection(t, "POST", "/composite/sobjects", leadRecords(good, bad))
			if !res[0].Success || res[1].Success {
				t.Fatalf("%+v, want the good record saved and the bad one refused", res)
			}
			return res[1].Errors[0]
		}, "statusCode"},
		{"collection update", func(t *testing.T) map[string]any {
			res := e.collection(t, "PATCH", "/composite/sobjects", leadRecords(map[string]any{"Id": id, "Status": "Hot"}))
			return res[0].Errors[0]
		}, "statusCode"},
		{"collection upsert", func(t *testing.T) map[string]any {
			res := e.collection(t, "PATCH", "/composite/sobjects/Lead/AwardForce_Slug__c", leadRecords(map[string]any{"AwardForce_Slug__c": "NewLead2", "LastName": "W", "Company": "K", "Status": "Hot"}))
			return res[0].Errors[0]
		}, "statusCode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.sim.Records("Lead")
			refused(t, tt.do(t), tt.code)
			if tt.name != "collection create" && tt.name != "upsert that updates" && len(e.sim.Records("Lead")) != len(before) {
				t.Error("a refused record was stored")
			}
		})
	}
	if rec, _ := e.sim.Record("Lead", id); rec["Status"] != "Working - Contacted" {
		t.Errorf("refused updates changed the lead: %v", rec["Status"])
	}
	// The picklist refuses only what it does not list; no value is no value.
	e.do("PATCH", "/sobjects/Lead/"+id, map[string]any{"Status": "Closed - Converted", "LeadSource": "Anything at all"}).noContent(t)
}

func (r result) noContent(t *testing.T) {
	t.Helper()
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("%d %s, want 204", r.status, r.body)
	}
}

type saveResult struct {
	ID      string
	Success bool
	Created bool
	Errors  []map[string]any
}

// collection sends a collection request and decodes its results.
func (e *env) collection(t *testing.T, method, path string, records []any, h ...http.Header) []saveResult {
	t.Helper()
	var hdr http.Header
	if len(h) > 0 {
		hdr = h[0]
	}
	r := e.doHeader(hdr, method, path, map[string]any{"records": records})
	if r.status != 200 {
		t.Fatalf("%s %s: %d %s", method, path, r.status, r.body)
	}
	var res []saveResult
	mustJSON(t, r.body, &res)
	if len(res) != len(records) {
		t.Fatalf("%d results for %d records: %s", len(res), len(records), r.body)
	}
	return res
}

func typedRecords(typ string, fields ...map[string]any) []any {
	out := make([]any, len(fields))
	for i, f := range fields {
		m := map[string]any{"attributes": map[string]any{"type": typ}}
		for k, v := range f {
			m[k] = v
		}
		out[i] = m
	}
	return out
}

func leadRecords(fields ...map[string]any) []any    { return typedRecords("Lead", fields...) }
func contactRecords(fields ...map[string]any) []any { return typedRecords("Contact", fields...) }

// matchIDs reads the ids a DUPLICATES_DETECTED error names, checking the
// shape the platform answers with.
func matchIDs(t *testing.T, e map[string]any) (ids []string, allowSave bool) {
	t.Helper()
	dr, ok := e["duplicateResult"].(map[string]any)
	if !ok {
		t.Fatalf("no duplicateResult in %v", e)
	}
	if dr["duplicateRule"] == "" || dr["duplicateRuleEntityType"] == "" || dr["errorMessage"] != e["message"] {
		t.Errorf("duplicateResult %v", dr)
	}
	results, _ := dr["matchResults"].([]any)
	if len(results) != 1 {
		t.Fatalf("matchResults %v", dr["matchResults"])
	}
	mr := results[0].(map[string]any)
	recs, _ := mr["matchRecords"].([]any)
	if mr["success"] != true || mr["size"] != float64(len(recs)) || mr["entityType"] != dr["duplicateRuleEntityType"] {
		t.Errorf("matchResult %v", mr)
	}
	for _, r := range recs {
		rec := r.(map[string]any)["record"].(map[string]any)
		attrs := rec["attributes"].(map[string]any)
		id := rec["Id"].(string)
		if attrs["type"] != dr["duplicateRuleEntityType"] || !strings.HasSuffix(attrs["url"].(string), "/"+id) {
			t.Errorf("match record %v", rec)
		}
		ids = append(ids, id)
	}
	return ids, dr["allowSave"] == true
}

func dupHeaderOf(v string) http.Header { return http.Header{dupHeaderName: {v}} }

// Duplicate rules refuse a save that matches existing records by Email,
// Alert ones unless the request allows the save; the refusal names the
// matching records.
func TestDuplicateRules(t *testing.T) {
	alert := []DuplicateRule{{Object: "Contact", Action: DuplicateAlert}}
	block := []DuplicateRule{{Object: "Contact", Action: DuplicateBlock, Name: "No_Twins", Message: "Use one of these records?"}}
	allow := dupHeaderOf("allowSave=true; includeRecordDetails=false; runAsCurrentUser=true")
	ada := map[string]any{"LastName": "Lovelace", "Email": "ADA@example.org"}
	tests := []struct {
		name    string
		rules   []DuplicateRule
		version string
		header  http.Header
		refused bool // else created
	}{
		{"an Alert rule refuses a save without the header", alert, "v62.0", nil, true},
		{"an Alert rule lets allowSave=true through", alert, "v62.0", allow, false},
		{"allowSave=false is the default", alert, "v62.0", dupHeaderOf("allowSave=false"), true},
		{"versions before v52.0 ignore the header", alert, "v51.0", allow, true},
		{"v52.0 honours it", alert, "v52.0", dupHeaderOf("allowSave=TRUE"), false},
		{"a Block rule refuses whatever the header says", block, "v62.0", allow, true},
		{"without rules anything goes", nil, "v62.0", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{DuplicateRules: tt.rules})
			first := e.sim.Insert("Contact", map[string]any{"LastName": "A", "Email": "ada@example.org"})
			second := e.sim.Insert("Contact", map[string]any{"LastName": "B", "Email": "Ada@Example.org"})
			e.sim.Insert("Contact", map[string]any{"LastName": "C", "Email": "other@example.org"})
			r := e.doHeader(tt.header, "POST", "/services/data/"+tt.version+"/sobjects/Contact", ada)
			if !tt.refused {
				r.object(t, 201)
				return
			}
			m := r.apiErr(t, 400, "DUPLICATES_DETECTED")
			ids, allowSave := matchIDs(t, m)
			if !slices.Equal(ids, []string{first, second}) {
				t.Errorf("matches %v, want %v", ids, []string{first, second})
			}
			if allowSave != (tt.rules[0].Action == DuplicateAlert) {
				t.Errorf("allowSave %v for an %s rule", allowSave, tt.rules[0].Action)
			}
			if want := cmp.Or(tt.rules[0].Message, defaultDupMessage); m["message"] != want {
				t.Errorf("message %q, want %q", m["message"], want)
			}
			if len(e.sim.Records("Contact")) != 3 {
				t.Error("a refused record was stored")
			}
		})
	}
}

// Which saves a rule looks at, and what it compares them with.
func TestDuplicateRulesScope(t *testing.T) {
	e := newEnv(t, Options{DuplicateRules: []DuplicateRule{
		{Object: "Contact", Action: DuplicateBlock},
		{Object: "lead", Action: DuplicateAlert},
	}})
	grace := e.sim.Insert("Contact", map[string]any{"LastName": "Hopper", "Email": "grace@example.org"})
	twin := e.sim.Insert("Contact", map[string]any{"LastName": "Hopper II", "Email": "grace@example.org"})
	alan := e.sim.Insert("Contact", map[string]any{"LastName": "Turing", "Email": "alan@example.org"})
	gone := e.sim.Insert("Contact", map[string]any{"LastName": "Gone", "Email": "gone@example.org"})
	if err := e.sim.DeleteAs("Contact", gone); err != nil {
		t.Fatal(err)
	}

	// Deleted records are not compared; other objects are not either.
	e.do("POST", "/sobjects/Contact", map[string]any{"LastName": "Back", "Email": "gone@example.org"}).object(t, 201)
	e.do("POST", "/sobjects/Lead", map[string]any{"LastName": "Hopper", "Company": "Navy", "Email": "grace@example.org"}).object(t, 201)
	// The Lead rule (an Alert one) refuses a second Lead with that email.
	e.do("POST", "/sobjects/Lead", map[string]any{"LastName": "Hopper", "Company": "Navy", "Email": "GRACE@example.org"}).apiErr(t, 400, "DUPLICATES_DETECTED")

	// Edits: the rule runs only when the save changes Email.
	e.do("PATCH", "/sobjects/Contact/"+twin, map[string]any{"Title": "Rear Admiral"}).noContent(t)
	e.do("PATCH", "/sobjects/Contact/"+twin, map[string]any{"Email": "grace@example.org", "Title": "RADM"}).noContent(t)
	m := e.do("PATCH", "/sobjects/Contact/"+alan, map[string]any{"Email": "Grace@example.org"}).apiErr(t, 400, "DUPLICATES_DETECTED")
	if ids, _ := matchIDs(t, m); !slices.Equal(ids, []string{grace, twin}) {
		t.Errorf("update matched %v, want %v", ids, []string{grace, twin})
	}
	if rec, _ := e.sim.Record("Contact", alan); rec["Email"] != "alan@example.org" {
		t.Errorf("a refused update changed the record: %v", rec)
	}
	e.do("PATCH", "/sobjects/Contact/"+alan, map[string]any{"Email": "alan.turing@example.org"}).noContent(t)

	// Upserts: a create is a create, an update an edit.
	e.do("PATCH", "/sobjects/Contact/AwardForce_Slug__c/GraceNew", map[string]any{"LastName": "H", "Email": "grace@example.org"}).apiErr(t, 400, "DUPLICATES_DETECTED")
	e.sim.Insert("Contact", map[string]any{"LastName": "Slugged", "AwardForce_Slug__c": "Slugged1"})
	e.do("PATCH", "/sobjects/Contact/AwardForce_Slug__c/Slugged1", map[string]any{"Email": "grace@example.org"}).apiErr(t, 400, "DUPLICATES_DETECTED")
	e.do("PATCH", "/sobjects/Contact/AwardForce_Slug__c/Slugged1", map[string]any{"Title": "Fine"}).object(t, 200)

	// includeRecordDetails=true answers with the records' fields.
	r := e.doHeader(dupHeaderOf("includeRecordDetails=true"), "POST", "/sobjects/Contact", map[string]any{"LastName": "X", "Email": "alan.turing@example.org"})
	dr := r.apiErr(t, 400, "DUPLICATES_DETECTED")["duplicateResult"].(map[string]any)
	rec := dr["matchResults"].([]any)[0].(map[string]any)["matchRecords"].([]any)[0].(map[string]any)["record"].(map[string]any)
	if rec["Id"] != alan || rec["LastName"] != "Turing" || rec["Email"] != "alan.turing@example.org" {
		t.Errorf("record details %v", rec)
	}
	r = e.do("POST", "/sobjects/Contact", map[string]any{"LastName": "X", "Email": "alan.turing@example.org"})
	dr = r.apiErr(t, 400, "DUPLICATES_DETECTED")["duplicateResult"].(map[string]any)
	rec = dr["matchResults"].([]any)[0].(map[string]any)["matchRecords"].([]any)[0].(map[string]any)["record"].(map[string]any)
	if _, has := rec["LastName"]; has || rec["Id"] != alan {
		t.Errorf("without includeRecordDetails the record is its Id: %v", rec)
	}

	// An edit that clears Email matches nothing.
	e.do("PATCH", "/sobjects/Contact/"+alan, map[string]any{"Email": nil}).noContent(t)
	e.do("PATCH", "/sobjects/Contact/"+alan, map[string]any{"Email": "alan@example.org"}).noContent(t)

	// A person in Salesforce may save past an Alert rule, not a Block rule.
	lead := e.sim.Insert("Lead", map[string]any{"LastName": "L", "Company": "C", "Email": "l@example.org"})
	if err := e.sim.EditAs("Lead", lead, map[string]any{"Email": "grace@example.org"}); err != nil {
		t.Errorf("EditAs past an Alert rule: %v", err)
	}
	if err := e.sim.EditAs("Contact", alan, map[string]any{"Email": "grace@example.org"}); err == nil || !strings.Contains(err.Error(), "DUPLICATES_DETECTED") {
		t.Errorf("EditAs past a Block rule: %v", err)
	}
}

// In sObject Collections each record is refused on its own, with its
// matches in its errors; records of one request are compared with the org
// as it was, not with each other.
func TestDuplicateRulesInCollections(t *testing.T) {
	e := newEnv(t, Options{DuplicateRules: []DuplicateRule{{Object: "Contact", Action: DuplicateAlert}}})
	marie := e.sim.Insert("Contact", map[string]any{"LastName": "Curie", "Email": "marie@example.org"})
	pierre := e.sim.Insert("Contact", map[string]any{"LastName": "Curie", "Email": "pierre@example.org", "AwardForce_Slug__c": "Pierre01"})

	res := e.collection(t, "POST", "/composite/sobjects", contactRecords(
		map[string]any{"LastName": "Twin", "Email": "MARIE@example.org"},
		map[string]any{"LastName": "New", "Email": "irene@example.org"},
		map[string]any{"LastName": "New again", "Email": "irene@example.org"}, // not compared with the one before
	))
	if res[0].Success || res[0].ID != "" || !res[1].Success || !res[2].Success {
		t.Fatalf("create results %+v", res)
	}
	if res[0].Errors[0]["statusCode"] != "DUPLICATES_DETECTED" {
		t.Fatalf("errors %v", res[0].Errors)
	}
	if ids, allowSave := matchIDs(t, res[0].Errors[0]); !slices.Equal(ids, []string{marie}) || !allowSave {
		t.Errorf("matches %v (allowSave %v), want [%s] of an Alert rule", ids, allowSave, marie)
	}

	// Updates and upserts, refused per record; allowSave lets them all through.
	update := contactRecords(map[string]any{"Id": pierre, "Email": "marie@example.org"}, map[string]any{"Id": marie, "Title": "Dr"})
	upsert := contactRecords(map[string]any{"AwardForce_Slug__c": "Pierre01", "Email": "irene@example.org"}, map[string]any{"AwardForce_Slug__c": "Marie001", "LastName": "C", "Email": "marie@example.org"})
	for _, tc := range []struct {
		method, path string
		records      []any
	}{
		{"PATCH", "/composite/sobjects", update},
		{"PATCH", "/composite/sobjects/Contact/AwardForce_Slug__c", upsert},
	} {
		res := e.collection(t, tc.method, tc.path, tc.records)
		for i, r := range res {
			want := tc.path == "/composite/sobjects" && i == 1 // the edit that leaves Email alone
			if r.Success != want {
				t.Errorf("%s record %d: %+v, success %v", tc.path, i, r, want)
			}
			if !r.Success && r.Errors[0]["statusCode"] != "DUPLICATES_DETECTED" {
				t.Errorf("%s record %d: %v", tc.path, i, r.Errors)
			}
		}
		for i, r := range e.collection(t, tc.method, tc.path, tc.records, dupHeaderOf("allowSave=true")) {
			if !r.Success {
				t.Errorf("%s record %d with allowSave: %+v", tc.path, i, r)
			}
		}
	}
	if rec, _ := e.sim.Record("Contact", pierre); rec["Email"] != "irene@example.org" {
		t.Errorf("pierre %v", rec)
	}
}

func TestDuplicateRulesNewPanicsOnWhatItCannotModel(t *testing.T) {
	for _, r := range []DuplicateRule{
		{Object: "Award_Participant__c", Action: DuplicateBlock},
		{Object: "Account", Action: DuplicateBlock},
		{Object: "Contact", Action: "Report"},
		{Object: "Contact"},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New accepted %+v", r)
				}
			}()
			New(Options{DuplicateRules: []DuplicateRule{r}})
		}()
	}
}
