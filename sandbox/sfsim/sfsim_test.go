package sfsim

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const api = "/services/data/v62.0"

type env struct {
	t     *testing.T
	sim   *Server
	srv   *httptest.Server
	token string
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	opts.ClientID, opts.ClientSecret = "cid", "csecret"
	sim := New(opts)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	e := &env{t: t, sim: sim, srv: srv}
	status, body := e.tokenRequest(url.Values{"grant_type": {"client_credentials"}, "client_id": {"cid"}, "client_secret": {"csecret"}})
	if status != 200 {
		t.Fatalf("token: %d %s", status, body)
	}
	var tok map[string]any
	mustJSON(t, body, &tok)
	e.token = tok["access_token"].(string)
	return e
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
}

func (e *env) tokenRequest(form url.Values) (int, []byte) {
	e.t.Helper()
	resp, err := http.PostForm(e.srv.URL+"/services/oauth2/token", form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(method, path string, body any) result {
	e.t.Helper()
	return e.doToken(e.token, method, path, body)
}

func (e *env) doToken(token, method, path string, body any) result {
	e.t.Helper()
	return e.request(token, nil, method, path, body)
}

// doHeader is do with further request headers.
func (e *env) doHeader(h http.Header, method, path string, body any) result {
	e.t.Helper()
	return e.request(e.token, h, method, path, body)
}

func (e *env) request(token string, h http.Header, method, path string, body any) result {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	if !strings.HasPrefix(path, "/services/") {
		path = api + path
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, b}
}

// apiErr asserts an API error array and returns its first element.
func (r result) apiErr(t *testing.T, status int, code string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	var errs []map[string]any
	mustJSON(t, r.body, &errs)
	if len(errs) == 0 || errs[0]["errorCode"] != code {
		t.Fatalf("errors %s, want errorCode %s", r.body, code)
	}
	return errs[0]
}

func (r result) object(t *testing.T, status int) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	var m map[string]any
	mustJSON(t, r.body, &m)
	return m
}

func q(soql string) string { return "/query?q=" + url.QueryEscape(soql) }

var idRE = regexp.MustCompile(`^[0-9A-Za-z]{18}$`)

func TestClientCredentials(t *testing.T) {
	e := newEnv(t, Options{})
	status, body := e.tokenRequest(url.Values{"grant_type": {"client_credentials"}, "client_id": {"cid"}, "client_secret": {"csecret"}})
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	var tok map[string]any
	mustJSON(t, body, &tok)
	if _, ok := tok["expires_in"]; ok {
		t.Error("token response must not carry expires_in")
	}
	if tok["instance_url"] != e.srv.URL || tok["token_type"] != "Bearer" || tok["signature"] == "" {
		t.Errorf("token response %s", body)
	}
	if !regexp.MustCompile(`^[0-9]{13}$`).MatchString(tok["issued_at"].(string)) {
		t.Errorf("issued_at %v is not epoch ms", tok["issued_at"])
	}
	if !strings.HasPrefix(tok["id"].(string), e.srv.URL+"/id/") {
		t.Errorf("id %v", tok["id"])
	}

	for name, tc := range map[string]struct {
		form url.Values
		code string
	}{
		"wrong secret":   {url.Values{"grant_type": {"client_credentials"}, "client_id": {"cid"}, "client_secret": {"nope"}}, "invalid_client"},
		"wrong id":       {url.Values{"grant_type": {"client_credentials"}, "client_id": {"other"}, "client_secret": {"csecret"}}, "invalid_client"},
		"no grant":       {url.Values{"client_id": {"cid"}}, "unsupported_grant_type"},
		"password grant": {url.Values{"grant_type": {"password"}}, "unsupported_grant_type"},
	} {
		t.Run(name, func(t *testing.T) {
			status, body := e.tokenRequest(tc.form)
			var m map[string]string
			mustJSON(t, body, &m)
			if status != 400 || m["error"] != tc.code || m["error_description"] == "" {
				t.Fatalf("%d %s, want 400 %s", status, body, tc.code)
			}
		})
	}
	if got := e.sim.Stats().TokenRequests; got != 6 {
		t.Errorf("TokenRequests = %d, want 6", got)
	}
	if got := e.sim.Stats().APICalls; got != 0 {
		t.Errorf("token requests charged as API calls: %d", got)
	}
}

func signJWT(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestJWTBearer(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	e := newEnv(t, Options{JWTConsumerKey: "ckey", JWTUsername: "int@acme.test", JWTPublicKey: &key.PublicKey})
	good := func() map[string]any {
		return map[string]any{"iss": "ckey", "sub": "int@acme.test", "aud": "https://login.salesforce.com", "exp": time.Now().Add(3 * time.Minute).Unix()}
	}
	tests := []struct {
		name   string
		key    *rsa.PrivateKey
		change func(map[string]any)
		code   string // "" = success
	}{
		{"valid", key, func(map[string]any) {}, ""},
		{"test audience as array", key, func(c map[string]any) { c["aud"] = []string{"https://test.salesforce.com"} }, ""},
		{"bad audience", key, func(c map[string]any) { c["aud"] = "https://evil.example" }, "invalid_grant"},
		{"expired", key, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }, "invalid_grant"},
		{"no exp", key, func(c map[string]any) { delete(c, "exp") }, "invalid_grant"},
		{"wrong key", other, func(map[string]any) {}, "invalid_grant"},
		{"wrong issuer", key, func(c map[string]any) { c["iss"] = "other" }, "invalid_client"},
		{"wrong user", key, func(c map[string]any) { c["sub"] = "x@acme.test" }, "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.change(c)
			status, body := e.tokenRequest(url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {signJWT(t, tt.key, c)}})
			var m map[string]any
			mustJSON(t, body, &m)
			if tt.code == "" {
				if status != 200 || m["access_token"] == nil {
					t.Fatalf("%d %s", status, body)
				}
				r := e.doToken(m["access_token"].(string), "GET", "/limits", nil)
				if r.status != 200 {
					t.Fatalf("JWT token rejected: %d %s", r.status, r.body)
				}
				return
			}
			if status != 400 || m["error"] != tt.code {
				t.Fatalf("%d %s, want 400 %s", status, body, tt.code)
			}
		})
	}
	status, _ := e.tokenRequest(url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"not.a.jwt"}})
	if status != 400 {
		t.Errorf("garbage assertion: %d", status)
	}
	// The signature covers the claims: tampering after signing fails.
	parts := strings.Split(signJWT(t, key, good()), ".")
	c := good()
	c["sub"] = "int@acme.test "
	b, _ := json.Marshal(c)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	if status, _ := e.tokenRequest(url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {strings.Join(parts, ".")}}); status != 400 {
		t.Errorf("tampered assertion: %d", status)
	}
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t, Options{})
	if r := e.do("GET", "/limits", nil); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	e.sim.ExpireSessions()
	r := e.do("GET", "/limits", nil)
	if m := r.apiErr(t, 401, "INVALID_SESSION_ID"); m["message"] != "Session expired or invalid" {
		t.Errorf("message %v", m["message"])
	}
	if r.header.Get("Sforce-Limit-Info") != "" {
		t.Error("unauthenticated responses carry no usage")
	}
	e.doToken("", "GET", "/limits", nil).apiErr(t, 401, "INVALID_SESSION_ID")
	if got := e.sim.Stats().APICalls; got != 1 {
		t.Errorf("APICalls = %d, want 1 (rejected sessions are not charged)", got)
	}

	short := newEnv(t, Options{SessionTTL: 50 * time.Millisecond})
	if r := short.do("GET", "/limits", nil); r.status != 200 {
		t.Fatalf("fresh token: %d", r.status)
	}
	time.Sleep(80 * time.Millisecond)
	short.do("GET", "/limits", nil).apiErr(t, 401, "INVALID_SESSION_ID")
}

