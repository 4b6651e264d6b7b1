package main

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/pgtest"
)

// Users and tokens from the CLI: a token is printed once and never listed; revoking is
// final, disabling lasts until the user is enabled again; bad input exits 2.
func TestUsersAndTokens(t *testing.T) {
	t.Parallel()
	env := config.MapEnv{"DATABASE_URL": pgtest.NewDatabase(t), "TEMPORAL_ADDRESS": "127.0.0.1:1"}
	require.Equal(t, 0, runCLI(t, env, "migrate").code)

	r := runCLI(t, env, "user", "add", "ana@vendor.test", "--role", "rep", "--name", "Ana Rep")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "user ana@vendor.test added with role rep")
	require.Equal(t, 2, runCLI(t, env, "user", "add", "Ana@Vendor.test", "--role", "ops").code, "one user per email, in any case")

	r = runCLI(t, env, "token", "create", "ana@vendor.test", "--name", "laptop")
	require.Equal(t, 0, r.code, r.stderr)
	token := regexp.MustCompile(`fu_[A-Za-z0-9_-]{43}`).FindString(r.stdout)
	require.NotEmpty(t, token, r.stdout)
	r = runCLI(t, env, "token", "list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "laptop")
	require.NotContains(t, r.stdout, token, "a token is shown once")

	r = runCLI(t, env, "token", "revoke", "1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "token 1 of ana@vendor.test (laptop) revoked")
	require.Contains(t, runCLI(t, env, "token", "list").stdout, "revoked")

	r = runCLI(t, env, "token", "create", "ana@vendor.test", "--name", "phone")
	require.Equal(t, 0, r.code, r.stderr)
	r = runCLI(t, env, "user", "disable", "ana@vendor.test")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, runCLI(t, env, "token", "list").stdout, "dead: the user is disabled", "a live token of a disabled user says so")
	require.Contains(t, runCLI(t, env, "user", "list").stdout, "disabled")
	require.Equal(t, 2, runCLI(t, env, "token", "create", "ana@vendor.test", "--name", "again").code, "no token for a disabled user")

	r = runCLI(t, env, "user", "enable", "Ana@vendor.test")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "user ana@vendor.test enabled")
	r = runCLI(t, env, "token", "list")
	require.Equal(t, 0, r.code, r.stderr)
	require.NotContains(t, r.stdout, "dead", "the re-enabled user's live token works again")
	require.Regexp(t, `(?m)^2\s+ana@vendor.test\s+phone\s+.*\slive$`, r.stdout)
	require.Contains(t, r.stdout, "revoked", "a revoked token stays revoked")
	require.NotContains(t, runCLI(t, env, "user", "list").stdout, "disabled")
	r = runCLI(t, env, "user", "enable", "ana@vendor.test")
	require.Equal(t, 0, r.code, "enabling twice changes nothing: %s", r.stderr)
	require.Equal(t, 2, runCLI(t, env, "user", "enable", "nobody@vendor.test").code)
	require.Equal(t, 0, runCLI(t, env, "user", "disable", "ana@vendor.test").code)

	for _, bad := range [][]string{
		{"user", "add", "not-an-email", "--role", "rep"}, {"user", "add", "bo@vendor.test", "--role", "admin"},
		{"user", "add", "bo@vendor.test"}, {"token", "create", "ana@vendor.test"}, {"token", "revoke", "x"},
	} {
		require.Equal(t, 2, runCLI(t, env, bad...).code, "%v", bad)
	}
	require.Equal(t, 2, runCLI(t, env, "user", "disable", "nobody@vendor.test").code)
}
