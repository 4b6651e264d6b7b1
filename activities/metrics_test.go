package activities_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/internal/opsmetrics"
	"github.com/followup-engine/followup/internal/smtptest"
)

// scrape reads GET /metrics from the handler the API and the worker serve, parsed by
// Prometheus's own text parser: name{labels} → value (a histogram as its _count).
func scrape(t *testing.T) map[string]float64 {
	t.Helper()
	w := httptest.NewRecorder()
	opsmetrics.Handler(opsmetrics.Options{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, w.Code)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(w.Body)
	require.NoError(t, err)
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			key := name
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

// A real send through the activity to the test SMTP server moves the scraped counters: one
// email sent, one SMTP send timed; a bounce counts as bounced. A retry that finds the key
// already sent reports it again but counts nothing. Not parallel: the counters are the
// process's, and this test wants exact differences (parallel tests wait until it ends).
func TestMetricsCountSendsByOutcome(t *testing.T) {
	before := scrape(t)
	f := newFixture(t)
	in := f.input("intro", 1)
	res, err := f.send(in)
	require.NoError(t, err)
	require.Equal(t, activities.SendSent, res.Outcome)
	f.smtp.WaitForMessages(t, 1, 5*time.Second)

	after := scrape(t)
	require.Equal(t, before["followup_emails_total{outcome=sent}"]+1, after["followup_emails_total{outcome=sent}"], "one email sent")
	require.Equal(t, before["followup_send_seconds_count"]+1, after["followup_send_seconds_count"], "one SMTP send timed")

	again, err := f.send(in)
	require.NoError(t, err)
	require.Equal(t, activities.SendSent, again.Outcome)
	require.Equal(t, after["followup_emails_total{outcome=sent}"], scrape(t)["followup_emails_total{outcome=sent}"],
		"a retry that finds the key sent counts nothing")

	b := newFixture(t)
	b.smtp.Enqueue(smtptest.Fault{Stage: smtptest.AtRcpt, Code: 550, Enhanced: "5.1.1", Message: "no such user"})
	res, err = b.send(b.input("intro", 1))
	require.NoError(t, err)
	require.Equal(t, activities.SendBounced, res.Outcome)
	last := scrape(t)
	require.Equal(t, after["followup_emails_total{outcome=bounced}"]+1, last["followup_emails_total{outcome=bounced}"])
	require.Equal(t, after["followup_send_seconds_count"]+1, last["followup_send_seconds_count"])
}

// A transition counts once: the activity retried after its row was written (a worker that
// died before reporting) finds its row and counts nothing. Not parallel, as above.
func TestMetricsCountATransitionOnce(t *testing.T) {
	f := newFixture(t)
	key := "followup_stage_transitions_total{cause=other}" // no inbound event named
	before := scrape(t)[key]
	in := activities.TransitionInput{DealID: f.deal.ID, Visit: 1, To: "prospecting", At: time.Now(), Source: "crm", SourceEventID: "crm-move-1"}
	require.NoError(t, f.acts.RecordTransition(t.Context(), in))
	require.NoError(t, f.acts.RecordTransition(t.Context(), in), "the retry finds its own row")
	require.Equal(t, before+1, scrape(t)[key])
}
