package awardforce_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/sandbox/afsim"
)

const (
	secretKey   = "sk-live-5up3r-s3cr3t-k3y"
	readOnlyKey = "ro-key-also-secret"
)

// env is an afsim server behind real HTTP plus a client pointed at it.
type env struct {
	sim    *afsim.Server
	srv    *httptest.Server
	client *awardforce.Client

	mu      sync.Mutex
	headers []http.Header // request headers as they reached the server
}

func newEnv(t *testing.T, opts afsim.Options, cfg awardforce.Config) *env {
	t.Helper()
	if opts.Keys == nil {
		opts.Keys = map[string]bool{secretKey: true, readOnlyKey: false}
	}
	e := &env{sim: afsim.New(opts)}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.headers = append(e.headers, r.Header.Clone())
		e.mu.Unlock()
		e.sim.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	cfg.BaseURL = e.srv.URL
	if cfg.APIKey == "" {
		cfg.APIKey = secretKey
	}
	c, err := awardforce.New(cfg)
	require.NoError(t, err)
	e.client = c
	return e
}

func ptr(s string) *string { return &s }

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     awardforce.Config
		wantErr string
	}{
		{"missing key", awardforce.Config{}, "awardforce: APIKey is empty"},
		{"blank key", awardforce.Config{APIKey: "  "}, "APIKey is empty"},
		{"relative base", awardforce.Config{APIKey: "k", BaseURL: "api.cr4ce.com"}, "BaseURL"},
		{"ftp base", awardforce.Config{APIKey: "k", BaseURL: "ftp://api.cr4ce.com"}, "BaseURL"},
		{"negative timeout", awardforce.Config{APIKey: "k", Timeout: -time.Second}, "Timeout"},
		{"defaults", awardforce.Config{APIKey: "k"}, ""},
		{"regional host", awardforce.Config{APIKey: "k", BaseURL: "https://api.eu.cr4ce.com/"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := awardforce.New(tt.cfg)
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.NotNil(t, c)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Nil(t, c)
		})
	}
}

func TestNewLeavesCallersHTTPClientAlone(t *testing.T) {
	hc := &http.Client{}
	_, err := awardforce.New(awardforce.Config{APIKey: "k", HTTPClient: hc, Timeout: time.Second})
	require.NoError(t, err)
	assert.Zero(t, hc.Timeout)
}

func TestRequestHeaders(t *testing.T) {
	e := newEnv(t, afsim.Options{}, awardforce.Config{Language: "en_GB"})
	_, err := e.client.ListUsers(context.Background(), awardforce.ListOptions{})
	require.NoError(t, err)
	require.Len(t, e.headers, 1)
	h := e.headers[0]
	assert.Equal(t, "application/vnd.Creative Force.v2.3+json", h.Get("Accept"))
	assert.Equal(t, []string{awardforce.AcceptHeader}, h.Values("Accept"), "exactly one Accept value")
	assert.Equal(t, secretKey, h.Get("x-api-key"))
	assert.Equal(t, "en_GB", h.Get("x-api-language"))

	e2 := newEnv(t, afsim.Options{}, awardforce.Config{})
	_, err = e2.client.ListUsers(context.Background(), awardforce.ListOptions{})
	require.NoError(t, err)
	_, present := e2.headers[0]["X-Api-Language"]
	assert.False(t, present, "no x-api-language unless configured")
}

func seed(sim *afsim.Server, n int) []afsim.User {
	base := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	var out []afsim.User
	for i := range n {
		out = append(out, sim.AddUser(afsim.User{
			Email:     fmt.Sprintf("person%02d@example.com", i),
			FirstName: fmt.Sprintf("Person%02d", i),
			LastName:  "Example",
			Roles:     []string{"Entrant"},
			CreatedAt: base.Add(time.Duration(i) * time.Minute),
		}))
	}
	return out
}

