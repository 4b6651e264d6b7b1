package config_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/mail"
	"github.com/followup-engine/followup/internal/mailpoll"
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
	require.NotNil(t, cfg.Sender, "built once, by LoadWorker, for RunWorker")
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

// CONTACT_SPACING=0 turns the spacing off, as the README and MailSettings.ContactSpacing say.
func TestContactSpacingZeroIsOff(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]time.Duration{"0": 0, "0s": 0, "90m": 90 * time.Minute, "1ms": time.Millisecond} {
		cfg, err := config.LoadWorker(config.MapEnv{"MESSAGE_ID_SECRET": secret, "CONTACT_SPACING": v})
		require.NoError(t, err, v)
		require.Equal(t, want, cfg.ContactSpacing, v)
	}
	for _, v := range []string{"-1s", "a day", "24"} {
		_, err := config.LoadWorker(config.MapEnv{"MESSAGE_ID_SECRET": secret, "CONTACT_SPACING": v})
		require.ErrorContains(t, err, "CONTACT_SPACING", v)
	}
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
	// The server makes no links, but checks PUBLIC_BASE_URL as the worker does.
	bad := maps.Clone(env)
	bad["PUBLIC_BASE_URL"] = "followup.example.com"
	_, err = config.LoadWorker(bad)
	require.ErrorContains(t, err, `PUBLIC_BASE_URL="followup.example.com"`)
	_, err = config.LoadServer(bad)
	require.ErrorContains(t, err, `PUBLIC_BASE_URL="followup.example.com"`)

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
	require.True(t, old.Mail.Unsubscribe.OneClick(), "loopback http (a local stack): the List-Unsubscribe header too")
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

// writeFile puts content in a file of its own test directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func ed25519PEM(t *testing.T) (pemText string, txt string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
}

func TestLoadWorkerDKIM(t *testing.T) {
	t.Parallel()
	keyPEM, txt := ed25519PEM(t)
	keyFile := writeFile(t, "dkim.pem", keyPEM)
	w, err := config.LoadWorker(config.MapEnv{"MESSAGE_ID_SECRET": secret,
		"DKIM_DOMAIN": "seller.example", "DKIM_SELECTOR": "fu2026", "DKIM_PRIVATE_KEY_FILE": keyFile})
	require.NoError(t, err)
	require.NotNil(t, w.SMTP.DKIM)
	require.Equal(t, "seller.example", w.SMTP.DKIM.Domain)
	require.Equal(t, "fu2026", w.SMTP.DKIM.Selector)
	require.Equal(t, keyPEM, string(w.SMTP.DKIM.PrivateKeyPEM))

	// The configured sender signs with that key.
	s, err := mail.NewSender(w.SMTP)
	require.NoError(t, err)
	raw, err := s.Encode(mail.Message{MessageID: "m1@seller.example", From: "ana@seller.example", To: "bo@buyer.example",
		Subject: "Hi", Text: "Hello", ListUnsubscribeURL: "https://seller.example/u/t"})
	require.NoError(t, err)
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: func(d string) ([]string, error) {
		require.Equal(t, "fu2026._domainkey.seller.example", d)
		return []string{txt}, nil
	}})
	require.NoError(t, err)
	require.Len(t, vs, 1)
	require.NoError(t, vs[0].Err)

	w, err = config.LoadWorker(config.MapEnv{"MESSAGE_ID_SECRET": secret})
	require.NoError(t, err)
	require.Nil(t, w.SMTP.DKIM, "no DKIM_* variables: no signing")
}

