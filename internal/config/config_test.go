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
	require.Equal(t, 200, cfg.MailboxDailyCap)
	require.Equal(t, 24*time.Hour, cfg.ContactSpacing)
}

func TestLoadWorkerReadsEverything(t *testing.T) {
	t.Parallel()
	cfg, err := config.LoadWorker(config.MapEnv{
		"MESSAGE_ID_SECRET": secret, "DATABASE_URL": "postgres://u@db:5432/f", "TEMPORAL_ADDRESS": "temporal:7233",
		"TEMPORAL_NAMESPACE": "sales", "SMTP_HOST": "mail", "SMTP_PORT": "2525", "SMTP_TIMEOUT": "5s",
		"SEND_CONCURRENCY": "8", "WORKFLOW_POLLERS": "4", "ACTIVITY_POLLERS": "3", "STICKY_CACHE_SIZE": "2048",
		"MAIL_FROM": "Sales <s@v.test>", "MESSAGE_ID_DOMAIN": "v.test",
		"MAILBOX_DAILY_CAP": "50", "CONTACT_SPACING": "48h",
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
	require.Equal(t, 50, cfg.MailboxDailyCap)
	require.Equal(t, 48*time.Hour, cfg.ContactSpacing)
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

const unsubSecret = "6f6e652d636c69636b20756e737562736372696265206b657920666f72207465"

func TestUnsubscribeIsOffUnlessConfigured(t *testing.T) {
	t.Parallel()
	w, err := config.LoadWorker(config.MapEnv{"MESSAGE_ID_SECRET": secret})
	require.NoError(t, err)
	require.Nil(t, w.Mail.Unsubscribe, "no PUBLIC_BASE_URL: no links")
	s, err := config.LoadServer(config.MapEnv{"API_TOKEN": "0123456789abcdef"})
	require.NoError(t, err)
	require.Nil(t, s.Unsubscribe)

	// A secret without a base URL: the API verifies links, the worker makes none.
	w, err = config.LoadWorker(config.MapEnv{"MESSAGE_ID_SECRET": secret, "UNSUBSCRIBE_SECRET": unsubSecret})
	require.NoError(t, err)
	require.Nil(t, w.Mail.Unsubscribe)
	s, err = config.LoadServer(config.MapEnv{"API_TOKEN": "0123456789abcdef", "UNSUBSCRIBE_SECRET": unsubSecret})
	require.NoError(t, err)
	require.NotNil(t, s.Unsubscribe)
}

func TestUnsubscribeLinksTheWorkerMakesTheServerVerifies(t *testing.T) {
	t.Parallel()
	env := config.MapEnv{"MESSAGE_ID_SECRET": secret, "API_TOKEN": "0123456789abcdef",
		"PUBLIC_BASE_URL": "https://followup.example.com/", "UNSUBSCRIBE_SECRET": unsubSecret}
	w, err := config.LoadWorker(env)
	require.NoError(t, err)
	require.Equal(t, "https://followup.example.com", w.Mail.Unsubscribe.Base())
	require.True(t, w.Mail.Unsubscribe.OneClick())
	s, err := config.LoadServer(env)
	require.NoError(t, err)
	require.Equal(t, "https://followup.example.com", s.PublicBaseURL)

	link, err := w.Mail.Unsubscribe.URL("0b8f3c52-7d1e-4a6b-9f00-1234567890ab", "f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b", time.Now())
	require.NoError(t, err)
	token, ok := strings.CutPrefix(link, "https://followup.example.com/u/")
	require.True(t, ok, link)
	c, err := s.Unsubscribe.Verify(token)
	require.NoError(t, err)
	require.Equal(t, "0b8f3c52-7d1e-4a6b-9f00-1234567890ab", c.ContactID)

	// A raw (non-hex) secret of 32+ bytes works too; a previous secret still verifies.
	raw := "a raw secret that is long enough!"
	old, err := config.LoadWorker(config.MapEnv{"MESSAGE_ID_SECRET": secret, "PUBLIC_BASE_URL": "http://127.0.0.1:8088", "UNSUBSCRIBE_SECRET": raw})
	require.NoError(t, err)
	require.False(t, old.Mail.Unsubscribe.OneClick(), "http: footer links only")
	oldLink, err := old.Mail.Unsubscribe.URL("0b8f3c52-7d1e-4a6b-9f00-1234567890ab", "f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b", time.Now())
	require.NoError(t, err)
	rotated, err := config.LoadServer(config.MapEnv{"API_TOKEN": "0123456789abcdef", "UNSUBSCRIBE_SECRET": unsubSecret,
		"UNSUBSCRIBE_PREVIOUS_SECRETS": strings.Repeat("ab", 32) + ", " + raw})
	require.NoError(t, err)
	_, err = rotated.Unsubscribe.Verify(strings.TrimPrefix(oldLink, "http://127.0.0.1:8088/u/"))
	require.NoError(t, err)
	_, err = s.Unsubscribe.Verify(strings.TrimPrefix(oldLink, "http://127.0.0.1:8088/u/"))
	require.Error(t, err, "another secret's link fails")
}

func TestUnsubscribeProblemsAreListed(t *testing.T) {
	t.Parallel()
	_, err := config.LoadWorker(config.MapEnv{"MESSAGE_ID_SECRET": secret, "PUBLIC_BASE_URL": "https://followup.example.com"})
	require.ErrorContains(t, err, "UNSUBSCRIBE_SECRET is required when PUBLIC_BASE_URL is set")
	_, err = config.LoadServer(config.MapEnv{"API_TOKEN": "0123456789abcdef", "PUBLIC_BASE_URL": "https://followup.example.com"})
	require.ErrorContains(t, err, "UNSUBSCRIBE_SECRET is required when PUBLIC_BASE_URL is set")

	_, err = config.LoadWorker(config.MapEnv{"MESSAGE_ID_SECRET": secret, "PUBLIC_BASE_URL": "followup.example.com?x=1",
		"UNSUBSCRIBE_SECRET": "00112233445566778899aabbccddeeff", "UNSUBSCRIBE_PREVIOUS_SECRETS": "short"})
	require.Error(t, err)
	for _, want := range []string{`PUBLIC_BASE_URL="followup.example.com?x=1"`, "UNSUBSCRIBE_SECRET: want at least 64 hex characters",
		"UNSUBSCRIBE_PREVIOUS_SECRETS entry 1"} {
		require.ErrorContains(t, err, want)
	}
	_, err = config.LoadServer(config.MapEnv{"API_TOKEN": "0123456789abcdef", "UNSUBSCRIBE_PREVIOUS_SECRETS": unsubSecret})
	require.ErrorContains(t, err, "UNSUBSCRIBE_PREVIOUS_SECRETS is set without UNSUBSCRIBE_SECRET")
}
