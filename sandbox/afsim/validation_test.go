package afsim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// overHTTP sends one request to srv over a real connection, with the vendor Accept
// header and the read/write key, and decodes the answer.
func overHTTP(t *testing.T, srv *httptest.Server, method, path string, body any) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		rd = strings.NewReader(string(raw))
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	require.NoError(t, err)
	req.Header.Set("Accept", AcceptHeader)
	req.Header.Set("x-api-key", rwKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := reply{code: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if strings.TrimSpace(out.raw) != "" {
		require.NoError(t, json.Unmarshal(raw, &out.body), "body: %s", out.raw)
	}
	return out
}

// assertRefused checks a 422 in the API's shape whose errors name exactly field.
func assertRefused(t *testing.T, r reply, field string) {
	t.Helper()
	assertError(t, r, http.StatusUnprocessableEntity)
	errs, ok := r.body["errors"].(map[string]any)
	require.True(t, ok, "a 422 carries errors: %s", r.raw)
	msgs, ok := errs[field].([]any)
	require.True(t, ok, "errors.%s must be a list of messages: %s", field, r.raw)
	assert.NotEmpty(t, msgs)
	assert.Len(t, errs, 1, "only %s is at fault: %s", field, r.raw)
}

// validationServer serves a simulator with a drop-down and a radio field and two
// users, Ada (email and mobile) and Mo (mobile only), over real HTTP.
func validationServer(t *testing.T) (*Server, *httptest.Server, User, User) {
	t.Helper()
	s := newServer(t, Options{})
	s.AddField(Field{Slug: "orgField", Type: "text", Label: "Organisation"})
	s.AddField(Field{Slug: "Category", Type: FieldTypeDropDown, Label: "Category", Options: []string{"Film", "Research", "Design"}})
	s.AddField(Field{Slug: "Attendin", Type: FieldTypeRadio, Label: "Attending", Options: []string{"Yes", "No"}})
	ada := s.AddUser(User{Email: "Ada@Example.com", FirstName: "Ada", LastName: "Lovelace", Mobile: "+447700900001",
		Fields: map[string]string{"Category": "Film"}})
	mo := s.AddUser(User{Mobile: "+14155552671", FirstName: "Mo", LastName: "Bile"})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv, ada, mo
}

func TestUpdateUserRefusesWhatAwardForceRefuses(t *testing.T) {
	s, srv, ada, mo := validationServer(t)
	tests := []struct {
		name  string
		slug  string
		body  map[string]any
		field string
	}{
		{"mobile with spaces", ada.Slug, map[string]any{"mobile": "+44 7700 900123"}, "mobile"},
		{"mobile with dashes", ada.Slug, map[string]any{"mobile": "+1-415-555-2671"}, "mobile"},
		{"mobile with brackets", ada.Slug, map[string]any{"mobile": "+1(415)5552671"}, "mobile"},
		{"national mobile", ada.Slug, map[string]any{"mobile": "(415) 555-2671"}, "mobile"},
		{"mobile without plus", ada.Slug, map[string]any{"mobile": "14155552671"}, "mobile"},
		{"mobile starting with 0", ada.Slug, map[string]any{"mobile": "+04155552671"}, "mobile"},
		{"mobile of 7 digits", ada.Slug, map[string]any{"mobile": "+4477009"}, "mobile"},
		{"mobile of 16 digits", ada.Slug, map[string]any{"mobile": "+4477009001234567"}, "mobile"},
		{"mobile with letters", ada.Slug, map[string]any{"mobile": "+44770090012x"}, "mobile"},
		{"mobile with a trailing newline", ada.Slug, map[string]any{"mobile": "+447700900123\n"}, "mobile"},
		{"mobile another user holds", ada.Slug, map[string]any{"mobile": mo.Mobile}, "mobile"},
		{"email another user holds, other case", mo.Slug, map[string]any{"email": "ada@EXAMPLE.com"}, "email"},
		{"clearing the mobile of a mobile-only user", mo.Slug, map[string]any{"mobile": ""}, "mobile"},
		{"drop-down value not an option", ada.Slug, map[string]any{"user_fields": map[string]any{"Category": "Poetry"}}, "user_fields.Category"},
		{"drop-down option in another case", ada.Slug, map[string]any{"user_fields": map[string]any{"Category": "film"}}, "user_fields.Category"},
		{"drop-down option with spaces", ada.Slug, map[string]any{"user_fields": map[string]any{"Category": " Film "}}, "user_fields.Category"},
		{"radio value not an option", mo.Slug, map[string]any{"user_fields": map[string]any{"Attendin": "Maybe"}}, "user_fields.Attendin"},
		{"radio value as a boolean", mo.Slug, map[string]any{"user_fields": map[string]any{"Attendin": true}}, "user_fields.Attendin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := s.User(tt.slug)
			r := overHTTP(t, srv, "PUT", "/user/"+tt.slug, tt.body)
			assertRefused(t, r, tt.field)
			after, _ := s.User(tt.slug)
			assert.Equal(t, before, after, "a refused write changes nothing")
		})
	}
	assert.Zero(t, s.Stats().Writes)
}

