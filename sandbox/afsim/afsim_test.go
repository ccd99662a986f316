package afsim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	rwKey = "rw-key"
	roKey = "ro-key"
)

func newServer(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.Keys == nil {
		opts.Keys = map[string]bool{rwKey: true, roKey: false}
	}
	return New(opts)
}

type reply struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

// call sends one request through the handler with the vendor Accept header and key.
func call(t *testing.T, s *Server, method, target, key string, body any, edit ...func(*http.Request)) reply {
	t.Helper()
	var rd *strings.Reader
	switch b := body.(type) {
	case nil:
		rd = strings.NewReader("")
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd = strings.NewReader(string(raw))
	}
	req := httptest.NewRequest(method, "http://af.test"+target, rd)
	req.Header.Set("Accept", AcceptHeader)
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	for _, e := range edit {
		e(req)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	out := reply{code: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if strings.TrimSpace(out.raw) != "" {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out.body), "body: %s", out.raw)
	}
	return out
}

func assertError(t *testing.T, r reply, status int) {
	t.Helper()
	require.Equal(t, status, r.code, r.raw)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.Equal(t, float64(status), r.body["status_code"], r.raw)
	assert.NotEmpty(t, r.body["message"], r.raw)
}

func TestAuthAndAcceptErrors(t *testing.T) {
	s := newServer(t, Options{})
	s.AddUser(User{Email: "a@example.com"})
	tests := []struct {
		name   string
		key    string
		accept string
		want   int
	}{
		{"missing key", "", AcceptHeader, http.StatusUnauthorized},
		{"unknown key", "nope", AcceptHeader, http.StatusForbidden},
		{"plain json accept", rwKey, "application/json", http.StatusBadRequest},
		{"no accept", rwKey, "", http.StatusBadRequest},
		{"wrong version", rwKey, "application/vnd.Creative Force.v2.2+json", http.StatusBadRequest},
		{"space dropped", rwKey, "application/vnd.CreativeForce.v2.3+json", http.StatusBadRequest},
		{"read only key may read", roKey, AcceptHeader, http.StatusOK},
		{"read write key", rwKey, AcceptHeader, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, s, "GET", "/user", tt.key, nil, func(r *http.Request) {
				r.Header.Set("Accept", tt.accept)
			})
			if tt.want == http.StatusOK {
				require.Equal(t, http.StatusOK, r.code, r.raw)
				return
			}
			assertError(t, r, tt.want)
		})
	}
}

func TestRoutingErrors(t *testing.T) {
	s := newServer(t, Options{})
	assertError(t, call(t, s, "GET", "/nothing", rwKey, nil), http.StatusNotFound)
	r := call(t, s, "DELETE", "/user", rwKey, nil)
	assertError(t, r, http.StatusMethodNotAllowed)
	assert.Equal(t, "GET, POST", r.header.Get("Allow"))
	assertError(t, call(t, s, "GET", "/user/abcdefgh", rwKey, nil), http.StatusNotFound)
	assertError(t, call(t, s, "GET", "/user/abc", rwKey, nil), http.StatusBadRequest)
}

func seedUsers(s *Server, n int) []User {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []User
	for i := range n {
		out = append(out, s.AddUser(User{
			Email:     fmt.Sprintf("user%02d@example.com", i),
			FirstName: fmt.Sprintf("First%02d", i),
			LastName:  fmt.Sprintf("Last%02d", n-i),
			CreatedAt: base.Add(time.Duration(i) * time.Hour),
			// Updated runs backwards so the default order is visibly not insertion order.
			Updated:   base.Add(time.Duration(n-i) * time.Hour),
			Confirmed: i%2 == 0,
		}))
	}
	return out
}