func TestDescribe(t *testing.T) {
	e := newEnv(t, Options{})
	type field struct {
		Name              string
		Type              string
		Length            int
		Createable        bool
		Updateable        bool
		Nillable          bool
		ExternalID        bool `json:"externalId"`
		Unique            bool
		DefaultedOnCreate bool
	}
	get := func(obj string) (map[string]field, map[string]any) {
		r := e.do("GET", "/sobjects/"+obj+"/describe", nil)
		m := r.object(t, 200)
		var d struct{ Fields []field }
		mustJSON(t, r.body, &d)
		out := map[string]field{}
		for _, f := range d.Fields {
			out[f.Name] = f
		}
		return out, m
	}
	c, m := get("Contact")
	if m["name"] != "Contact" || m["keyPrefix"] != "003" {
		t.Errorf("describe header %v %v", m["name"], m["keyPrefix"])
	}
	want := map[string]field{
		"LastName":           {Name: "LastName", Type: "string", Length: 80, Createable: true, Updateable: true},
		"FirstName":          {Name: "FirstName", Type: "string", Length: 40, Createable: true, Updateable: true, Nillable: true},
		"Email":              {Name: "Email", Type: "email", Length: 80, Createable: true, Updateable: true, Nillable: true},
		"Title":              {Name: "Title", Type: "string", Length: 128, Createable: true, Updateable: true, Nillable: true},
		"AwardForce_Slug__c": {Name: "AwardForce_Slug__c", Type: "string", Length: 8, Createable: true, Updateable: true, Nillable: true, ExternalID: true, Unique: true},
		"CreatedDate":        {Name: "CreatedDate", Type: "datetime", DefaultedOnCreate: true},
		"Id":                 {Name: "Id", Type: "id", Length: 18, DefaultedOnCreate: true},
	}
	for name, w := range want {
		if c[name] != w {
			t.Errorf("Contact.%s = %+v, want %+v", name, c[name], w)
		}
	}
	for _, name := range []string{"Phone", "MobilePhone", "Department", "LeadSource", "Description", "AccountId", "LastModifiedDate", "SystemModstamp"} {
		if _, ok := c[name]; !ok {
			t.Errorf("Contact lacks %s", name)
		}
	}
	l, m := get("lead") // object names are case-insensitive
	if m["keyPrefix"] != "00Q" || l["Company"].Nillable || l["Company"].Length != 255 || !l["Status"].DefaultedOnCreate {
		t.Errorf("Lead describe: %v %+v %+v", m["keyPrefix"], l["Company"], l["Status"])
	}
	p, m := get("Award_Participant__c")
	if m["custom"] != true || !strings.HasPrefix(m["keyPrefix"].(string), "a0") || !p["AwardForce_Slug__c"].ExternalID || p["Email__c"].Type != "email" {
		t.Errorf("participant describe %v %+v", m, p)
	}
	e.do("GET", "/sobjects/Account__x/describe", nil).apiErr(t, 404, "NOT_FOUND")
}

