package sfsim

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func qa(soql string) string { return "/queryAll?q=" + url.QueryEscape(soql) }

// recs runs a query, following nextRecordsUrl, and returns every record.
func (e *env) recs(path string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	for pages := 0; ; pages++ {
		m := e.do("GET", path, nil).object(e.t, http.StatusOK)
		for _, r := range m["records"].([]any) {
			out = append(out, r.(map[string]any))
		}
		if m["done"] == true || pages > 100 {
			return out
		}
		path = m["nextRecordsUrl"].(string)
	}
}

func idsOf(recs []map[string]any) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, r["Id"].(string))
	}
	return out
}

func byID(recs []map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, r := range recs {
		out[r["Id"].(string)] = r
	}
	return out
}

// tick lets the clock move on, so that the next write's stamps differ.
func tick() { time.Sleep(2 * time.Millisecond) }

func parseStamp(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	ts, err := time.Parse(dateLayout, s)
	if err != nil {
		t.Fatalf("stamp %v: %v", v, err)
	}
	return ts
}

// stored returns a live record's field.
func (e *env) stored(object, id, field string) any {
	e.t.Helper()
	r, ok := e.sim.Record(object, id)
	if !ok {
		e.t.Fatalf("no live %s %s", object, id)
	}
	return r[field]
}

func window(start, end time.Time) string {
	return "?start=" + url.QueryEscape(formatTime(start)) + "&end=" + url.QueryEscape(formatTime(end))
}

type updatedResult struct {
	IDs               []string `json:"ids"`
	LatestDateCovered string   `json:"latestDateCovered"`
}

type deletedResult struct {
	DeletedRecords []struct {
		ID          string `json:"id"`
		DeletedDate string `json:"deletedDate"`
	} `json:"deletedRecords"`
	EarliestDateAvailable string `json:"earliestDateAvailable"`
	LatestDateCovered     string `json:"latestDateCovered"`
}

func (e *env) updated(object, params string) updatedResult {
	e.t.Helper()
	r := e.do("GET", "/sobjects/"+object+"/updated/"+params, nil)
	r.object(e.t, http.StatusOK)
	var res updatedResult
	mustJSON(e.t, r.body, &res)
	if res.IDs == nil {
		e.t.Fatalf("ids must be an array: %s", r.body)
	}
	return res
}

func (e *env) deleted(object, params string) deletedResult {
	e.t.Helper()
	r := e.do("GET", "/sobjects/"+object+"/deleted/"+params, nil)
	r.object(e.t, http.StatusOK)
	var res deletedResult
	mustJSON(e.t, r.body, &res)
	if res.DeletedRecords == nil {
		e.t.Fatalf("deletedRecords must be an array: %s", r.body)
	}
	return res
}

func TestUsers(t *testing.T) {
	e := newEnv(t, Options{})
	integ := e.sim.IntegrationUserID()
	if !idRE.MatchString(integ) || !strings.HasPrefix(integ, "005") || !idRE.MatchString(OtherUserID) || !strings.HasPrefix(OtherUserID, "005") || integ == OtherUserID {
		t.Fatalf("users %s and %s", integ, OtherUserID)
	}
	if full, ok := normalizeID(OtherUserID); !ok || full != OtherUserID || OtherUserID != makeID("005", 2) {
		t.Errorf("OtherUserID %s is not a valid id", OtherUserID)
	}
	_, body := e.tokenRequest(url.Values{"grant_type": {"client_credentials"}, "client_id": {"cid"}, "client_secret": {"csecret"}})
	var tok map[string]string
	mustJSON(t, body, &tok)
	if !strings.HasSuffix(tok["id"], "/"+integ) {
		t.Errorf("token id %s does not name the integration user %s", tok["id"], integ)
	}

	by := func(object, id string) (created, modified any) {
		t.Helper()
		return e.stored(object, id, "CreatedById"), e.stored(object, id, "LastModifiedById")
	}
	// Seeding is someone else's work, whatever the seed says.
	seeded := e.sim.Insert("Contact", map[string]any{"LastName": "Seeded", "CreatedById": integ, "IsDeleted": true, "MasterRecordId": makeID("003", 77)})
	if c, m := by("Contact", seeded); c != OtherUserID || m != OtherUserID {
		t.Errorf("seeded by %v / %v", c, m)
	}
	if rec, _ := e.sim.Record("Contact", seeded); rec["IsDeleted"] != false || rec["MasterRecordId"] != nil {
		t.Errorf("seeded system fields %v", rec)
	}
	// API writes are the integration user's.
	created := e.do("POST", "/sobjects/Contact", map[string]any{"LastName": "API"}).object(t, 201)["id"].(string)
	if c, m := by("Contact", created); c != integ || m != integ {
		t.Errorf("created by %v / %v", c, m)
	}
	got := e.do("GET", "/sobjects/Contact/"+created, nil).object(t, 200)
	if got["CreatedById"] != integ || got["LastModifiedById"] != integ || got["IsDeleted"] != false || got["MasterRecordId"] != nil {
		t.Errorf("read %v", got)
	}
	if r := e.do("PATCH", "/sobjects/Contact/"+seeded, map[string]any{"Title": "T"}); r.status != 204 {
		t.Fatalf("update %d %s", r.status, r.body)
	}
	if c, m := by("Contact", seeded); c != OtherUserID || m != integ {
		t.Errorf("updated: created by %v, modified by %v", c, m)
	}
	// An edit in Salesforce is the other user's.
	before := parseStamp(t, e.stored("Contact", created, "SystemModstamp"))
	tick()
	if err := e.sim.EditAs("Contact", created, map[string]any{"Title": "Edited"}); err != nil {
		t.Fatal(err)
	}
	if c, m := by("Contact", created); c != integ || m != OtherUserID {
		t.Errorf("edited: created by %v, modified by %v", c, m)
	}
	for _, f := range []string{"SystemModstamp", "LastModifiedDate"} {
		if !parseStamp(t, e.stored("Contact", created, f)).After(before) {
			t.Errorf("EditAs did not move %s", f)
		}
	}
	// Every other API write path, each after an edit in Salesforce.
	upserted := e.do("PATCH", "/sobjects/Contact/AwardForce_Slug__c/up1", map[string]any{"LastName": "U"}).object(t, 201)["id"].(string)
	lead := e.do("POST", "/composite/sobjects", map[string]any{"records": []any{sobj("Lead", map[string]any{"LastName": "L", "Company": "C"})}}).records(t)[0].ID
	for what, write := range map[string]func(){
		"single upsert": func() {
			e.do("PATCH", "/sobjects/Contact/AwardForce_Slug__c/up1", map[string]any{"Title": "w"}).object(t, 200)
		},
		"collection update": func() {
			e.do("PATCH", "/composite/sobjects", map[string]any{"records": []any{sobj("Contact", map[string]any{"Id": upserted, "Title": "y"})}}).records(t)
		},
		"collection upsert": func() {
			e.do("PATCH", "/composite/sobjects/Contact/AwardForce_Slug__c", map[string]any{"records": []any{sobj("Contact", map[string]any{"AwardForce_Slug__c": "up1", "Title": "z"})}}).records(t)
		},
	} {
		if err := e.sim.EditAs("Contact", upserted, map[string]any{"Title": "x"}); err != nil {
			t.Fatal(err)
		}
		write()
		if c, m := by("Contact", upserted); c != integ || m != integ {
			t.Errorf("%s: by %v / %v", what, c, m)
		}
	}
	if c, m := by("Lead", lead); c != integ || m != integ {
		t.Errorf("collection create: by %v / %v", c, m)
	}

	// Clients cannot set them.
	for _, f := range []string{"CreatedById", "LastModifiedById", "IsDeleted", "MasterRecordId"} {
		e.do("POST", "/sobjects/Contact", map[string]any{"LastName": "x", f: OtherUserID}).apiErr(t, 400, "INVALID_FIELD_FOR_INSERT_UPDATE")
		e.do("PATCH", "/sobjects/Contact/"+created, map[string]any{f: OtherUserID}).apiErr(t, 400, "INVALID_FIELD_FOR_INSERT_UPDATE")
	}

	// SOQL selects and filters them, ids in either form.
	mine := e.recs(q("SELECT Id, CreatedById, LastModifiedById FROM Contact WHERE LastModifiedById = '" + integ + "'"))
	if want := []string{seeded, upserted}; !reflect.DeepEqual(idsOf(mine), want) {
		t.Errorf("modified by the integration user: %v, want %v", idsOf(mine), want)
	}
	if mine[0]["CreatedById"] != OtherUserID || mine[0]["LastModifiedById"] != integ {
		t.Errorf("selected %v", mine[0])
	}
	theirs := e.recs(q("SELECT Id FROM Contact WHERE LastModifiedById != '" + integ[:15] + "'"))
	if want := []string{created}; !reflect.DeepEqual(idsOf(theirs), want) {
		t.Errorf("modified by others: %v, want %v", idsOf(theirs), want)
	}
	if got := idsOf(e.recs(q("SELECT Id FROM Contact WHERE CreatedById IN ('" + OtherUserID + "') AND IsDeleted = false"))); !reflect.DeepEqual(got, []string{seeded}) {
		t.Errorf("created by the other user: %v", got)
	}
	e.do("GET", q("SELECT Id FROM Contact WHERE LastModifiedById = 'nope'"), nil).apiErr(t, 400, "INVALID_QUERY_FILTER_OPERATOR")
}

