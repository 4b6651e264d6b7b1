package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/store"
)

// GET /api/pipelines/{id}/metrics answers the report for the period asked (by default the
// last 90 days to tomorrow), refuses bad dates and periods with 400 and a message naming
// them, an unknown pipeline with 404, and reps and integrations with 403.
func TestPipelineMetricsRoute(t *testing.T) {
	t.Parallel()
	a := newAPI(t, noTemporal, nil)
	ctx := context.Background()
	d := seedDeal(t, a, "ana@vendor.test", "", "bob@prospect.test")
	entered := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	require.NoError(t, a.store.RecordTransition(ctx, store.Transition{DealID: d.ID, Visit: 1, To: "prospecting", At: entered, Source: "crm"}))
	require.NoError(t, a.store.RecordTransition(ctx, store.Transition{DealID: d.ID, Visit: 2, From: "prospecting", To: "qualification",
		At: entered.Add(36 * time.Hour), Source: "crm"}))
	_, err := a.store.SetDealValue(ctx, d.ID, store.ValueChange{DealValue: store.DealValue{Amount: "1500.50", Currency: "EUR"}, Source: "crm"})
	require.NoError(t, err)

	r := a.do("GET", "/api/pipelines/b2b-default/metrics?from=2026-11-01&to=2026-12-01&owner=ana@vendor.test", "")
	require.Equal(t, http.StatusOK, r.status, r.raw)
	query := r.body["query"].(map[string]any)
	require.Equal(t, "2026-11-01T00:00:00Z", query["from"])
	require.Equal(t, "2026-12-01T00:00:00Z", query["to"])
	require.Equal(t, "ana@vendor.test", query["owner"])
	prospecting := r.body["stages"].([]any)[0].(map[string]any)
	require.Equal(t, "prospecting", prospecting["stage"])
	require.Equal(t, 1.0, prospecting["entered"])
	require.Equal(t, 1.0, prospecting["direct"])
	require.Equal(t, 129600.0, prospecting["median_seconds"])
	open := r.body["open"].(map[string]any)
	require.Equal(t, 1.0, open["deals"])
	require.Equal(t, []any{map[string]any{"currency": "EUR", "amount": "1500.50"}}, open["pipeline"])

	r = a.do("GET", "/api/pipelines/b2b-default/metrics", "")
	require.Equal(t, http.StatusOK, r.status, r.raw)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	query = r.body["query"].(map[string]any)
	require.Equal(t, today.AddDate(0, 0, -90).Format(time.RFC3339), query["from"])
	require.Equal(t, today.AddDate(0, 0, 1).Format(time.RFC3339), query["to"])

	for bad, says := range map[string]string{
		"?from=yesterday":                    `from "yesterday": want a date YYYY-MM-DD`,
		"?to=2026-13-01":                     `to "2026-13-01": want a date YYYY-MM-DD`,
		"?from=2026-12-01&to=2026-11-01":     "from (2026-12-01) must be before to (2026-11-01)",
		"?from=2024-01-01&to=2026-01-02":     "the period is at most 2 years",
		"?owner=" + strings.Repeat("a", 300): "owner: at most 254 characters",
	} {
		r := a.do("GET", "/api/pipelines/b2b-default/metrics"+bad, "")
		require.Equal(t, http.StatusBadRequest, r.status, bad)
		require.Contains(t, text(r), says, bad)
	}
	r = a.do("GET", "/api/pipelines/no-such-pipeline/metrics", "")
	require.Equal(t, http.StatusNotFound, r.status, r.raw)
	require.Contains(t, text(r), "no-such-pipeline")

	for _, role := range []store.Role{store.RoleRep, store.RoleIntegration} {
		tok := a.token(string(role)+"@vendor.test", role)
		r := a.do("GET", "/api/pipelines/b2b-default/metrics", "", "Authorization", "Bearer "+tok)
		require.Equal(t, http.StatusForbidden, r.status, role)
	}
}