func TestLoadWorkerDKIMProblems(t *testing.T) {
	t.Parallel()
	keyPEM, _ := ed25519PEM(t)
	goodKey := writeFile(t, "dkim.pem", keyPEM)
	// Looks like a key file but is not one; its content must never be echoed.
	badKey := writeFile(t, "bad.pem", "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbC1kby1ub3QtcHJpbnQ=\n-----END PRIVATE KEY-----\n")
	ecKey := func() string {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		der, err := x509.MarshalPKCS8PrivateKey(k)
		require.NoError(t, err)
		return writeFile(t, "ec.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	}()
	tests := map[string]struct {
		env  config.MapEnv
		want []string
	}{
		"domain only": {config.MapEnv{"DKIM_DOMAIN": "seller.example"},
			[]string{"DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE go together", "DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE not set"}},
		"no key file": {config.MapEnv{"DKIM_DOMAIN": "seller.example", "DKIM_SELECTOR": "s1"},
			[]string{"go together", "DKIM_PRIVATE_KEY_FILE not set"}},
		"key file only": {config.MapEnv{"DKIM_PRIVATE_KEY_FILE": goodKey}, []string{"DKIM_DOMAIN and DKIM_SELECTOR not set"}},
		"missing file": {config.MapEnv{"DKIM_DOMAIN": "seller.example", "DKIM_SELECTOR": "s1", "DKIM_PRIVATE_KEY_FILE": "/nonexistent/dkim.pem"},
			[]string{`DKIM_PRIVATE_KEY_FILE="/nonexistent/dkim.pem": cannot read it: no such file or directory`}},
		"not a key": {config.MapEnv{"DKIM_DOMAIN": "seller.example", "DKIM_SELECTOR": "s1", "DKIM_PRIVATE_KEY_FILE": badKey},
			[]string{"DKIM_* (DKIM_DOMAIN, DKIM_SELECTOR, DKIM_PRIVATE_KEY_FILE): mail: invalid DKIM config: private key"}},
		"ECDSA key": {config.MapEnv{"DKIM_DOMAIN": "seller.example", "DKIM_SELECTOR": "s1", "DKIM_PRIVATE_KEY_FILE": ecKey},
			[]string{"invalid DKIM config", "unsupported key type"}},
		"bad selector": {config.MapEnv{"DKIM_DOMAIN": "seller.example", "DKIM_SELECTOR": "s 1", "DKIM_PRIVATE_KEY_FILE": goodKey},
			[]string{"invalid DKIM config", `selector "s 1"`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tc.env["MESSAGE_ID_SECRET"] = secret
			_, err := config.LoadWorker(tc.env)
			require.Error(t, err)
			for _, want := range tc.want {
				require.ErrorContains(t, err, want)
			}
			require.NotContains(t, err.Error(), "c2VjcmV0")
			require.NotContains(t, err.Error(), strings.Split(keyPEM, "\n")[1])
		})
	}
}

const mailboxPassword = "correct-horse-battery"

func TestLoadWorkerMailboxes(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "mailboxes.json", `{
		"Ana@Acme.example": {"host": "smtp.gmail.com", "port": 587, "username": "ana@acme.example", "password": "`+mailboxPassword+`", "tls": "mandatory"},
		"bo@acme.example":  {"host": "127.0.0.1", "port": 1026, "tls": "none"}
	}`)
	w, err := config.LoadWorker(config.MapEnv{"MESSAGE_ID_SECRET": secret, "SMTP_MAILBOXES_FILE": file, "SMTP_TIMEOUT": "7s"})
	require.NoError(t, err)
	require.Equal(t, map[string]mail.Relay{
		"ana@acme.example": {Host: "smtp.gmail.com", Port: 587, Username: "ana@acme.example", Password: mailboxPassword, TLS: mail.TLSMandatory},
		"bo@acme.example":  {Host: "127.0.0.1", Port: 1026, TLS: mail.TLSNone},
	}, w.SMTP.Mailboxes)
	require.Equal(t, 7*time.Second, w.SMTP.Timeout, "mailboxes inherit the timeout")

	w, err = config.LoadWorker(config.MapEnv{"MESSAGE_ID_SECRET": secret, "SMTP_MAILBOXES_FILE": writeFile(t, "empty.json", "{}")})
	require.NoError(t, err)
	require.Empty(t, w.SMTP.Mailboxes)
}

func TestLoadWorkerMailboxProblems(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		json string
		want []string
	}{
		"syntax error after a password": {`{"ana@acme.example": {"password": "` + mailboxPassword + `", "port": 58x7}}`,
			[]string{"not valid JSON near line 1, column"}},
		"bad escape in a password": {`{"ana@acme.example": {"password": "` + mailboxPassword + `\q"}}`, []string{"not valid JSON"}},
		"truncated":                {`{"ana@acme.example": {"host": "h"`, []string{"the JSON ends early"}},
		"empty file":               {``, []string{"the JSON ends early"}},
		"not an object":            {`[{"host": "h"}]`, []string{"want a JSON object"}},
		"trailing data":            {`{} {}`, []string{"more after the JSON object"}},
		"unknown key": {`{"ana@acme.example": {"host": "h", "port": 587, "tls": "mandatory", "passwd": "` + mailboxPassword + `"}}`,
			[]string{`mailbox "ana@acme.example": unknown field "passwd" (known: host, port, username, password, tls, imap)`}},
		"per-mailbox timeout": {`{"ana@acme.example": {"host": "h", "port": 587, "tls": "mandatory", "timeout": "5s"}}`,
			[]string{`unknown field "timeout"`}},
		"port as a string": {`{"ana@acme.example": {"host": "h", "port": "587", "tls": "mandatory"}}`,
			[]string{`mailbox "ana@acme.example": "port": want a number`}},
		"huge port": {`{"ana@acme.example": {"host": "h", "port": 1e99, "tls": "mandatory"}}`, []string{`"port": want a number`}},
		"password as a number": {`{"ana@acme.example": {"host": "h", "port": 587, "tls": "mandatory", "username": "u", "password": 123456789}}`,
			[]string{`"password": want a string`}},
		"mailbox not an object": {`{"ana@acme.example": "smtp.gmail.com"}`, []string{`mailbox "ana@acme.example": want an object`}},
		"null mailbox":          {`{"ana@acme.example": null}`, []string{`mailbox "ana@acme.example": want an object`}},
		"same mailbox twice":    {`{"ana@acme.example": {}, "ANA@acme.example": {}}`, []string{`mailbox "ana@acme.example" is given twice`}},
		"not an address":        {`{"ana": {"host": "h", "port": 587, "tls": "mandatory"}}`, []string{`: mail: invalid SMTP config for mailbox "ana"`, "not a bare email address"}},
		"password in clear": {`{"ana@acme.example": {"host": "smtp.gmail.com", "port": 25, "username": "ana", "password": "` + mailboxPassword + `", "tls": "none"}}`,
			[]string{`: mail: invalid SMTP config for mailbox "ana@acme.example": SMTP AUTH with TLS policy "none" would send the password in clear`}},
		"every entry's problems": {`{"a@x.example": {"port": 0, "tls": "mandatory", "host": "h"}, "b@x.example": {"pw": 1}, "c@x.example": {"host": "h", "port": 25}}`,
			[]string{`mailbox "a@x.example"`, `mailbox "b@x.example": unknown field "pw"`, `mailbox "c@x.example"`, `TLS policy ""`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			file := writeFile(t, "mailboxes.json", tc.json)
			_, err := config.LoadWorker(config.MapEnv{"MESSAGE_ID_SECRET": secret, "SMTP_MAILBOXES_FILE": file})
			require.Error(t, err)
			require.ErrorContains(t, err, fmt.Sprintf("SMTP_MAILBOXES_FILE=%q", file))
			for _, want := range tc.want {
				require.ErrorContains(t, err, want)
			}
			for _, secret := range []string{mailboxPassword, "123456789", "58x7", `\q`} {
				require.NotContains(t, err.Error(), secret)
			}
		})
	}
	_, err := config.LoadWorker(config.MapEnv{"MESSAGE_ID_SECRET": secret, "SMTP_MAILBOXES_FILE": "/nonexistent/mailboxes.json"})
	require.ErrorContains(t, err, `SMTP_MAILBOXES_FILE="/nonexistent/mailboxes.json": cannot read it: no such file or directory`)
}

