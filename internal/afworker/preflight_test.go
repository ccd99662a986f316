package afworker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/salesforce"
	"github.com/afsync/afsync/sandbox"
)

// startSandbox runs the simulators over real HTTP and returns them with the
// configuration that points at them.
func startSandbox(t *testing.T) (*sandbox.Sandbox, config.Config) {
	t.Helper()
	sb, err := sandbox.Start(sandbox.Options{Seed: sandbox.SeedOptions{Users: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	env := sb.Env()
	cfg, err := config.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return sb, cfg
}

func sandboxConfig(t *testing.T) config.Config {
	t.Helper()
	_, cfg := startSandbox(t)
	return cfg
}

// fast is a backoff short enough for tests.
var fast = PreflightOptions{InitialDelay: 2 * time.Millisecond, MaxDelay: 8 * time.Millisecond}

// waitLog collects the waits a check reports.
type waitLog struct {
	mu    sync.Mutex
	waits []Wait
}

func (l *waitLog) add(w Wait) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waits = append(l.waits, w)
}

func (l *waitLog) of(api string) []Wait {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Wait
	for _, w := range l.waits {
		if w.API == api {
			out = append(out, w)
		}
	}
	return out
}

func TestPreflightAcceptsTheExampleSpecAgainstTheSandbox(t *testing.T) {
	cfg := sandboxConfig(t)
	spec, err := pairing.Load(filepath.Join("..", "..", "pairing", "testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Preflight(context.Background(), cfg, spec, PreflightOptions{}); err != nil {
		t.Fatalf("the README's example spec must fit the sandbox: %v", err)
	}
}

// A spec linking Contacts to Accounts is checked against the Account
// describe too.
func TestPreflightChecksTheAccountDescribe(t *testing.T) {
	cfg := sandboxConfig(t)
	spec := pairing.Default()
	spec.Account = &pairing.AccountLink{AwardForce: "Employer", Match: "AwardForce_Org__c", Create: true}
	if err := Preflight(context.Background(), cfg, spec, PreflightOptions{}); err != nil {
		t.Fatalf("an external-id match on the sandbox's Account: %v", err)
	}
	spec.Account = &pairing.AccountLink{AwardForce: "Employr", Match: "Industry"}
	err := Preflight(context.Background(), cfg, spec, PreflightOptions{})
	for _, want := range []string{"account.match", "Account.Industry is not an external-id field", "account.awardforce", "did you mean Employer"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestPreflightNamesWhatToFix(t *testing.T) {
	cfg := sandboxConfig(t)
	spec := pairing.Default()
	spec.Fields = append(spec.Fields, pairing.FieldPair{AwardForce: "Employr", CRM: "Departmnt"})
	err := Preflight(context.Background(), cfg, spec, PreflightOptions{})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"Departmnt", "did you mean Department", "Employr"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}

	bad := cfg
	bad.AwardForce.APIKey = "wrong-key"
	if err := Preflight(context.Background(), bad, pairing.Default(), PreflightOptions{}); err == nil || !strings.Contains(err.Error(), "AWARDFORCE_API_KEY") {
		t.Errorf("a rejected key must name AWARDFORCE_API_KEY: %v", err)
	}
	bad = cfg
	bad.Salesforce.ClientSecret = "wrong"
	if err := Preflight(context.Background(), bad, pairing.Default(), PreflightOptions{}); err == nil || !strings.Contains(err.Error(), "SALESFORCE_") {
		t.Errorf("a rejected Salesforce grant must name the SALESFORCE_ settings: %v", err)
	}
	missing := cfg
	missing.AwardForce.APIKey = ""
	if err := Preflight(context.Background(), missing, pairing.Default(), PreflightOptions{}); err == nil || !strings.Contains(err.Error(), "AWARDFORCE_API_KEY") {
		t.Errorf("a missing key must name AWARDFORCE_API_KEY: %v", err)
	}
}

func TestPreflightWaitsThroughTransientFaultsOfBothAPIs(t *testing.T) {
	sb, cfg := startSandbox(t)
	sb.AwardForce.InjectFaults(3, http.StatusServiceUnavailable)
	sf := sb.Salesforce
	sf.InjectFaults(1, http.StatusForbidden, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
	sf.InjectFaults(1, http.StatusServiceUnavailable, "SERVER_UNAVAILABLE", "Server temporarily unavailable")
	sf.InjectFaults(1, http.StatusForbidden, "REQUEST_LIMIT_EXCEEDED", "ConcurrentRequests (concurrent API requests) Limit exceeded.")
	sf.InjectFaults(1, http.StatusBadRequest, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")

	var log waitLog
	var logs bytes.Buffer
	status := NewStatus()
	opts := fast
	opts.Status, opts.OnWait = status, log.add
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	if err := Preflight(context.Background(), cfg, pairing.Default(), opts); err != nil {
		t.Fatalf("the check must wait the faults out: %v", err)
	}
	if got := status.Checks(); got != "passed" {
		t.Errorf("status after the check: %q", got)
	}

	ms := time.Millisecond
	check := func(api string, wantDelays []time.Duration, wantReasons ...string) {
		t.Helper()
		waits := log.of(api)
		if len(waits) != len(wantReasons) {
			t.Fatalf("%s: %d waits, want %d: %v", api, len(waits), len(wantReasons), waits)
		}
		for i, w := range waits {
			if w.Attempt != i+1 || w.Delay != wantDelays[i] || w.Reason() != wantReasons[i] {
				t.Errorf("%s wait %d: attempt %d, delay %s, reason %q; want attempt %d, %s, %q", api, i, w.Attempt, w.Delay, w.Reason(), i+1, wantDelays[i], wantReasons[i])
			}
			if d := time.Until(w.Next); d > w.Delay {
				t.Errorf("%s wait %d: next retry %s ahead, more than its delay %s", api, i, d, w.Delay)
			}
		}
	}
	// Doubling from 2 ms to the 8 ms cap; a spent allocation waits the cap at once.
	check(APIAwardForce, []time.Duration{2 * ms, 4 * ms, 8 * ms},
		"HTTP 503: Maintenance in progress", "HTTP 503: Maintenance in progress", "HTTP 503: Maintenance in progress")
	check(APISalesforce, []time.Duration{8 * ms, 4 * ms, 8 * ms, 8 * ms},
		"403 REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.",
		"503 SERVER_UNAVAILABLE: Server temporarily unavailable",
		"403 REQUEST_LIMIT_EXCEEDED: ConcurrentRequests (concurrent API requests) Limit exceeded.",
		"400 UNABLE_TO_LOCK_ROW: unable to obtain exclusive access to this record")

	if w := log.of(APIAwardForce)[2].String(); w != "waiting for Award Force: HTTP 503: Maintenance in progress (attempt 3, next in 8ms)" {
		t.Errorf("wait described as %q", w)
	}
	out := logs.String()
	if n := strings.Count(out, `msg="Waiting for Award Force"`); n != 3 {
		t.Errorf("%d log lines for Award Force's waits, want 3:\n%s", n, out)
	}
	if n := strings.Count(out, `msg="Waiting for Salesforce"`); n != 4 {
		t.Errorf("%d log lines for Salesforce's waits, want 4:\n%s", n, out)
	}
	if !strings.Contains(out, `error="HTTP 503: Maintenance in progress" attempt=3 retryIn=8ms`) {
		t.Errorf("a wait's log line lacks its error, attempt or delay:\n%s", out)
	}
	for _, secret := range []string{sandbox.APIKey, sandbox.ClientSecret} {
		if strings.Contains(out, secret) {
			t.Errorf("the log shows a secret:\n%s", out)
		}
	}
}

func TestPreflightHonoursRetryAfter(t *testing.T) {
	sb, cfg := startSandbox(t)
	sb.AwardForce.InjectFaults(1, http.StatusTooManyRequests) // Retry-After: 1
	var log waitLog
	opts := fast
	opts.OnWait = log.add
	start := time.Now()
	if err := Preflight(context.Background(), cfg, pairing.Default(), opts); err != nil {
		t.Fatal(err)
	}
	waits := log.of(APIAwardForce)
	if len(waits) != 1 || waits[0].Delay != time.Second || !strings.HasPrefix(waits[0].Reason(), "HTTP 429") {
		t.Fatalf("waits %v: want one of Retry-After's 1s after the 429", waits)
	}
	if took := time.Since(start); took < time.Second {
		t.Fatalf("the check tried again after %s, before Retry-After", took)
	}
}

// flaky serves h behind n failures of the requests that match: fail answers
// them instead.
func flaky(t *testing.T, h http.Handler, n int, match func(*http.Request) bool, fail http.HandlerFunc) *httptest.Server {
	t.Helper()
	var left atomic.Int64
	left.Store(int64(n))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if match(r) && left.Add(-1) >= 0 {
			fail(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// hangUp drops the connection without an answer.
func hangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

func TestPreflightWaitsForTheTokenEndpointAndTheNetwork(t *testing.T) {
	sb, cfg := startSandbox(t)
	// Salesforce's token endpoint answers 502 twice, as a front end does.
	token := flaky(t, sb.Salesforce, 2, func(r *http.Request) bool { return r.URL.Path == "/services/oauth2/token" },
		func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "Bad Gateway", http.StatusBadGateway) })
	cfg.Salesforce.LoginURL = token.URL
	// Award Force's connection drops twice.
	af := flaky(t, sb.AwardForce, 2, func(*http.Request) bool { return true }, hangUp)
	cfg.AwardForce.BaseURL = af.URL

	var log waitLog
	opts := fast
	opts.OnWait = log.add
	if err := Preflight(context.Background(), cfg, pairing.Default(), opts); err != nil {
		t.Fatal(err)
	}
	if w := log.of(APISalesforce); len(w) != 2 || !strings.HasPrefix(w[0].Reason(), "502 BAD_GATEWAY") {
		t.Errorf("Salesforce waits %v: want two for the token endpoint's 502", w)
	}
	if w := log.of(APIAwardForce); len(w) != 2 || !strings.Contains(w[0].Reason(), "EOF") {
		t.Errorf("Award Force waits %v: want two for the dropped connections", w)
	}
}

func TestPreflightStopsAtOnceOnARejectedKeyOrSecret(t *testing.T) {
	for _, c := range []struct {
		name  string
		spoil func(*config.Config)
		want  string // today's message, which names what to fix
	}{
		{"a wrong Award Force key", func(c *config.Config) { c.AwardForce.APIKey = "wrong-key" },
			"award force (AWARDFORCE_API_URL, AWARDFORCE_API_KEY): awardforce: HTTP 403: Invalid API key."},
		{"a wrong Salesforce secret", func(c *config.Config) { c.Salesforce.ClientSecret = "wrong-secret" },
			"salesforce (SALESFORCE_LOGIN_URL, SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET, SALESFORCE_USERNAME, SALESFORCE_PRIVATE_KEY_FILE) describing Contact: salesforce: 400 invalid_client: invalid client credentials"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sb, cfg := startSandbox(t)
			c.spoil(&cfg)
			// Transient faults are pending on both APIs: the check must not
			// wait for them to find the rejected credential.
			sb.AwardForce.InjectFaults(20, http.StatusServiceUnavailable)
			sb.Salesforce.InjectFaults(20, http.StatusServiceUnavailable, "SERVER_UNAVAILABLE", "Server temporarily unavailable")
			status := NewStatus()
			start := time.Now()
			err := Preflight(context.Background(), cfg, pairing.Default(), PreflightOptions{Status: status}) // the default 1 s backoff
			if err == nil || err.Error() != c.want {
				t.Fatalf("got %v\nwant %s", err, c.want)
			}
			if took := time.Since(start); took >= DefaultPreflightInitialDelay {
				t.Fatalf("the check took %s: a rejected credential must stop it at once", took)
			}
			if got := status.Checks(); got != "failed: "+c.want {
				t.Errorf("status %q", got)
			}
		})
	}
}

func TestPreflightEndsWithItsContextAndSaysWhatItWaitedFor(t *testing.T) {
	sb, cfg := startSandbox(t)
	sb.AwardForce.InjectFaults(1000, http.StatusServiceUnavailable)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := Preflight(ctx, cfg, pairing.Default(), PreflightOptions{InitialDelay: 20 * time.Millisecond, MaxDelay: 50 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "while waiting for Award Force: HTTP 503: Maintenance in progress (attempt ") {
		t.Fatalf("got %v: want the deadline, and what the check waited for", err)
	}
}

func TestTransientFaults(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	for _, c := range []struct {
		err       error
		transient bool
		least     time.Duration
	}{
		{&awardforce.Error{StatusCode: 429, RetryAfter: 7 * time.Second}, true, 7 * time.Second},
		{&awardforce.Error{StatusCode: 500}, true, 0},
		{&awardforce.Error{StatusCode: 503, Message: "Maintenance in progress"}, true, 0},
		{&awardforce.Error{StatusCode: 504}, true, 0},
		{&awardforce.Error{StatusCode: 401}, false, 0},
		{&awardforce.Error{StatusCode: 403, Message: "This API key is read only."}, false, 0},
		{&awardforce.Error{StatusCode: 404}, false, 0},
		{&awardforce.Error{StatusCode: 422}, false, 0},
		{&salesforce.Error{HTTPStatus: 500, ErrorCode: "UNKNOWN_EXCEPTION"}, true, 0},
		{&salesforce.Error{HTTPStatus: 503, ErrorCode: "SERVER_UNAVAILABLE"}, true, 0},
		{&salesforce.Error{HTTPStatus: 400, ErrorCode: "UNABLE_TO_LOCK_ROW"}, true, 0},
		{&salesforce.Error{HTTPStatus: 403, ErrorCode: "REQUEST_LIMIT_EXCEEDED", Message: "ConcurrentRequests (concurrent API requests) Limit exceeded."}, true, 0},
		{&salesforce.Error{HTTPStatus: 403, ErrorCode: "REQUEST_LIMIT_EXCEEDED", Message: "TotalRequests Limit exceeded."}, true, quotaPause},
		{&salesforce.Error{HTTPStatus: 502, ErrorCode: "BAD_GATEWAY"}, true, 0},          // the token endpoint's front end
		{&salesforce.Error{HTTPStatus: 507, ErrorCode: "INSUFFICIENT_STORAGE"}, true, 0}, // any 5xx
		{&salesforce.Error{HTTPStatus: 400, ErrorCode: "invalid_grant"}, false, 0},
		{&salesforce.Error{HTTPStatus: 400, ErrorCode: "invalid_client"}, false, 0},
		{&salesforce.Error{HTTPStatus: 401, ErrorCode: "INVALID_SESSION_ID"}, false, 0}, // after the client's re-authentication
		{&salesforce.Error{HTTPStatus: 404, ErrorCode: "NOT_FOUND"}, false, 0},
		{&salesforce.Error{HTTPStatus: 403, ErrorCode: "API_DISABLED_FOR_ORG"}, false, 0},
		{fmt.Errorf("awardforce: GET /field: %w", refused), true, 0},
		{fmt.Errorf("salesforce: GET /sobjects/Contact/describe: %w", context.DeadlineExceeded), true, 0},
		{fmt.Errorf("awardforce: GET /field: %w", io.ErrUnexpectedEOF), true, 0},
		{&net.DNSError{Err: "no such host", Name: "api.example", IsTemporary: true}, true, 0},
		{errors.New("awardforce: GET /field: decode response: invalid character '<'"), false, 0},
	} {
		least, ok := transient(c.err)
		if ok != c.transient || least != c.least {
			t.Errorf("%v: transient %v (least %s), want %v (%s)", c.err, ok, least, c.transient, c.least)
		}
	}
}