func TestListUsersAllPages(t *testing.T) {
	e := newEnv(t, afsim.Options{}, awardforce.Config{})
	e.sim.AddField(afsim.Field{Slug: "orgField", Label: "Organisation"})
	seeded := seed(e.sim, 23)
	e.sim.AddUser(afsim.User{Slug: seeded[0].Slug, Email: seeded[0].Email, FirstName: "Person00",
		LastName: "Example", Roles: []string{"Entrant"}, CreatedAt: seeded[0].CreatedAt,
		Fields: map[string]string{"orgField": "Acme"}})
	ctx := context.Background()

	var got []awardforce.User
	opts := awardforce.ListOptions{PerPage: 10, Order: "created_at", Dir: "asc"}
	for page := 1; ; page++ {
		opts.Page = page
		p, err := e.client.ListUsers(ctx, opts)
		require.NoError(t, err)
		assert.Equal(t, page, p.CurrentPage)
		assert.Equal(t, 3, p.LastPage)
		assert.Equal(t, 23, p.Total)
		assert.Equal(t, 10, p.PerPage)
		got = append(got, p.Users...)
		if !p.HasMore() {
			assert.Equal(t, "", p.NextPageURL)
			break
		}
		require.Less(t, page, 3, "HasMore must turn false on the last page")
	}
	require.Len(t, got, 23)
	for i, u := range got {
		assert.Equal(t, seeded[i].Slug, u.Slug)
		assert.Equal(t, seeded[i].Email, u.Email)
		assert.Equal(t, seeded[i].CreatedAt, u.CreatedAt.UTC())
		assert.False(t, u.Updated.IsZero())
		assert.Equal(t, []awardforce.Role{{Slug: u.Roles[0].Slug, Name: "Entrant"}}, u.Roles)
		assert.Len(t, u.Roles[0].Slug, 8)
		assert.Empty(t, u.UserFields, "list items carry no custom fields")
	}
	_, ok := fieldValue(&got[0], "orgField")
	assert.False(t, ok, "custom fields need GetUser")
	assert.Equal(t, 3, e.sim.Stats().ByRoute["GET /user"])
}

func TestListUsersSendsOptions(t *testing.T) {
	e := newEnv(t, afsim.Options{}, awardforce.Config{})
	e.sim.AddUser(afsim.User{Email: "judge@example.com", Roles: []string{"Judge"}, SeasonJoined: 2025})
	e.sim.AddUser(afsim.User{Email: "entrant@example.com", Roles: []string{"Entrant"}, SeasonJoined: 2025})
	e.sim.AddUser(afsim.User{Email: "old@example.com", Roles: []string{"Judge"}, SeasonJoined: 2024, Deleted: true})
	ctx := context.Background()

	// The role filter takes a slug, which list items' roles carry beside the name.
	p, err := e.client.ListUsers(ctx, awardforce.ListOptions{Order: "email"})
	require.NoError(t, err)
	require.Len(t, p.Users, 2)
	judge := p.Users[1].Roles
	require.Len(t, judge, 1)
	assert.Equal(t, "Judge", judge[0].Name)
	assert.Regexp(t, `^[A-Za-z]{8}$`, judge[0].Slug)

	p, err = e.client.ListUsers(ctx, awardforce.ListOptions{Role: judge[0].Slug, SeasonJoined: 2025})
	require.NoError(t, err)
	require.Len(t, p.Users, 1)
	assert.Equal(t, "judge@example.com", p.Users[0].Email)

	p, err = e.client.ListUsers(ctx, awardforce.ListOptions{Role: "Judge"})
	require.NoError(t, err)
	assert.Empty(t, p.Users, "a role name is not a slug: it matches nobody")

	p, err = e.client.ListUsers(ctx, awardforce.ListOptions{Extra: url.Values{"deleted": {"only"}}})
	require.NoError(t, err)
	require.Len(t, p.Users, 1)
	assert.Equal(t, "old@example.com", p.Users[0].Email)
}