func TestListUsersPaginationEnvelope(t *testing.T) {
	s := newServer(t, Options{})
	s.AddField(Field{Slug: "orgField", Label: "Organisation"})
	users := seedUsers(s, 25)
	s.AddUser(User{Slug: users[0].Slug, Email: users[0].Email, Fields: map[string]string{"orgField": "Acme"},
		CreatedAt: users[0].CreatedAt, Updated: users[0].Updated})

	var seen []string
	for page := 1; page <= 3; page++ {
		r := call(t, s, "GET", fmt.Sprintf("/user?per_page=10&page=%d", page), rwKey, nil)
		require.Equal(t, http.StatusOK, r.code, r.raw)
		for _, k := range []string{"current_page", "data", "first_page_url", "from", "last_page",
			"last_page_url", "next_page_url", "path", "per_page", "prev_page_url", "to", "total"} {
			assert.Contains(t, r.body, k)
		}
		assert.Equal(t, float64(page), r.body["current_page"])
		assert.Equal(t, float64(3), r.body["last_page"])
		assert.Equal(t, float64(25), r.body["total"])
		assert.Equal(t, float64(10), r.body["per_page"])
		assert.Equal(t, "http://af.test/user", r.body["path"])
		assert.Equal(t, "http://af.test/user?per_page=10&page=1", r.body["first_page_url"])
		assert.Equal(t, "http://af.test/user?per_page=10&page=3", r.body["last_page_url"])
		assert.Equal(t, float64((page-1)*10+1), r.body["from"])
		data := r.body["data"].([]any)
		assert.Equal(t, float64((page-1)*10+len(data)), r.body["to"])
		for _, item := range data {
			u := item.(map[string]any)
			assert.NotContains(t, u, "user_fields", "list items must not carry custom fields")
			assert.NotContains(t, u, "preferences")
			assert.Contains(t, u, "updated")
			assert.NotContains(t, u, "updated_at")
			seen = append(seen, u["slug"].(string))
		}
		switch page {
		case 1:
			assert.Len(t, data, 10)
			assert.Equal(t, "http://af.test/user?per_page=10&page=2", r.body["next_page_url"])
			assert.Equal(t, "", r.body["prev_page_url"], "prev_page_url is \"\" on the first page")
		case 3:
			assert.Len(t, data, 5)
			// The documented quirk: the empty string, not null.
			next, isString := r.body["next_page_url"].(string)
			assert.True(t, isString, "next_page_url must be a string on the last page, got %#v", r.body["next_page_url"])
			assert.Equal(t, "", next)
			assert.Equal(t, "http://af.test/user?per_page=10&page=2", r.body["prev_page_url"])
		}
	}
	// Default order is updated asc, which seedUsers made the reverse of insertion.
	require.Len(t, seen, 25)
	for i, slug := range seen {
		assert.Equal(t, users[24-i].Slug, slug, "position %d", i)
	}

	// Past the last page: empty data, from/to null, still "" for next.
	r := call(t, s, "GET", "/user?per_page=10&page=9", rwKey, nil)
	require.Equal(t, http.StatusOK, r.code)
	assert.Empty(t, r.body["data"])
	assert.Nil(t, r.body["from"])
	assert.Equal(t, "", r.body["next_page_url"])
}

