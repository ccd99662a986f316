package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/afsync/afsync/internal/webhook"
	"github.com/afsync/afsync/pairing"
)

const (
	testKey  = "test-signing-key-0123456789"
	testSlug = "abcdEFGH"
)

type call struct {
	Slug    string
	Trigger pairing.Trigger
}

// fakeStarter records calls; the server's goroutine writes, the test reads.
type fakeStarter struct {
	mu        sync.Mutex
	calls     []call
	events    []webhook.Event
	err       error
	duplicate bool
}

func (f *fakeStarter) StartUserSync(_ context.Context, ev webhook.Event) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{ev.Slug, ev.Trigger})
	f.events = append(f.events, ev)
	return f.duplicate, f.err
}

func (f *fakeStarter) Events() []webhook.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]webhook.Event(nil), f.events...)
}

func (f *fakeStarter) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// lockedBuffer collects log output written from the server's goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type env struct {
	srv     *httptest.Server
	starter *fakeStarter
	logs    *lockedBuffer
}

func newEnv(t *testing.T, mutate func(*webhook.Options)) *env {
	t.Helper()
	e := &env{starter: &fakeStarter{}, logs: &lockedBuffer{}}
	o := webhook.Options{
		SigningKey: testKey,
		Starter:    e.starter,
		Logger:     slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mutate != nil {
		mutate(&o)
	}
	h, err := webhook.NewHandler(o)
	require.NoError(t, err)
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

func sign(body []byte, key string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

type response struct {
	Code   int
	Header http.Header
	Body   map[string]string
}

// post sends body with the given Signature header ("" sends none).
func (e *env) post(t *testing.T, body []byte, signature string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/webhooks/awardforce", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set("Signature", signature)
	}
	return e.do(t, req)
}

func (e *env) postSigned(t *testing.T, body []byte) response {
	t.Helper()
	return e.post(t, body, sign(body, testKey))
}

func (e *env) do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := response{Code: resp.StatusCode, Header: resp.Header}
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &r.Body), "response body %q", raw)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	}
	return r
}

// userPayload is a user event shaped as the reference documents it.
func userPayload(event string) []byte {
	return []byte(`{
		"event": ` + quote(event) + `,
		"timestamp": "2025-03-04T05:06:07Z",
		"source": "ui",
		"user": {
			"slug": "` + testSlug + `",
			"email": "ada.lovelace@example.org",
			"first_name": "Ada",
			"last_name": "Lovelace",
			"mobile": "+447700900123",
			"user_fields": [
				{"slug": "qwertyui", "label": {"en_GB": "Work email"}, "value": "ada@analytical.example"}
			]
		}
	}`)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestEventsMapToTriggers(t *testing.T) {
	tests := []struct {
		event string
		want  pairing.Trigger
	}{
		{"membership_registered", pairing.TriggerRegistration},
		{"Membership registered", pairing.TriggerRegistration},
		{"User created", pairing.TriggerRegistration},
		{"USER CREATED", pairing.TriggerRegistration},
		{"MEMBERSHIP_REGISTERED", pairing.TriggerRegistration},
		{"user_updated", pairing.TriggerProfileUpdate},
		{"User updated", pairing.TriggerProfileUpdate},
		{"User-Updated", pairing.TriggerProfileUpdate},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			e := newEnv(t, nil)
			r := e.postSigned(t, userPayload(tt.event))
			assert.Equal(t, http.StatusAccepted, r.Code)
			assert.Equal(t, map[string]string{"status": "accepted"}, r.Body)
			assert.Equal(t, []call{{testSlug, tt.want}}, e.starter.Calls())
		})
	}
}

