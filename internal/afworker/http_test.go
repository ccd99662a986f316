package afworker

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox"
)

// frontend stands for the Temporal client: its health check answers err.
type frontend struct {
	client.Client
	err error
}

func (f *frontend) CheckHealth(context.Context, *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	return &client.CheckHealthResponse{}, f.err
}

// getHealth asks h for /healthz and decodes its body.
func getHealth(t *testing.T, h http.Handler) (int, Health, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	raw := rec.Body.String()
	var body Health
	if err := json.Unmarshal([]byte(raw), &body); err != nil {
		t.Fatalf("/healthz answered %d %q: not JSON: %v", rec.Code, raw, err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return rec.Code, body, raw
}

func TestHealthzSaysWhereTheStartUpCheckStands(t *testing.T) {
	temporal := &frontend{}
	status := NewStatus()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	status.now = func() time.Time { return now }
	h := testHandler(t, temporal, []Served{{Spec: pairing.Default()}}, status)
	want := func(code int, body string) {
		t.Helper()
		gotCode, _, raw := getHealth(t, h)
		if gotCode != code || strings.TrimSpace(raw) != body {
			t.Errorf("/healthz: %d %s\nwant %d %s", gotCode, raw, code, body)
		}
	}

	want(200, `{"status":"starting","temporal":"ok","checks":"running"}`)
	status.Waiting(Wait{API: APIAwardForce, Err: &awardforce.Error{StatusCode: 503, Message: "Maintenance in progress"},
		Attempt: 3, Delay: 4 * time.Second, Next: now.Add(4 * time.Second)})
	// Up and receiving webhooks while the APIs fail: healthy.
	want(200, `{"status":"starting","temporal":"ok","checks":"waiting for Award Force: HTTP 503: Maintenance in progress (attempt 3, next in 4s)"}`)
	now = now.Add(1500 * time.Millisecond) // the countdown runs
	want(200, `{"status":"starting","temporal":"ok","checks":"waiting for Award Force: HTTP 503: Maintenance in progress (attempt 3, next in 3s)"}`)

	temporal.err = errors.New("connection refused")
	want(503, `{"status":"unavailable","temporal":"unreachable","checks":"waiting for Award Force: HTTP 503: Maintenance in progress (attempt 3, next in 3s)"}`)
	temporal.err = nil

	status.answered(APIAwardForce)
	status.Passed()
	want(200, `{"status":"ok","temporal":"ok","checks":"passed"}`)
	temporal.err = errors.New("connection refused")
	want(503, `{"status":"unavailable","temporal":"unreachable","checks":"passed"}`)

	failed := NewStatus()
	failed.Failed(errors.New("award force (AWARDFORCE_API_URL, AWARDFORCE_API_KEY): awardforce: HTTP 403: Invalid API key."))
	temporal.err = nil
	h = testHandler(t, temporal, []Served{{Spec: pairing.Default()}}, failed)
	want(503, `{"status":"failed","temporal":"ok","checks":"failed: award force (AWARDFORCE_API_URL, AWARDFORCE_API_KEY): awardforce: HTTP 403: Invalid API key."}`)

	// Without a start-up check (HTTPHandler), only Temporal counts.
	h, err := HTTPHandler(temporal, config.Config{}, pairing.Default(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want(200, `{"status":"ok","temporal":"ok"}`)
}

func TestHealthzDuringAndAfterAnOutage(t *testing.T) {
	sb, cfg := startSandbox(t)
	sb.AwardForce.InjectFaults(1000, http.StatusServiceUnavailable) // until cleared
	status := NewStatus()
	h := testHandler(t, &frontend{}, []Served{{Config: cfg, Spec: pairing.Default()}}, status)
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func() (int, Health, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var body Health
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("not JSON: %q", raw)
		}
		return resp.StatusCode, body, string(raw)
	}

	done := make(chan error, 1)
	go func() {
		done <- Preflight(context.Background(), cfg, pairing.Default(),
			PreflightOptions{InitialDelay: 20 * time.Millisecond, MaxDelay: 50 * time.Millisecond, Status: status})
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		code, body, raw := get()
		if strings.HasPrefix(body.Checks, "waiting for Award Force: HTTP 503: Maintenance in progress (attempt ") {
			if code != http.StatusOK || body.Status != HealthStarting || body.Temporal != "ok" {
				t.Fatalf("while waiting: %d %s; want 200, starting", code, raw)
			}
			for _, secret := range []string{sandbox.APIKey, sandbox.ClientSecret} {
				if strings.Contains(raw, secret) {
					t.Fatalf("/healthz shows a secret: %s", raw)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz never said what the check waits for: %d %s", code, raw)
		}
	}

	sb.AwardForce.InjectFaults(0, 0) // Award Force is back
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the check did not pass once Award Force answered")
	}
	if code, _, raw := get(); code != http.StatusOK || strings.TrimSpace(raw) != `{"status":"ok","temporal":"ok","checks":"passed"}` {
		t.Fatalf("after the outage: %d %s", code, raw)
	}
}

// testHandler is the node's HTTP handler for served.
func testHandler(t *testing.T, c client.Client, served []Served, status *Status) http.Handler {
	t.Helper()
	routes := &webhookRoutes{}
	if err := routes.set(c, served, nil, nil); err != nil {
		t.Fatal(err)
	}
	return httpHandler(c, routes, nil, nil, status)
}