func TestListUsersOrderAndFilters(t *testing.T) {
	s := newServer(t, Options{})
	seedUsers(s, 5)
	s.AddUser(User{Email: "zed@example.com", Roles: []string{"Judge"}, SeasonJoined: 2025, Confirmed: true})
	s.AddUser(User{Email: "gone@example.com", Deleted: true, Roles: []string{"Judge"}})

	emails := func(r reply) []string {
		var out []string
		for _, item := range r.body["data"].([]any) {
			e, _ := item.(map[string]any)["email"].(string)
			out = append(out, e)
		}
		return out
	}
	r := call(t, s, "GET", "/user?order=email&dir=desc&per_page=3", rwKey, nil)
	require.Equal(t, http.StatusOK, r.code, r.raw)
	assert.Equal(t, []string{"zed@example.com", "user04@example.com", "user03@example.com"}, emails(r))

	tests := []struct {
		query string
		want  []string
	}{
		{"role=" + roleSlug("Judge"), []string{"zed@example.com"}},
		{"role=" + roleSlug("Judge") + "&deleted=included", []string{"zed@example.com", "gone@example.com"}},
		// The filter takes a slug: a role's name, in any case, matches nothing.
		{"role=Judge", nil},
		{"role=judge", nil},
		{"role=" + strings.ToLower(roleSlug("Judge")), nil},
		{"season_joined=2025", []string{"zed@example.com"}},
		{"deleted=only", []string{"gone@example.com"}},
		{"confirmation=unconfirmed&order=email", []string{"user01@example.com", "user03@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := call(t, s, "GET", "/user?order=created_at&"+tt.query, rwKey, nil)
			require.Equal(t, http.StatusOK, r.code, r.raw)
			assert.Equal(t, tt.want, emails(r))
		})
	}

	// A list asked again after an edit, a registration or a write through
	// the API shows it (lists are kept between pages, not across changes).
	byEmail := "/user?order=email&dir=desc&per_page=2"
	require.Equal(t, []string{"zed@example.com", "user04@example.com"}, emails(call(t, s, "GET", byEmail, rwKey, nil)))
	s.Edit(slugOf(t, s, "user04@example.com"), func(u *User) { u.Email = "zz@example.com" })
	assert.Equal(t, []string{"zz@example.com", "zed@example.com"}, emails(call(t, s, "GET", byEmail, rwKey, nil)), "after an edit")
	s.Register(User{Email: "zzz@example.com", FirstName: "Z", LastName: "Z"})
	assert.Equal(t, []string{"zzz@example.com", "zz@example.com"}, emails(call(t, s, "GET", byEmail, rwKey, nil)), "after a registration")
	r = call(t, s, "PUT", "/user/"+slugOf(t, s, "zzz@example.com"), rwKey, map[string]any{"email": "a@example.com"})
	require.Equal(t, http.StatusOK, r.code, r.raw)
	assert.Equal(t, []string{"zz@example.com", "zed@example.com"}, emails(call(t, s, "GET", byEmail, rwKey, nil)), "after a write through the API")
}

// slugOf is the slug of the user holding email.
func slugOf(t *testing.T, s *Server, email string) string {
	t.Helper()
	for _, u := range s.Users() {
		if u.Email == email {
			return u.Slug
		}
	}
	t.Fatalf("no user holds %s", email)
	return ""
}

func TestList422(t *testing.T) {
	s := newServer(t, Options{})
	tests := []struct {
		query, field string
	}{
		{"per_page=0", "per_page"},
		{"per_page=101", "per_page"},
		{"per_page=ten", "per_page"},
		{"order=email_address", "order"},
		{"dir=up", "dir"},
		{"deleted=yes", "deleted"},
		{"confirmation=maybe", "confirmation"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := call(t, s, "GET", "/user?"+tt.query, rwKey, nil)
			assertError(t, r, http.StatusUnprocessableEntity)
			errs, ok := r.body["errors"].(map[string]any)
			require.True(t, ok, r.raw)
			msgs, ok := errs[tt.field].([]any)
			require.True(t, ok, "errors.%s must be a list of messages: %s", tt.field, r.raw)
			assert.NotEmpty(t, msgs)
		})
	}
	r := call(t, s, "GET", "/user?per_page=100", rwKey, nil)
	assert.Equal(t, http.StatusOK, r.code)
}

