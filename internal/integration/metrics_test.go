package integration

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/engine"
)

// The worker's METRICS_ADDR serves the Temporal SDK's metrics of that worker (its own
// registry: temporal_* with this test's namespace) beside the engine's: after a deal ran its
// intro email and went stale, the scrape, parsed by Prometheus's text parser, shows the
// SDK's requests and the SendEmail activity's executions in it-metrics, an email sent and a
// stale move.
func TestWorkerServesSDKAndEngineMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mainServer, "it-metrics", fixturePipeline(time.Hour))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	cfg := e.workerConfig()
	cfg.MetricsAddr = addr
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	go func() { done <- engine.RunWorker(ctx, cfg, logger) }()
	e.mu.Lock()
	e.stopWorker = func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(3 * time.Minute):
			t.Error("worker did not stop")
		}
	}
	e.mu.Unlock()

	created := e.create("metrics-1")
	e.smtp.WaitForMessages(t, 1, 30*time.Second)
	e.moveTo(created.DealID, "qualification", "m-q", time.Now())
	e.eventually("the stale move to nurturing", 30*time.Second, hasTransitionTo("nurturing", 3), created.DealID)

	// sum of the series of name whose labels include want (counts, for histograms).
	value := func(families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
		var sum float64
		for _, m := range families[name].GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			match := true
			for k, v := range want {
				match = match && labels[k] == v
			}
			if match {
				sum += m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
			}
		}
		return sum
	}
	// The SDK reports to the registry every second (opsmetrics.SDKReportEvery).
	var families map[string]*dto.MetricFamily
	sendEmail := map[string]string{"namespace": "it-metrics", "activity_type": "SendEmail"}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/metrics")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err = parser.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		if value(families, "temporal_activity_execution_latency_seconds", sendEmail) >= 1 {
			break
		}
		require.True(t, time.Now().Before(deadline), "no SendEmail executions in the SDK's metrics: %v", names(families))
	}

	require.Greater(t, value(families, "temporal_request_total", map[string]string{"namespace": "it-metrics"}), 0.0, "the SDK's requests to Temporal")
	require.Greater(t, value(families, "temporal_workflow_task_execution_latency_seconds", map[string]string{"namespace": "it-metrics", "workflow_type": "DealWorkflow"}), 0.0)
	require.GreaterOrEqual(t, value(families, "followup_emails_total", map[string]string{"outcome": "sent"}), 1.0)
	require.GreaterOrEqual(t, value(families, "followup_stage_transitions_total", map[string]string{"cause": "stale"}), 1.0)
	require.GreaterOrEqual(t, value(families, "followup_stage_transitions_total", map[string]string{"cause": "person"}), 1.0)
	require.GreaterOrEqual(t, value(families, "followup_send_seconds", nil), 1.0)
	require.NotContains(t, families, "followup_tasks_open", "the PostgreSQL gauges are the API's, not each worker's")
}

// names are the families' names and each one's first label set, for a failure's message.
func names(families map[string]*dto.MetricFamily) []string {
	var out []string
	for name, f := range families {
		if ms := f.GetMetric(); len(ms) > 0 {
			name += fmt.Sprint(ms[0].GetLabel())
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}