func TestCreate(t *testing.T) {
	e := newEnv(t, Options{})
	r := e.do("POST", "/sobjects/Contact", map[string]any{"LastName": "Lovelace", "firstname": "Ada", "Email": "Ada@Example.com", "AwardForce_Slug__c": "AbCd1234"})
	m := r.object(t, 201)
	id, _ := m["id"].(string)
	if !idRE.MatchString(id) || !strings.HasPrefix(id, "003") || m["success"] != true || fmt.Sprint(m["errors"]) != "[]" {
		t.Fatalf("create response %s", r.body)
	}
	rec, ok := e.sim.Record("Contact", id)
	if !ok || rec["FirstName"] != "Ada" || rec["CreatedDate"] == nil {
		t.Fatalf("stored %v", rec)
	}
	if _, ok := e.sim.Record("Contact", id[:15]); !ok {
		t.Error("15-character ids must resolve")
	}

	lead := e.do("POST", "/sobjects/Lead", map[string]any{"LastName": "Hopper", "Company": "Navy"}).object(t, 201)
	if rec, _ := e.sim.Record("Lead", lead["id"].(string)); rec["Status"] != "Open - Not Contacted" || !strings.HasPrefix(lead["id"].(string), "00Q") {
		t.Errorf("lead %v", rec)
	}
	p := e.do("POST", "/sobjects/Award_Participant__c", map[string]any{"Email__c": "p@example.com"}).object(t, 201)
	if rec, _ := e.sim.Record("Award_Participant__c", p["id"].(string)); rec["Name"] != p["id"] {
		t.Errorf("custom object Name should default to the Id: %v", rec)
	}

	tests := []struct {
		name   string
		object string
		body   any
		code   string
		fields []string
	}{
		{"missing LastName", "Contact", map[string]any{"FirstName": "A"}, "REQUIRED_FIELD_MISSING", []string{"LastName"}},
		{"empty LastName is null", "Contact", map[string]any{"LastName": ""}, "REQUIRED_FIELD_MISSING", []string{"LastName"}},
		{"lead missing both", "Lead", map[string]any{"Email": "x@y.io"}, "REQUIRED_FIELD_MISSING", []string{"LastName", "Company"}},
		{"FirstName too long", "Contact", map[string]any{"LastName": "x", "FirstName": strings.Repeat("é", 41)}, "STRING_TOO_LONG", []string{"FirstName"}},
		{"slug too long", "Contact", map[string]any{"LastName": "x", "AwardForce_Slug__c": "123456789"}, "STRING_TOO_LONG", []string{"AwardForce_Slug__c"}},
		{"bad email", "Contact", map[string]any{"LastName": "x", "Email": "not an email"}, "INVALID_EMAIL_ADDRESS", []string{"Email"}},
		{"email without domain dot", "Contact", map[string]any{"LastName": "x", "Email": "a@b"}, "INVALID_EMAIL_ADDRESS", []string{"Email"}},
		{"unknown field", "Contact", map[string]any{"LastName": "x", "Nickname": "y"}, "INVALID_FIELD", []string{"Nickname"}},
		{"read-only field", "Contact", map[string]any{"LastName": "x", "CreatedDate": "2020-01-01T00:00:00.000+0000"}, "INVALID_FIELD_FOR_INSERT_UPDATE", []string{"CreatedDate"}},
		{"Id on insert", "Contact", map[string]any{"LastName": "x", "Id": id}, "INVALID_FIELD", []string{"Id"}},
		{"unique slug", "Contact", map[string]any{"LastName": "x", "AwardForce_Slug__c": "AbCd1234"}, "DUPLICATE_VALUE", []string{}},
		{"bad reference", "Contact", map[string]any{"LastName": "x", "AccountId": "nope"}, "MALFORMED_ID", []string{"AccountId"}},
		{"not JSON", "Contact", "{", "JSON_PARSER_ERROR", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.sim.Records(tt.object))
			m := e.do("POST", "/sobjects/"+tt.object, tt.body).apiErr(t, 400, tt.code)
			if tt.fields != nil && fmt.Sprint(m["fields"]) != fmt.Sprint(tt.fields) {
				t.Errorf("fields %v, want %v", m["fields"], tt.fields)
			}
			if m["message"] == "" {
				t.Error("empty message")
			}
			if after := len(e.sim.Records(tt.object)); after != before {
				t.Errorf("a failed create stored a record")
			}
		})
	}
	e.do("POST", "/sobjects/Nope__c", map[string]any{"Name": "x"}).apiErr(t, 404, "NOT_FOUND")
	// The slug is unique case-sensitively: another case is another value.
	e.do("POST", "/sobjects/Contact", map[string]any{"LastName": "x", "AwardForce_Slug__c": "abcd1234"}).object(t, 201)
}