func TestGetUser(t *testing.T) {
	e := newEnv(t, afsim.Options{}, awardforce.Config{})
	e.sim.AddField(afsim.Field{Slug: "orgField", Label: "Organisation"})
	e.sim.AddField(afsim.Field{Slug: "sfRecord", Label: "Salesforce ID"})
	ada := e.sim.AddUser(afsim.User{Email: "Ada+Test@Example.com", FirstName: "Ada", LastName: "Lovelace",
		Confirmed: true, Fields: map[string]string{"orgField": "Analytical Engines"}})
	mo := e.sim.AddUser(afsim.User{Mobile: "+447700900123", FirstName: "Mo"})
	ctx := context.Background()

	for _, id := range []string{ada.Slug, "ada+test@example.com", "ADA+TEST@EXAMPLE.COM"} {
		t.Run(id, func(t *testing.T) {
			u, err := e.client.GetUser(ctx, id)
			require.NoError(t, err)
			assert.Equal(t, ada.Slug, u.Slug)
			assert.Equal(t, "Ada+Test@Example.com", u.Email)
			assert.Equal(t, "Ada Lovelace", u.Name)
			assert.Equal(t, "Confirmed", u.Confirmation)
			assert.Equal(t, ada.Updated, u.Updated.UTC())
			v, ok := fieldValue(u, "orgField")
			assert.True(t, ok)
			assert.Equal(t, "Analytical Engines", v)
			v, ok = fieldValue(u, "sfRecord")
			assert.True(t, ok, "defined fields are present even when empty")
			assert.Equal(t, "", v)
			_, ok = fieldValue(u, "noSuchFd")
			assert.False(t, ok)
			require.Len(t, u.UserFields, 2)
			assert.Equal(t, "Organisation", u.UserFields[0].Label, "translated label decoded to en_GB")
		})
	}

	u, err := e.client.GetUser(ctx, mo.Slug)
	require.NoError(t, err)
	assert.Equal(t, "", u.Email, "null email decodes to empty")
	assert.Equal(t, "+447700900123", u.Mobile)

	_, err = e.client.GetUser(ctx, " ")
	assert.Error(t, err)
	assert.Equal(t, 4, e.sim.Stats().Requests, "an empty id never reaches the API")
}

func TestUpdateUser(t *testing.T) {
	e := newEnv(t, afsim.Options{}, awardforce.Config{})
	e.sim.AddField(afsim.Field{Slug: "orgField", Label: "Organisation"})
	e.sim.AddField(afsim.Field{Slug: "sfRecord", Label: "Salesforce ID"})
	before := e.sim.AddUser(afsim.User{Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace",
		Mobile: "+447700900001", CreatedAt: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)})

	u, err := e.client.UpdateUser(context.Background(), before.Slug, awardforce.UserUpdate{
		FirstName:  ptr("Augusta Ada"),
		Mobile:     ptr(""),
		UserFields: map[string]string{"sfRecord": "003XX0000001", "orgField": "Acme"},
	})
	require.NoError(t, err)
	assert.Equal(t, "Augusta Ada", u.FirstName)
	assert.Equal(t, "Lovelace", u.LastName, "nil fields are not sent")
	assert.Equal(t, "", u.Mobile, "a pointer to \"\" is sent")
	v, _ := fieldValue(u, "sfRecord")
	assert.Equal(t, "003XX0000001", v)
	assert.True(t, u.Updated.After(before.Updated))

	stored, _ := e.sim.User(before.Slug)
	assert.Equal(t, "Augusta Ada", stored.FirstName)
	assert.Equal(t, "Lovelace", stored.LastName)
	assert.Equal(t, "ada@example.com", stored.Email)
	assert.Equal(t, map[string]string{"sfRecord": "003XX0000001", "orgField": "Acme"}, stored.Fields)
	assert.Equal(t, 1, e.sim.Stats().Writes)
}

func TestListUserFields(t *testing.T) {
	e := newEnv(t, afsim.Options{}, awardforce.Config{})
	e.sim.AddField(afsim.Field{Slug: "orgField", Type: "text", Label: "Organisation"})
	for range 104 {
		e.sim.AddField(afsim.Field{Type: "text", Label: "Filler"})
	}
	fields, err := e.client.ListUserFields(context.Background())
	require.NoError(t, err)
	require.Len(t, fields, 105, "all pages are followed")
	assert.Equal(t, awardforce.Field{Slug: "orgField", Type: "text", Label: "Organisation",
		Title: "Organisation", Resource: "users"}, fields[0])
	assert.Equal(t, 2, e.sim.Stats().ByRoute["GET /field"])
}

// apiError asserts err is an *awardforce.Error and returns it.
func apiError(t *testing.T, err error) *awardforce.Error {
	t.Helper()
	require.Error(t, err)
	var ae *awardforce.Error
	require.True(t, errors.As(err, &ae), "want *awardforce.Error, got %T: %v", err, err)
	return ae
}

