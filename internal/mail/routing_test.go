package mail_test

import (
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/mail"
	"github.com/followup-engine/followup/internal/smtptest"
)

// authServer is a real go-smtp server that requires AUTH PLAIN with one user and password
// (smtptest has no AUTH). It records who logged in and what each login sent.
type authServer struct {
	user, password string
	host           string
	port           int

	mu     sync.Mutex
	logins []string // user names of every successful AUTH
	failed int
	msgs   []authMsg
}

type authMsg struct {
	user, from string
	data       []byte
}

func startAuthServer(t *testing.T, user, password string) *authServer {
	t.Helper()
	a := &authServer{user: user, password: password}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &authSession{a: a}, nil }))
	srv.Domain = "auth.test"
	srv.AllowInsecureAuth = true // loopback, as go-mail allows PLAIN without TLS there
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); _ = ln.Close(); <-done })
	addr := ln.Addr().(*net.TCPAddr)
	a.host, a.port = addr.IP.String(), addr.Port
	return a
}

func (a *authServer) messages() []authMsg {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]authMsg(nil), a.msgs...)
}

type authSession struct {
	a          *authServer
	user, from string
}

func (s *authSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *authSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, password string) error {
		s.a.mu.Lock()
		defer s.a.mu.Unlock()
		if user != s.a.user || password != s.a.password {
			s.a.failed++
			// What real relays answer (Gmail, Microsoft 365); go-smtp's default is 454.
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		s.a.logins = append(s.a.logins, user)
		s.user = user
		return nil
	}), nil
}

func (s *authSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *authSession) Rcpt(string, *smtp.RcptOptions) error { return nil }

func (s *authSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	s.a.msgs = append(s.a.msgs, authMsg{user: s.user, from: s.from, data: b})
	return nil
}

func (s *authSession) Reset()        { s.from = "" }
func (s *authSession) Logout() error { return nil }

func TestSendRoutesByFromMailbox(t *testing.T) {
	t.Parallel()
	def := smtptest.Start(t)                       // the default relay, no AUTH
	other := smtptest.Start(t)                     // bo's relay, no AUTH
	ana := startAuthServer(t, "ana", "s3cret-ana") // ana's relay with her credentials
	key := ed25519Key(t)
	s, err := mail.NewSender(mail.Config{
		Host: def.Host(), Port: def.Port(), TLS: mail.TLSNone, Timeout: 5 * time.Second, HeloName: "test.local",
		Mailboxes: map[string]mail.Relay{
			"ana@seller.example": {Host: ana.host, Port: ana.port, TLS: mail.TLSNone, Username: "ana", Password: "s3cret-ana"},
			"bo@seller.example":  {Host: other.Host(), Port: other.Port(), TLS: mail.TLSNone},
		},
		DKIM: &mail.DKIMConfig{Domain: dkimDomain, Selector: dkimSelector, PrivateKeyPEM: key.pem},
	})
	require.NoError(t, err)

	send := func(id, from string) {
		t.Helper()
		m := signedMessage(id, "https://s.example/u/"+longToken)
		m.From = from
		_, err := s.Send(t.Context(), m)
		require.NoError(t, err)
	}
	send("r1@seller.example", "Ana Rep <Ana@Seller.Example>") // address case does not matter
	send("r2@seller.example", "bo@seller.example")
	send("r3@seller.example", "carl@seller.example") // no mailbox of its own: default relay

	got := ana.messages()
	require.Len(t, got, 1)
	require.Equal(t, "ana", got[0].user, "sent after AUTH with ana's credentials")
	require.Equal(t, "Ana@Seller.Example", got[0].from)
	requireVerified(t, got[0].data, key) // every relay gets the signed message
	require.Zero(t, ana.failed)

	require.Equal(t, "r2@seller.example", other.WaitForMessages(t, 1, time.Second)[0].MessageID)
	require.Equal(t, "r3@seller.example", def.WaitForMessages(t, 1, time.Second)[0].MessageID)
	require.Len(t, other.Messages(), 1)
	require.Len(t, def.Messages(), 1)
}