func TestRecordLifecycle(t *testing.T) {
	e := newEnv(t, Options{})
	id := e.sim.Insert("Contact", map[string]any{"LastName": "Curie", "Email": "m@example.com"})
	got := e.do("GET", "/sobjects/Contact/"+id, nil).object(t, 200)
	attrs := got["attributes"].(map[string]any)
	if got["LastName"] != "Curie" || attrs["type"] != "Contact" || attrs["url"] != api+"/sobjects/Contact/"+id {
		t.Errorf("get %v", got)
	}
	if r := e.do("PATCH", "/sobjects/Contact/"+id, map[string]any{"Title": "Dr", "Email": nil}); r.status != 204 || len(r.body) != 0 {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	rec, _ := e.sim.Record("Contact", id)
	if _, has := rec["Email"]; rec["Title"] != "Dr" || has {
		t.Errorf("after update %v", rec)
	}
	e.do("PATCH", "/sobjects/Contact/"+id, map[string]any{"LastName": nil}).apiErr(t, 400, "REQUIRED_FIELD_MISSING")
	e.do("PATCH", "/sobjects/Contact/"+id, map[string]any{"SystemModstamp": "x"}).apiErr(t, 400, "INVALID_FIELD_FOR_INSERT_UPDATE")
	e.do("PATCH", "/sobjects/Contact/not-an-id", map[string]any{}).apiErr(t, 400, "MALFORMED_ID")
	e.do("PATCH", "/sobjects/Contact/003000000000000BBB", map[string]any{}).apiErr(t, 400, "MALFORMED_ID") // bad checksum
	e.do("GET", "/sobjects/Contact/"+makeID("003", 999), nil).apiErr(t, 404, "NOT_FOUND")
	if r := e.do("DELETE", "/sobjects/Contact/"+id, nil); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	e.do("GET", "/sobjects/Contact/"+id, nil).apiErr(t, 404, "ENTITY_IS_DELETED")
	if n := e.sim.Stats().Writes; n != 2 {
		t.Errorf("Writes = %d, want 2 (update, delete)", n)
	}
	if r := e.do("PUT", "/sobjects/Contact/"+id, nil); r.status != 405 {
		t.Errorf("PUT: %d", r.status)
	}
}

func TestUpsert(t *testing.T) {
	e := newEnv(t, Options{})
	path := "/sobjects/Contact/AwardForce_Slug__c/"
	r := e.do("PATCH", path+"slug-1", map[string]any{"LastName": "New"})
	m := r.object(t, 201)
	id := m["id"].(string)
	if m["created"] != true || m["success"] != true {
		t.Fatalf("create %s", r.body)
	}
	if rec, _ := e.sim.Record("Contact", id); rec["AwardForce_Slug__c"] != "slug-1" {
		t.Errorf("external id not stored: %v", rec)
	}
	m = e.do("PATCH", path+"slug-1", map[string]any{"Title": "Updated"}).object(t, 200)
	if m["created"] != false || m["id"] != id {
		t.Fatalf("update %v", m)
	}
	if rec, _ := e.sim.Record("Contact", id); rec["Title"] != "Updated" {
		t.Errorf("not updated: %v", rec)
	}
	// The slug is case-sensitive: another case is another record.
	if m = e.do("PATCH", path+"SLUG-1", map[string]any{"LastName": "Other"}).object(t, 201); m["id"] == id {
		t.Fatalf("SLUG-1 matched slug-1: %v", m)
	}
	// Values are path segments: an escaped slash is part of the value.
	m = e.do("PATCH", path+url.PathEscape("a/b"), map[string]any{"LastName": "Slash"}).object(t, 201)
	if rec, _ := e.sim.Record("Contact", m["id"].(string)); rec["AwardForce_Slug__c"] != "a/b" {
		t.Errorf("slash value stored as %v", rec["AwardForce_Slug__c"])
	}

	// Several matches: 300 with the candidates, nothing written.
	a := e.sim.Insert("Contact", map[string]any{"LastName": "A", "AwardForce_Id__c": "42"})
	b := e.sim.Insert("Contact", map[string]any{"LastName": "B", "AwardForce_Id__c": "42"})
	e.sim.ResetStats()
	r = e.do("PATCH", "/sobjects/Contact/AwardForce_Id__c/42", map[string]any{"Title": "X"})
	if r.status != 300 {
		t.Fatalf("want 300, got %d %s", r.status, r.body)
	}
	var urls []string
	mustJSON(t, r.body, &urls)
	if len(urls) != 2 || !strings.HasSuffix(urls[0], a) || !strings.HasSuffix(urls[1], b) {
		t.Errorf("300 body %v", urls)
	}
	if rec, _ := e.sim.Record("Contact", a); rec["Title"] != nil || e.sim.Stats().Writes != 0 {
		t.Error("300 must write nothing")
	}

	// Not an external id: 404 NOT_FOUND.
	e.do("PATCH", "/sobjects/Contact/Email/a@b.co", map[string]any{"LastName": "x"}).apiErr(t, 404, "NOT_FOUND")
	e.do("PATCH", "/sobjects/Contact/NoSuch__c/v", map[string]any{"LastName": "x"}).apiErr(t, 404, "NOT_FOUND")

	// updateOnly never creates.
	before := len(e.sim.Records("Contact"))
	e.do("PATCH", path+"nomatch?updateOnly=true", map[string]any{"LastName": "x"}).apiErr(t, 404, "NOT_FOUND")
	if len(e.sim.Records("Contact")) != before {
		t.Error("updateOnly created a record")
	}
	e.do("PATCH", path+"slug-1?updateOnly=true", map[string]any{"Title": "Again"}).object(t, 200)

	// Validation applies to the insert path.
	e.do("PATCH", path+"slug-2", map[string]any{"FirstName": "NoLast"}).apiErr(t, 400, "REQUIRED_FIELD_MISSING")
	e.do("PATCH", path+"too-long-value", map[string]any{"LastName": "x"}).apiErr(t, 400, "STRING_TOO_LONG")
}

func TestCollections(t *testing.T) {
	e := newEnv(t, Options{DuplicateRules: []DuplicateRule{{Object: "Contact", Action: DuplicateBlock}}})
	e.sim.Insert("Contact", map[string]any{"LastName": "Existing", "Email": "taken@example.com"})
	rec := func(typ string, fields map[string]any) map[string]any {
		m := map[string]any{"attributes": map[string]any{"type": typ}}
		for k, v := range fields {
			m[k] = v
		}
		return m
	}
	body := map[string]any{"allOrNone": false, "records": []any{
		rec("Contact", map[string]any{"LastName": "One"}),
		rec("Contact", map[string]any{"LastName": "Two", "Email": "TAKEN@example.com"}),
		rec("Lead", map[string]any{"LastName": "Three", "Company": "C"}),
		rec("Contact", map[string]any{"FirstName": "NoLast"}),
	}}
	r := e.do("POST", "/composite/sobjects", body)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), "errorCode") {
		t.Errorf("per-record errors must use statusCode: %s", r.body)
	}
	var res []struct {
		ID      string
		Success bool
		Errors  []map[string]any
	}
	mustJSON(t, r.body, &res)
	if len(res) != 4 || !res[0].Success || res[1].Success || !res[2].Success || res[3].Success {
		t.Fatalf("results %s", r.body)
	}
	if !strings.HasPrefix(res[0].ID, "003") || !strings.HasPrefix(res[2].ID, "00Q") || res[1].ID != "" {
		t.Errorf("ids out of order: %s", r.body)
	}
	if res[1].Errors[0]["statusCode"] != "DUPLICATES_DETECTED" || res[3].Errors[0]["statusCode"] != "REQUIRED_FIELD_MISSING" {
		t.Errorf("errors %s", r.body)
	}
	if st := e.sim.Stats(); st.Writes != 2 || st.ByRoute["POST /composite/sobjects"] != 1 || st.APICalls != 1 {
		t.Errorf("stats %+v", st)
	}

	// allOrNone: one failure rolls everything back.
	before := len(e.sim.Records("Contact"))
	body["allOrNone"] = true
	r = e.do("POST", "/composite/sobjects", body)
	mustJSON(t, r.body, &res)
	if len(e.sim.Records("Contact")) != before || len(res) != 4 {
		t.Fatalf("allOrNone stored records: %s", r.body)
	}
	for i, want := range []string{"ALL_OR_NONE_OPERATION_ROLLED_BACK", "DUPLICATES_DETECTED", "ALL_OR_NONE_OPERATION_ROLLED_BACK", "REQUIRED_FIELD_MISSING"} {
		if res[i].Success || res[i].Errors[0]["statusCode"] != want {
			t.Errorf("record %d: %+v, want %s", i, res[i], want)
		}
	}

	// More than 200 records: 400, nothing written.
	var many []any
	for i := 0; i < 201; i++ {
		many = append(many, rec("Contact", map[string]any{"LastName": fmt.Sprint(i)}))
	}
	before = len(e.sim.Records("Contact"))
	e.do("POST", "/composite/sobjects", map[string]any{"records": many}).apiErr(t, 400, "EXCEEDED_ID_LIMIT")
	if len(e.sim.Records("Contact")) != before {
		t.Error("oversized collection wrote records")
	}
	if r := e.do("POST", "/composite/sobjects", map[string]any{"records": many[:200]}); r.status != 200 {
		t.Errorf("200 records must be accepted: %d", r.status)
	}

	// Update by id.
	id := e.sim.Insert("Contact", map[string]any{"LastName": "U"})
	r = e.do("PATCH", "/composite/sobjects", map[string]any{"records": []any{
		rec("Contact", map[string]any{"Id": id, "Title": "T"}),
		rec("Contact", map[string]any{"Id": makeID("003", 99999), "Title": "T"}),
		rec("Contact", map[string]any{"Title": "no id"}),
	}})
	mustJSON(t, r.body, &res)
	if !res[0].Success || res[1].Success || res[2].Success || res[2].Errors[0]["statusCode"] != "MISSING_ARGUMENT" {
		t.Fatalf("update results %s", r.body)
	}
	if got, _ := e.sim.Record("Contact", id); got["Title"] != "T" {
		t.Errorf("update not applied: %v", got)
	}
}

