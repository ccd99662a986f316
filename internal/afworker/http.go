package afworker

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/internal/codec"
	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/internal/metrics"
	"github.com/afsync/afsync/internal/webhook"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/workflows"
)

// SyncStarter starts UserSync workflows for webhook events.
type SyncStarter struct {
	Client client.Client
	// Names are the integration's whose webhooks these are.
	Names workflows.Names
	Spec  *pairing.Spec
}

// StartUserSync starts the sync of the event's user, or tells the running
// one to sync again (workflows.StartUserSync); a version already synced is
// a duplicate and starts nothing.
func (s *SyncStarter) StartUserSync(ctx context.Context, ev webhook.Event) (bool, error) {
	_, err := workflows.StartUserSync(ctx, s.Client, s.Names, s.Spec, workflows.SyncRequest{Slug: ev.Slug, Trigger: ev.Trigger, Profile: ev.Profile})
	if errors.Is(err, workflows.ErrAlreadySynced) {
		return true, nil
	}
	return false, err
}

// HTTPHandler serves the worker's endpoints: GET /healthz always (a Health
// body; 200 while the Temporal frontend answers, 503 otherwise); GET
// /metrics when metrics is not nil; POST /webhooks/awardforce when a signing
// key is configured; the codec server under /codec/ when payload encryption
// is on. Boot serves it with the start-up check's Status (see Health).
func HTTPHandler(c client.Client, cfg config.Config, spec *pairing.Spec, m *metrics.Metrics, logger *slog.Logger) (http.Handler, error) {
	routes := &webhookRoutes{}
	if err := routes.set(c, []Served{{Names: workflows.DefaultNames, Config: cfg, Spec: spec}}, m, logger); err != nil {
		return nil, err
	}
	return httpHandler(c, routes, m, logger, nil), nil
}

// Health is the JSON body of GET /healthz, e.g.
// {"status":"starting","temporal":"ok","checks":"waiting for Award Force: HTTP 503: Maintenance in progress (attempt 3, next in 4s)"}.
type Health struct {
	// Status is "ok" (working), "starting" (the start-up check has not
	// passed yet: webhooks are accepted, nothing is polled), "failed" (the
	// check failed for good; the worker is exiting) or "unavailable" (the
	// Temporal frontend does not answer).
	Status string `json:"status"`
	// Temporal is "ok" or "unreachable".
	Temporal string `json:"temporal"`
	// Checks is where the start-up check stands (Status.Checks); absent
	// when the handler has no Status.
	Checks string `json:"checks,omitempty"`
}

// Health statuses.
const (
	HealthOK          = "ok"
	HealthStarting    = "starting"
	HealthFailed      = "failed"
	HealthUnavailable = "unavailable"
)

// httpHandler is HTTPHandler whose /healthz also tells where the start-up
// check stands (status may be nil), and whose webhooks go where routes says
// at the moment each arrives.
func httpHandler(c client.Client, routes *webhookRoutes, m *metrics.Metrics, logger *slog.Logger, status *Status) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		// Healthy means up and able to work once the APIs answer: the
		// Temporal frontend answers. A start-up check still waiting for
		// the APIs is reported, not unhealthy: the worker receives
		// webhooks meanwhile, and restarting it would not help.
		h, code := Health{Status: HealthOK, Temporal: "ok"}, http.StatusOK
		if status != nil {
			h.Checks = status.Checks()
			switch status.current() {
			case checkRunning:
				h.Status = HealthStarting
			case checkFailed:
				h.Status, code = HealthFailed, http.StatusServiceUnavailable
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			logger.Warn("Health check: Temporal unreachable", "error", err)
			h.Status, h.Temporal, code = HealthUnavailable, "unreachable", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(h)
	})
	if m != nil {
		mux.Handle("GET /metrics", m.HTTP)
	}
	mux.Handle("/webhooks/awardforce/{id}", routes)
	mux.Handle("/webhooks/awardforce", routes) // the default's, where it was before integrations
	return mux
}

// webhookRoutes sends each Award Force webhook to its integration's
// handler, by the integration id in its path (none: the default): each
// checks the payload with its integration's signing key, so a payload
// signed for another is refused. Reload replaces the set; an integration
// that has none (no signing key, or not served) is not found (404).
type webhookRoutes struct {
	by atomic.Pointer[map[string]http.Handler]
}

func (wr *webhookRoutes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := cmp.Or(r.PathValue("id"), workflows.DefaultIntegration)
	var h http.Handler
	if by := wr.by.Load(); by != nil {
		h = (*by)[id]
	}
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h.ServeHTTP(w, r)
}

// set routes the webhooks of served, and no other's.
func (wr *webhookRoutes) set(c client.Client, served []Served, m *metrics.Metrics, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	by := map[string]http.Handler{}
	for _, s := range served {
		if s.Config.WebhookSigningKey == "" {
			continue
		}
		h, err := webhook.NewHandler(webhook.Options{
			SigningKey: s.Config.WebhookSigningKey,
			Starter:    &SyncStarter{Client: c, Names: s.Names, Spec: s.Spec},
			Logger:     logger.With("integration", s.Names.Integration()),
		})
		if err != nil {
			return s.Named(err)
		}
		if m != nil {
			h = m.Webhook(h, s.Names.Integration()) // its answers by status code: 401s are bad signatures
		}
		by[s.Names.Integration()] = h
	}
	wr.by.Store(&by)
	return nil
}

// webhookPath is where the integration's Award Force webhooks are received:
// each is checked with that integration's signing key, so a payload signed
// for another is refused.
func webhookPath(n workflows.Names) string { return "/webhooks/awardforce/" + n.Integration() }

// codecHandler serves the payload codec under /codec/ for the Temporal UI,
// nil when no codec key is set (payloads are plain).
func codecHandler(cfg config.Config) (http.Handler, error) {
	cd, err := codec.FromEnv(os.Getenv)
	if err != nil || cd == nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/codec/", http.StripPrefix("/codec", codec.Handler(cd, codec.HandlerOptions{
		AllowedOrigins: cfg.CodecCORSOrigins, Token: cfg.CodecToken,
	})))
	return mux, nil
}

func listen(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s / --http-addr %s: %w", config.EnvHTTPAddr, addr, err)
	}
	return l, nil
}

// httpTimeouts bounds every connection of the worker's HTTP server, so that
// a client sending its request slowly (slowloris) or never reading the answer
// cannot hold a connection, and a goroutine, for ever.
type httpTimeouts struct {
	// ReadHeader bounds reading a request's headers.
	ReadHeader time.Duration
	// Read bounds reading a whole request, body included: webhook bodies
	// are at most 1 MiB (webhook.DefaultMaxBodyBytes), codec requests
	// at most 16 MiB.
	Read time.Duration
	// Write bounds answering, from the end of the headers: a webhook may
	// wait up to 15 s for the start of its sync; /healthz at most 3 s;
	// /metrics is fast.
	Write time.Duration
	// Idle bounds how long a keep-alive connection waits for its next
	// request.
	Idle time.Duration
}

// serverTimeouts are the production timeouts; tests shorten them.
var serverTimeouts = httpTimeouts{
	ReadHeader: 5 * time.Second,
	Read:       20 * time.Second,
	Write:      45 * time.Second,
	Idle:       2 * time.Minute,
}

// newServer returns the worker's HTTP server for h, with serverTimeouts.
func newServer(h http.Handler) *http.Server {
	t := serverTimeouts
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
	}
}

// serve serves h on l until ctx ends, then shuts down gracefully (5 s).
func serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := newServer(h)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-stopped // requests in flight have been answered
	return nil
}