func TestUpdateUserAcceptsValidValues(t *testing.T) {
	s, srv, ada, mo := validationServer(t)
	tests := []struct {
		name string
		slug string
		body map[string]any
		want func(t *testing.T, u User)
	}{
		{"E.164 mobile", ada.Slug, map[string]any{"mobile": "+61491570006"}, func(t *testing.T, u User) {
			assert.Equal(t, "+61491570006", u.Mobile)
		}},
		{"15 digits", mo.Slug, map[string]any{"mobile": "+123456789012345"}, func(t *testing.T, u User) {
			assert.Equal(t, "+123456789012345", u.Mobile)
		}},
		{"8 digits", ada.Slug, map[string]any{"mobile": "+12345678"}, func(t *testing.T, u User) {
			assert.Equal(t, "+12345678", u.Mobile)
		}},
		{"the user's own mobile and email again", ada.Slug, map[string]any{"mobile": "+12345678", "email": "ada@example.com"}, func(t *testing.T, u User) {
			assert.Equal(t, "ada@example.com", u.Email)
		}},
		{"clearing the mobile of a user with email", ada.Slug, map[string]any{"mobile": ""}, func(t *testing.T, u User) {
			assert.Equal(t, "", u.Mobile)
		}},
		{"a mobile freed by another user", mo.Slug, map[string]any{"mobile": "+447700900001"}, func(t *testing.T, u User) {
			assert.Equal(t, "+447700900001", u.Mobile, "Ada gave hers up above")
		}},
		{"options, exactly", ada.Slug, map[string]any{"user_fields": map[string]any{"Category": "Research", "Attendin": "No", "orgField": "anything"}}, func(t *testing.T, u User) {
			assert.Equal(t, map[string]string{"Category": "Research", "Attendin": "No", "orgField": "anything"}, u.Fields)
		}},
		{"clearing a drop-down", ada.Slug, map[string]any{"user_fields": map[string]any{"Category": ""}}, func(t *testing.T, u User) {
			assert.Equal(t, "", u.Fields["Category"])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := overHTTP(t, srv, "PUT", "/user/"+tt.slug, tt.body)
			require.Equal(t, http.StatusOK, r.code, r.raw)
			got, _ := s.User(tt.slug)
			tt.want(t, got)
		})
	}
}

func TestCreateUserRefusesWhatAwardForceRefuses(t *testing.T) {
	s, srv, ada, _ := validationServer(t)
	base := func(extra map[string]any) map[string]any {
		m := map[string]any{"first_name": "New", "last_name": "Person", "password": "s3cret-pass"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"mobile not E.164", base(map[string]any{"mobile": "+44 7700 900999"}), "mobile"},
		{"mobile taken", base(map[string]any{"mobile": ada.Mobile}), "mobile"},
		{"email taken, other case", base(map[string]any{"email": "ADA@example.com"}), "email"},
		{"drop-down value not an option", base(map[string]any{"email": "new@example.com", "user_fields": map[string]any{"Category": "Poetry"}}), "user_fields.Category"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := overHTTP(t, srv, "POST", "/user", tt.body)
			assertRefused(t, r, tt.field)
			assert.Empty(t, r.header.Get("Location"))
		})
	}
	assert.Len(t, s.Users(), 2)

	r := overHTTP(t, srv, "POST", "/user", base(map[string]any{"mobile": "+447700900999", "user_fields": map[string]any{"Attendin": "Yes"}}))
	require.Equal(t, http.StatusCreated, r.code, r.raw)
	loc := r.header.Get("Location")
	u, ok := s.User(loc[strings.LastIndex(loc, "/")+1:])
	require.True(t, ok)
	assert.Equal(t, "+447700900999", u.Mobile)
	assert.Equal(t, "Yes", u.Fields["Attendin"])
}

func TestFieldOptionsStayInternal(t *testing.T) {
	_, srv, _, _ := validationServer(t)
	r := overHTTP(t, srv, "GET", "/field?resource=users", nil)
	require.Equal(t, http.StatusOK, r.code, r.raw)
	data := r.body["data"].([]any)
	require.Len(t, data, 3)
	dropDown := data[1].(map[string]any)
	assert.Equal(t, "Category", dropDown["slug"])
	assert.Equal(t, FieldTypeDropDown, dropDown["type"])
	assert.Equal(t, "radio", data[2].(map[string]any)["type"])
	for _, f := range data {
		assert.NotContains(t, f, "options", "the reference lists slug, type and label only")
	}
}

func TestSeedingRefusesWhatAwardForceWouldNotHold(t *testing.T) {
	s, _, ada, mo := validationServer(t)
	for name, u := range map[string]User{
		"mobile not E.164":         {Mobile: "+44 7700 900123"},
		"mobile taken":             {Mobile: mo.Mobile},
		"drop-down not an option":  {Email: "x@example.com", Fields: map[string]string{"Category": "Poetry"}},
		"radio in another case":    {Email: "y@example.com", Fields: map[string]string{"Attendin": "yes"}},
		"email taken, other case":  {Email: "ADA@example.com"},
		"field not defined at all": {Email: "z@example.com", Fields: map[string]string{"noSuchFd": "x"}},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Panics(t, func() { s.AddUser(u) })
		})
	}
	// Replacing a user by its slug keeps its own email and mobile.
	assert.NotPanics(t, func() { s.AddUser(User{Slug: mo.Slug, Mobile: mo.Mobile}) })

	assert.Panics(t, func() { s.Edit(ada.Slug, func(u *User) { u.Mobile = "+44 1" }) })
	assert.Panics(t, func() { s.Edit(ada.Slug, func(u *User) { u.Mobile = mo.Mobile }) })
	assert.Panics(t, func() { s.Edit(ada.Slug, func(u *User) { u.Fields["Category"] = "Poetry" }) })
	got, _ := s.User(ada.Slug)
	assert.Equal(t, "+447700900001", got.Mobile, "a refused edit changes nothing")
	_, ok := s.Edit(ada.Slug, func(u *User) { u.Mobile = "+447700900002" })
	assert.True(t, ok, "the server still works after a refused edit")

	assert.Panics(t, func() { s.AddField(Field{Slug: "NoOption", Type: FieldTypeDropDown}) })
	assert.Panics(t, func() { s.AddField(Field{Slug: "TextOpts", Type: "text", Options: []string{"a"}}) })
}
