// Package metrics exposes a worker's metrics to Prometheus: the Temporal
// SDK's own (workflow and activity latencies and failures, task-queue polls,
// sticky cache) and afsync's (sync outcomes, Salesforce API usage), all
// recorded through the SDK's MetricsHandler so that workflow code stays
// replay-safe.
//
// The Prometheus names follow OpenTelemetry's translation: counters end in
// _total, timers are histograms in seconds (…_seconds_bucket). For example
// temporal_workflow_completed_total, temporal_activity_execution_failed_total,
// afsync_user_syncs_total{outcome="created"}, afsync_salesforce_api_used and
// afsync_webhook_requests_total{code="401"}.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// Metrics is a worker's metrics pipeline: the handler the Temporal client
// records through, and the HTTP handler Prometheus scrapes.
type Metrics struct {
	// Handler goes into client.Options.MetricsHandler.
	Handler client.MetricsHandler
	// HTTP serves the Prometheus text format (mount it at /metrics).
	HTTP     http.Handler
	provider *sdkmetric.MeterProvider
}

// New builds the pipeline on a registry of its own (no global state, so
// several workers can live in one process, as they do in the tests). A
// metric that cannot be recorded is logged, never fatal.
func New(logger *slog.Logger) (*Metrics, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, err
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithView(secondsView))
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	handler := temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter:                provider.Meter("afsync"),
		UseMonotonicCounters: true,
		OnError:              func(err error) { logger.Warn("Could not record a metric", "error", err) },
	})
	return &Metrics{
		Handler:  handler,
		HTTP:     promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{logger}}),
		provider: provider,
	}, nil
}

// LatencyBuckets are the upper bounds, in seconds, of every latency
// histogram (…_seconds_bucket): the SDK's timers (a workflow task's
// schedule-to-start, an activity's execution, an RPC) from a millisecond to
// a minute, and afsync's permit waits up to an hour. OpenTelemetry's
// default bounds (0, 5, 10, 25 … 10000) are meant for milliseconds: in
// seconds they put nearly every task and request in the first bucket.
var LatencyBuckets = []float64{
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
	30, 60, 120, 300, 600, 1800, 3600,
}

// secondsView gives every histogram LatencyBuckets: the SDK records all its
// timers, and afsync its waits, in seconds.
var secondsView = sdkmetric.NewView(
	sdkmetric.Instrument{Kind: sdkmetric.InstrumentKindHistogram},
	sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: LatencyBuckets}},
)

// ObserveGauge reports what fn returns as the gauge name at every scrape;
// fn answers ok=false while it has nothing to report yet.
func (m *Metrics) ObserveGauge(name, help string, fn func() (v int64, ok bool)) error {
	return m.ObserveGauges(name, help, func() []Observation {
		if v, ok := fn(); ok {
			return []Observation{{Value: v}}
		}
		return nil
	})
}

// Observation is one series of a gauge: its value and its labels.
type Observation struct {
	Value  int64
	Labels map[string]string
}

// ObserveGauges reports the series fn returns as the gauge name at every
// scrape (none while it has nothing to report).
func (m *Metrics) ObserveGauges(name, help string, fn func() []Observation) error {
	_, err := m.provider.Meter("afsync").Int64ObservableGauge(name, metric.WithDescription(help),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for _, ob := range fn() {
				var attrs []attribute.KeyValue
				for k, v := range ob.Labels {
					attrs = append(attrs, attribute.String(k, v))
				}
				o.Observe(ob.Value, metric.WithAttributes(attrs...))
			}
			return nil
		}))
	return err
}

// WebhookRequests counts the Award Force webhook's answers by HTTP status,
// tagged code (Prometheus: afsync_webhook_requests_total{code="401"}): 202
// started a sync, 200 was a duplicate or an event that starts none, 401 was
// refused for a bad signature (a wrong AWARDFORCE_WEBHOOK_SIGNING_KEY, or
// someone else posting), 400 and 413 a malformed delivery, 503 Temporal not
// taking the sync. Webhook records it.
const WebhookRequests = "afsync_webhook_requests"

// webhookCodes are the answers the webhook handler gives; Webhook counts them
// from zero, so that a first refusal is an increase Prometheus can see.
var webhookCodes = []int{
	http.StatusOK, http.StatusAccepted, http.StatusBadRequest, http.StatusUnauthorized,
	http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable,
}

// Webhook returns next (the Award Force webhook handler of integration)
// counting each of its answers in WebhookRequests, labelled with the
// integration.
func (m *Metrics) Webhook(next http.Handler, integration string) http.Handler {
	for _, code := range webhookCodes {
		m.webhookCounter(code, integration).Inc(0)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		m.webhookCounter(sw.status(), integration).Inc(1)
	})
}

func (m *Metrics) webhookCounter(code int, integration string) client.MetricsCounter {
	return m.Handler.WithTags(map[string]string{"code": strconv.Itoa(code), "integration": integration}).Counter(WebhookRequests)
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK // nothing written: net/http answers 200
	}
	return w.code
}

// Close flushes and stops the pipeline.
func (m *Metrics) Close(ctx context.Context) error {
	return m.provider.Shutdown(ctx)
}

// slogPrinter lets promhttp report scrape errors through slog.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.l.Warn("Serving metrics", "error", v) }