func TestSendMailboxWrongPasswordIsPolicyFailure(t *testing.T) {
	t.Parallel()
	def := smtptest.Start(t)
	ana := startAuthServer(t, "ana", "right")
	s, err := mail.NewSender(mail.Config{
		Host: def.Host(), Port: def.Port(), TLS: mail.TLSNone, Timeout: 5 * time.Second,
		Mailboxes: map[string]mail.Relay{
			"ana@seller.example": {Host: ana.host, Port: ana.port, TLS: mail.TLSNone, Username: "ana", Password: "wrong"},
		},
	})
	require.NoError(t, err)
	m := testMessage("auth@seller.example")
	_, err = s.Send(t.Context(), m)
	require.Error(t, err)
	require.Equal(t, mail.FailPermanentPolicy, mail.Classify(err).Class)
	require.NotContains(t, err.Error(), "wrong")
	require.Equal(t, 1, ana.failed)
	require.Empty(t, def.Messages(), "no fallback to the default relay")
}

func TestNewSenderValidatesMailboxes(t *testing.T) {
	t.Parallel()
	const password = "pa55-do-not-print"
	okRelay := mail.Relay{Host: "smtp.example.com", Port: 587, TLS: mail.TLSMandatory, Username: "ana", Password: password}
	base := mail.Config{Host: "127.0.0.1", Port: 1025, TLS: mail.TLSNone}

	c := base
	c.Mailboxes = map[string]mail.Relay{"ana@acme.example": okRelay}
	_, err := mail.NewSender(c)
	require.NoError(t, err)

	bad := map[string]struct {
		key   string
		relay func(*mail.Relay)
		want  string
	}{
		"empty host":            {"ana@acme.example", func(r *mail.Relay) { r.Host = "" }, "host is empty"},
		"port 0":                {"ana@acme.example", func(r *mail.Relay) { r.Port = 0 }, "port 0 is outside"},
		"unknown TLS":           {"ana@acme.example", func(r *mail.Relay) { r.TLS = "starttls" }, `TLS policy "starttls"`},
		"password without user": {"ana@acme.example", func(r *mail.Relay) { r.Username = "" }, "password is set but username is empty"},
		"auth in clear":         {"ana@acme.example", func(r *mail.Relay) { r.TLS = mail.TLSNone }, "in clear"},
		"upper-case key":        {"Ana@acme.example", func(*mail.Relay) {}, "not lower-case"},
		"key with name":         {"Ana <ana@acme.example>", func(*mail.Relay) {}, "not a bare email address"},
		"key not an address":    {"ana", func(*mail.Relay) {}, "not a bare email address"},
	}
	for name, tc := range bad {
		r := okRelay
		tc.relay(&r)
		c := base
		c.Mailboxes = map[string]mail.Relay{tc.key: r, "ok@acme.example": okRelay}
		_, err := mail.NewSender(c)
		require.ErrorIs(t, err, mail.ErrInvalidMailboxConfig, name)
		require.ErrorContains(t, err, fmt.Sprintf("mailbox %q", tc.key), name)
		require.ErrorContains(t, err, tc.want, name)
		require.NotContains(t, err.Error(), password, name)
		require.NotContains(t, err.Error(), "ok@acme.example", name)
	}

	// Every problem at once: default relay, two mailboxes and DKIM.
	c = mail.Config{Port: 1025, TLS: mail.TLSNone,
		Mailboxes: map[string]mail.Relay{"a@x.example": {Port: 1}, "b@x.example": {Host: "h", Port: 0, TLS: mail.TLSNone}},
		DKIM:      &mail.DKIMConfig{Domain: "x.example", Selector: "s"}}
	_, err = mail.NewSender(c)
	require.Error(t, err)
	for _, want := range []string{"invalid SMTP config: host is empty", `mailbox "a@x.example"`, `mailbox "b@x.example"`, "invalid DKIM config"} {
		require.ErrorContains(t, err, want)
	}
	require.Len(t, err.(interface{ Unwrap() []error }).Unwrap(), 4, "one error per part, for callers that label them")

	require.NotContains(t, fmt.Sprintf("%v %+v", okRelay, map[string]mail.Relay{"a@x": okRelay}), password)
	require.True(t, strings.Contains(okRelay.String(), "smtp.example.com:587"))
}

// Mailbox is the one key of a sending mailbox: relays are picked and the daily cap counts
// by it, whatever the display name or the case of the From value.
func TestMailbox(t *testing.T) {
	t.Parallel()
	for from, want := range map[string]string{
		"ana@acme.example":              "ana@acme.example",
		"Ana Rep <Ana@Acme.Example>":    "ana@acme.example",
		`"Rep, Ana" <ana@ACME.example>`: "ana@acme.example",
		"  Ana@Acme.Example ":           "ana@acme.example",
		" not an address ":              "not an address",
	} {
		require.Equal(t, want, mail.Mailbox(from), from)
	}
}