func TestGetUserBySlugAndEmail(t *testing.T) {
	s := newServer(t, Options{})
	s.AddField(Field{Slug: "orgField", Type: "text", Label: "Organisation"})
	s.AddField(Field{Slug: "sfIdxxxx", Type: "text", Label: "Salesforce ID"})
	u := s.AddUser(User{Email: "Ada.Lovelace@Example.com", FirstName: "Ada", LastName: "Lovelace",
		Roles: []string{"Entrant"}, Confirmed: true, Fields: map[string]string{"orgField": "Analytical Engines"}})
	assert.Regexp(t, `^[A-Za-z]{8}$`, u.Slug)
	assert.False(t, u.CreatedAt.IsZero())
	assert.Equal(t, u.CreatedAt, u.Updated)

	for _, path := range []string{"/user/" + u.Slug, "/user/ada.lovelace@example.com", "/user/ADA.LOVELACE%40EXAMPLE.COM"} {
		t.Run(path, func(t *testing.T) {
			r := call(t, s, "GET", path, roKey, nil)
			require.Equal(t, http.StatusOK, r.code, r.raw)
			assert.Equal(t, u.Slug, r.body["slug"])
			assert.Equal(t, "Ada.Lovelace@Example.com", r.body["email"])
			assert.Equal(t, "Ada Lovelace", r.body["name"])
			assert.Equal(t, "Confirmed", r.body["confirmation"])
			assert.Equal(t, u.Updated.Format(time.RFC3339), r.body["updated"])
			assert.True(t, strings.HasSuffix(r.body["created_at"].(string), "Z"))
			assert.Contains(t, r.body, "preferences")
			fields := r.body["user_fields"].([]any)
			require.Len(t, fields, 2)
			f0 := fields[0].(map[string]any)
			assert.Equal(t, "orgField", f0["slug"])
			assert.Equal(t, map[string]any{"en_GB": "Organisation"}, f0["label"])
			assert.Equal(t, map[string]any{"en_GB": "Organisation"}, f0["title"])
			assert.Equal(t, "Analytical Engines", f0["value"])
			assert.Equal(t, "", fields[1].(map[string]any)["value"], "unset values are the empty string")
			roles := r.body["roles"].([]any)
			require.Len(t, roles, 1)
			assert.Equal(t, map[string]any{"en_GB": "Entrant"}, roles[0].(map[string]any)["name"])
		})
	}

	mobileOnly := s.AddUser(User{Mobile: "+447700900000", FirstName: "Mo"})
	r := call(t, s, "GET", "/user/"+mobileOnly.Slug, rwKey, nil)
	require.Equal(t, http.StatusOK, r.code)
	assert.Contains(t, r.body, "email")
	assert.Nil(t, r.body["email"], "email is nullable")
	assert.Equal(t, "Unconfirmed", r.body["confirmation"])

	assertError(t, call(t, s, "GET", "/user/nobody@example.com", rwKey, nil), http.StatusNotFound)
}

func TestUpdateUser(t *testing.T) {
	s := newServer(t, Options{})
	s.AddField(Field{Slug: "orgField", Label: "Organisation"})
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	u := s.AddUser(User{Email: "a@example.com", FirstName: "A", LastName: "B", CreatedAt: old})
	other := s.AddUser(User{Email: "taken@example.com"})

	r := call(t, s, "PUT", "/user/"+u.Slug, rwKey, map[string]any{
		"first_name": "Ada", "mobile": "+447700900001", "user_fields": map[string]any{"orgField": "Acme"},
	})
	require.Equal(t, http.StatusOK, r.code, r.raw)
	assert.Equal(t, "Ada", r.body["first_name"])
	assert.Equal(t, "B", r.body["last_name"], "absent keys are left alone")
	assert.Equal(t, "Acme", r.body["user_fields"].([]any)[0].(map[string]any)["value"])
	got, _ := s.User(u.Slug)
	assert.Equal(t, "Ada", got.FirstName)
	assert.Equal(t, "+447700900001", got.Mobile)
	assert.Equal(t, map[string]string{"orgField": "Acme"}, got.Fields)
	assert.True(t, got.Updated.After(old), "updated must be bumped")
	assert.Equal(t, old, got.CreatedAt)
	assert.Equal(t, 1, s.Stats().Writes)

	tests := []struct {
		name   string
		path   string
		key    string
		body   any
		status int
		field  string
	}{
		{"email in path", "/user/a@example.com", rwKey, map[string]any{"first_name": "X"}, 400, ""},
		{"read only key", "/user/" + u.Slug, roKey, map[string]any{"first_name": "X"}, 403, ""},
		{"unknown slug", "/user/zzzzzzzz", rwKey, map[string]any{"first_name": "X"}, 404, ""},
		{"bad json", "/user/" + u.Slug, rwKey, "{not json", 400, ""},
		{"invalid email", "/user/" + u.Slug, rwKey, map[string]any{"email": "not-an-email"}, 422, "email"},
		{"email taken", "/user/" + u.Slug, rwKey, map[string]any{"email": strings.ToUpper(other.Email)}, 422, "email"},
		{"unknown field", "/user/" + u.Slug, rwKey, map[string]any{"user_fields": map[string]any{"nopeNope": "x"}}, 422, "user_fields.nopeNope"},
		{"blank first name", "/user/" + u.Slug, rwKey, map[string]any{"first_name": " "}, 422, "first_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := s.User(u.Slug)
			r := call(t, s, "PUT", tt.path, tt.key, tt.body)
			assertError(t, r, tt.status)
			if tt.field != "" {
				errs := r.body["errors"].(map[string]any)
				assert.NotEmpty(t, errs[tt.field], r.raw)
			}
			after, _ := s.User(u.Slug)
			assert.Equal(t, before, after, "a failed write must change nothing")
		})
	}
	assert.Equal(t, 1, s.Stats().Writes)
}