func TestSlugLocations(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"user.slug", `{"event":"user_updated","user":{"slug":"` + testSlug + `","email":"x@example.org"}}`},
		{"top-level slug", `{"event":"user_updated","slug":"` + testSlug + `","email":"x@example.org"}`},
		{"user.slug wins over top-level", `{"event":"user_updated","slug":"zzzzzzzz","user":{"slug":"` + testSlug + `"}}`},
		{"user without slug falls back", `{"event":"user_updated","slug":"` + testSlug + `","user":{"email":"x@example.org"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			r := e.postSigned(t, []byte(tt.body))
			assert.Equal(t, http.StatusAccepted, r.Code)
			assert.Equal(t, []call{{testSlug, pairing.TriggerProfileUpdate}}, e.starter.Calls())
		})
	}
}

func TestMissingOrInvalidSlugIs400(t *testing.T) {
	tests := map[string]string{
		"no slug":        `{"event":"user_updated","user":{"email":"x@example.org"}}`,
		"no user":        `{"event":"membership_registered"}`,
		"too short":      `{"event":"user_updated","user":{"slug":"abcdEFG"}}`,
		"digits":         `{"event":"user_updated","user":{"slug":"abcd1234"}}`,
		"not a string":   `{"event":"user_updated","user":{"slug":12345678}}`,
		"path traversal": `{"event":"user_updated","slug":"../abcdef"}`,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) { assertBadRequest(t, body) })
	}
}

func TestSignature(t *testing.T) {
	body := userPayload("user_updated")
	tampered := bytes.Replace(body, []byte(testSlug), []byte("zyxwVUTS"), 1)
	require.NotEqual(t, body, tampered)

	tests := []struct {
		name string
		body []byte
		sig  string
	}{
		{"missing", body, ""},
		{"wrong key", body, sign(body, "some-other-key")},
		{"not hex", body, strings.Repeat("z", 64)},
		{"truncated", body, sign(body, testKey)[:40]},
		{"tampered body", tampered, sign(body, testKey)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			r := e.post(t, tt.body, tt.sig)
			assert.Equal(t, http.StatusUnauthorized, r.Code)
			assert.Equal(t, map[string]string{"error": "invalid signature"}, r.Body)
			assert.Empty(t, e.starter.Calls())
		})
	}
}

func TestSignatureIsCheckedBeforeJSON(t *testing.T) {
	e := newEnv(t, nil)
	r := e.post(t, []byte(`{not json`), sign([]byte(`other`), testKey))
	assert.Equal(t, http.StatusUnauthorized, r.Code)
}

func TestOversizeBodyIs413(t *testing.T) {
	t.Run("configured limit", func(t *testing.T) {
		e := newEnv(t, func(o *webhook.Options) { o.MaxBodyBytes = 64 })
		body := userPayload("user_updated")
		require.Greater(t, len(body), 64)
		r := e.postSigned(t, body)
		assert.Equal(t, http.StatusRequestEntityTooLarge, r.Code)
		assert.Empty(t, e.starter.Calls())
	})
	t.Run("default limit is 1 MiB", func(t *testing.T) {
		e := newEnv(t, nil)
		pad := func(n int) []byte {
			prefix := `{"event":"user_updated","slug":"` + testSlug + `","pad":"`
			return []byte(prefix + strings.Repeat("x", n-len(prefix)-2) + `"}`)
		}
		atLimit := pad(1 << 20)
		require.Len(t, atLimit, 1<<20)
		assert.Equal(t, http.StatusAccepted, e.postSigned(t, atLimit).Code)

		over := pad(1<<20 + 1)
		assert.Equal(t, http.StatusRequestEntityTooLarge, e.postSigned(t, over).Code)
		assert.Len(t, e.starter.Calls(), 1, "only the body at the limit starts a sync")
	})
}

func TestMalformedJSONIs400(t *testing.T) {
	for name, body := range map[string]string{
		"truncated":      `{"event":"user_updated","user":{"slug":"abcdEFGH"`,
		"not an object":  `["user_updated"]`,
		"event not text": `{"event":42,"slug":"abcdEFGH"}`,
		"empty":          ``,
		"missing event":  `{"slug":"abcdEFGH"}`,
	} {
		t.Run(name, func(t *testing.T) { assertBadRequest(t, body) })
	}
}