func TestLoadWorkerListsMailProblemsTogether(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "m.json", `{"a@x.example": {"host": "h", "port": 0, "tls": "none"}}`)
	_, err := config.LoadWorker(config.MapEnv{"MESSAGE_ID_SECRET": secret, "SMTP_TLS": "sometimes", "DKIM_DOMAIN": "x.example",
		"SMTP_MAILBOXES_FILE": file})
	require.Error(t, err)
	for _, want := range []string{"SMTP_*: mail: invalid SMTP config: TLS policy", "DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE go together",
		`SMTP_MAILBOXES_FILE="` + file + `": mail: invalid SMTP config for mailbox "a@x.example": port 0`} {
		require.ErrorContains(t, err, want)
	}
}

func TestSweepInterval(t *testing.T) {
	t.Parallel()
	base := config.MapEnv{"API_TOKEN": "0123456789abcdef"}
	s, err := config.LoadServer(base)
	require.NoError(t, err)
	require.Equal(t, config.DefaultSweepInterval, s.SweepInterval)
	for v, want := range map[string]time.Duration{"0": 0, "0s": 0, "2m": 2 * time.Minute, "5s": 5 * time.Second} {
		env := config.MapEnv{"API_TOKEN": "0123456789abcdef", "SWEEP_INTERVAL": v}
		s, err := config.LoadServer(env)
		require.NoError(t, err, v)
		require.Equal(t, want, s.SweepInterval, v)
	}
	for _, v := range []string{"-1s", "often", "30", "1ms"} {
		_, err := config.LoadServer(config.MapEnv{"API_TOKEN": "0123456789abcdef", "SWEEP_INTERVAL": v})
		require.ErrorContains(t, err, "SWEEP_INTERVAL", v)
	}
}

