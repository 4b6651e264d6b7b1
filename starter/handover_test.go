package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/temporaltest"
	"github.com/followup-engine/followup/workflows"
)

func TestOwnerHandoverVerb(t *testing.T) {
	t.Parallel()
	srv := temporaltest.Start(t)
	dbURL := pgtest.NewDatabase(t)
	env := config.MapEnv{"DATABASE_URL": dbURL, "TEMPORAL_ADDRESS": srv.FrontendHostPort(), "TEMPORAL_NAMESPACE": "default", "USER": "ops-ana"}
	pool := pgtestPool(t, dbURL)
	create := func(ext, owner string) string {
		t.Helper()
		r := runCLI(t, env, "deal", "create", "--external-id", ext, "--source", "hubspot", "--owner", owner,
			"--contact", "bob@prospect.test", "--json")
		require.Equal(t, 0, r.code, r.stderr)
		var created deals.CreateResponse
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &created))
		return created.DealID
	}
	d1 := create("hs-1", "ana@vendor.test")
	create("hs-2", "ana@vendor.test")
	create("hs-3", "ben@vendor.test")
	before := tableCounts(t, dbURL)

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"owner", "handover", "ana@vendor.test"}, "usage: starter owner handover FROM TO"},
		{[]string{"owner", "handover", "nobody@vendor.test", "ben@vendor.test"}, "owner nobody@vendor.test: not found"},
		{[]string{"owner", "handover", "ana@vendor.test", "ana@vendor.test"}, "hand over to another owner"},
		{[]string{"owner", "handover", "ana@vendor.test", "not-an-email"}, "is not a plain email address"},
		{[]string{"owner", "handover", "ana@vendor.test", "ben@vendor.test", "--pipeline", "nope"}, `pipeline "nope" has no published cadence`},
	} {
		r := runCLI(t, env, c.args...)
		require.NotEqual(t, 0, r.code, c.args)
		require.Contains(t, r.stderr, c.want, c.args)
	}
	require.Equal(t, before, tableCounts(t, dbURL), "refusals write nothing")

	// To a user who may not hold deals: exit 2, nothing written.
	require.Equal(t, 0, runCLI(t, env, "user", "add", "crm@vendor.test", "--role", "integration").code)
	require.Equal(t, 0, runCLI(t, env, "user", "add", "cy@vendor.test", "--role", "rep").code)
	require.Equal(t, 0, runCLI(t, env, "user", "disable", "cy@vendor.test").code)
	before = tableCounts(t, dbURL)
	for to, want := range map[string]string{"crm@vendor.test": "has role integration", "cy@vendor.test": "is disabled"} {
		r := runCLI(t, env, "owner", "handover", "ana@vendor.test", to)
		require.Equal(t, 2, r.code, r.stderr)
		require.Contains(t, r.stderr, want)
	}
	require.Equal(t, before, tableCounts(t, dbURL), "refusals write nothing")

	r := runCLI(t, env, "owner", "handover", "ana@vendor.test", "ben@vendor.test")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "ana@vendor.test's open deals moved to ben@vendor.test: 2, with their open tasks")
	require.Contains(t, r.stdout, "deals 2: told now 2, already told 0")
	require.Equal(t, workflows.EventOwnerChanged, lastSignal(t, srv, d1).Kind)

	r = runCLI(t, env, "owner", "handover", "ana@vendor.test", "ben@vendor.test", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var again deals.HandoverResponse
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &again))
	require.Equal(t, 0, again.Moved)
	require.Equal(t, 2, again.AlreadyDone, "repeating changes nothing")
	var open int
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT count(*) FROM deals d JOIN owners o ON o.id = d.owner_id WHERE o.email = 'ben@vendor.test'`).Scan(&open))
	require.Equal(t, 3, open)
}