func TestCreateUser(t *testing.T) {
	s := newServer(t, Options{})
	s.AddUser(User{Email: "taken@example.com"})

	r := call(t, s, "POST", "/user", rwKey, map[string]any{
		"first_name": "New", "last_name": "Person", "password": "s3cret-pass", "email": "new@example.com",
	})
	require.Equal(t, http.StatusCreated, r.code, r.raw)
	loc := r.header.Get("Location")
	require.Regexp(t, `^http://af\.test/user/[A-Za-z]{8}$`, loc)
	slug := loc[strings.LastIndex(loc, "/")+1:]
	u, ok := s.User(slug)
	require.True(t, ok)
	assert.Equal(t, "new@example.com", u.Email)
	assert.Equal(t, "New", u.FirstName)
	assert.Equal(t, 1, s.Stats().Writes)

	r = call(t, s, "POST", "/user", rwKey, map[string]any{"first_name": "Mobile", "mobile": "+447700900001"})
	assert.Equal(t, http.StatusCreated, r.code, r.raw)

	for name, body := range map[string]map[string]any{
		"neither email nor mobile": {"first_name": "X", "last_name": "Y", "password": "pw"},
		"email taken":              {"first_name": "X", "email": "TAKEN@example.com"},
	} {
		t.Run(name, func(t *testing.T) {
			r := call(t, s, "POST", "/user", rwKey, body)
			assertError(t, r, http.StatusUnprocessableEntity)
			assert.NotEmpty(t, r.body["errors"].(map[string]any)["email"])
			assert.Empty(t, r.header.Get("Location"))
		})
	}
	assertError(t, call(t, s, "POST", "/user", roKey, map[string]any{"email": "ro@example.com"}), http.StatusForbidden)
	assert.Len(t, s.Users(), 3)
}

func TestListFields(t *testing.T) {
	s := newServer(t, Options{})
	s.AddField(Field{Slug: "orgField", Type: "text", Label: "Organisation"})
	s.AddField(Field{Label: "Phone", Type: "phone"})
	r := call(t, s, "GET", "/field?resource=users", roKey, nil)
	require.Equal(t, http.StatusOK, r.code, r.raw)
	assert.Equal(t, float64(2), r.body["total"])
	assert.Equal(t, "", r.body["next_page_url"])
	data := r.body["data"].([]any)
	require.Len(t, data, 2)
	f := data[0].(map[string]any)
	assert.Equal(t, "orgField", f["slug"])
	assert.Equal(t, "text", f["type"])
	assert.Equal(t, map[string]any{"en_GB": "Organisation"}, f["label"])
	assert.Regexp(t, `^[A-Za-z]{8}$`, data[1].(map[string]any)["slug"])

	r = call(t, s, "GET", "/field?resource=entries", roKey, nil)
	require.Equal(t, http.StatusOK, r.code)
	assert.Empty(t, r.body["data"])
}