func TestOtherEventsAreIgnored(t *testing.T) {
	for _, event := range []string{"role_granted", "Role granted", "entry_submitted", "payment_received", "user_deleted"} {
		t.Run(event, func(t *testing.T) {
			e := newEnv(t, nil)
			r := e.postSigned(t, userPayload(event))
			assert.Equal(t, http.StatusOK, r.Code)
			assert.Equal(t, map[string]string{"status": "ignored"}, r.Body)
			assert.Empty(t, e.starter.Calls())
		})
	}
	t.Run("ignored even without a slug", func(t *testing.T) {
		e := newEnv(t, nil)
		r := e.postSigned(t, []byte(`{"event":"entry_submitted","entry":{"slug":"12"}}`))
		assert.Equal(t, http.StatusOK, r.Code)
		assert.Empty(t, e.starter.Calls())
	})
}

func TestStarterErrorIs503(t *testing.T) {
	e := newEnv(t, nil)
	e.starter.err = errors.New("temporal unavailable")
	r := e.postSigned(t, userPayload("membership_registered"))
	assert.Equal(t, http.StatusServiceUnavailable, r.Code)
	assert.NotEmpty(t, r.Body["error"])
	assert.Equal(t, []call{{testSlug, pairing.TriggerRegistration}}, e.starter.Calls())
}

func TestOnlyPostIsAllowed(t *testing.T) {
	// The reference lets Award Force send GET but does not say how a GET carries
	// the payload, so GET is refused rather than guessed at.
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		t.Run(method, func(t *testing.T) {
			e := newEnv(t, nil)
			body := userPayload("user_updated")
			req, err := http.NewRequest(method, e.srv.URL+"/webhooks/awardforce?payload="+url.QueryEscape(string(body)), nil)
			require.NoError(t, err)
			req.Header.Set("Signature", sign(body, testKey))
			r := e.do(t, req)
			assert.Equal(t, http.StatusMethodNotAllowed, r.Code)
			assert.Equal(t, http.MethodPost, r.Header.Get("Allow"))
			assert.Empty(t, e.starter.Calls())
		})
	}
}

func TestLogsCarryNoPII(t *testing.T) {
	e := newEnv(t, nil)
	pii := []string{"ada.lovelace@example.org", "ada@analytical.example", "Lovelace", "Ada", "+447700900123", "447700900123"}

	// Every path that logs: accepted, ignored, starter failure, bad slug, bad signature.
	assert.Equal(t, http.StatusAccepted, e.postSigned(t, userPayload("user_updated")).Code)
	assert.Equal(t, http.StatusOK, e.postSigned(t, userPayload("role_granted")).Code)
	e.starter.mu.Lock()
	e.starter.err = errors.New("temporal unavailable")
	e.starter.mu.Unlock()
	assert.Equal(t, http.StatusServiceUnavailable, e.postSigned(t, userPayload("User created")).Code)
	badSlug := []byte(`{"event":"user_updated","user":{"slug":"ada.lovelace@example.org","first_name":"Ada"}}`)
	assert.Equal(t, http.StatusBadRequest, e.postSigned(t, badSlug).Code)
	assert.Equal(t, http.StatusUnauthorized, e.post(t, userPayload("user_updated"), "deadbeef").Code)
	badJSON := []byte(`{"event":"user_updated","user":{"email":"ada.lovelace@example.org"`)
	assert.Equal(t, http.StatusBadRequest, e.postSigned(t, badJSON).Code)

	logs := e.logs.String()
	require.NotEmpty(t, logs)
	for _, s := range pii {
		assert.NotContains(t, logs, s)
	}
	assert.Contains(t, logs, `"slug":"`+testSlug+`"`)
	assert.Contains(t, logs, `"event":"user_updated"`)

	// Keys are lowerCamel: no underscores in any key.
	for line := range strings.SplitSeq(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		for k := range m {
			assert.NotContains(t, k, "_", "log key %q in %s", k, line)
		}
	}
}

