package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/pgtest"
)

// starter inbound take reads a message from a file, as the API takes one; inbound list shows
// it with its fate. Bad input is refused with exit 2.
func TestInboundTakeAndList(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	env := config.MapEnv{"DATABASE_URL": dbURL, "TEMPORAL_ADDRESS": "127.0.0.1:1", "MAIL_FROM": "Sales <sales@vendor.test>"}
	require.Equal(t, 0, runCLI(t, env, "migrate").code)
	dir := t.TempDir()
	write := func(name, raw string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(raw), 0o600))
		return p
	}
	stranger := write("stranger.eml", "From: eve@elsewhere.test\r\nSubject: hi\r\nMessage-ID: <s1@elsewhere.test>\r\n\r\nhello\r\n")
	ours := write("ours.eml", "From: Sales <sales@vendor.test>\r\nSubject: fwd\r\nMessage-ID: <o1@vendor.test>\r\n\r\nfyi\r\n")

	r := runCLI(t, env, "inbound", "take", stranger)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "reply, ignored")
	require.Contains(t, r.stdout, "eve@elsewhere.test is not the contact of an open deal")
	r = runCLI(t, env, "inbound", "take", stranger)
	require.Contains(t, r.stdout, "(taken before)")
	r = runCLI(t, env, "inbound", "take", ours)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "from our own address sales@vendor.test", "MAIL_FROM is ours")

	r = runCLI(t, env, "inbound", "list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "eve@elsewhere.test")
	require.Contains(t, r.stdout, "sales@vendor.test")
	r = runCLI(t, env, "inbound", "list", "--json", "--outcome", "engaged")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, `"messages": []`)

	for _, bad := range [][]string{
		{"inbound", "take"}, {"inbound", "take", filepath.Join(dir, "missing.eml")}, {"inbound", "take", write("empty.eml", "")},
		{"inbound", "list", "--outcome", "lost"}, {"inbound", "list", "--limit", "0"},
	} {
		require.Equal(t, 2, runCLI(t, env, bad...).code, "%v", bad)
	}
}
