// Package metrics exposes a worker's metrics to Prometheus: the Temporal
// SDK's own (workflow and activity latencies and failures, task-queue polls,
// sticky cache) and afsync's (sync outcomes, Salesforce API usage), all
// recorded through the SDK's MetricsHandler so that workflow code stays
// replay-safe.
//
// The Prometheus names follow OpenTelemetry's translation: counters end in
// _total, timers are histograms in seconds (…_seconds_bucket). For example
// temporal_workflow_completed_total, temporal_activity_execution_failed_total,
// afsync_user_syncs_total{outcome="created"} and afsync_salesforce_api_used.
package metrics

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
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

// ObserveGauge reports what fn returns as the gauge name at every scrape;
// fn answers ok=false while it has nothing to report yet.
func (m *Metrics) ObserveGauge(name, help string, fn func() (v int64, ok bool)) error {
	_, err := m.provider.Meter("afsync").Int64ObservableGauge(name, metric.WithDescription(help),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			if v, ok := fn(); ok {
				o.Observe(v)
			}
			return nil
		}))
	return err
}

// Close flushes and stops the pipeline.
func (m *Metrics) Close(ctx context.Context) error {
	return m.provider.Shutdown(ctx)
}

// slogPrinter lets promhttp report scrape errors through slog.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.l.Warn("Serving metrics", "error", v) }