func TestRateLimit(t *testing.T) {
	s := newServer(t, Options{RateLimit: 3, RateWindow: time.Second})
	start := time.Now()
	for i := range 3 {
		r := call(t, s, "GET", "/user", rwKey, nil)
		require.Equal(t, http.StatusOK, r.code)
		assert.Equal(t, "3", r.header.Get("X-RateLimit-Limit"))
		assert.Equal(t, strconv.Itoa(2-i), r.header.Get("X-RateLimit-Remaining"))
		reset, err := strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64)
		require.NoError(t, err)
		assert.InDelta(t, start.Add(time.Second).Unix(), reset, 1)
		assert.Empty(t, r.header.Get("Retry-After"))
	}
	r := call(t, s, "GET", "/user", rwKey, nil)
	assertError(t, r, http.StatusTooManyRequests)
	assert.Equal(t, "1", r.header.Get("Retry-After"))
	assert.Equal(t, "0", r.header.Get("X-RateLimit-Remaining"))
	assert.Equal(t, "3", r.header.Get("X-RateLimit-Limit"))

	// The limit is per key.
	r = call(t, s, "GET", "/user", roKey, nil)
	assert.Equal(t, http.StatusOK, r.code)
	assert.Equal(t, "2", r.header.Get("X-RateLimit-Remaining"))

	st := s.Stats()
	assert.Equal(t, 1, st.RateLimited)
	assert.Equal(t, 5, st.Requests)
	assert.Equal(t, 5, st.ByRoute["GET /user"])

	time.Sleep(time.Until(start.Add(1100 * time.Millisecond)))
	r = call(t, s, "GET", "/user", rwKey, nil)
	assert.Equal(t, http.StatusOK, r.code, "a new window must admit the key again")
	assert.Equal(t, "2", r.header.Get("X-RateLimit-Remaining"))
}

func TestRateLimitDefaultWindowAndRetryAfter(t *testing.T) {
	s := newServer(t, Options{RateLimit: 1})
	require.Equal(t, http.StatusOK, call(t, s, "GET", "/user", rwKey, nil).code)
	r := call(t, s, "GET", "/user", rwKey, nil)
	require.Equal(t, http.StatusTooManyRequests, r.code)
	ra, err := strconv.Atoi(r.header.Get("Retry-After"))
	require.NoError(t, err)
	assert.InDelta(t, 60, ra, 1, "the default window is 60 seconds")
}

func TestFaultInjection(t *testing.T) {
	tests := []struct {
		status int
		check  func(t *testing.T, r reply)
	}{
		{http.StatusServiceUnavailable, func(t *testing.T, r reply) {
			assert.Equal(t, map[string]any{"status": "Maintenance in progress"}, r.body)
		}},
		{http.StatusTooManyRequests, func(t *testing.T, r reply) {
			assertError(t, r, http.StatusTooManyRequests)
			assert.Equal(t, "1", r.header.Get("Retry-After"))
		}},
		{http.StatusInternalServerError, func(t *testing.T, r reply) {
			assertError(t, r, http.StatusInternalServerError)
		}},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			s := newServer(t, Options{RateLimit: 60})
			s.InjectFaults(2, tt.status)
			for range 2 {
				r := call(t, s, "GET", "/user", rwKey, nil)
				require.Equal(t, tt.status, r.code, r.raw)
				assert.NotEmpty(t, r.header.Get("X-RateLimit-Remaining"), "faults still carry rate-limit headers")
				tt.check(t, r)
			}
			assert.Equal(t, http.StatusOK, call(t, s, "GET", "/user", rwKey, nil).code, "only n requests fail")
			if tt.status == http.StatusTooManyRequests {
				assert.Equal(t, 2, s.Stats().RateLimited)
			}
		})
	}

	s := newServer(t, Options{})
	s.InjectFaults(5, http.StatusInternalServerError)
	s.InjectFaults(0, 0)
	assert.Equal(t, http.StatusOK, call(t, s, "GET", "/user", rwKey, nil).code, "n <= 0 clears pending faults")
}