func TestUpsertCollection(t *testing.T) {
	e := newEnv(t, Options{})
	existing := e.sim.Insert("Contact", map[string]any{"LastName": "Old", "AwardForce_Slug__c": "s1"})
	e.sim.Insert("Contact", map[string]any{"LastName": "A", "AwardForce_Id__c": "dup"})
	e.sim.Insert("Contact", map[string]any{"LastName": "B", "AwardForce_Id__c": "dup"})
	rec := func(fields map[string]any) map[string]any {
		fields["attributes"] = map[string]any{"type": "Contact"}
		return fields
	}
	r := e.do("PATCH", "/composite/sobjects/Contact/AwardForce_Slug__c", map[string]any{"allOrNone": false, "records": []any{
		rec(map[string]any{"AwardForce_Slug__c": "s1", "Title": "Updated"}),
		rec(map[string]any{"AwardForce_Slug__c": "s2", "LastName": "New"}),
		rec(map[string]any{"AwardForce_Slug__c": "s3"}),
		rec(map[string]any{"LastName": "No key"}),
		rec(map[string]any{"AwardForce_Slug__c": "s4", "LastName": "Twice"}),
		rec(map[string]any{"AwardForce_Slug__c": "s4", "LastName": "Twice"}),
	}})
	var res []struct {
		ID      string
		Success bool
		Created bool
		Errors  []map[string]any
	}
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	mustJSON(t, r.body, &res)
	if len(res) != 6 {
		t.Fatalf("%s", r.body)
	}
	if !res[0].Success || res[0].Created || res[0].ID != existing {
		t.Errorf("update result %+v", res[0])
	}
	if !res[1].Success || !res[1].Created {
		t.Errorf("create result %+v", res[1])
	}
	if res[2].Success || res[2].Errors[0]["statusCode"] != "REQUIRED_FIELD_MISSING" {
		t.Errorf("invalid insert %+v", res[2])
	}
	if res[3].Success || res[4].Success || res[5].Success || res[4].Errors[0]["statusCode"] != "DUPLICATE_EXTERNAL_ID" {
		t.Errorf("missing/duplicate keys %s", r.body)
	}
	r = e.do("PATCH", "/composite/sobjects/Contact/AwardForce_Id__c", map[string]any{"records": []any{
		rec(map[string]any{"AwardForce_Id__c": "dup", "Title": "x"}),
	}})
	mustJSON(t, r.body, &res)
	if res[0].Success || res[0].Errors[0]["statusCode"] != "DUPLICATE_EXTERNAL_ID" {
		t.Errorf("several matches %s", r.body)
	}
	e.do("PATCH", "/composite/sobjects/Contact/Email", map[string]any{"records": []any{}}).apiErr(t, 404, "NOT_FOUND")
}