func TestLoadServerMailboxesToPoll(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "mailboxes.json", `{
		"Ana@Acme.example": {"host": "smtp.gmail.com", "port": 587, "username": "ana@acme.example", "password": "`+mailboxPassword+`", "tls": "mandatory",
			"imap": {"host": "imap.gmail.com", "username": "ana@acme.example", "password": "`+mailboxPassword+`"}},
		"bo@acme.example":  {"host": "127.0.0.1", "port": 1026, "tls": "none",
			"imap": {"host": "127.0.0.1", "port": 1143, "username": "bo@acme.example", "password": "x", "tls": "none"}},
		"cy@acme.example":  {"host": "127.0.0.1", "port": 1026, "tls": "none"}
	}`)
	s, err := config.LoadServer(config.MapEnv{"API_TOKEN": "0123456789abcdef", "SMTP_MAILBOXES_FILE": file,
		"MAIL_FROM": "Sales <Sales@Acme.example>", "IMAP_HOST": "outlook.office365.com", "IMAP_USERNAME": "replies@acme.example",
		"IMAP_PASSWORD": "p", "IMAP_TLS": "starttls", "IMAP_POLL_INTERVAL": "10s", "IMAP_MARK_SEEN": "true", "IMAP_MOVE_TO": "Processed"})
	require.NoError(t, err)
	require.Equal(t, []mailpoll.Mailbox{
		{Name: "ana@acme.example", Host: "imap.gmail.com", Port: 993, TLS: mailpoll.TLSImplicit, Username: "ana@acme.example", Password: mailboxPassword},
		{Name: "bo@acme.example", Host: "127.0.0.1", Port: 1143, TLS: mailpoll.TLSNone, Username: "bo@acme.example", Password: "x"},
		{Name: "replies@acme.example@outlook.office365.com", Host: "outlook.office365.com", Port: 143, TLS: mailpoll.TLSStart,
			Username: "replies@acme.example", Password: "p"},
	}, s.Mailboxes, "TLS by default, its port by mode")
	require.Equal(t, []string{"sales@acme.example", "ana@acme.example", "bo@acme.example", "cy@acme.example", "replies@acme.example"}, s.OwnAddresses)
	require.Equal(t, mailpoll.Options{Interval: 10 * time.Second, MarkSeen: true, MoveTo: "Processed", FirstRead: mailpoll.DefaultFirstRead}, s.Poll)
	require.Equal(t, config.DefaultInboundMIMEMaxBytes, s.InboundMIMEMaxBytes)

	s, err = config.LoadServer(config.MapEnv{"API_TOKEN": "0123456789abcdef"})
	require.NoError(t, err)
	require.Empty(t, s.Mailboxes, "no poller unless a mailbox is configured")
	require.Equal(t, mailpoll.Options{Interval: mailpoll.DefaultInterval, FirstRead: mailpoll.DefaultFirstRead}, s.Poll, "read-only by default")
}