func TestStatsAndReset(t *testing.T) {
	s := newServer(t, Options{})
	u := s.AddUser(User{Email: "a@example.com"})
	before := time.Now()
	call(t, s, "GET", "/user", rwKey, nil)
	first := s.Stats()
	assert.False(t, first.First.Before(before), "First is when the first request arrived")
	assert.Equal(t, first.First, first.Last, "one request: it is the first and the last")
	call(t, s, "GET", "/user/"+u.Slug, rwKey, nil)
	call(t, s, "PUT", "/user/"+u.Slug, rwKey, map[string]any{"first_name": "Z"})
	call(t, s, "GET", "/field", "", nil)
	st := s.Stats()
	assert.Equal(t, 4, st.Requests)
	assert.Equal(t, map[string]int{
		"GET /user": 1, "GET /user/{slug-or-email}": 1, "PUT /user/{slug}": 1, "GET /field": 1,
	}, st.ByRoute)
	assert.Equal(t, 1, st.Writes)
	assert.Equal(t, first.First, st.First, "First stays the first request's time")
	assert.True(t, st.Last.After(st.First), "Last moves with every request")
	st.ByRoute["GET /user"] = 99
	assert.Equal(t, 1, s.Stats().ByRoute["GET /user"], "Stats returns a copy")
	s.ResetStats()
	assert.Equal(t, Stats{ByRoute: map[string]int{}}, s.Stats())
}

func TestLatencyHonoursCancellation(t *testing.T) {
	s := newServer(t, Options{Latency: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	call(t, s, "GET", "/user", rwKey, nil, func(r *http.Request) { *r = *r.WithContext(ctx) })
	assert.Less(t, time.Since(start), 2*time.Second)

	s = newServer(t, Options{Latency: 30 * time.Millisecond})
	start = time.Now()
	assert.Equal(t, http.StatusOK, call(t, s, "GET", "/user", rwKey, nil).code)
	assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
}

func TestSeedingAndCopies(t *testing.T) {
	s := newServer(t, Options{})
	u := s.AddUser(User{Slug: "abcdEFGH", Roles: []string{"Entrant"}})
	u.Roles[0] = "mutated"
	got, ok := s.User("abcdEFGH")
	require.True(t, ok)
	assert.Equal(t, []string{"Entrant"}, got.Roles, "AddUser returns a copy")
	got.Roles[0] = "mutated"
	again, _ := s.User("abcdEFGH")
	assert.Equal(t, []string{"Entrant"}, again.Roles, "User returns a copy")

	assert.Panics(t, func() { s.AddUser(User{Slug: "short"}) })
	assert.Panics(t, func() { s.AddUser(User{Fields: map[string]string{"noSuchFd": "x"}}) })
	s.AddUser(User{Email: "dup@example.com"})
	assert.Panics(t, func() { s.AddUser(User{Email: "DUP@example.com"}) })
	_, ok = s.User("zzzzzzzz")
	assert.False(t, ok)
}

func TestConcurrentUse(t *testing.T) {
	s := newServer(t, Options{RateLimit: 1000})
	s.AddField(Field{Slug: "orgField", Label: "Org"})
	u := s.AddUser(User{Email: "c@example.com"})
	srv := httptest.NewServer(s)
	defer srv.Close()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			method, path, body := "GET", "/user", ""
			if i%2 == 1 {
				method, path, body = "PUT", "/user/"+u.Slug, fmt.Sprintf(`{"user_fields":{"orgField":"v%d"}}`, i)
			}
			req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
			req.Header.Set("Accept", AcceptHeader)
			req.Header.Set("x-api-key", rwKey)
			resp, err := srv.Client().Do(req)
			if assert.NoError(t, err) {
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 20, s.Stats().Requests)
	assert.Equal(t, 10, s.Stats().Writes)
}

func TestRateLimitHeadersOnEveryResponse(t *testing.T) {
	s := newServer(t, Options{RateLimit: 2, RateWindow: time.Minute})
	for _, tt := range []struct {
		name string
		key  string
		want int
	}{
		{"missing key", "", http.StatusUnauthorized},
		{"unknown key", "guess-1", http.StatusForbidden},
		{"bad accept", rwKey, http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, s, "GET", "/user", tt.key, nil, func(r *http.Request) {
				if tt.want == http.StatusBadRequest {
					r.Header.Set("Accept", "application/json")
				}
			})
			assertError(t, r, tt.want)
			assert.Equal(t, "2", r.header.Get("X-RateLimit-Limit"))
			assert.Equal(t, "1", r.header.Get("X-RateLimit-Remaining"))
			assert.NotEmpty(t, r.header.Get("X-RateLimit-Reset"))
		})
	}
	// Guessing keys is throttled per presented key like any other traffic.
	call(t, s, "GET", "/user", "guess-1", nil)
	assertError(t, call(t, s, "GET", "/user", "guess-1", nil), http.StatusTooManyRequests)
}