func TestNewHandlerRequiresKeyAndStarter(t *testing.T) {
	_, err := webhook.NewHandler(webhook.Options{Starter: &fakeStarter{}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "AWARDFORCE_WEBHOOK_SIGNING_KEY")

	_, err = webhook.NewHandler(webhook.Options{SigningKey: testKey})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Starter")

	h, err := webhook.NewHandler(webhook.Options{SigningKey: testKey, Starter: &fakeStarter{}})
	require.NoError(t, err)
	assert.NotNil(t, h, "nil Logger and zero MaxBodyBytes get defaults")
}

// assertBadRequest posts a signed body and wants a 400 with an error and no
// sync started.
func assertBadRequest(t *testing.T, body string) {
	t.Helper()
	e := newEnv(t, nil)
	r := e.postSigned(t, []byte(body))
	assert.Equal(t, http.StatusBadRequest, r.Code)
	assert.NotEmpty(t, r.Body["error"])
	assert.Empty(t, e.starter.Calls())
}

// wholeUser is a payload as Award Force sends it: the whole user at the top
// level, with its `updated` time.
func wholeUser(event, updated string) []byte {
	return []byte(`{
		"event": ` + quote(event) + `,
		"timestamp": "2026-11-30T09:00:01Z",
		"source": "ui",
		"slug": "` + testSlug + `",
		"email": "ada.lovelace@example.org",
		"first_name": "Ada",
		"last_name": "Lovelace",
		"mobile": null,
		"roles": [{"slug": "abcdefgh", "name": {"en_GB": "Entrant"}}],
		"created_at": "2026-01-05T09:00:00Z",
		"updated": ` + quote(updated) + `,
		"user_fields": [
			{"slug": "JobTitle", "label": {"en_GB": "Job title"}, "value": "Analyst"},
			{"slug": "Employer", "label": {"en_GB": "Organisation"}, "value": ""}
		]
	}`)
}

func TestAWholeUserPayloadTravelsWithTheSync(t *testing.T) {
	e := newEnv(t, nil)
	r := e.postSigned(t, wholeUser("membership_registered", "2026-11-30T09:00:00Z"))
	require.Equal(t, http.StatusAccepted, r.Code)
	evs := e.starter.Events()
	require.Len(t, evs, 1)
	p := evs[0].Profile
	require.NotNil(t, p, "a whole user must reach the sync: it needs no Award Force request")
	assert.Equal(t, testSlug, p.Slug)
	assert.Equal(t, "2026-11-30T09:00:00Z", p.Updated.UTC().Format("2006-01-02T15:04:05Z"))
	assert.Equal(t, map[string]string{
		"email": "ada.lovelace@example.org", "first_name": "Ada", "last_name": "Lovelace", "mobile": "",
		"JobTitle": "Analyst", "Employer": "",
	}, p.Values, "every field the payload carries, empty ones included (they are known to be empty)")
	assert.Equal(t, pairing.TriggerRegistration, evs[0].Trigger)
}

func TestAPayloadThatIsNotAWholeUserMakesTheSyncReadAwardForce(t *testing.T) {
	for name, body := range map[string]string{
		"only a slug":     `{"event":"user_updated","user":{"slug":"` + testSlug + `"}}`,
		"no updated time": `{"event":"user_updated","slug":"` + testSlug + `","email":"a@example.org","first_name":"A","last_name":"B","mobile":null}`,
		"no email key":    `{"event":"user_updated","slug":"` + testSlug + `","updated":"2026-11-30T09:00:00Z","first_name":"A","last_name":"B","mobile":null}`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			r := e.postSigned(t, []byte(body))
			require.Equal(t, http.StatusAccepted, r.Code)
			evs := e.starter.Events()
			require.Len(t, evs, 1)
			assert.Nil(t, evs[0].Profile)
		})
	}
}

func TestAReplayedVersionIsAnsweredAsADuplicate(t *testing.T) {
	e := newEnv(t, nil)
	e.starter.duplicate = true
	r := e.postSigned(t, wholeUser("user_updated", "2026-11-30T09:00:00Z"))
	require.Equal(t, http.StatusOK, r.Code)
	assert.Equal(t, "duplicate", r.Body["status"])
}
