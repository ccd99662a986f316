package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.HTTP.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d\n%s", rec.Code, body)
	}
	return string(body)
}

func TestTemporalMetricsReachPrometheus(t *testing.T) {
	m, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	h := m.Handler.WithTags(map[string]string{"outcome": "created"})
	h.Counter("afsync_user_syncs").Inc(2)
	h.Counter("afsync_user_syncs").Inc(1)
	m.Handler.Timer("temporal_activity_execution_latency").Record(1500 * time.Millisecond)
	used := int64(0)
	if err := m.ObserveGauge("afsync_salesforce_api_used", "calls", func() (int64, bool) { return used, used > 0 }); err != nil {
		t.Fatal(err)
	}

	body := scrape(t, m)
	for _, want := range []string{
		`afsync_user_syncs_total{outcome="created"} 3`,
		`temporal_activity_execution_latency_seconds_count 1`,
		`temporal_activity_execution_latency_seconds_sum 1.5`,
		// Bounds in seconds: 1.5 s is above 1 s and within 2.5 s.
		`temporal_activity_execution_latency_seconds_bucket{le="1"} 0`,
		`temporal_activity_execution_latency_seconds_bucket{le="2.5"} 1`,
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q in:\n%s", want, body)
		}
	}
	if strings.Contains(body, "afsync_salesforce_api_used") {
		t.Errorf("a gauge with nothing to report must not appear:\n%s", body)
	}
	used = 4242
	if body := scrape(t, m); !strings.Contains(body, "afsync_salesforce_api_used 4242") {
		t.Errorf("the gauge must be read at scrape time:\n%s", body)
	}
}

func TestWebhookAnswersAreCountedByStatus(t *testing.T) {
	m, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	h := m.Webhook(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("answer") {
		case "refused":
			http.Error(w, "invalid signature", http.StatusUnauthorized)
		case "accepted":
			w.WriteHeader(http.StatusAccepted)
		default:
			_, _ = w.Write([]byte(`{"status":"ignored"}`)) // an implicit 200
		}
	}), "awards")

	// Before any delivery every answer is there at zero: a first refusal
	// is then an increase Prometheus sees.
	body := scrape(t, m)
	for _, want := range []string{`afsync_webhook_requests_total{code="401",integration="awards"} 0`, `afsync_webhook_requests_total{code="202",integration="awards"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q in:\n%s", want, body)
		}
	}

	for _, answer := range []string{"refused", "refused", "accepted", "ignored"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/webhooks/awardforce?answer="+answer, nil))
	}
	body = scrape(t, m)
	for _, want := range []string{
		`afsync_webhook_requests_total{code="401",integration="awards"} 2`,
		`afsync_webhook_requests_total{code="202",integration="awards"} 1`,
		`afsync_webhook_requests_total{code="200",integration="awards"} 1`,
		`afsync_webhook_requests_total{code="503",integration="awards"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q in:\n%s", want, body)
		}
	}
}