func TestStallHoldsRequestsUntilResume(t *testing.T) {
	s := newServer(t, Options{})
	s.Stall()
	s.Stall() // idempotent
	done := make(chan reply, 1)
	go func() { done <- call(t, s, "GET", "/user", rwKey, nil) }()
	select {
	case r := <-done:
		t.Fatalf("a stalled server answered %d", r.code)
	case <-time.After(100 * time.Millisecond):
	}
	if n := s.Stats().ByRoute["GET /user"]; n != 1 {
		t.Fatalf("a stalled request is counted as it arrives: %d", n)
	}
	s.Resume()
	if r := <-done; r.code != 200 {
		t.Fatalf("after Resume: %d", r.code)
	}
	if r := call(t, s, "GET", "/user", rwKey, nil); r.code != 200 {
		t.Fatalf("a new request after Resume: %d", r.code)
	}
	s.Resume() // idempotent

	// A caller that gives up is let go.
	s.Stall()
	defer s.Resume()
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest("GET", "http://af.test/user", nil).WithContext(ctx)
	req.Header.Set("Accept", AcceptHeader)
	req.Header.Set("x-api-key", rwKey)
	gone := make(chan struct{})
	go func() { s.ServeHTTP(httptest.NewRecorder(), req); close(gone) }()
	cancel()
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("a stalled request outlived its caller")
	}
}

// A person's edit made as an API write arrives is kept: the write applies
// over it and answers with both.
func TestAnEditAsAWriteArrivesIsKeptAndAnswered(t *testing.T) {
	s := newServer(t, Options{})
	u := s.AddUser(User{Email: "tia@example.com", FirstName: "Tia", LastName: "Tpyo"})
	var held []string
	s.BeforeUpdate(func(slug string) {
		held = append(held, slug)
		s.Edit(slug, func(u *User) { u.LastName = "Typo" })
	})
	r := call(t, s, "PUT", "/user/"+u.Slug, rwKey, map[string]any{"first_name": "Tina"})
	require.Equal(t, http.StatusOK, r.code, r.raw)
	assert.Equal(t, []string{u.Slug}, held)
	assert.Equal(t, "Tina", r.body["first_name"], "the write")
	assert.Equal(t, "Typo", r.body["last_name"], "the edit made as it arrived")
	got, _ := s.User(u.Slug)
	assert.Equal(t, "Tina Typo", got.FirstName+" "+got.LastName)

	s.BeforeUpdate(nil)
	r = call(t, s, "PUT", "/user/"+u.Slug, rwKey, map[string]any{"first_name": "Tia"})
	require.Equal(t, http.StatusOK, r.code, r.raw)
	assert.Len(t, held, 1, "no hook once it is unset")
}

// A user's `updated` never goes back: an API write made in the second
// after a UI edit that SetDistinctSeconds moved on to the next second
// carries that edit's version, not the older second of the clock.
func TestUpdatedNeverGoesBack(t *testing.T) {
	s := newServer(t, Options{})
	s.SetDistinctSeconds(true)
	u := s.AddUser(User{Email: "a@example.com", FirstName: "A", LastName: "B"})
	first, _ := s.Edit(u.Slug, func(u *User) { u.FirstName = "Ada" })
	second, _ := s.Edit(u.Slug, func(u *User) { u.FirstName = "Ada L" })
	require.True(t, second.Updated.After(first.Updated), "distinct seconds: %s then %s", first.Updated, second.Updated)
	// Two edits within the same second put the second one ahead of the
	// clock (unless the clock turned meanwhile); the API's write follows.
	r := call(t, s, "PUT", "/user/"+u.Slug, rwKey, map[string]any{"last_name": "Lovelace"})
	require.Equal(t, http.StatusOK, r.code, r.raw)
	got, _ := s.User(u.Slug)
	assert.False(t, got.Updated.Before(second.Updated), "the API write's version %s is older than the edit's %s", got.Updated, second.Updated)
}
