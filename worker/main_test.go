package main

import (
	"bytes"
	"context"
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
	err := run(ctx, config.MapEnv{"SMTP_PORT": "0", "SEND_CONCURRENCY": "0"}, &logs)
	require.Error(t, err)
	for _, want := range []string{"worker configuration is invalid", "SMTP_PORT", "SEND_CONCURRENCY", "MESSAGE_ID_SECRET is required"} {
		require.True(t, strings.Contains(err.Error(), want), "missing %q in:\n%s", want, err)
	}
}

func TestRunRefusesAnSMTPTimeoutTheSendActivityCannotCover(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := run(ctx, config.MapEnv{"MESSAGE_ID_SECRET": "00112233445566778899aabbccddeeff", "SMTP_TIMEOUT": "90s"}, &bytes.Buffer{})
	require.ErrorContains(t, err, "SMTP_TIMEOUT 1m30s is too long")
}

func TestRunReportsAnUnreachableDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := run(ctx, config.MapEnv{"MESSAGE_ID_SECRET": "00112233445566778899aabbccddeeff",
		"DATABASE_URL": "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"}, &bytes.Buffer{})
	require.ErrorContains(t, err, "does not answer")
	require.NotContains(t, err.Error(), "password")
}

// DESIGN §6: the binaries embed the zone database, so they behave alike on hosts without
// zone files (slim containers).
func TestBinariesEmbedTheZoneDatabase(t *testing.T) {
	t.Parallel()
	for _, pkg := range []string{"github.com/followup-engine/followup/worker", "github.com/followup-engine/followup/starter"} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		require.NoError(t, err, pkg)
		require.True(t, slices.Contains(strings.Fields(string(out)), "time/tzdata"), "%s does not import time/tzdata", pkg)
	}
}
