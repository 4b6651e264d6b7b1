package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/smtptest"
	"github.com/followup-engine/followup/internal/temporaltest"
)

// A create recorded while Temporal is down stays received until `events sweep` (or the
// sweeper `serve` runs) signals it.
func TestEventsSweepVerbAndServeSweeper(t *testing.T) {
	t.Parallel()
	srv := temporaltest.Start(t)
	dbURL := pgtest.NewDatabase(t)
	live := config.MapEnv{"DATABASE_URL": dbURL, "TEMPORAL_ADDRESS": srv.FrontendHostPort(), "TEMPORAL_NAMESPACE": "default"}
	down := config.MapEnv{"DATABASE_URL": dbURL, "TEMPORAL_ADDRESS": "127.0.0.1:1", "TEMPORAL_NAMESPACE": "default"}
	pool := pgtestPool(t, dbURL)
	state := func(eventID string) string {
		var s string
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT state FROM inbound_events WHERE source_event_id = $1`, eventID).Scan(&s))
		return s
	}
	// Recorded while Temporal is down is not a failure: the CLI says so plainly.
	create := func(ext string) {
		r := runCLI(t, down, "deal", "create", "--external-id", ext, "--source", "crm", "--owner", "ana@vendor.test", "--contact", ext+"@prospect.test")
		require.Equal(t, 0, r.code, r.stderr)
		require.Regexp(t, `^deal [0-9a-f-]{36}: event \d+ recorded; delivery pending: Temporal does not answer now`, r.stdout)
		require.Contains(t, r.stdout, "the sweeper (starter serve, every SWEEP_INTERVAL, or starter events sweep) delivers it")
		require.NotContains(t, r.stdout+r.stderr, "127.0.0.1:1")
		require.Equal(t, "received", state("create:"+ext))
	}

	for _, args := range [][]string{{"events"}, {"events", "frob"}, {"events", "sweep", "extra"}, {"events", "sweep", "--limit", "0"},
		{"events", "sweep", "--older-than", "-1s"}} {
		r := runCLI(t, live, args...)
		require.Equal(t, 2, r.code, "%v: %s", args, r.stderr)
	}

	create("s-1")
	r := runCLI(t, down, "deal", "create", "--external-id", "s-1", "--source", "crm", "--owner", "ana@vendor.test", "--contact", "s-1@prospect.test", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var answer map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &answer), r.stdout)
	require.Equal(t, "received", answer["state"], "the same event, still received")
	require.Equal(t, false, answer["created"])
	require.Positive(t, answer["event_id"])
	require.Equal(t, deals.PendingMessage, answer["message"])
	r = runCLI(t, live, "events", "sweep")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "no inbound event has waited in received for more than 1m0s\n", r.stdout, "a request may still be in flight")

	r = runCLI(t, down, "events", "sweep", "--older-than", "0s")
	require.Equal(t, 1, r.code, r.stdout)
	require.Contains(t, r.stderr, "Temporal does not answer")
	require.Equal(t, "received", state("create:s-1"))

	r = runCLI(t, live, "events", "sweep", "--older-than", "0s")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "crm/create:s-1")
	require.Contains(t, r.stdout, "1 found: 1 signalled, 0 settled, 0 skipped, 0 failed")
	require.Equal(t, "signalled", state("create:s-1"))
	id := ""
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT deal_id FROM deal_external_ids WHERE external_id = 's-1'`).Scan(&id))
	require.Equal(t, "create:s-1", temporaltest.ReadDealRun(t, srv.Client(), id).Input.Start.SourceEventID, "the run starts with the create")
	r = runCLI(t, live, "events", "sweep", "--older-than", "0s", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.JSONEq(t, `{"found":0,"signalled":0,"settled":0,"skipped":0,"failed":0}`, r.stdout)

	// serve sweeps on its own, every SWEEP_INTERVAL, and stops with its context.
	create("s-2")
	env := config.MapEnv{"API_TOKEN": "0123456789abcdef", "HTTP_ADDR": "127.0.0.1:0", "SWEEP_INTERVAL": "1s"}
	for k, v := range live {
		env[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &smtptest.LockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, env, io.Discard, logs) }()
	// Sweeps skip rows younger than a minute: age this one.
	_, err := pool.Exec(context.Background(), `UPDATE inbound_events SET received_at = now() - interval '2 minutes' WHERE source_event_id = 'create:s-2'`)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return state("create:s-2") == "signalled" }, 20*time.Second, 100*time.Millisecond, logs.String())
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "Swept received events") }, 5*time.Second, 50*time.Millisecond)
	require.Contains(t, logs.String(), "Signalled=1")
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
}
