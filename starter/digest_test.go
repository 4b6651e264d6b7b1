package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/pgtest"
)

// A rep turns the morning digest off and on; an unknown user or a bad switch exits 2.
func TestUserDigestOnOff(t *testing.T) {
	t.Parallel()
	env := config.MapEnv{"DATABASE_URL": pgtest.NewDatabase(t), "TEMPORAL_ADDRESS": "127.0.0.1:1"}
	require.Equal(t, 0, runCLI(t, env, "migrate").code)
	require.Equal(t, 0, runCLI(t, env, "user", "add", "ana@vendor.test", "--role", "rep").code)

	r := runCLI(t, env, "user", "digest", "Ana@vendor.test", "off")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "morning digest of ana@vendor.test: off")
	r = runCLI(t, env, "user", "digest", "ana@vendor.test", "on")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "morning digest of ana@vendor.test: on")

	require.Equal(t, 2, runCLI(t, env, "user", "digest", "ana@vendor.test", "maybe").code)
	require.Equal(t, 2, runCLI(t, env, "user", "digest", "ana@vendor.test").code)
	require.Equal(t, 2, runCLI(t, env, "user", "digest", "nobody@vendor.test", "off").code)
}

// A digest asked for now for someone who gets none is refused before anything dials
// Temporal (none runs here), exit 2, saying why.
func TestUserDigestNowRefusesWhoGetsNone(t *testing.T) {
	t.Parallel()
	env := config.MapEnv{"DATABASE_URL": pgtest.NewDatabase(t), "TEMPORAL_ADDRESS": "127.0.0.1:1"}
	require.Equal(t, 0, runCLI(t, env, "migrate").code)
	r := runCLI(t, env, "user", "digest", "nobody@vendor.test", "now")
	require.Equal(t, 2, r.code, r.stderr)
	require.Contains(t, r.stderr, "nobody@vendor.test")
}