func TestDescribeSystemFields(t *testing.T) {
	e := newEnv(t, Options{})
	type field struct {
		Type              string
		Createable        bool
		Updateable        bool
		Nillable          bool
		DefaultedOnCreate bool
		ReferenceTo       []string
	}
	get := func(obj string) map[string]field {
		var d struct {
			Fields []struct {
				Name string
				field
			}
		}
		r := e.do("GET", "/sobjects/"+obj+"/describe", nil)
		r.object(t, 200)
		mustJSON(t, r.body, &d)
		out := map[string]field{}
		for _, f := range d.Fields {
			out[f.Name] = f.field
		}
		return out
	}
	user := field{Type: "reference", DefaultedOnCreate: true, ReferenceTo: []string{"User"}}
	for _, obj := range []string{"Contact", "Lead", "Award_Participant__c"} {
		fields := get(obj)
		want := map[string]field{
			"IsDeleted":        {Type: "boolean", DefaultedOnCreate: true, ReferenceTo: []string{}},
			"CreatedById":      user,
			"LastModifiedById": user,
			"SystemModstamp":   {Type: "datetime", DefaultedOnCreate: true, ReferenceTo: []string{}},
		}
		if obj != "Award_Participant__c" {
			want["MasterRecordId"] = field{Type: "reference", Nillable: true, DefaultedOnCreate: true, ReferenceTo: []string{obj}}
		} else if _, has := fields["MasterRecordId"]; has {
			t.Errorf("%s has MasterRecordId", obj)
		}
		for name, w := range want {
			if got, ok := fields[name]; !ok || !reflect.DeepEqual(got, w) {
				t.Errorf("%s.%s = %+v, want %+v", obj, name, got, w)
			}
		}
	}
	if got := get("Contact")["AccountId"].ReferenceTo; !reflect.DeepEqual(got, []string{"Account"}) {
		t.Errorf("AccountId referenceTo %v", got)
	}
	e.do("GET", qa("SELECT MasterRecordId FROM Award_Participant__c"), nil).apiErr(t, 400, "INVALID_FIELD")
	if got := e.recs(qa("SELECT Id, IsDeleted FROM Award_Participant__c WHERE IsDeleted = false")); len(got) != 0 {
		t.Errorf("records %v", got)
	}
}

