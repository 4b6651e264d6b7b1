package main

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/config"
)

func TestRunFailsFastWithEveryConfigurationProblem(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var logs bytes.Buffer
	err := run(ctx, nil, config.MapEnv{"SMTP_PORT": "0", "SEND_CONCURRENCY": "0", "LOG_FORMAT": "xml", "METRICS_ADDR": "9464"}, io.Discard, &logs)
	require.Error(t, err)
	for _, want := range []string{"worker configuration is invalid", "SMTP_PORT", "SEND_CONCURRENCY", "MESSAGE_ID_SECRET is required",
		`LOG_FORMAT="xml"`, `METRICS_ADDR="9464"`} {
		require.True(t, strings.Contains(err.Error(), want), "missing %q in:\n%s", want, err)
	}
}

func TestRunRefusesAnSMTPTimeoutTheSendActivityCannotCover(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := run(ctx, nil, config.MapEnv{"MESSAGE_ID_SECRET": "00112233445566778899aabbccddeeff", "SMTP_TIMEOUT": "90s"}, io.Discard, &bytes.Buffer{})
	require.ErrorContains(t, err, "SMTP_TIMEOUT 1m30s is too long")
}

func TestRunReportsAnUnreachableDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := run(ctx, nil, config.MapEnv{"MESSAGE_ID_SECRET": "00112233445566778899aabbccddeeff",
		"DATABASE_URL": "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"}, io.Discard, &bytes.Buffer{})
	require.ErrorContains(t, err, "does not answer")
	require.NotContains(t, err.Error(), "password")
}

// The binaries embed the zone database, so they behave alike on hosts without
// zone files (slim containers).
func TestBinariesEmbedTheZoneDatabase(t *testing.T) {
	t.Parallel()
	for _, pkg := range []string{"github.com/followup-engine/followup/worker", "github.com/followup-engine/followup/starter"} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		require.NoError(t, err, pkg)
		require.True(t, slices.Contains(strings.Fields(string(out)), "time/tzdata"), "%s does not import time/tzdata", pkg)
	}
}

// --help and -h print the usage to stdout and exit 0, before any configuration is read; a
// flag or an argument the worker does not take exits 2 with the usage on stderr.
func TestHelpAndCommandLineMistakes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args     []string
		code     int
		stdout   string
		stderrOf string
	}{
		{[]string{"--help"}, 0, "usage: worker", ""},
		{[]string{"-h"}, 0, "usage: worker", ""},
		{[]string{"--bogus"}, 2, "", "flag provided but not defined: -bogus\nusage: worker"},
		{[]string{"now"}, 2, "", "unexpected argument \"now\"\n\nusage: worker"},
	} {
		var stdout, stderr, logs bytes.Buffer
		// An empty environment: a run that got as far as the configuration would fail with 1.
		code := exitCode(run(context.Background(), c.args, config.MapEnv{}, &stdout, &logs), &stderr)
		require.Equal(t, c.code, code, "%v: stderr %s", c.args, stderr.String())
		if c.stdout != "" {
			require.True(t, strings.HasPrefix(stdout.String(), c.stdout), "%v: stdout %q", c.args, stdout.String())
			require.Contains(t, stdout.String(), "DATABASE_URL")
			require.Empty(t, stderr.String())
		} else {
			require.Empty(t, stdout.String(), "%v", c.args)
			require.True(t, strings.HasPrefix(stderr.String(), c.stderrOf), "%v: stderr %q", c.args, stderr.String())
		}
		require.Empty(t, logs.String(), "%v: nothing logged", c.args)
	}
}