func TestTypedErrors(t *testing.T) {
	ctx := context.Background()
	const sentinel = "not-an-email-SENTINEL-BODY"
	tests := []struct {
		name      string
		opts      afsim.Options
		cfg       awardforce.Config
		stripKey  bool // delete x-api-key on the way in, to provoke the API's 401
		call      func(e *env, c *awardforce.Client) error
		status    int
		temporary bool
		notFound  bool
		message   string
		fields    []string
		retry     time.Duration
	}{
		{
			name: "404 unknown user", status: 404, notFound: true,
			call: func(e *env, c *awardforce.Client) error { _, err := c.GetUser(ctx, "nobody@example.com"); return err },
		},
		{
			name: "422 invalid email", status: 422, fields: []string{"email"},
			call: func(e *env, c *awardforce.Client) error {
				_, err := c.UpdateUser(ctx, e.slug(), awardforce.UserUpdate{Email: ptr(sentinel)})
				return err
			},
		},
		{
			name: "422 unknown field", status: 422, fields: []string{"user_fields.noSuchFd"},
			call: func(e *env, c *awardforce.Client) error {
				_, err := c.UpdateUser(ctx, e.slug(), awardforce.UserUpdate{UserFields: map[string]string{"noSuchFd": "x"}})
				return err
			},
		},
		{
			name: "422 mobile not E.164", status: 422, fields: []string{"mobile"},
			call: func(e *env, c *awardforce.Client) error {
				_, err := c.UpdateUser(ctx, e.slug(), awardforce.UserUpdate{Mobile: ptr("+44 7700 900123")})
				return err
			},
		},
		{
			name: "422 mobile another user holds", status: 422, fields: []string{"mobile"},
			call: func(e *env, c *awardforce.Client) error {
				e.sim.AddUser(afsim.User{Email: "other@example.com", Mobile: "+447700900123"})
				_, err := c.UpdateUser(ctx, e.slug(), awardforce.UserUpdate{Mobile: ptr("+447700900123")})
				return err
			},
		},
		{
			name: "422 drop-down value not an option", status: 422, fields: []string{"user_fields.Industry"},
			call: func(e *env, c *awardforce.Client) error {
				e.sim.AddField(afsim.Field{Slug: "Industry", Type: afsim.FieldTypeDropDown, Label: "Industry", Options: []string{"Film", "Design"}})
				_, err := c.UpdateUser(ctx, e.slug(), awardforce.UserUpdate{UserFields: map[string]string{"Industry": "film"}})
				return err
			},
		},
		{
			name: "400 email where a slug belongs", status: 400,
			call: func(e *env, c *awardforce.Client) error {
				_, err := c.UpdateUser(ctx, "first@example.com", awardforce.UserUpdate{FirstName: ptr("X")})
				return err
			},
		},
		{
			name: "429 rate limited", opts: afsim.Options{RateLimit: 1}, status: 429, temporary: true, retry: time.Minute,
			call: func(e *env, c *awardforce.Client) error {
				if _, err := c.ListUsers(ctx, awardforce.ListOptions{}); err != nil {
					return fmt.Errorf("first call should pass: %w", err)
				}
				_, err := c.ListUsers(ctx, awardforce.ListOptions{})
				return err
			},
		},
		{
			name: "503 maintenance", status: 503, temporary: true, message: "Maintenance in progress",
			call: func(e *env, c *awardforce.Client) error {
				e.sim.InjectFaults(1, 503)
				_, err := c.ListUsers(ctx, awardforce.ListOptions{})
				return err
			},
		},
		{
			name: "500", status: 500, temporary: true,
			call: func(e *env, c *awardforce.Client) error {
				e.sim.InjectFaults(1, 500)
				_, err := c.GetUser(ctx, e.slug())
				return err
			},
		},
		{
			name: "injected 429", status: 429, temporary: true, retry: time.Second,
			call: func(e *env, c *awardforce.Client) error {
				e.sim.InjectFaults(1, 429)
				_, err := c.ListUserFields(ctx)
				return err
			},
		},
		{
			name: "401 missing key", status: 401, stripKey: true,
			call: func(e *env, c *awardforce.Client) error {
				_, err := c.ListUsers(ctx, awardforce.ListOptions{})
				return err
			},
		},
		{
			name: "403 unknown key", status: 403, cfg: awardforce.Config{APIKey: "sk-unknown-but-secret"},
			call: func(e *env, c *awardforce.Client) error {
				_, err := c.ListUsers(ctx, awardforce.ListOptions{})
				return err
			},
		},
		{
			name: "403 read-only key writes", status: 403, cfg: awardforce.Config{APIKey: readOnlyKey},
			call: func(e *env, c *awardforce.Client) error {
				_, err := c.UpdateUser(ctx, e.slug(), awardforce.UserUpdate{FirstName: ptr("X")})
				return err
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts, tt.cfg)
			e.sim.AddUser(afsim.User{Email: "first@example.com", FirstName: "First"})
			if tt.stripKey {
				e.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					r.Header.Del("x-api-key")
					e.sim.ServeHTTP(w, r)
				})
			}
			e.sim.ResetStats()
			err := tt.call(e, e.client)
			ae := apiError(t, err)
			assert.Equal(t, tt.status, ae.StatusCode)
			assert.Equal(t, tt.temporary, ae.Temporary())
			var wrapped *awardforce.Error
			assert.Equal(t, tt.notFound, errors.As(fmt.Errorf("activity: %w", err), &wrapped) && wrapped.StatusCode == http.StatusNotFound, "wrapped errors classify too")
			assert.NotEmpty(t, ae.Message)
			if tt.message != "" {
				assert.Equal(t, tt.message, ae.Message)
			}
			for _, f := range tt.fields {
				assert.NotEmpty(t, ae.FieldErrors[f], "FieldErrors: %v", ae.FieldErrors)
			}
			if len(tt.fields) == 0 {
				assert.Empty(t, ae.FieldErrors)
			}
			assert.InDelta(t, tt.retry, ae.RetryAfter, float64(2*time.Second))

			msg := err.Error()
			assert.Contains(t, msg, fmt.Sprint(tt.status))
			for _, secret := range []string{secretKey, readOnlyKey, "sk-unknown-but-secret", sentinel} {
				assert.NotContains(t, msg, secret, "error strings must not leak keys or bodies")
			}
			// Temporal owns retrying: exactly one request per call, failures included.
			wantRequests := 1
			if tt.name == "429 rate limited" {
				wantRequests = 2
			}
			assert.Equal(t, wantRequests, e.sim.Stats().Requests, "resty must not retry")
		})
	}
}