func TestQuery(t *testing.T) {
	e := newEnv(t, Options{})
	e.sim.Insert("Contact", map[string]any{"LastName": "Beta", "Email": "b@example.com", "Title": "CEO"})
	e.sim.Insert("Contact", map[string]any{"LastName": "alpha", "Email": "A@Example.com"})
	e.sim.Insert("Contact", map[string]any{"LastName": "Gamma", "Email": "g@example.com", "Title": "CTO"})
	names := func(soql string) string {
		t.Helper()
		m := e.do("GET", q(soql), nil).object(t, 200)
		var out []string
		for _, r := range m["records"].([]any) {
			out = append(out, fmt.Sprint(r.(map[string]any)["LastName"]))
		}
		return strings.Join(out, ",")
	}
	for soql, want := range map[string]string{
		"SELECT LastName FROM Contact":                                                               "Beta,alpha,Gamma",
		"SELECT LastName FROM Contact WHERE Email = 'a@example.COM'":                                 "alpha",
		"SELECT LastName FROM Contact WHERE email IN ('B@EXAMPLE.COM', 'g@example.com')":             "Beta,Gamma",
		"SELECT LastName FROM Contact WHERE Title = null":                                            "alpha",
		"SELECT LastName FROM Contact WHERE Title != null":                                           "Beta,Gamma",
		"SELECT LastName FROM Contact WHERE Title != 'ceo'":                                          "alpha,Gamma",
		"SELECT LastName FROM Contact WHERE Title NOT IN ('CEO', null)":                              "Gamma",
		"SELECT LastName FROM Contact WHERE (Title = 'CEO' OR Title = 'CTO') AND LastName = 'gamma'": "Gamma",
		"SELECT LastName FROM Contact ORDER BY LastName":                                             "alpha,Beta,Gamma",
		"SELECT LastName FROM Contact ORDER BY Title DESC":                                           "Gamma,Beta,alpha",
		"SELECT LastName FROM Contact ORDER BY Title":                                                "alpha,Beta,Gamma",
		"SELECT LastName FROM Contact ORDER BY LastName DESC LIMIT 2":                                "Gamma,Beta",
		"SELECT LastName FROM Contact WHERE Email = '%'":                                             "",
	} {
		if got := names(soql); got != want {
			t.Errorf("%s\n got %q, want %q", soql, got, want)
		}
	}
	m := e.do("GET", q("SELECT Id, lastname FROM contact LIMIT 1"), nil).object(t, 200)
	first := m["records"].([]any)[0].(map[string]any)
	attrs := first["attributes"].(map[string]any)
	if attrs["type"] != "Contact" || !strings.HasPrefix(attrs["url"].(string), api+"/sobjects/Contact/003") || first["LastName"] != "Beta" {
		t.Errorf("record shape %v (canonical field names expected)", first)
	}
	if _, has := first["Email"]; has {
		t.Error("unselected fields must not be returned")
	}
	if m["totalSize"] != float64(1) || m["done"] != true {
		t.Errorf("envelope %v", m)
	}

	e.do("GET", q("SELECT Nickname FROM Contact"), nil).apiErr(t, 400, "INVALID_FIELD")
	e.do("GET", q("SELECT Id FROM Contact WHERE Nickname = 'x'"), nil).apiErr(t, 400, "INVALID_FIELD")
	e.do("GET", q("SELECT Id FROM Contact ORDER BY Nickname"), nil).apiErr(t, 400, "INVALID_FIELD")
	e.do("GET", q("SELECT Id FROM Contacts"), nil).apiErr(t, 400, "INVALID_TYPE")
	e.do("GET", q(`SELECT Id FROM Contact WHERE Email = 'a\x'`), nil).apiErr(t, 400, "MALFORMED_QUERY")
	e.do("GET", q("SELECT Id FROM Contact WHERE Email = 'a' OR"), nil).apiErr(t, 400, "MALFORMED_QUERY")
	e.do("GET", q("SELECT Id FROM Contact WHERE Id = 'nope'"), nil).apiErr(t, 400, "INVALID_QUERY_FILTER_OPERATOR")
	e.do("GET", q("SELECT Id FROM Contact WHERE Email = 5"), nil).apiErr(t, 400, "INVALID_QUERY_FILTER_OPERATOR")

	// Ids compare in 15- and 18-character form.
	id := e.sim.Insert("Contact", map[string]any{"LastName": "Delta"})
	if got := names("SELECT LastName FROM Contact WHERE Id IN ('" + id[:15] + "')"); got != "Delta" {
		t.Errorf("15-char id: %q", got)
	}

	// URIs over 16,384 bytes are refused before anything else.
	long := "SELECT Id FROM Contact WHERE Email IN ('" + strings.Repeat("x", 16400) + "')"
	if r := e.do("GET", q(long), nil); r.status != 414 {
		t.Errorf("long URI: %d", r.status)
	}
}

