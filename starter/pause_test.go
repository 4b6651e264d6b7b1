package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/temporaltest"
	"github.com/followup-engine/followup/workflows"
)

// startInput is the input the deal's run started with, from its history.
func startInput(t *testing.T, srv *testsuite.DevServer, dealID string) workflows.DealInput {
	t.Helper()
	return temporaltest.ReadDealRun(t, srv.Client(), dealID).Input
}

func TestPauseVerbsRefuseBadInputAndWriteNothing(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	env := config.MapEnv{"DATABASE_URL": dbURL, "TEMPORAL_ADDRESS": "127.0.0.1:1"}
	require.Equal(t, 0, runCLI(t, env, "migrate").code)
	before := tableCounts(t, dbURL)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"deal", "pause"}, "usage: starter deal pause DEAL"},
		{[]string{"deal", "pause", "crm:x", "--until", "soon"}, `--until "soon": want RFC 3339`},
		{[]string{"deal", "pause", "crm:missing"}, "deal crm:missing: not found"},
		{[]string{"deal", "pause", "crm:x", "--reason", "a\nb"}, "reason must be a single line"},
		{[]string{"deal", "resume"}, "usage: starter deal resume DEAL"},
		{[]string{"deal", "resume", "crm:missing"}, "not found"},
		{[]string{"task", "snooze", "crm:x", "1"}, "usage: starter task snooze DEAL TASK-ID --until"},
		{[]string{"task", "snooze", "crm:x", "abc", "--until", "2099-01-01"}, `task id "abc"`},
		{[]string{"task", "snooze", "crm:x", "1", "--until", "next week"}, `--until "next week"`},
		{[]string{"task", "snooze", "crm:missing", "1", "--until", "2099-01-01"}, "deal crm:missing: not found"},
		{[]string{"owner"}, "usage: starter"},
		{[]string{"owner", "fly", "a@b.test"}, `unknown owner command "fly"`},
		{[]string{"owner", "pause"}, "usage: starter owner pause EMAIL"},
		{[]string{"owner", "pause", "nobody@vendor.test"}, "owner nobody@vendor.test: not found"},
		{[]string{"owner", "pause", "not-an-email"}, "is not a plain email address"},
		{[]string{"owner", "resume", "nobody@vendor.test", "--until", "2099-01-01"}, "flag provided but not defined: -until"},
		{[]string{"pipeline", "pause", "nope"}, `pipeline "nope" has no published cadence`},
		{[]string{"pipeline", "pause", "b2b-default", "--until", "2001-01-01"}, "until_on 2001-01-01 (2001-01-01T00:00:00Z in UTC) is not in the future"},
		{[]string{"pipeline", "resume", "nope"}, "not found"},
		{[]string{"sends"}, "usage: starter"},
		{[]string{"sends", "flip"}, `unknown sends command "flip"`},
		{[]string{"sends", "hold", "now"}, "sends hold takes flags only"},
		{[]string{"sends", "release", "--reason", "x"}, "flag provided but not defined: -reason"},
		{[]string{"sends", "hold", "--reason", "a\nb"}, "reason must be a single line"},
	}
	for _, c := range cases {
		r := runCLI(t, env, c.args...)
		require.Equal(t, 2, r.code, "%v: stderr %s", c.args, r.stderr)
		require.Contains(t, r.stderr, c.want, "%v", c.args)
		require.Empty(t, r.stdout, "%v", c.args)
	}
	require.Equal(t, before, tableCounts(t, dbURL), "nothing written on error")
	pool := pgtestPool(t, dbURL)
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM pauses`).Scan(&n))
	require.Zero(t, n)
	sw, err := store.New(pool).SendSwitchState(context.Background())
	require.NoError(t, err)
	require.False(t, sw.Held)
}

func TestPauseSnoozeAndSendVerbs(t *testing.T) {
	t.Parallel()
	srv := temporaltest.Start(t)
	dbURL := pgtest.NewDatabase(t)
	env := config.MapEnv{"DATABASE_URL": dbURL, "TEMPORAL_ADDRESS": srv.FrontendHostPort(), "TEMPORAL_NAMESPACE": "default", "USER": "ops-ana"}
	ctx := context.Background()
	pool := pgtestPool(t, dbURL)
	st := store.New(pool)

	create := func(ext, owner string, extra ...string) string {
		t.Helper()
		args := append([]string{"deal", "create", "--external-id", ext, "--source", "hubspot", "--owner", owner,
			"--owner-zone", "Europe/Berlin", "--contact", "bob@prospect.test", "--json"}, extra...)
		r := runCLI(t, env, args...)
		require.Equal(t, 0, r.code, r.stderr)
		var created deals.CreateResponse
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &created))
		return created.DealID
	}
	d1, d2 := create("hs-1", "ana@vendor.test"), create("hs-2", "ana@vendor.test")
	carl := create("hs-3", "carl@vendor.test")
	require.False(t, startInput(t, srv, d1).Import)

	// deal pause / resume
	r := runCLI(t, env, "deal", "pause", "hubspot:hs-1", "--until", "2099-03-02", "--reason", "asked for a break", "--event-id", "p-1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "pause sent to deal "+d1)
	require.Contains(t, r.stdout, "until 2099-03-01 23:00:00 UTC", "a date is the start of that day in the owner's zone")
	ev := lastSignal(t, srv, d1)
	require.Equal(t, workflows.EventPaused, ev.Kind)
	require.Equal(t, workflows.ScopeDeal, ev.Scope)
	require.True(t, ev.Until.Equal(time.Date(2099, 3, 1, 23, 0, 0, 0, time.UTC)))
	r = runCLI(t, env, "deal", "pause", "hubspot:hs-1", "--until", "2099-03-02", "--reason", "asked for a break", "--event-id", "p-1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "event already received (state signalled)")
	r = runCLI(t, env, "deal", "resume", d1, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var resp deals.EventResponse
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &resp))
	require.EqualValues(t, "signalled", resp.State)
	require.Equal(t, workflows.EventResumed, lastSignal(t, srv, d1).Kind)

	// owner pause: every open deal of the owner, and no one else's
	r = runCLI(t, env, "owner", "pause", "ana@vendor.test", "--until", "2099-12-24T00:00:00Z", "--reason", "holiday")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "owner ana@vendor.test paused until 2099-12-24 00:00:00 UTC")
	require.Contains(t, r.stdout, "open deals 2: signalled 2, already told 0, failed 0")
	for _, id := range []string{d1, d2} {
		ev := lastSignal(t, srv, id)
		require.Equal(t, workflows.EventPaused, ev.Kind)
		require.Equal(t, workflows.ScopeOwner, ev.Scope)
	}
	require.Empty(t, temporaltest.ReadDealRun(t, srv.Client(), carl).Signals, "another owner's deal hears nothing")
	r = runCLI(t, env, "owner", "pause", "ana@vendor.test", "--until", "2099-12-24T00:00:00Z")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "is paused already")
	require.Contains(t, r.stdout, "signalled 0, already told 2")
	d4 := create("hs-4", "ana@vendor.test", "--import")
	in := startInput(t, srv, d4)
	require.True(t, in.Import, "--import reaches the workflow")
	require.Len(t, in.Pauses, 1, "a deal created while its owner is paused starts paused")
	require.Equal(t, workflows.ScopeOwner, in.Pauses[0].Scope)
	require.True(t, in.Pauses[0].Until.Equal(time.Date(2099, 12, 24, 0, 0, 0, 0, time.UTC)))
	r = runCLI(t, env, "owner", "pause", "ana@vendor.test", "--until", "2099-12-28")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "was paused already")
	require.Contains(t, r.stdout, "now until 2099-12-27 23:00:00 UTC")
	require.Contains(t, r.stdout, "open deals 3: signalled 3")
	r = runCLI(t, env, "owner", "resume", "ana@vendor.test", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var scope deals.ScopeResponse
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &scope))
	require.Equal(t, "resumed", scope.State)
	require.Equal(t, 3, scope.Signalled)
	require.Equal(t, workflows.EventResumed, lastSignal(t, srv, d4).Kind)
	r = runCLI(t, env, "owner", "resume", "carl@vendor.test")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "owner carl@vendor.test is not paused; nothing to resume")

	// pipeline pause / resume
	r = runCLI(t, env, "pipeline", "pause", "b2b-default", "--reason", "pricing change")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "pipeline b2b-default paused until resumed")
	require.Contains(t, r.stdout, "open deals 4: signalled 4")
	require.Equal(t, workflows.ScopePipeline, lastSignal(t, srv, carl).Scope)
	r = runCLI(t, env, "pipeline", "resume", "b2b-default")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "pipeline b2b-default resumed")
	require.Equal(t, workflows.EventResumed, lastSignal(t, srv, carl).Kind)

	// task snooze
	task, err := st.CreateTask(ctx, store.NewTask{DealID: d2, Visit: 1, StepID: "intro-call", Occurrence: 1, Kind: "call",
		Title: "Call Bob", DueAt: time.Now().Add(time.Hour), At: time.Now()})
	require.NoError(t, err)
	until := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	r = runCLI(t, env, "task", "snooze", "hubspot:hs-2", fmt.Sprintf("#%d", task.ID), "--until", until.Format(time.RFC3339))
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, fmt.Sprintf("task %d of deal %s: snooze until %s sent", task.ID, d2, until.Format(showTime)))
	ev = lastSignal(t, srv, d2)
	require.Equal(t, workflows.EventTaskSnoozed, ev.Kind)
	require.Equal(t, task.ID, ev.TaskID)
	require.True(t, ev.Until.Equal(until))
	r = runCLI(t, env, "task", "snooze", d2, fmt.Sprint(task.ID), "--until", until.Format(time.RFC3339))
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "event already received")
	r = runCLI(t, env, "task", "snooze", d2, fmt.Sprint(task.ID), "--until", time.Now().AddDate(0, 4, 0).Format(time.DateOnly))
	require.Equal(t, 2, r.code, r.stdout)
	require.Contains(t, r.stderr, "more than 90 days ahead")
	r = runCLI(t, env, "task", "snooze", d1, fmt.Sprint(task.ID), "--until", until.Format(time.RFC3339))
	require.Equal(t, 2, r.code, r.stdout)
	require.Contains(t, r.stderr, fmt.Sprintf("task %d of deal %s: not found", task.ID, d1))

	// a closed deal refuses
	require.NoError(t, st.MarkClosed(ctx, carl, "lost", 1, time.Now()))
	r = runCLI(t, env, "deal", "pause", carl)
	require.Equal(t, 2, r.code, r.stdout)
	require.Contains(t, r.stderr, "use: starter deal reopen DEAL")

	// the send switch
	r = runCLI(t, env, "sends", "status")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "sends go out (never held)\n", r.stdout)
	r = runCLI(t, env, "sends", "hold", "--reason", "relay blocklisted")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "sends are HELD since")
	require.Contains(t, r.stdout, "by ops-ana: relay blocklisted")
	r = runCLI(t, env, "sends", "hold", "--by", "bob")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "no change: sends are HELD")
	require.Contains(t, r.stdout, "by ops-ana")
	held, reason, _, err := st.SendHold(ctx)
	require.NoError(t, err)
	require.True(t, held)
	require.Equal(t, "relay blocklisted", reason)
	r = runCLI(t, env, "sends", "status", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var sw store.SendSwitch
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sw))
	require.True(t, sw.Held)
	r = runCLI(t, env, "sends", "release", "--by", "bob")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "sends go out (released")
	require.Contains(t, r.stdout, "by bob")
	r = runCLI(t, env, "sends", "release")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "no change: sends go out")
	held, _, _, err = st.SendHold(ctx)
	require.NoError(t, err)
	require.False(t, held)
}

func TestDealShowSaysWhoHoldsAPausedDeal(t *testing.T) {
	var out bytes.Buffer
	since := time.Date(2026, 12, 21, 17, 0, 0, 0, time.UTC)
	printDetails(&out, deals.Details{Live: &workflows.View{Stage: "prospecting", Paused: true, Pauses: []workflows.Pause{
		{Scope: workflows.ScopeOwner, Since: since, Until: time.Date(2027, 1, 4, 0, 0, 0, 0, time.UTC)},
		{Scope: workflows.ScopeDeal, Since: since}}}})
	require.Contains(t, out.String(), "Paused    by its owner since 2026-12-21 17:00:00 UTC, until 2027-01-04 00:00:00 UTC; by its deal since 2026-12-21 17:00:00 UTC")
}

// While Temporal does not answer, the verbs that record an event first say plainly that it
// is recorded and pending, and succeed: a deal's pause, and an owner's pause of its deals.
func TestPauseVerbsDuringAnOutageSayRecordedAndPending(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	env := config.MapEnv{"DATABASE_URL": dbURL, "TEMPORAL_ADDRESS": "127.0.0.1:1"}
	r := runCLI(t, env, "deal", "create", "--external-id", "hs-1", "--source", "hubspot", "--owner", "ana@vendor.test", "--contact", "bob@prospect.test")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "recorded; delivery pending")

	r = runCLI(t, env, "deal", "pause", "hubspot:hs-1", "--event-id", "p-1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `^deal [0-9a-f-]{36}: event 2 recorded; delivery pending: Temporal does not answer now`, r.stdout)

	r = runCLI(t, env, "owner", "pause", "ana@vendor.test", "--reason", "holiday")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "open deals 1: signalled 0, already told 0, recorded and pending 1, failed 0")
	require.Contains(t, r.stdout, "  recorded; delivery pending: deal ")
	require.Contains(t, r.stdout, "the sweeper (starter serve, or starter events sweep) delivers the pending ones")
	require.NotContains(t, r.stdout+r.stderr, "127.0.0.1:1")
	var received int
	require.NoError(t, pgtestPool(t, dbURL).QueryRow(context.Background(),
		`SELECT count(*) FROM inbound_events WHERE state = 'received'`).Scan(&received))
	require.Equal(t, 3, received, "the create, the deal's pause and the owner's pause, each recorded")
}