// slug returns the slug of the user seeded as first@example.com.
func (e *env) slug() string {
	for _, u := range e.sim.Users() {
		if u.Email == "first@example.com" {
			return u.Slug
		}
	}
	return ""
}

func TestErrorScrubsEchoedKey(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"message":"Key %s is not valid","status_code":403,"errors":{"key":["%s"]}}`,
			r.Header.Get("x-api-key"), r.Header.Get("x-api-key"))
	}))
	defer srv.Close()
	c, err := awardforce.New(awardforce.Config{BaseURL: srv.URL, APIKey: secretKey})
	require.NoError(t, err)
	_, err = c.ListUsers(context.Background(), awardforce.ListOptions{})
	ae := apiError(t, err)
	assert.NotContains(t, err.Error(), secretKey)
	assert.NotContains(t, ae.Message, secretKey)
	assert.NotContains(t, fmt.Sprint(ae.FieldErrors), secretKey)
	assert.Contains(t, ae.Message, "[redacted]")
}

func TestErrorBodiesThatAreNotTheAPIs(t *testing.T) {
	tests := []struct {
		name, body, retryAfter string
		status                 int
		wantMsg                string
		wantRetry              time.Duration
	}{
		{"html from a proxy", "<html><body>Bad gateway</body></html>", "", 502, "Bad Gateway", 0},
		{"plain text", "upstream timed out\n", "", 504, "upstream timed out", 0},
		{"empty", "", "7", 429, "Too Many Requests", 7 * time.Second},
		{"http date retry", `{"message":"Slow down","status_code":429}`,
			time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat), 429, "Slow down", 90 * time.Second},
		{"errors as a list", `{"message":"Invalid","status_code":422,"errors":["bad thing"]}`, "", 422, "Invalid", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			c, err := awardforce.New(awardforce.Config{BaseURL: srv.URL, APIKey: secretKey})
			require.NoError(t, err)
			_, err = c.GetUser(context.Background(), "abcdEFGH")
			ae := apiError(t, err)
			assert.Equal(t, tt.status, ae.StatusCode)
			assert.Equal(t, tt.wantMsg, ae.Message)
			assert.InDelta(t, tt.wantRetry, ae.RetryAfter, float64(2*time.Second))
		})
	}
}

func TestContextAndTimeout(t *testing.T) {
	e := newEnv(t, afsim.Options{Latency: 2 * time.Second}, awardforce.Config{})
	e.sim.AddUser(afsim.User{Email: "private.person@example.com"})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.client.GetUser(ctx, "private.person@example.com")
	require.Error(t, err)
	assert.Less(t, time.Since(start), time.Second)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	var ae *awardforce.Error
	assert.False(t, errors.As(err, &ae), "a transport failure is not an API answer")
	assert.NotContains(t, err.Error(), "private.person", "no PII from the URL in errors")

	e2 := newEnv(t, afsim.Options{Latency: 2 * time.Second}, awardforce.Config{Timeout: 50 * time.Millisecond})
	start = time.Now()
	_, err = e2.client.ListUsers(context.Background(), awardforce.ListOptions{})
	require.Error(t, err)
	assert.Less(t, time.Since(start), time.Second, "Config.Timeout bounds each request")
	assert.Equal(t, 1, e2.sim.Stats().Requests, "resty must not retry a timeout")
}

func TestVerifySignature(t *testing.T) {
	body := []byte(`{"event":"user_updated","timestamp":"2025-01-01T00:00:00Z","source":"api"}`)
	const key = "whsec-signing-key"
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	good := hex.EncodeToString(mac.Sum(nil))

	tests := []struct {
		name string
		body []byte
		sig  string
		key  string
		want bool
	}{
		{"valid", body, good, key, true},
		{"surrounding space", body, " " + good + "\n", key, true},
		{"uppercase hex", body, strings.ToUpper(good), key, true},
		{"tampered body", append(append([]byte(nil), body[:len(body)-1]...), ' '), good, key, false},
		{"wrong key", body, good, "other-key", false},
		{"truncated", body, good[:len(good)-2], key, false},
		{"not hex", body, strings.Repeat("zz", 32), key, false},
		{"empty header", body, "", key, false},
		{"empty key", body, good, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, awardforce.VerifySignature(tt.body, tt.sig, tt.key))
		})
	}
}

func TestUserDecodingIsLiberal(t *testing.T) {
	raw := `{
		"slug": "abcdEFGH", "email": null, "first_name": "Ada", "last_name": "L",
		"mobile": 447700900123, "confirmation": "Confirmed",
		"created_at": "2024-01-02 03:04:05", "updated_at": "2024-02-03T04:05:06+01:00",
		"roles": ["Entrant", {"slug": "gakoqKNr", "name": {"fr_FR": "Juge", "en_GB": "Judge"}}],
		"user_fields": {"orgField": "Acme", "count": 3, "tags": ["a", "b"]}
	}`
	var u awardforce.User
	require.NoError(t, json.Unmarshal([]byte(raw), &u))
	assert.Equal(t, "", u.Email)
	assert.Equal(t, "Ada L", u.Name, "name is derived when absent")
	assert.Equal(t, "447700900123", u.Mobile)
	assert.Equal(t, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), u.CreatedAt)
	assert.Equal(t, time.Date(2024, 2, 3, 3, 5, 6, 0, time.UTC), u.Updated, "updated_at is a fallback; zones become UTC")
	assert.Equal(t, []awardforce.Role{{Name: "Entrant"}, {Slug: "gakoqKNr", Name: "Judge"}}, u.Roles)
	for slug, want := range map[string]string{"orgField": "Acme", "count": "3", "tags": "a, b"} {
		v, ok := fieldValue(&u, slug)
		assert.True(t, ok, slug)
		assert.Equal(t, want, v, slug)
	}

	var p awardforce.UserPage
	require.NoError(t, json.Unmarshal([]byte(`{"current_page":"2","last_page":"3","per_page":"10","total":"25","next_page_url":null,"data":[]}`), &p))
	assert.Equal(t, awardforce.UserPage{CurrentPage: 2, LastPage: 3, PerPage: 10, Total: 25, Users: []awardforce.User{}}, p)
	assert.True(t, p.HasMore(), "counters keep the walk going when next_page_url is null")

	var bad awardforce.User
	assert.Error(t, json.Unmarshal([]byte(`{"updated":"last tuesday"}`), &bad))
}

// A User crosses activity boundaries as a Temporal payload, i.e. through its own JSON.
func TestUserJSONRoundTrip(t *testing.T) {
	in := awardforce.User{
		Slug: "abcdEFGH", Email: "a@example.com", FirstName: "A", LastName: "B", Name: "A B",
		Confirmation: "Confirmed", CreatedAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		Updated:    time.Date(2024, 6, 1, 12, 30, 0, 5, time.UTC),
		Roles:      []awardforce.Role{{Slug: "gakoqKNr", Name: "Entrant"}},
		UserFields: []awardforce.UserField{{Slug: "orgField", Label: "<p>Org</p>", Title: "Org", Value: "Acme"}},
	}
	raw, err := json.Marshal(in)
	require.NoError(t, err)
	var out awardforce.User
	require.NoError(t, json.Unmarshal(raw, &out))
	assert.True(t, in.Updated.Equal(out.Updated))
	assert.True(t, out.ConfirmedAt.IsZero())
	out.ConfirmedAt, out.CreatedAt, out.Updated = in.ConfirmedAt, in.CreatedAt, in.Updated
	assert.Equal(t, in, out)
}

// fieldValue returns the value of u's profile field slug, and whether u
// carries that field at all.
func fieldValue(u *awardforce.User, slug string) (string, bool) {
	for _, f := range u.UserFields {
		if f.Slug == slug {
			return f.Value, true
		}
	}
	return "", false
}

// TestRateLimitKeepsABurstWithinTheWindow: requests asked all at once
// (a busy machine sending late ones with on-time ones) start at most
// RateLimit in any RateWindow, so Award Force's fixed window never refuses
// one; without it, the same burst is refused in part.
func TestRateLimitKeepsABurstWithinTheWindow(t *testing.T) {
	const limit, window = 4, 400 * time.Millisecond
	for _, tc := range []struct {
		name   string
		window time.Duration // the client's; 0: no limit
	}{
		{"limited", 2 * window}, // Award Force's window, and room for a request that arrives late
		{"unlimited", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := awardforce.Config{RateWindow: tc.window}
			if tc.window > 0 {
				cfg.RateLimit = limit
			}
			e := newEnv(t, afsim.Options{RateLimit: limit, RateWindow: window}, cfg)
			u := e.sim.AddUser(afsim.User{Email: "ada@example.org", FirstName: "Ada", LastName: "Lovelace"})
			var wg sync.WaitGroup
			var refused sync.Map
			start := time.Now()
			for i := range 3 * limit {
				wg.Go(func() {
					if _, err := e.client.GetUser(context.Background(), u.Slug); err != nil {
						refused.Store(i, err)
					}
				})
			}
			wg.Wait()
			n := 0
			refused.Range(func(_, err any) bool {
				var apiErr *awardforce.Error
				require.ErrorAs(t, err.(error), &apiErr)
				require.Equal(t, http.StatusTooManyRequests, apiErr.StatusCode)
				n++
				return true
			})
			if tc.window == 0 {
				require.Positive(t, n, "a burst past the limit is refused in part")
				return
			}
			require.Zero(t, n, "no request refused")
			require.GreaterOrEqual(t, time.Since(start), 2*tc.window, "the last four waited two of the client's windows")
		})
	}
}

func TestRateLimitGivesUpATurnWithItsContext(t *testing.T) {
	e := newEnv(t, afsim.Options{}, awardforce.Config{RateLimit: 1, RateWindow: time.Hour})
	u := e.sim.AddUser(afsim.User{Email: "ada@example.org", FirstName: "Ada", LastName: "Lovelace"})
	_, err := e.client.GetUser(context.Background(), u.Slug) // takes the first turn at once
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := e.client.GetUser(ctx, u.Slug)
		done <- err
	}()
	cancel()
	require.ErrorIs(t, <-done, context.Canceled, "the second waits an hour for its turn unless its context ends")
}
