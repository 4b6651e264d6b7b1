package httpapi_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/httpapi"
	"github.com/followup-engine/followup/internal/opsmetrics"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/temporaltest"
)

// lockedBuffer is a log sink the server's goroutines write while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// jsonLogServer serves the real handler over a fresh database, logging through the logger
// LOG_FORMAT=json makes, with the metrics on and METRICS_TOKEN as given.
func jsonLogServer(t *testing.T, metricsToken string) (*httptest.Server, *lockedBuffer) {
	t.Helper()
	ops, err := config.LoadOps(config.MapEnv{"LOG_FORMAT": "json"})
	require.NoError(t, err)
	logs := &lockedBuffer{}
	pool := pgtest.New(t)
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: temporaltest.QuietLogger()})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	h := (&httpapi.Server{Deals: &deals.Service{Store: store.New(pool), Temporal: c}, Token: token, Logger: ops.Logger(logs),
		Metrics: opsmetrics.Handler(opsmetrics.Options{}), MetricsToken: metricsToken}).Handler()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, logs
}

func get(t *testing.T, url, bearer string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// accessLines are the access log's lines: with LOG_FORMAT=json every line of the log is one
// JSON object.
func accessLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var line map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line), "LOG_FORMAT=json: every line is JSON: %s", sc.Text())
		require.Contains(t, line, "time")
		require.Contains(t, line, "level")
		if line["msg"] == "http request" {
			out = append(out, line)
		}
	}
	return out
}

// The access log has one JSON line per request: the method, the route's pattern (not the
// path with the deal's id, not the query string), the status, the duration and the role; no
// token, good or bad, is in the log. Health checks are not logged.
func TestAccessLogNamesTheRouteNeverThePathOrTheToken(t *testing.T) {
	t.Parallel()
	srv, logs := jsonLogServer(t, "")
	const dealID = "0b5bd4b0-5a57-4b0e-9c43-3d1f7e0f7a11"
	require.Equal(t, http.StatusNotFound, get(t, srv.URL+"/api/deals/"+dealID+"?email=bob@prospect.test", token).StatusCode)
	const wrong = "wrong-token-but-secret-987654321"
	require.Equal(t, http.StatusUnauthorized, get(t, srv.URL+"/api/deals/"+dealID, wrong).StatusCode)
	require.Equal(t, http.StatusNotFound, get(t, srv.URL+"/no/such/"+dealID, "").StatusCode)
	require.Equal(t, http.StatusOK, get(t, srv.URL+"/healthz", "").StatusCode)

	text := logs.String()
	for _, secret := range []string{token, wrong, "bob@prospect.test", "email="} {
		require.NotContains(t, text, secret)
	}
	lines := accessLines(t, text)
	require.Len(t, lines, 3, "one line per request, none for /healthz:\n%s", text)
	for _, l := range lines {
		require.NotContains(t, l["route"], dealID)
		require.Greater(t, l["duration_ms"], 0.0)
		require.Equal(t, "GET", l["method"])
	}
	require.Equal(t, "GET /api/deals/{deal}", lines[0]["route"])
	require.Equal(t, 404.0, lines[0]["status"])
	require.Equal(t, "ops", lines[0]["role"])
	require.Equal(t, "GET /api/deals/{deal}", lines[1]["route"])
	require.Equal(t, 401.0, lines[1]["status"])
	require.Equal(t, "none", lines[1]["role"])
	require.Equal(t, "unmatched", lines[2]["route"])
	require.Equal(t, 404.0, lines[2]["status"])
}

// GET /metrics on the API's port counts the API's own requests by route and status; with
// METRICS_TOKEN set it wants that token, and the API token does not open it.
func TestMetricsRouteCountsRequestsBehindItsOwnToken(t *testing.T) {
	t.Parallel()
	const metricsToken = "metrics-token-0123456789"
	srv, _ := jsonLogServer(t, metricsToken)
	require.Equal(t, http.StatusUnauthorized, get(t, srv.URL+"/metrics", "").StatusCode)
	require.Equal(t, http.StatusUnauthorized, get(t, srv.URL+"/metrics", token).StatusCode, "the API token opens nothing here")

	count := func() float64 {
		resp := get(t, srv.URL+"/metrics", metricsToken)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(resp.Body)
		require.NoError(t, err)
		var n float64
		for _, m := range families["followup_http_requests_total"].GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == "POST /api/cadences/preview" && labels["code"] == "400" && labels["method"] == "POST" {
				n += m.GetCounter().GetValue()
			}
		}
		return n
	}
	before := count()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/cadences/preview", strings.NewReader("{not json"))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.GreaterOrEqual(t, count(), before+1, "the bad request is counted under its route")
}
