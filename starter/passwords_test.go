package main

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/pgtest"
)

// `user password` reads the password from stdin and stores only a bcrypt hash of it. Not
// parallel: it replaces passwordInput.
func TestUserPasswordReadsStdin(t *testing.T) {
	url := pgtest.NewDatabase(t)
	env := config.MapEnv{"DATABASE_URL": url, "TEMPORAL_ADDRESS": "127.0.0.1:1"}
	require.Equal(t, 0, runCLI(t, env, "migrate").code)
	require.Equal(t, 0, runCLI(t, env, "user", "add", "ana@vendor.test", "--role", "rep").code)
	old := passwordInput
	t.Cleanup(func() { passwordInput = old })

	passwordInput = strings.NewReader("short\n")
	require.Equal(t, 2, runCLI(t, env, "user", "password", "ana@vendor.test").code, "too short")
	passwordInput = strings.NewReader("")
	require.Equal(t, 2, runCLI(t, env, "user", "password", "ana@vendor.test").code, "nothing on stdin")
	passwordInput = strings.NewReader("a long enough secret\n")
	require.NotEqual(t, 0, runCLI(t, env, "user", "password", "who@vendor.test").code, "unknown user")

	passwordInput = strings.NewReader("a long enough secret\r\n")
	r := runCLI(t, env, "user", "password", "Ana@Vendor.test")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "password set for ana@vendor.test")
	require.NotContains(t, r.stdout+r.stderr, "a long enough secret")

	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var hash string
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT password_hash FROM users WHERE email = 'ana@vendor.test'`).Scan(&hash))
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(hash), []byte("a long enough secret")))
}