func TestQueryPaging(t *testing.T) {
	e := newEnv(t, Options{QueryPageSize: 3})
	for i := 0; i < 8; i++ {
		e.sim.Insert("Contact", map[string]any{"LastName": fmt.Sprintf("n%d", i)})
	}
	e.sim.ResetStats()
	var got []string
	path := q("SELECT LastName FROM Contact")
	pages := 0
	for {
		m := e.do("GET", path, nil).object(t, 200)
		pages++
		if m["totalSize"] != float64(8) {
			t.Fatalf("totalSize %v", m["totalSize"])
		}
		for _, r := range m["records"].([]any) {
			got = append(got, r.(map[string]any)["LastName"].(string))
		}
		if m["done"] == true {
			if _, has := m["nextRecordsUrl"]; has {
				t.Error("done page carries nextRecordsUrl")
			}
			break
		}
		next, _ := m["nextRecordsUrl"].(string)
		if !strings.HasPrefix(next, api+"/query/") || pages > 5 {
			t.Fatalf("nextRecordsUrl %q", next)
		}
		path = next
	}
	if pages != 3 || strings.Join(got, ",") != "n0,n1,n2,n3,n4,n5,n6,n7" {
		t.Fatalf("pages %d records %v", pages, got)
	}
	if st := e.sim.Stats(); st.Queries != 3 || st.APICalls != 3 || st.ByRoute["GET /query/{locator}"] != 2 {
		t.Errorf("stats %+v", st)
	}
	e.do("GET", api+"/query/01gbogus-3", nil).apiErr(t, 400, "INVALID_QUERY_LOCATOR")
}

