package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"

	"github.com/followup-engine/followup/internal/deals"
)

// postgresDown is the error pgx gives when PostgreSQL does not answer: a connection refused.
func postgresDown(t *testing.T) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := pgconn.Connect(ctx, "postgres://followup@127.0.0.1:1/followup?sslmode=disable&connect_timeout=2")
	require.Error(t, err)
	return err
}

// writeError maps each kind of failure to its answer in one place: a recorded event whose
// delivery waits for Temporal is a 202 with the call's own answer; a dependency that does not
// answer before anything was recorded is a 503 with Retry-After; other faults are 500s. No
// internal detail is echoed; each fault is logged.
func TestWriteErrorMapsFailuresToAnswers(t *testing.T) {
	t.Parallel()
	const secret = "10.9.8.7:7233" // stands for any internal detail
	cause := serviceerror.NewUnavailable("connection refused by " + secret)
	recorded := deals.StageResponse{DealID: "d-1", EventID: 42, State: "received", Message: deals.PendingMessage}
	pending := &deals.PendingError{DealID: "d-1", EventID: 42, Err: cause}
	cases := []struct {
		name       string
		err        error
		status     int
		retryAfter string
		body       map[string]any // fields the answer must carry
		logged     bool
	}{
		{"recorded, Temporal down", answered(recorded, pending), http.StatusAccepted, "",
			map[string]any{"deal_id": "d-1", "event_id": float64(42), "state": "received", "message": deals.PendingMessage}, true},
		{"recorded, Temporal too slow", answered(recorded, &deals.PendingError{DealID: "d-1", EventID: 42, Err: context.DeadlineExceeded}),
			http.StatusAccepted, "", map[string]any{"event_id": float64(42), "state": "received"}, true},
		{"recorded, wrapped further", fmt.Errorf("create: %w", answered(recorded, pending)), http.StatusAccepted, "",
			map[string]any{"deal_id": "d-1", "state": "received"}, true},
		{"recorded, no answer attached", pending, http.StatusAccepted, "",
			map[string]any{"state": "received", "message": deals.PendingMessage}, true},
		{"not recorded, Temporal down", answered(deals.ReopenResponse{}, fmt.Errorf("start reopened deal d-1: %w", cause)),
			http.StatusServiceUnavailable, RetryAfter, map[string]any{"error": "Temporal does not answer now; retry the request in a few seconds (the same event id is recognised)"}, true},
		{"not recorded, PostgreSQL down", fmt.Errorf("resolve: %w", postgresDown(t)),
			http.StatusServiceUnavailable, RetryAfter, map[string]any{"error": "PostgreSQL does not answer now; retry the request in a few seconds (the same event id is recognised)"}, true},
		{"a fault", answered(recorded, errors.New("boom at "+secret)), http.StatusInternalServerError, "",
			map[string]any{"error": "internal error; the request may not have been applied, retry it"}, true},
		{"a domain error", fmt.Errorf("deal d-1: %w", deals.ErrNotFound), http.StatusNotFound, "", nil, false},
		{"invalid", &deals.ValidationError{Problems: []string{"stage is required"}}, http.StatusBadRequest, "",
			map[string]any{"error": "invalid request"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			logs := &strings.Builder{}
			s := &Server{Logger: slog.New(slog.NewTextHandler(logs, nil))}
			w := httptest.NewRecorder()
			s.writeError(w, httptest.NewRequest("POST", "/api/deals/d-1/stage", nil), c.err)
			require.Equal(t, c.status, w.Code, w.Body.String())
			require.Equal(t, c.retryAfter, w.Header().Get("Retry-After"))
			require.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
			var body map[string]any
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), w.Body.String())
			for k, v := range c.body {
				require.Equal(t, v, body[k], k)
			}
			require.NotContains(t, w.Body.String(), secret, "internal errors are logged, never echoed")
			require.NotContains(t, w.Body.String(), "127.0.0.1:1")
			if c.logged {
				require.NotEmpty(t, logs.String())
			}
			if c.logged && errors.Is(c.err, cause) {
				require.Contains(t, logs.String(), secret, "the cause is in the log")
			}
		})
	}
}

// A client that went away gets nothing: there is no one to answer.
func TestWriteErrorAnswersNothingToAGoneClient(t *testing.T) {
	t.Parallel()
	s := &Server{Logger: slog.New(slog.DiscardHandler)}
	w := httptest.NewRecorder()
	s.writeError(w, httptest.NewRequest("POST", "/api/deals", nil), fmt.Errorf("create: %w", context.Canceled))
	require.Empty(t, w.Body.String())
}
