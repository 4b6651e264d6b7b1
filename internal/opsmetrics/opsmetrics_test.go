package opsmetrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

func scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	w := httptest.NewRecorder()
	Handler(Options{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, w.Code)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(w.Body)
	require.NoError(t, err)
	return families
}

// The mailbox lag is labelled by position, never by the mailbox's name; it is the time since
// the last poll that worked, or since the intake started; a mailbox not watched is ignored.
func TestMailboxLagByPosition(t *testing.T) {
	start := time.Now().Add(-time.Minute)
	labels := WatchMailboxes([]string{"ana@vendor.test", "sales@vendor.test"}, start)
	require.Equal(t, []string{"1", "2"}, labels)
	MailboxPolled("sales@vendor.test", time.Now())
	MailboxPolled("someone-else@vendor.test", time.Now())

	lag := map[string]float64{}
	for _, m := range scrape(t)["followup_mailbox_poll_lag_seconds"].GetMetric() {
		require.Len(t, m.GetLabel(), 1)
		require.Equal(t, "mailbox", m.GetLabel()[0].GetName())
		lag[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
	}
	require.Len(t, lag, 2, "the watched mailboxes only, by position")
	require.GreaterOrEqual(t, lag["1"], 60.0, "never polled: since the intake started")
	require.Less(t, lag["2"], 5.0, "polled just now")
}

// A source's label is its name for the first MaxSources sources, then "other": callers name
// sources, and the label must stay bounded.
func TestInboundSourcesAreBounded(t *testing.T) {
	for i := range MaxSources + 10 {
		CountInboundEvent(fmt.Sprintf("src-%d", i), "received")
	}
	CountInboundEvent("src-0", "applied") // a known source keeps its name
	seen := map[string]bool{}
	for _, m := range scrape(t)["followup_inbound_events_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "source" {
				seen[l.GetValue()] = true
			}
		}
	}
	require.LessOrEqual(t, len(seen), MaxSources+1, "at most MaxSources names and other")
	require.True(t, seen[OtherSource])
	require.True(t, seen["src-0"])
}
