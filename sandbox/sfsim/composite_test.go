package sfsim

import (
	"net/http"
	"net/url"
	"testing"
)

type compositeAnswer struct {
	CompositeResponse []struct {
		Body           any    `json:"body"`
		HTTPStatusCode int    `json:"httpStatusCode"`
		ReferenceID    string `json:"referenceId"`
	} `json:"compositeResponse"`
}

func sub(method, path, ref string, body any) map[string]any {
	m := map[string]any{"method": method, "url": api + path, "referenceId": ref}
	if body != nil {
		m["body"] = body
	}
	return m
}

// A composite request runs its subrequests in order, each answered as on
// its own, and costs one API call.
func TestACompositeRequestRunsItsSubrequestsInOrderForOneCall(t *testing.T) {
	e := newEnv(t, Options{})
	id := e.collection(t, "POST", "/composite/sobjects", []any{sobj("Contact", map[string]any{"LastName": "Before", "Email": "b@example.org"})})[0].ID
	before := e.sim.Stats().APICalls
	r := e.do("POST", "/composite", map[string]any{"allOrNone": false, "compositeRequest": []any{
		sub("POST", "/composite/sobjects", "creates", map[string]any{"records": []any{
			sobj("Contact", map[string]any{"LastName": "Lovelace", "Email": "ada@example.org"}),
			sobj("Contact", map[string]any{"FirstName": "No last name"}),
		}}),
		sub("PATCH", "/composite/sobjects", "updates", map[string]any{"records": []any{sobj("Contact", map[string]any{"Id": id, "LastName": "After"})}}),
		sub("GET", "/query?q="+url.QueryEscape("SELECT Id, LastName FROM Contact WHERE Id = '"+id+"'"), "read", nil),
		sub("GET", "/sobjects/Nope/describe", "unknown", nil),
	}})
	if r.status != 200 {
		t.Fatalf("composite: %d %s", r.status, r.body)
	}
	var got compositeAnswer
	mustJSON(t, r.body, &got)
	if n := len(got.CompositeResponse); n != 4 {
		t.Fatalf("%d subresponses, want 4: %s", n, r.body)
	}
	refs := []string{"creates", "updates", "read", "unknown"}
	codes := []int{200, 200, 200, 404}
	for i, s := range got.CompositeResponse {
		if s.ReferenceID != refs[i] || s.HTTPStatusCode != codes[i] {
			t.Fatalf("subresponse %d: %s %d, want %s %d", i, s.ReferenceID, s.HTTPStatusCode, refs[i], codes[i])
		}
	}
	creates := got.CompositeResponse[0].Body.([]any)
	if ok := creates[0].(map[string]any)["success"]; ok != true {
		t.Fatalf("first create: %v", creates[0])
	}
	if ok := creates[1].(map[string]any)["success"]; ok != false {
		t.Fatalf("a record without LastName must be refused alone: %v", creates[1])
	}
	read := got.CompositeResponse[2].Body.(map[string]any)["records"].([]any)[0].(map[string]any)
	if read["LastName"] != "After" {
		t.Fatalf("the query ran after the update in the same request: %v", read)
	}
	if calls := e.sim.Stats().APICalls - before; calls != 1 {
		t.Fatalf("a composite request cost %d API calls, want 1", calls)
	}
	if n := e.sim.Stats().ByRoute["POST /composite"]; n != 1 {
		t.Fatalf("ByRoute counts %d composite requests", n)
	}
}

func TestACompositeRequestKeepsSalesforcesLimits(t *testing.T) {
	e := newEnv(t, Options{})
	query := sub("GET", "/query?q="+url.QueryEscape("SELECT Id FROM Contact"), "q", nil)
	six := []any{query, query, query, query, query, query}
	e.do("POST", "/composite", map[string]any{"compositeRequest": six}).apiErr(t, http.StatusBadRequest, "INVALID_INPUT")
	var many []any
	for range 26 {
		many = append(many, sub("GET", "/sobjects/Contact/describe", "d", nil))
	}
	e.do("POST", "/composite", map[string]any{"compositeRequest": many}).apiErr(t, http.StatusBadRequest, "INVALID_INPUT")
	e.do("POST", "/composite", map[string]any{"allOrNone": true, "compositeRequest": []any{query}}).apiErr(t, http.StatusBadRequest, "INVALID_INPUT")
	e.do("POST", "/composite", map[string]any{"compositeRequest": []any{
		sub("POST", "/sobjects/Contact", "a", map[string]any{"LastName": "A"}),
		sub("POST", "/sobjects/Contact", "b", map[string]any{"LastName": "@{a.id}"}),
	}}).apiErr(t, http.StatusBadRequest, "INVALID_INPUT")
	if n := len(e.sim.Records("Contact")); n != 0 {
		t.Fatalf("a refused composite request wrote %d records", n)
	}
}

// The duplicate rule header travels with each subrequest.
func TestACompositeSubrequestCarriesItsOwnDuplicateRuleHeader(t *testing.T) {
	e := newEnv(t, Options{DuplicateRules: []DuplicateRule{{Object: "Contact", Action: DuplicateAlert}}})
	e.collection(t, "POST", "/composite/sobjects", []any{sobj("Contact", map[string]any{"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.org"})})
	dup := func(ref string, allow bool) map[string]any {
		s := sub("POST", "/composite/sobjects", ref, map[string]any{"records": []any{sobj("Contact", map[string]any{"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.org"})}})
		if allow {
			s["httpHeaders"] = map[string]string{"Sforce-Duplicate-Rule-Header": "allowSave=true"}
		}
		return s
	}
	r := e.do("POST", "/composite", map[string]any{"compositeRequest": []any{dup("plain", false), dup("allowed", true)}})
	var got compositeAnswer
	mustJSON(t, r.body, &got)
	plain := got.CompositeResponse[0].Body.([]any)[0].(map[string]any)
	allowed := got.CompositeResponse[1].Body.([]any)[0].(map[string]any)
	if plain["success"] != false || allowed["success"] != true {
		t.Fatalf("without the header %v, with it %v", plain, allowed)
	}
}