func TestEditAs(t *testing.T) {
	e := newEnv(t, Options{})
	id := e.sim.Insert("Contact", map[string]any{"LastName": "Old", "Title": "T", "AwardForce_Slug__c": "taken"})
	other := e.sim.Insert("Contact", map[string]any{"LastName": "Other"})
	if err := e.sim.EditAs("contact", id[:15], map[string]any{"LastName": "New", "Title": "", "Department": nil, "Phone": 5551234}); err != nil {
		t.Fatal(err)
	}
	rec, _ := e.sim.Record("Contact", id)
	if _, has := rec["Title"]; rec["LastName"] != "New" || has || rec["Phone"] != "5551234" {
		t.Errorf("edited %v", rec)
	}
	stamp := e.stored("Contact", other, "SystemModstamp")
	for name, tc := range map[string]struct {
		object, id string
		fields     map[string]any
		want       string
	}{
		"unknown field":    {"Contact", other, map[string]any{"Nickname": "x"}, "INVALID_FIELD"},
		"read-only field":  {"Contact", other, map[string]any{"CreatedDate": "2020-01-01T00:00:00.000+0000"}, "INVALID_FIELD_FOR_INSERT_UPDATE"},
		"system field":     {"Contact", other, map[string]any{"IsDeleted": true}, "INVALID_FIELD_FOR_INSERT_UPDATE"},
		"too long":         {"Contact", other, map[string]any{"FirstName": strings.Repeat("x", 41)}, "STRING_TOO_LONG"},
		"required cleared": {"Contact", other, map[string]any{"LastName": ""}, "REQUIRED_FIELD_MISSING"},
		"duplicate unique": {"Contact", other, map[string]any{"AwardForce_Slug__c": "taken"}, "DUPLICATE_VALUE"},
		"unknown object":   {"Opportunity", other, map[string]any{"Name": "x"}, "unknown object"},
		"malformed id":     {"Contact", "nope", map[string]any{"Title": "x"}, "MALFORMED_ID"},
		"another object":   {"Lead", other, map[string]any{"Title": "x"}, "MALFORMED_ID"},
		"unknown id":       {"Contact", makeID("003", 999), map[string]any{"Title": "x"}, "NOT_FOUND"},
	} {
		err := e.sim.EditAs(tc.object, tc.id, tc.fields)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %s", name, err, tc.want)
		}
	}
	if got := e.stored("Contact", other, "SystemModstamp"); got != stamp {
		t.Error("a failed EditAs changed the record")
	}
	if err := e.sim.DeleteAs("Contact", other); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.EditAs("Contact", other, map[string]any{"Title": "x"}); err == nil || !strings.Contains(err.Error(), "ENTITY_IS_DELETED") {
		t.Errorf("editing a deleted record: %v", err)
	}
	if st := e.sim.Stats(); st.APICalls != 0 || st.Writes != 0 {
		t.Errorf("admin actions counted as API use: %+v", st)
	}
}

func TestDeletedRecordsLeaveQueriesButNotTheRecycleBin(t *testing.T) {
	e := newEnv(t, Options{})
	keep := e.sim.Insert("Contact", map[string]any{"LastName": "Keep", "Email": "keep@example.com"})
	gone := e.sim.Insert("Contact", map[string]any{"LastName": "Gone", "Email": "gone@example.com", "AwardForce_Slug__c": "gone"})
	viaAPI := e.sim.Insert("Contact", map[string]any{"LastName": "ViaAPI"})
	before := parseStamp(t, e.stored("Contact", gone, "SystemModstamp"))
	tick()
	if err := e.sim.DeleteAs("Contact", gone); err != nil {
		t.Fatal(err)
	}
	if r := e.do("DELETE", "/sobjects/Contact/"+viaAPI, nil); r.status != 204 {
		t.Fatalf("delete %d %s", r.status, r.body)
	}
	if err := e.sim.DeleteAs("Contact", gone); err == nil || !strings.Contains(err.Error(), "ENTITY_IS_DELETED") {
		t.Errorf("deleting twice: %v", err)
	}
	if _, ok := e.sim.Record("Contact", gone); ok || len(e.sim.Records("Contact")) != 1 {
		t.Error("Record and Records must leave deleted records out")
	}

	// Queries no longer see them, by scan or by index.
	for soql, want := range map[string][]string{
		"SELECT Id FROM Contact":                                   {keep},
		"SELECT Id FROM Contact WHERE Email = 'GONE@example.com'":  {},
		"SELECT Id FROM Contact WHERE IsDeleted = true":            {},
		"SELECT Id FROM Contact WHERE Id IN ('" + gone + "')":      {},
		"SELECT Id FROM Contact WHERE AwardForce_Slug__c = 'gone'": {},
	} {
		if got := idsOf(e.recs(q(soql))); !reflect.DeepEqual(got, want) {
			t.Errorf("query %s: %v, want %v", soql, got, want)
		}
	}
	// Reads and writes by id answer ENTITY_IS_DELETED.
	e.do("GET", "/sobjects/Contact/"+gone, nil).apiErr(t, 404, "ENTITY_IS_DELETED")
	e.do("PATCH", "/sobjects/Contact/"+gone, map[string]any{"Title": "x"}).apiErr(t, 404, "ENTITY_IS_DELETED")
	e.do("DELETE", "/sobjects/Contact/"+gone, nil).apiErr(t, 404, "ENTITY_IS_DELETED")
	e.do("GET", "/sobjects/Contact/Id/"+gone, nil).apiErr(t, 404, "ENTITY_IS_DELETED")
	e.do("PATCH", "/sobjects/Contact/Id/"+gone[:15], map[string]any{"Title": "x"}).apiErr(t, 404, "ENTITY_IS_DELETED")
	res := e.do("PATCH", "/composite/sobjects/Contact/Id", map[string]any{"records": []any{sobj("Contact", map[string]any{"Id": gone, "Title": "x"})}}).records(t)
	if res[0].Success || res[0].Errors[0]["statusCode"] != "ENTITY_IS_DELETED" {
		t.Errorf("collection upsert by Id %+v", res)
	}
	// Deleted records match no upsert: the slug is free again.
	r := e.do("PATCH", "/sobjects/Contact/AwardForce_Slug__c/gone", map[string]any{"LastName": "Again"})
	again := r.object(t, 201)["id"].(string)

	// queryAll does see them.
	all := byID(e.recs(qa("SELECT Id, LastName, IsDeleted, MasterRecordId, LastModifiedById, SystemModstamp FROM Contact")))
	if len(all) != 4 {
		t.Fatalf("queryAll %v", all)
	}
	for id, want := range map[string]struct {
		deleted bool
		by      string
	}{keep: {false, OtherUserID}, gone: {true, OtherUserID}, viaAPI: {true, e.sim.IntegrationUserID()}, again: {false, e.sim.IntegrationUserID()}} {
		rec := all[id]
		if rec["IsDeleted"] != want.deleted || rec["LastModifiedById"] != want.by || rec["MasterRecordId"] != nil {
			t.Errorf("%s: %v, want IsDeleted %v by %s", id, rec, want.deleted, want.by)
		}
	}
	if !parseStamp(t, all[gone]["SystemModstamp"]).After(before) {
		t.Error("a deletion must move SystemModstamp")
	}
	for soql, want := range map[string][]string{
		"SELECT Id FROM Contact WHERE IsDeleted = true":                                 {gone, viaAPI},
		"SELECT Id FROM Contact WHERE IsDeleted = false":                                {keep, again},
		"SELECT Id FROM Contact WHERE IsDeleted != true ORDER BY LastName":              {again, keep},
		"SELECT Id FROM Contact WHERE Email = 'Gone@Example.com'":                       {gone},
		"SELECT Id FROM Contact WHERE Id IN ('" + gone[:15] + "', '" + keep + "')":      {keep, gone},
		"SELECT Id FROM Contact WHERE AwardForce_Slug__c = 'gone' AND IsDeleted = true": {gone},
	} {
		for _, scan := range []bool{false, true} {
			e.sim.forceScan.Store(scan)
			if got := idsOf(e.recs(qa(soql))); !reflect.DeepEqual(got, want) {
				t.Errorf("queryAll %s (scan %v): %v, want %v", soql, scan, got, want)
			}
		}
	}
	e.sim.forceScan.Store(false)
	e.do("GET", qa("SELECT Id FROM Contact WHERE IsDeleted = 'true'"), nil).apiErr(t, 400, "INVALID_QUERY_FILTER_OPERATOR")
	e.do("GET", qa("SELECT Id FROM Contact WHERE IsDeleted > false"), nil).apiErr(t, 400, "INVALID_QUERY_FILTER_OPERATOR")
	e.do("GET", qa("SELECT Id FROM Contact WHERE IsDeleted = 1"), nil).apiErr(t, 400, "INVALID_QUERY_FILTER_OPERATOR")
	e.do("GET", qa("SELECT Id FROM Contact WHERE"), nil).apiErr(t, 400, "MALFORMED_QUERY")
	e.do("GET", qa("SELECT Id FROM Nope"), nil).apiErr(t, 400, "INVALID_TYPE")
	if r := e.do("POST", "/queryAll", nil); r.status != 405 {
		t.Errorf("POST /queryAll: %d", r.status)
	}
}

