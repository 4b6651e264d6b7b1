package store_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/opsmetrics"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
)

// The gauges a scrape reads: open and overdue tasks move as tasks are created and closed, the
// sweeper's backlog as an event waits in received and is signalled; the metrics handler
// serves them.
func TestOpsGaugesFollowTasksAndTheBacklog(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	g, err := st.OpsGauges(ctx)
	require.NoError(t, err)
	require.Equal(t, opsmetrics.Gauges{}, g)

	received := time.Now()
	create := store.NewDeal{
		Source: "gauges-test", ExternalID: "g-1", Owner: store.OwnerInput{Email: "ana@vendor.test"},
		Contact:        store.ContactInput{Email: "bob@prospect.test"},
		CadenceVersion: cadence.DefaultVersion, EventID: "create:g-1", SourceTime: time.Now(),
	}
	c, err := st.CreateDeal(ctx, create)
	require.NoError(t, err)
	_, err = st.CreateDeal(ctx, create) // the same event again
	require.NoError(t, err)
	now := time.Now()
	overdue, err := st.CreateTask(ctx, store.NewTask{DealID: c.Deal.ID, Visit: 1, StepID: "call", Occurrence: 1, Kind: "call",
		Title: "Call", DueAt: now.Add(-time.Hour), At: now})
	require.NoError(t, err)
	_, err = st.CreateTask(ctx, store.NewTask{DealID: c.Deal.ID, Visit: 1, StepID: "todo", Occurrence: 1, Kind: "todo",
		Title: "Later", DueAt: now.Add(time.Hour), At: now})
	require.NoError(t, err)

	g, err = st.OpsGauges(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2), g.TasksOpen)
	require.Equal(t, int64(1), g.TasksOverdue)
	require.Equal(t, int64(1), g.SweeperBacklog, "the create's event waits in received")
	require.Greater(t, g.OldestReceived, 0.0)
	require.LessOrEqual(t, g.OldestReceived, time.Since(received).Seconds()+1)

	w := httptest.NewRecorder()
	opsmetrics.Handler(opsmetrics.Options{Gauges: st.OpsGauges}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, w.Code)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(w.Body)
	require.NoError(t, err)
	for name, want := range map[string]float64{"followup_tasks_open": 2, "followup_tasks_overdue": 1, "followup_sweeper_backlog": 1} {
		require.Len(t, families[name].GetMetric(), 1, name)
		require.Equal(t, want, families[name].GetMetric()[0].GetGauge().GetValue(), name)
	}
	require.Equal(t, map[string]float64{"received": 1, "retried": 1}, fates(families, "gauges-test"),
		"the store counts each event's fate where it writes it (this test's source is its own)")

	closed, err := st.CloseTask(ctx, c.Deal.ID, overdue.ID, "done", now, "called")
	require.NoError(t, err)
	require.True(t, closed)
	require.NoError(t, st.MarkEventSignalled(ctx, c.Event.ID))
	g, err = st.OpsGauges(ctx)
	require.NoError(t, err)
	require.Equal(t, opsmetrics.Gauges{TasksOpen: 1}, g)
	require.NoError(t, st.MarkEventSignalled(ctx, c.Event.ID)) // signalled already: no change
	w = httptest.NewRecorder()
	opsmetrics.Handler(opsmetrics.Options{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	families, err = parser.TextToMetricFamilies(w.Body)
	require.NoError(t, err)
	require.Equal(t, map[string]float64{"received": 1, "retried": 1, "signalled": 1}, fates(families, "gauges-test"))
}

// fates reads followup_inbound_events_total of one source: fate → count.
func fates(families map[string]*dto.MetricFamily, source string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range families["followup_inbound_events_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["source"] == source {
			out[labels["fate"]] += m.GetCounter().GetValue()
		}
	}
	return out
}
