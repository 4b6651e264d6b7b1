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

// sanitize is Temporal's Prometheus naming (sdktally.PrometheusSanitizeOptions) for names
// and label keys, but label values keep the characters of namespaces, task queues and types
// as written (it-metrics, followup-deals), so they match what Temporal's UI and CLI show.
var sanitize = tally.SanitizeOptions{
	NameCharacters: sdktally.PrometheusSanitizeOptions.NameCharacters,
	KeyCharacters:  sdktally.PrometheusSanitizeOptions.KeyCharacters,
	ValueCharacters: tally.ValidCharacters{Ranges: tally.AlphanumericRange,
		Characters: []rune{'_', '-', '.', ':', '/', '@'}},
	ReplacementCharacter: tally.DefaultReplacementCharacter,
}

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
		SanitizeOptions: &sanitize,
	}, SDKReportEvery)
	return sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)), reg, closer
}
