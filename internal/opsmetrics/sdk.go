package opsmetrics

import (
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// SDKReportEvery is how often the Temporal SDK's metrics reach the Prometheus registry.
const SDKReportEvery = time.Second

// SDKMetrics is the Temporal SDK's metrics handler (client.Options.MetricsHandler), through
// tally into a Prometheus registry of its own, named as Temporal's other SDKs name them
// (temporal_request_total, temporal_workflow_task_execution_latency_seconds, …). Serve the
// gatherer with Handler (Options.SDK); close the closer when the client is closed.
func SDKMetrics() (client.MetricsHandler, prometheus.Gatherer, io.Closer) {
	reg := prometheus.NewRegistry()
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:       reg,
		DefaultTimerType: tallyprom.HistogramTimerType,
		OnRegisterError:  func(error) {}, // a name registered twice keeps its first; the SDK's names are fixed
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, SDKReportEvery)
	return sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)), reg, closer
}