func TestQueryAllPaging(t *testing.T) {
	e := newEnv(t, Options{QueryPageSize: 2})
	var want []string
	for range 5 {
		id := e.sim.Insert("Contact", map[string]any{"LastName": "n"})
		want = append(want, id)
		if err := e.sim.DeleteAs("Contact", id); err != nil {
			t.Fatal(err)
		}
	}
	e.sim.ResetStats()
	path := qa("SELECT Id, IsDeleted FROM Contact")
	var got []string
	for pages := 1; ; pages++ {
		m := e.do("GET", path, nil).object(t, 200)
		if m["totalSize"] != float64(5) {
			t.Fatalf("totalSize %v", m["totalSize"])
		}
		for _, r := range m["records"].([]any) {
			got = append(got, r.(map[string]any)["Id"].(string))
		}
		if m["done"] == true {
			if pages != 3 {
				t.Errorf("%d pages, want 3", pages)
			}
			break
		}
		path = m["nextRecordsUrl"].(string)
		if !strings.HasPrefix(path, api+"/queryAll/01g") || pages > 3 {
			t.Fatalf("nextRecordsUrl %q", path)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
	st := e.sim.Stats()
	if st.Queries != 3 || st.APICalls != 3 || st.ByRoute["GET /queryAll"] != 1 || st.ByRoute["GET /queryAll/{locator}"] != 2 {
		t.Errorf("stats %+v", st)
	}
	if n := len(e.recs(q("SELECT Id FROM Contact"))); n != 0 {
		t.Errorf("query returned %d deleted records", n)
	}
	e.do("GET", api+"/queryAll/01gbogus-2", nil).apiErr(t, 400, "INVALID_QUERY_LOCATOR")
}

func TestMerge(t *testing.T) {
	e := newEnv(t, Options{})
	survivor := e.sim.Insert("Contact", map[string]any{"LastName": "Survivor", "Email": "s@example.com"})
	m1 := e.sim.Insert("Contact", map[string]any{"LastName": "Dup1", "Email": "s@example.com"})
	m2 := e.sim.Insert("Contact", map[string]any{"LastName": "Dup2"})
	bystander := e.sim.Insert("Contact", map[string]any{"LastName": "Bystander"})
	lead1 := e.sim.Insert("Lead", map[string]any{"LastName": "L1", "Company": "C"})
	lead2 := e.sim.Insert("Lead", map[string]any{"LastName": "L2", "Company": "C"})
	before := parseStamp(t, e.stored("Contact", survivor, "SystemModstamp"))

	// Refusals change nothing.
	for name, tc := range map[string]struct {
		object, survivor string
		merged           []string
		want             string
	}{
		"custom object":       {"Award_Participant__c", survivor, []string{m1}, "only Contact, Lead and Account"},
		"unknown object":      {"Opportunity", survivor, []string{m1}, "unknown object"},
		"nothing to merge":    {"Contact", survivor, nil, "want 1 or 2"},
		"three to merge":      {"Contact", survivor, []string{m1, m2, bystander}, "want 1 or 2"},
		"survivor merged":     {"Contact", survivor, []string{m1, survivor[:15]}, "survivor"},
		"merged twice":        {"Contact", survivor, []string{m1, m1[:15]}, "twice"},
		"unknown survivor":    {"Contact", makeID("003", 999), []string{m1}, "NOT_FOUND"},
		"unknown merged":      {"Contact", survivor, []string{makeID("003", 999)}, "NOT_FOUND"},
		"lead into a contact": {"Contact", survivor, []string{lead1}, "MALFORMED_ID"},
		"malformed":           {"Contact", survivor, []string{"x"}, "MALFORMED_ID"},
	} {
		err := e.sim.Merge(tc.object, tc.survivor, tc.merged...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
	if len(e.sim.Records("Contact")) != 4 || !parseStamp(t, e.stored("Contact", survivor, "SystemModstamp")).Equal(before) {
		t.Fatal("a refused merge changed records")
	}

	tick()
	if err := e.sim.Merge("Contact", survivor, m1, m2[:15]); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Merge("Contact", survivor, m1); err == nil || !strings.Contains(err.Error(), "ENTITY_IS_DELETED") {
		t.Errorf("merging a merged record: %v", err)
	}
	if err := e.sim.Merge("Contact", m1, bystander); err == nil || !strings.Contains(err.Error(), "ENTITY_IS_DELETED") {
		t.Errorf("merging into a merged record: %v", err)
	}
	// The merged records are deleted, the survivor named in MasterRecordId.
	soql := "SELECT Id, MasterRecordId, IsDeleted, LastModifiedById, SystemModstamp FROM Contact WHERE Id IN ('" + survivor + "', '" + m1 + "', '" + m2 + "')"
	if got := idsOf(e.recs(q(soql))); !reflect.DeepEqual(got, []string{survivor}) {
		t.Errorf("query after merge: %v", got)
	}
	all := byID(e.recs(qa(soql)))
	if len(all) != 3 {
		t.Fatalf("queryAll after merge: %v", all)
	}
	s := all[survivor]
	if s["IsDeleted"] != false || s["MasterRecordId"] != nil || s["LastModifiedById"] != OtherUserID || !parseStamp(t, s["SystemModstamp"]).After(before) {
		t.Errorf("survivor %v", s)
	}
	if s, _ := e.sim.Record("Contact", survivor); s["LastName"] != "Survivor" || !parseStamp(t, s["LastModifiedDate"]).After(before) {
		t.Errorf("survivor %v", s)
	}
	for _, id := range []string{m1, m2} {
		m := all[id]
		if m["IsDeleted"] != true || m["MasterRecordId"] != survivor || m["LastModifiedById"] != OtherUserID || m["SystemModstamp"] != s["SystemModstamp"] {
			t.Errorf("merged %v", m)
		}
	}
	// Updating a merged record answers ENTITY_IS_DELETED, alone or in a
	// collection whose other records succeed.
	e.do("PATCH", "/sobjects/Contact/"+m1, map[string]any{"Title": "x"}).apiErr(t, 404, "ENTITY_IS_DELETED")
	e.do("GET", "/sobjects/Contact/"+m2, nil).apiErr(t, 404, "ENTITY_IS_DELETED")
	res := e.do("PATCH", "/composite/sobjects", map[string]any{"records": []any{
		sobj("Contact", map[string]any{"Id": m1, "Title": "x"}),
		sobj("Contact", map[string]any{"Id": survivor, "Title": "x"}),
		sobj("Contact", map[string]any{"Id": m2[:15], "Title": "x"}),
	}}).records(t)
	if res[0].Success || res[0].ID != m1 || res[0].Errors[0]["statusCode"] != "ENTITY_IS_DELETED" || !res[1].Success ||
		res[2].Success || res[2].ID != m2 || res[2].Errors[0]["statusCode"] != "ENTITY_IS_DELETED" {
		t.Errorf("collection update %+v", res)
	}
	if e.stored("Contact", survivor, "Title") != "x" {
		t.Error("the survivor's update was not applied")
	}

	// Leads merge too, one at a time.
	if err := e.sim.Merge("lead", lead1, lead2); err != nil {
		t.Fatal(err)
	}
	if got := e.recs(qa("SELECT Id, MasterRecordId FROM Lead WHERE IsDeleted = true")); len(got) != 1 || got[0]["Id"] != lead2 || got[0]["MasterRecordId"] != lead1 {
		t.Errorf("lead merge %v", got)
	}
}

func TestParseSOQLDateTimes(t *testing.T) {
	const want = "2026-12-01T04:05:06.000+0000"
	for lit, value := range map[string]string{
		"2026-12-01T04:05:06Z":          want,
		"2026-12-01T04:05:06+00:00":     want,
		"2026-12-01T04:05:06.000+0000":  want,
		"2026-12-01T09:35:06+05:30":     want,
		"2026-11-30T23:05:06-0500":      want,
		"2026-12-01T04:05:06.5Z":        "2026-12-01T04:05:06.500+0000",
		"2026-12-01T04:05:06.123-00:00": "2026-12-01T04:05:06.123+0000",
	} {
		for _, op := range []string{"=", "!=", "<", "<=", ">", ">="} {
			qry, err := ParseSOQL("SELECT Id FROM Contact WHERE SystemModstamp " + op + " " + lit + " ORDER BY SystemModstamp LIMIT 10")
			if err != nil {
				t.Fatalf("%s %s: %v", op, lit, err)
			}
			c := qry.Comparisons()[0]
			if c.Op != op || len(c.Values) != 1 || c.Values[0] != (Literal{Kind: LiteralDateTime, Value: value}) || qry.Limit != 10 {
				t.Errorf("%s %s: %+v", op, lit, c)
			}
		}
	}
	qry, err := ParseSOQL("SELECT Id FROM Contact WHERE CreatedDate IN (2026-12-01T04:05:06Z,2026-12-02T04:05:06Z) AND (SystemModstamp>2026-12-01T04:05:06Z)")
	if err != nil {
		t.Fatal(err)
	}
	if cs := qry.Comparisons(); len(cs) != 2 || len(cs[0].Values) != 2 || cs[1].Op != ">" {
		t.Errorf("%+v", cs)
	}
}

func TestSOQLDateTimeFilters(t *testing.T) {
	e := newEnv(t, Options{})
	var ids, stamps []string
	for _, name := range []string{"One", "Two", "Three"} {
		id := e.sim.Insert("Contact", map[string]any{"LastName": name})
		ids = append(ids, id)
		stamps = append(stamps, e.stored("Contact", id, "SystemModstamp").(string))
		tick()
	}
	// The same instants written other ways.
	zulu := func(i int) string {
		ts, _ := time.Parse(dateLayout, stamps[i])
		return ts.Format("2006-01-02T15:04:05.000Z07:00")
	}
	india := func(i int) string {
		ts, _ := time.Parse(dateLayout, stamps[i])
		return ts.In(time.FixedZone("IST", 5*3600+1800)).Format("2006-01-02T15:04:05.000-07:00")
	}
	for soql, want := range map[string][]string{
		"WHERE SystemModstamp > " + zulu(0):                                           {ids[1], ids[2]},
		"WHERE SystemModstamp >= " + stamps[1]:                                        {ids[1], ids[2]},
		"WHERE SystemModstamp < " + india(1):                                          {ids[0]},
		"WHERE SystemModstamp <= " + india(1):                                         {ids[0], ids[1]},
		"WHERE SystemModstamp = " + india(1):                                          {ids[1]},
		"WHERE SystemModstamp != " + zulu(1):                                          {ids[0], ids[2]},
		"WHERE SystemModstamp IN (" + zulu(0) + ", " + stamps[2] + ")":                {ids[0], ids[2]},
		"WHERE SystemModstamp NOT IN (" + zulu(0) + ")":                               {ids[1], ids[2]},
		"WHERE SystemModstamp > " + zulu(0) + " ORDER BY SystemModstamp DESC LIMIT 1": {ids[2]},
		"ORDER BY SystemModstamp DESC":                                                {ids[2], ids[1], ids[0]},
		"WHERE CreatedDate > 2000-01-01T00:00:00Z AND LastModifiedDate < 2100-01-01T00:00:00+00:00 ORDER BY CreatedDate LIMIT 2": {ids[0], ids[1]},
		"WHERE SystemModstamp < 2000-01-01T00:00:00.000+0000":                                                                    {},
		"WHERE SystemModstamp = null":                             {},
		"WHERE SystemModstamp != null AND LastName = 'two'":       {ids[1]},
		"WHERE LastName = 'One' OR SystemModstamp > " + stamps[1]: {ids[0], ids[2]},
	} {
		soql = "SELECT Id, SystemModstamp FROM Contact " + soql
		if got := idsOf(e.recs(q(soql))); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%s\n got %v, want %v", soql, got, want)
		}
	}
	for soql, code := range map[string]string{
		"SELECT Id FROM Contact WHERE SystemModstamp > '" + stamps[0] + "'": "INVALID_QUERY_FILTER_OPERATOR",
		"SELECT Id FROM Contact WHERE SystemModstamp = 5":                   "INVALID_QUERY_FILTER_OPERATOR",
		"SELECT Id FROM Contact WHERE SystemModstamp > true":                "INVALID_QUERY_FILTER_OPERATOR",
		"SELECT Id FROM Contact WHERE SystemModstamp > null":                "INVALID_QUERY_FILTER_OPERATOR",
		"SELECT Id FROM Contact WHERE LastName = " + zulu(0):                "INVALID_QUERY_FILTER_OPERATOR",
		"SELECT Id FROM Contact WHERE LastName > 'a'":                       "MALFORMED_QUERY",
		"SELECT Id FROM Contact WHERE Id >= '" + ids[0] + "'":               "MALFORMED_QUERY",
		"SELECT Id FROM Contact WHERE SystemModstamp > 2026-12-01":          "MALFORMED_QUERY",
		"SELECT Id FROM Contact WHERE SystemModstamp > 2026-12-01T04:05:06": "MALFORMED_QUERY",
		"SELECT Id FROM Contact WHERE Nickname > 2026-12-01T04:05:06Z":      "INVALID_FIELD",
	} {
		e.do("GET", q(soql), nil).apiErr(t, 400, code)
	}
}

func TestUpdatedAndDeletedResources(t *testing.T) {
	e := newEnv(t, Options{})
	a := e.sim.Insert("Contact", map[string]any{"LastName": "Unchanged"})
	b := e.sim.Insert("Contact", map[string]any{"LastName": "Updated"})
	c := e.sim.Insert("Contact", map[string]any{"LastName": "Deleted"})
	d := e.sim.Insert("Contact", map[string]any{"LastName": "Survivor"})
	m := e.sim.Insert("Contact", map[string]any{"LastName": "Merged"})
	tick()
	t0 := time.Now()
	tick()
	if r := e.do("PATCH", "/sobjects/Contact/"+b, map[string]any{"Title": "x"}); r.status != 204 {
		t.Fatal(r.status)
	}
	if err := e.sim.DeleteAs("Contact", c); err != nil {
		t.Fatal(err)
	}
	tick()
	if err := e.sim.Merge("Contact", d, m); err != nil {
		t.Fatal(err)
	}
	f := e.do("POST", "/sobjects/Contact", map[string]any{"LastName": "Created"}).object(t, 201)["id"].(string)
	deletedAt := map[string]string{}
	for _, r := range e.recs(qa("SELECT Id, SystemModstamp FROM Contact WHERE IsDeleted = true")) {
		deletedAt[r["Id"].(string)] = r["SystemModstamp"].(string)
	}

	// Since t0: what was created or changed and still lives...
	asked := time.Now()
	up := e.updated("Contact", window(t0, t0.Add(2*time.Minute)))
	if want := []string{b, d, f}; !reflect.DeepEqual(up.IDs, want) {
		t.Errorf("updated since t0: %v, want %v", up.IDs, want)
	}
	// ... covered up to the moment of the answer, the end being ahead.
	if lc := parseStamp(t, up.LatestDateCovered); lc.Before(asked.Truncate(time.Millisecond)) || lc.After(time.Now()) {
		t.Errorf("latestDateCovered %s, asked at %s", up.LatestDateCovered, formatTime(asked))
	}
	// ... and what was deleted or merged away, in the order of deletion.
	del := e.deleted("Contact", window(t0, t0.Add(2*time.Minute)))
	if len(del.DeletedRecords) != 2 || del.DeletedRecords[0].ID != c || del.DeletedRecords[1].ID != m ||
		del.DeletedRecords[0].DeletedDate != deletedAt[c] || del.DeletedRecords[1].DeletedDate != deletedAt[m] {
		t.Errorf("deleted since t0: %+v, want %s at %s and %s at %s", del.DeletedRecords, c, deletedAt[c], m, deletedAt[m])
	}
	if del.EarliestDateAvailable != deletedAt[c] {
		t.Errorf("earliestDateAvailable %s, want the oldest deletion %s", del.EarliestDateAvailable, deletedAt[c])
	}
	// Before t0: records whose last change was then, the end fully covered.
	up = e.updated("Contact", window(t0.Add(-2*time.Minute), t0))
	if want := []string{a}; !reflect.DeepEqual(up.IDs, want) || up.LatestDateCovered != formatTime(t0) {
		t.Errorf("updated before t0: %+v, want %v covered to %s", up, want, formatTime(t0))
	}
	if del := e.deleted("Contact", window(t0.Add(-2*time.Minute), t0)); len(del.DeletedRecords) != 0 || del.LatestDateCovered != formatTime(t0) {
		t.Errorf("deleted before t0: %+v", del)
	}
	// The window's bounds are inclusive.
	if up := e.updated("Contact", window(parseStamp(t, deletedAt[m]), parseStamp(t, deletedAt[m]).Add(time.Minute))); !slices.Contains(up.IDs, d) {
		t.Errorf("the survivor, stamped at the window's start, is missing: %v", up.IDs)
	}
	// An object whose recycle bin is empty: available since its horizon.
	if del := e.deleted("Lead", window(t0, t0.Add(time.Hour))); len(del.DeletedRecords) != 0 ||
		parseStamp(t, del.EarliestDateAvailable).Sub(time.Now().Add(-binRetention)).Abs() > time.Minute {
		t.Errorf("empty bin: %+v", del)
	}

	// Every documented way to write the dates; a + left unescaped in the
	// URL arrives as a space.
	start := t0.UTC().Add(-time.Hour).Truncate(time.Second)
	end := start.Add(90 * time.Minute)
	for _, layout := range []string{"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05-07:00", dateLayout, "2006-01-02T15:04:05.000Z"} {
		params := "?start=" + url.QueryEscape(start.Format(layout)) + "&end=" + url.QueryEscape(end.Format(layout))
		if up := e.updated("Contact", params); len(up.IDs) != 4 {
			t.Errorf("%s: %v", params, up.IDs)
		}
	}
	raw := "?start=" + start.Format("2006-01-02T15:04:05") + "+00:00&end=" + end.Format("2006-01-02T15:04:05") + "+00:00"
	if up := e.updated("Contact", raw); len(up.IDs) != 4 {
		t.Errorf("%s: %v", raw, up.IDs)
	}
	offset := "?start=" + url.QueryEscape(start.In(time.FixedZone("", -5*3600)).Format("2006-01-02T15:04:05-0700")) + "&end=" + url.QueryEscape(end.Format(time.RFC3339))
	if up := e.updated("Contact", offset); len(up.IDs) != 4 {
		t.Errorf("%s: %v", offset, up.IDs)
	}

	// Without the trailing slash, and counted by route without values.
	e.sim.ResetStats()
	for _, kind := range []string{"updated", "deleted"} {
		for _, path := range []string{"/sobjects/Contact/" + kind, "/sobjects/Contact/" + kind + "/"} {
			if r := e.do("GET", path+window(t0, t0.Add(time.Minute)), nil); r.status != 200 {
				t.Errorf("%s: %d %s", path, r.status, r.body)
			}
		}
		if r := e.do("POST", "/sobjects/Contact/"+kind+"/", nil); r.status != 405 {
			t.Errorf("POST %s: %d", kind, r.status)
		}
	}
	st := e.sim.Stats()
	if st.ByRoute["GET /sobjects/Contact/updated"] != 2 || st.ByRoute["GET /sobjects/Contact/deleted"] != 2 || st.APICalls != 6 || st.Queries != 0 {
		t.Errorf("stats %+v", st)
	}
	e.do("GET", "/sobjects/Nope__c/updated/"+window(t0, t0.Add(time.Minute)), nil).apiErr(t, 404, "NOT_FOUND")
}

func TestReplicationWindowRules(t *testing.T) {
	e := newEnv(t, Options{})
	now := time.Now().UTC()
	iso := func(t time.Time) string { return url.QueryEscape(t.Format(time.RFC3339)) }
	startEnd := func(s, e time.Time) string { return "?start=" + iso(s) + "&end=" + iso(e) }
	for name, params := range map[string]string{
		"no parameters":        "",
		"no start":             "?end=" + iso(now),
		"no end":               "?start=" + iso(now.Add(-time.Hour)),
		"empty start":          "?start=&end=" + iso(now),
		"not a date":           "?start=yesterday&end=" + iso(now),
		"date only":            "?start=" + now.Add(-48*time.Hour).Format("2006-01-02") + "&end=" + iso(now),
		"no zone":              "?start=" + now.Add(-time.Hour).Format("2006-01-02T15:04:05") + "&end=" + iso(now),
		"no seconds":           "?start=" + url.QueryEscape(now.Add(-time.Hour).Format("2006-01-02T15:04Z07:00")) + "&end=" + iso(now),
		"impossible date":      "?start=2026-02-30T00:00:00Z&end=" + iso(now),
		"trailing text":        "?start=" + iso(now.Add(-time.Hour)) + "x&end=" + iso(now),
		"end before start":     startEnd(now, now.Add(-time.Hour)),
		"end equals start":     startEnd(now, now),
		"59 seconds wide":      startEnd(now.Add(-time.Hour), now.Add(-time.Hour+59*time.Second)),
		"31 days back":         startEnd(now.Add(-31*24*time.Hour), now),
		"30 days and a minute": startEnd(now.Add(-30*24*time.Hour-time.Minute), now),
	} {
		for _, kind := range []string{"updated", "deleted"} {
			msg := e.do("GET", "/sobjects/Contact/"+kind+"/"+params, nil).apiErr(t, 400, "INVALID_REPLICATION_DATE")["message"]
			if s, _ := msg.(string); len(s) < 20 {
				t.Errorf("%s %s: message %v", kind, name, msg)
			}
		}
	}
	for name, params := range map[string]string{
		"one minute wide":    startEnd(now.Add(-time.Hour), now.Add(-time.Hour+time.Minute)),
		"29 days back":       startEnd(now.Add(-29*24*time.Hour), now),
		"ending in a decade": startEnd(now.Add(-time.Hour), now.Add(10*365*24*time.Hour)),
	} {
		for _, kind := range []string{"updated", "deleted"} {
			if r := e.do("GET", "/sobjects/Contact/"+kind+"/"+params, nil); r.status != 200 {
				t.Errorf("%s %s: %d %s", kind, name, r.status, r.body)
			}
		}
	}
	// The end of an answer is never later than the moment it was given.
	if up := e.updated("Contact", startEnd(now.Add(-time.Hour), now.Add(time.Hour))); parseStamp(t, up.LatestDateCovered).After(time.Now()) {
		t.Errorf("latestDateCovered %s is in the future", up.LatestDateCovered)
	}
}

func TestLatestDateCoveredWaitsForALateCommit(t *testing.T) {
	e := newEnv(t, Options{})
	const delay = 200 * time.Millisecond
	e.sim.InjectLateCommits(1, delay)
	sent := time.Now()
	e.dropped("POST", "/sobjects/Contact", map[string]any{"LastName": "Late"})
	dropped := time.Now()
	params := window(sent.Add(-time.Minute), sent.Add(time.Hour))

	up := e.updated("Contact", params)
	covered := parseStamp(t, up.LatestDateCovered)
	if covered.Before(sent.Truncate(time.Millisecond)) || covered.After(dropped) || len(up.IDs) != 0 {
		t.Fatalf("pending: %+v, want covered to the write's arrival, between %s and %s", up, formatTime(sent), formatTime(dropped))
	}
	time.Sleep(delay / 4)
	if up := e.updated("Contact", params); up.LatestDateCovered != formatTime(covered) || contacts(e) != 0 {
		t.Fatalf("still pending: %+v, want covered to %s", up, formatTime(covered))
	}
	if del := e.deleted("Contact", params); del.LatestDateCovered != formatTime(covered) {
		t.Errorf("deleted while pending: %+v", del)
	}

	eventually(t, time.Second, "the late write never committed", func() bool { return contacts(e) == 1 })
	id := e.sim.Records("Contact")[0]["Id"].(string)
	up = e.updated("Contact", params)
	if !reflect.DeepEqual(up.IDs, []string{id}) || !parseStamp(t, up.LatestDateCovered).After(dropped) {
		t.Errorf("landed: %+v", up)
	}
	// A client that resumed from the covered date finds the write.
	if up := e.updated("Contact", window(covered, covered.Add(time.Minute))); !reflect.DeepEqual(up.IDs, []string{id}) {
		t.Errorf("resuming from %s: %v", formatTime(covered), up.IDs)
	}
}

func TestLatestDateCoveredWaitsForAWriteInProgress(t *testing.T) {
	e := newEnv(t, Options{WriteTime: 250 * time.Millisecond})
	sent := time.Now()
	done := make(chan result)
	go func() {
		r, err := e.send(context.Background(), "PATCH", "/sobjects/Contact/AwardForce_Slug__c/slow", map[string]any{"LastName": "Slow"})
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	eventually(t, time.Second, "the upsert never started its transaction", func() bool {
		e.sim.mu.Lock()
		defer e.sim.mu.Unlock()
		return len(e.sim.inflight) == 1
	})
	started := time.Now()
	params := window(sent.Add(-time.Minute), sent.Add(time.Hour))
	up := e.updated("Contact", params)
	covered := parseStamp(t, up.LatestDateCovered)
	if covered.Before(sent.Truncate(time.Millisecond)) || covered.After(started) || len(up.IDs) != 0 {
		t.Fatalf("in progress: %+v, want covered to the write's arrival, between %s and %s", up, formatTime(sent), formatTime(started))
	}
	r := <-done
	id := r.object(t, 201)["id"].(string)
	up = e.updated("Contact", params)
	if !reflect.DeepEqual(up.IDs, []string{id}) || !parseStamp(t, up.LatestDateCovered).After(started) {
		t.Errorf("committed: %+v", up)
	}
	e.sim.mu.Lock()
	n := len(e.sim.inflight)
	e.sim.mu.Unlock()
	if n != 0 {
		t.Errorf("%d writes still in progress", n)
	}
}

func TestRecycleBinKeepsRecordsFifteenDays(t *testing.T) {
	e := newEnv(t, Options{})
	old := e.sim.Insert("Contact", map[string]any{"LastName": "Old"})
	if err := e.sim.DeleteAs("Contact", old); err != nil {
		t.Fatal(err)
	}
	tbl := e.sim.tables["Contact"]
	e.sim.mu.Lock()
	tbl.purge(time.Now().Add(binRetention - time.Minute))
	e.sim.mu.Unlock()
	if got := idsOf(e.recs(qa("SELECT Id FROM Contact"))); !reflect.DeepEqual(got, []string{old}) {
		t.Fatalf("before 15 days: %v", got)
	}
	e.sim.mu.Lock()
	tbl.purge(time.Now().Add(binRetention + time.Minute))
	e.sim.mu.Unlock()
	if got := e.recs(qa("SELECT Id FROM Contact")); len(got) != 0 {
		t.Errorf("after 15 days: %v", got)
	}
	now := time.Now()
	if del := e.deleted("Contact", window(now.Add(-time.Hour), now)); len(del.DeletedRecords) != 0 {
		t.Errorf("deleted after 15 days: %+v", del)
	}
	e.do("GET", "/sobjects/Contact/"+old, nil).apiErr(t, 404, "ENTITY_IS_DELETED")
	if len(tbl.bin) != 0 || len(tbl.binOrder) != 0 {
		t.Errorf("bin %v %v", tbl.bin, tbl.binOrder)
	}
}
