package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthURLProbesTheListenPortOnLoopback(t *testing.T) {
	for addr, want := range map[string]string{
		"0.0.0.0:8234":   "http://127.0.0.1:8234/healthz",
		":9000":          "http://127.0.0.1:9000/healthz",
		"[::]:8234":      "http://127.0.0.1:8234/healthz",
		"127.0.0.1:8234": "http://127.0.0.1:8234/healthz",
		"10.0.0.5:80":    "http://10.0.0.5:80/healthz",
	} {
		if got, err := healthURL(addr); err != nil || got != want {
			t.Errorf("healthURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
	for _, bad := range []string{"", "8234"} {
		if _, err := healthURL(bad); err == nil || !strings.Contains(err.Error(), "AFSYNC_HTTP_ADDR") {
			t.Errorf("healthURL(%q): want an error naming AFSYNC_HTTP_ADDR, got %v", bad, err)
		}
	}
}

func TestHealthcheckExitsByTheWorkersAnswer(t *testing.T) {
	// The bodies afworker's /healthz answers.
	status, body := http.StatusOK, `{"status":"ok","temporal":"ok","checks":"passed"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body + "\n"))
	}))
	defer srv.Close()
	if err := execute(t, "healthcheck", "--url", srv.URL+"/healthz"); err != nil {
		t.Fatalf("healthy worker: %v", err)
	}
	// During an outage of the APIs the worker is up and receives webhooks.
	body = `{"status":"starting","temporal":"ok","checks":"waiting for Award Force: HTTP 503: Maintenance in progress (attempt 3, next in 4s)"}`
	if out, err := executeOut(t, "healthcheck", "--url", srv.URL+"/healthz"); err != nil || !strings.Contains(out, "waiting for Award Force") {
		t.Fatalf("worker waiting for the APIs: %v, printed %q; want healthy, saying what it waits for", err, out)
	}
	status, body = http.StatusServiceUnavailable, `{"status":"unavailable","temporal":"unreachable","checks":"passed"}`
	if err := execute(t, "healthcheck", "--url", srv.URL+"/healthz"); err == nil || !strings.Contains(err.Error(), `"temporal":"unreachable"`) {
		t.Fatalf("unhealthy worker: want its reason, got %v", err)
	}
	srv.Close()
	if err := execute(t, "healthcheck", "--url", srv.URL+"/healthz"); err == nil {
		t.Fatal("no worker listening: want an error")
	}
	t.Setenv("AFSYNC_HTTP_ADDR", "")
	if err := execute(t, "healthcheck"); err == nil || !strings.Contains(err.Error(), "AFSYNC_HTTP_ADDR") {
		t.Fatalf("no address: want an error naming AFSYNC_HTTP_ADDR, got %v", err)
	}
}
