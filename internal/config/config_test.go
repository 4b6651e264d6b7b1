package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/config"
)

const secret = "00112233445566778899aabbccddeeff"

func TestLoadWorkerDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := config.LoadWorker(config.MapEnv{"MESSAGE_ID_SECRET": secret})
	require.NoError(t, err)
	require.Equal(t, config.DefaultDatabaseURL, cfg.DatabaseURL)
	require.Equal(t, "127.0.0.1", cfg.SMTP.Host)
	require.Equal(t, 1025, cfg.SMTP.Port)
	require.Equal(t, 15*time.Second, cfg.SMTP.Timeout)
	require.Equal(t, 4, cfg.SendConcurrency)
	require.Len(t, cfg.Mail.MessageIDSecret, 16)
}

func TestLoadWorkerReadsEverything(t *testing.T) {
	t.Parallel()
	cfg, err := config.LoadWorker(config.MapEnv{
		"MESSAGE_ID_SECRET": secret, "DATABASE_URL": "postgres://u@db:5432/f", "TEMPORAL_ADDRESS": "temporal:7233",
		"TEMPORAL_NAMESPACE": "sales", "SMTP_HOST": "mail", "SMTP_PORT": "2525", "SMTP_TIMEOUT": "5s",
		"SEND_CONCURRENCY": "8", "WORKFLOW_POLLERS": "4", "ACTIVITY_POLLERS": "3", "STICKY_CACHE_SIZE": "2048",
		"MAIL_FROM": "Sales <s@v.test>", "MESSAGE_ID_DOMAIN": "v.test",
	})
	require.NoError(t, err)
	require.Equal(t, "temporal:7233", cfg.Temporal.HostPort)
	require.Equal(t, "sales", cfg.Temporal.Namespace)
	require.Equal(t, 2525, cfg.SMTP.Port)
	require.Equal(t, 8, cfg.SendConcurrency)
	require.Equal(t, 4, cfg.WorkflowPollers)
	require.Equal(t, 3, cfg.ActivityPollers)
	require.Equal(t, 2048, cfg.StickyCacheSize)
	require.Equal(t, "v.test", cfg.Mail.MessageIDDomain)
}

func TestLoadWorkerListsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := config.LoadWorker(config.MapEnv{"SMTP_PORT": "99999", "SEND_CONCURRENCY": "many", "SMTP_TIMEOUT": "-1s", "SMTP_TLS": "sometimes"})
	require.Error(t, err)
	for _, want := range []string{"SMTP_PORT", "SEND_CONCURRENCY", "SMTP_TIMEOUT", "MESSAGE_ID_SECRET is required", "SMTP_*"} {
		require.True(t, strings.Contains(err.Error(), want), "missing %q in:\n%s", want, err)
	}
	_, err = config.LoadWorker(config.MapEnv{"MESSAGE_ID_SECRET": "short"})
	require.ErrorContains(t, err, "at least 32 hex characters")
}