func TestUsageAndDailyLimit(t *testing.T) {
	e := newEnv(t, Options{DailyLimit: 3})
	e.sim.Insert("Contact", map[string]any{"LastName": "seed"}) // not charged
	for i := 1; i <= 2; i++ {
		r := e.do("GET", q("SELECT Id FROM Contact"), nil)
		if got, want := r.header.Get("Sforce-Limit-Info"), fmt.Sprintf("api-usage=%d/3", i); got != want {
			t.Errorf("call %d: header %q, want %q", i, got, want)
		}
	}
	lim := e.do("GET", "/limits", nil)
	m := lim.object(t, 200)
	if d := m["DailyApiRequests"].(map[string]any); d["Max"] != float64(3) || d["Remaining"] != float64(0) {
		t.Errorf("limits %v", m)
	}
	r := e.do("GET", "/limits", nil)
	if msg := r.apiErr(t, 403, "REQUEST_LIMIT_EXCEEDED")["message"]; msg != "TotalRequests Limit exceeded." {
		t.Errorf("message %v", msg)
	}
	if r.header.Get("Sforce-Limit-Info") != "api-usage=3/3" {
		t.Errorf("header on refusal %q", r.header.Get("Sforce-Limit-Info"))
	}
	if st := e.sim.Stats(); st.APICalls != 3 {
		t.Errorf("APICalls = %d, want 3", st.APICalls)
	}
}

func TestInjectFaults(t *testing.T) {
	e := newEnv(t, Options{})
	e.sim.InjectFaults(2, 503, "SERVER_UNAVAILABLE", "Server unavailable")
	e.sim.InjectFaults(1, 403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentRequests (concurrent API requests) Limit exceeded.")
	e.do("GET", "/limits", nil).apiErr(t, 503, "SERVER_UNAVAILABLE")
	e.do("POST", "/sobjects/Contact", map[string]any{"LastName": "x"}).apiErr(t, 503, "SERVER_UNAVAILABLE")
	e.do("GET", "/limits", nil).apiErr(t, 403, "REQUEST_LIMIT_EXCEEDED")
	if r := e.do("GET", "/limits", nil); r.status != 200 {
		t.Fatalf("after faults: %d", r.status)
	}
	if n := len(e.sim.Records("Contact")); n != 0 {
		t.Errorf("a faulted create wrote %d records", n)
	}
	if st := e.sim.Stats(); st.APICalls != 4 {
		t.Errorf("APICalls = %d, want 4", st.APICalls)
	}
}

func TestConcurrentWrites(t *testing.T) {
	e := newEnv(t, Options{})
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.do("PATCH", "/sobjects/Contact/AwardForce_Slug__c/k"+fmt.Sprint(i%10), map[string]any{"LastName": "x"})
			if r.status != 200 && r.status != 201 {
				t.Errorf("upsert: %d %s", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	if n := len(e.sim.Records("Contact")); n != 10 {
		t.Errorf("%d contacts, want 10: upserts raced", n)
	}
}

func TestIDs(t *testing.T) {
	id := makeID("003", 123456789)
	full, ok := normalizeID(id[:15])
	if !ok || full != id || !idRE.MatchString(id) {
		t.Fatalf("%s %s %v", id, full, ok)
	}
	// A known real-world pair: the suffix encodes the case of the 15 chars.
	if got, _ := normalizeID("001A000000KDEi0"); got != "001A000000KDEi0IAH" {
		t.Errorf("suffix of 001A000000KDEi0 = %s", got)
	}
	if _, ok := normalizeID(id[:15] + "ZZZ"); ok {
		t.Error("bad suffix accepted")
	}
}