func TestLoadServerMailboxProblems(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "mailboxes.json", `{"ana@acme.example": {"host": "smtp.acme.example", "port": 587, "tls": "mandatory",
		"imap": {"host": "imap.acme.example", "username": "ana", "password": "`+mailboxPassword+`", "tls": "none", "folder": "Sent"}}}`)
	_, err := config.LoadServer(config.MapEnv{"API_TOKEN": "0123456789abcdef", "SMTP_MAILBOXES_FILE": file})
	require.ErrorContains(t, err, `unknown field "folder"`, "INBOX only: there is no folder to choose")

	file = writeFile(t, "mailboxes2.json", `{"ana@acme.example": {"host": "smtp.acme.example", "port": 587, "tls": "mandatory",
		"imap": {"host": "imap.acme.example", "username": "ana", "password": "`+mailboxPassword+`", "tls": "none"}}}`)
	_, err = config.LoadServer(config.MapEnv{"API_TOKEN": "0123456789abcdef", "SMTP_MAILBOXES_FILE": file,
		"IMAP_HOST": "imap.acme.example", "IMAP_TLS": "ssl", "IMAP_POLL_INTERVAL": "1ms", "IMAP_MARK_SEEN": "maybe", "IMAP_MOVE_TO": "inbox",
		"INBOUND_MIME_MAX_BYTES": "999999999"})
	require.Error(t, err)
	for _, want := range []string{
		`mailbox "ana@acme.example": imap: TLS "none" would send the password in clear to "imap.acme.example"`,
		`IMAP_* (IMAP_HOST, IMAP_PORT, IMAP_TLS, IMAP_USERNAME, IMAP_PASSWORD): TLS "ssl" is not one of`,
		"username and password are required",
		"IMAP_POLL_INTERVAL", `IMAP_MARK_SEEN="maybe"`, `IMAP_MOVE_TO="inbox"`, "INBOUND_MIME_MAX_BYTES",
	} {
		require.ErrorContains(t, err, want)
	}
	require.NotContains(t, err.Error(), mailboxPassword, "no problem quotes a password")

	_, err = config.LoadServer(config.MapEnv{"API_TOKEN": "0123456789abcdef", "IMAP_USERNAME": "ana"})
	require.ErrorContains(t, err, "IMAP_USERNAME is set without IMAP_HOST")
}

// starter serve reads MAIL_FROM and MAILBOX_DAILY_CAP as the worker does: the API's send
// forecast must count the mailboxes and the cap the worker sends with.
func TestServerReadsTheWorkersSendSettings(t *testing.T) {
	t.Parallel()
	s, err := config.LoadServer(config.MapEnv{"API_TOKEN": "0123456789abcdef", "MAIL_FROM": "Sales <sales@vendor.test>", "MAILBOX_DAILY_CAP": "50"})
	require.NoError(t, err)
	require.Equal(t, "Sales <sales@vendor.test>", s.MailFrom)
	require.Equal(t, 50, s.MailboxDailyCap)
	s, err = config.LoadServer(config.MapEnv{"API_TOKEN": "0123456789abcdef"})
	require.NoError(t, err)
	require.Equal(t, config.DefaultMailboxDailyCap, s.MailboxDailyCap)
}
