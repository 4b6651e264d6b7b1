package mailpoll_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/backend"
	"github.com/emersion/go-imap/backend/memory"
	imapclient "github.com/emersion/go-imap/client"
	"github.com/emersion/go-imap/server"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/mailpoll"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/temporaltest"
)

// tlsIMAP serves go-imap's in-memory backend over implicit TLS with a certificate made for
// the test; the returned config trusts it.
func tlsIMAP(t *testing.T) (addr *net.TCPAddr, trust *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	srv := server.New(&movingBackend{memory.New()})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	require.NoError(t, err)
	go srv.Serve(ln) //nolint:errcheck // ends when closed
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().(*net.TCPAddr), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// movingBackend adds MOVE to the memory backend (which has COPY and EXPUNGE) and a
// Processed folder to move into.
type movingBackend struct{ *memory.Backend }

func (b *movingBackend) Login(ci *imap.ConnInfo, user, pass string) (backend.User, error) {
	u, err := b.Backend.Login(ci, user, pass)
	if err != nil {
		return nil, err
	}
	if _, err := u.GetMailbox("Processed"); err != nil {
		_ = u.CreateMailbox("Processed")
	}
	return &movingUser{u}, nil
}

type movingUser struct{ backend.User }

func (u *movingUser) GetMailbox(name string) (backend.Mailbox, error) {
	mb, err := u.User.GetMailbox(name)
	if err != nil {
		return nil, err
	}
	return &movingMailbox{mb}, nil
}

type movingMailbox struct{ backend.Mailbox }

func (m *movingMailbox) MoveMessages(uid bool, set *imap.SeqSet, dest string) error {
	if err := m.CopyMessages(uid, set, dest); err != nil {
		return err
	}
	if err := m.UpdateMessagesFlags(uid, set, imap.AddFlags, []string{imap.DeletedFlag}); err != nil {
		return err
	}
	return m.Expunge()
}

func deliver(t *testing.T, addr string, trust *tls.Config, raw string) {
	t.Helper()
	c, err := imapclient.DialTLS(addr, trust)
	require.NoError(t, err)
	defer c.Logout() //nolint:errcheck
	require.NoError(t, c.Login("username", "password"))
	require.NoError(t, c.Append("INBOX", nil, time.Now(), bytes.NewBufferString(strings.ReplaceAll(raw, "\n", "\r\n"))))
}

func folder(t *testing.T, addr string, trust *tls.Config, name string) (n uint32, seen int) {
	t.Helper()
	c, err := imapclient.DialTLS(addr, trust)
	require.NoError(t, err)
	defer c.Logout() //nolint:errcheck
	require.NoError(t, c.Login("username", "password"))
	st, err := c.Select(name, true)
	require.NoError(t, err)
	if st.Messages == 0 {
		return 0, 0
	}
	var all imap.SeqSet
	all.AddRange(1, st.Messages)
	ch := make(chan *imap.Message, 10)
	require.NoError(t, c.Fetch(&all, []imap.FetchItem{imap.FetchFlags}, ch))
	for m := range ch {
		for _, f := range m.Flags {
			if f == imap.SeenFlag {
				seen++
			}
		}
	}
	return st.Messages, seen
}

// service is the real intake over a fresh database; Temporal does not answer (the messages
// here match no deal, so none is told anything).
func service(t *testing.T) (*deals.Service, *store.Store) {
	t.Helper()
	st := store.New(pgtest.New(t))
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: temporaltest.QuietLogger()})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return &deals.Service{Store: st, Temporal: c}, st
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Over implicit TLS, marking and moving what it took as configured; a message it cannot read
// and one larger than it fetches are taken too (recorded), never blocking the mailbox.
func TestPollOverTLSMarksAndMovesWhatItTook(t *testing.T) {
	t.Parallel()
	addr, trust := tlsIMAP(t)
	svc, st := service(t)
	deliver(t, addr.String(), trust, "From: eve@elsewhere.test\nSubject: cut\nMessage-ID: <cut@elsewhere.test>\n"+
		"Content-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Type: text/plain\n\nthe closing boundary never comes\n")
	deliver(t, addr.String(), trust, "From: eve@elsewhere.test\nSubject: big\nMessage-ID: <big@elsewhere.test>\n\n"+strings.Repeat("0123456789abcdef\n", 4000))
	mb := mailpoll.Mailbox{Name: "tls-box", Host: "127.0.0.1", Port: addr.Port, TLS: mailpoll.TLSImplicit,
		Username: "username", Password: "password", TLSConfig: trust}
	p := &mailpoll.Poller{Store: st, Taker: svc, Mailboxes: []mailpoll.Mailbox{mb},
		Options: mailpoll.Options{MarkSeen: true, MoveTo: "Processed", FetchBytes: 4096, Logger: quiet}}
	res, err := p.Poll(context.Background(), mb)
	require.NoError(t, err)
	require.True(t, res.Reset, "a first poll reads the mailbox from its start")
	require.Equal(t, 3, res.Taken, "the backend's own message, the truncated one and the big one")
	inbox, _ := folder(t, addr.String(), trust, "INBOX")
	require.Zero(t, inbox, "moved out of INBOX")
	processed, seen := folder(t, addr.String(), trust, "Processed")
	require.Equal(t, uint32(3), processed)
	require.Equal(t, 3, seen)

	big, err := st.InboundMessageByKey(context.Background(), "mid:big@elsewhere.test")
	require.NoError(t, err)
	require.Equal(t, store.MessageIgnored, big.Outcome)
	msgs, err := st.InboundMessages(context.Background(), store.MessageFilter{})
	require.NoError(t, err)
	require.Len(t, msgs, 3)
	for _, m := range msgs {
		require.Equal(t, "imap:tls-box", m.Source)
		require.NotZero(t, m.UID)
		require.Equal(t, store.MessageIgnored, m.Outcome, "no deal: recorded with why")
		require.NotEmpty(t, m.Reason)
	}
	cursor, found, err := st.MailboxCursorOf(context.Background(), "tls-box")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, res.LastUID, cursor.LastUID)
	require.Empty(t, cursor.LastError)
	require.False(t, cursor.PolledAt.IsZero())
}

// Read-only by default: nothing is marked or moved.
func TestPollIsReadOnlyByDefault(t *testing.T) {
	t.Parallel()
	addr, trust := tlsIMAP(t)
	svc, st := service(t)
	deliver(t, addr.String(), trust, "From: eve@elsewhere.test\nSubject: hi\nMessage-ID: <ro@elsewhere.test>\n\nhi\n")
	mb := mailpoll.Mailbox{Name: "ro-box", Host: "127.0.0.1", Port: addr.Port, TLS: mailpoll.TLSImplicit,
		Username: "username", Password: "password", TLSConfig: trust}
	p := &mailpoll.Poller{Store: st, Taker: svc, Options: mailpoll.Options{Logger: quiet}}
	res, err := p.Poll(context.Background(), mb)
	require.NoError(t, err)
	require.Equal(t, 2, res.Taken)
	n, seen := folder(t, addr.String(), trust, "INBOX")
	require.Equal(t, uint32(2), n)
	require.Equal(t, 1, seen, "only the backend's own message, which came \\Seen")
}

// Failures are errors with the reason, recorded on the mailbox's cursor; a server that never
// answers costs one timeout, not a hung poller.
func TestPollFailuresAreBoundedAndRecorded(t *testing.T) {
	t.Parallel()
	addr, trust := tlsIMAP(t)
	svc, st := service(t)
	ctx := context.Background()

	wrong := mailpoll.Mailbox{Name: "wrong-pass", Host: "127.0.0.1", Port: addr.Port, TLS: mailpoll.TLSImplicit,
		Username: "username", Password: "nope", TLSConfig: trust}
	p := &mailpoll.Poller{Store: st, Taker: svc, Options: mailpoll.Options{Logger: quiet}}
	_, err := p.Poll(ctx, wrong)
	require.ErrorContains(t, err, `login as "username"`)
	cursor, found, err := st.MailboxCursorOf(ctx, "wrong-pass")
	require.NoError(t, err)
	require.True(t, found)
	require.Contains(t, cursor.LastError, "login")
	require.NotContains(t, cursor.LastError, "nope", "no password in what is recorded")

	// Plain TCP to a TLS port: no greeting comes, within the timeout.
	p.Options.Timeout = time.Second
	plain := wrong
	plain.Name, plain.TLS, plain.Password = "plain", mailpoll.TLSNone, "password"
	_, err = p.Poll(ctx, plain)
	require.Error(t, err)

	// A server that accepts and never greets.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	silent := mailpoll.Mailbox{Name: "silent", Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, TLS: mailpoll.TLSNone,
		Username: "u", Password: "p"}
	start := time.Now()
	_, err = p.Poll(ctx, silent)
	require.Error(t, err)
	require.Less(t, time.Since(start), 10*time.Second)
}

// Two processes never poll one mailbox at once: the second skips it.
func TestOnePollerPerMailbox(t *testing.T) {
	t.Parallel()
	addr, trust := tlsIMAP(t)
	svc, st := service(t)
	mb := mailpoll.Mailbox{Name: "shared", Host: "127.0.0.1", Port: addr.Port, TLS: mailpoll.TLSImplicit,
		Username: "username", Password: "password", TLSConfig: trust}
	held := make(chan struct{})
	release := make(chan struct{})
	go func() {
		_, _ = st.WithMailboxLock(context.Background(), "shared", func(context.Context) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	p := &mailpoll.Poller{Store: st, Taker: svc, Options: mailpoll.Options{Logger: quiet}}
	res, err := p.Poll(context.Background(), mb)
	require.NoError(t, err)
	require.True(t, res.Locked)
	close(release)
	require.Eventually(t, func() bool {
		res, err := p.Poll(context.Background(), mb)
		return err == nil && !res.Locked && res.Taken == 1
	}, 5*time.Second, 50*time.Millisecond)
}

func TestMailboxProblems(t *testing.T) {
	t.Parallel()
	ok := mailpoll.Mailbox{Name: "a", Host: "imap.gmail.com", Port: 993, TLS: mailpoll.TLSImplicit, Username: "a", Password: "b"}
	require.Empty(t, ok.Problems())
	local := ok
	local.Host, local.TLS = "127.0.0.1", mailpoll.TLSNone
	require.Empty(t, local.Problems(), "a loopback test server may go without TLS")
	bad := mailpoll.Mailbox{Host: "imap gmail", Port: 0, TLS: "ssl"}
	require.Equal(t, []string{`host "imap gmail" is not a hostname`, "port 0 is outside 1..65535",
		`TLS "ssl" is not one of "tls", "starttls", "none"`, "username and password are required"}, bad.Problems())
	clear := ok
	clear.TLS = mailpoll.TLSNone
	require.Equal(t, []string{`TLS "none" would send the password in clear to "imap.gmail.com": only a loopback host may go without TLS`}, clear.Problems())
	require.NotContains(t, ok.String(), "b)", "String shows no password")
}

// A first poll leaves alone what arrived before the first-read window; a move to a folder
// that does not exist fails before anything is taken.
func TestFirstPollReadsRecentMailOnly(t *testing.T) {
	t.Parallel()
	addr, trust := tlsIMAP(t)
	svc, st := service(t)
	c, err := imapclient.DialTLS(addr.String(), trust)
	require.NoError(t, err)
	require.NoError(t, c.Login("username", "password"))
	old := "From: eve@elsewhere.test\r\nSubject: last month\r\nMessage-ID: <old@elsewhere.test>\r\n\r\nhi\r\n"
	require.NoError(t, c.Append("INBOX", nil, time.Now().AddDate(0, -1, 0), bytes.NewBufferString(old)))
	require.NoError(t, c.Logout())
	deliver(t, addr.String(), trust, "From: eve@elsewhere.test\nSubject: today\nMessage-ID: <new@elsewhere.test>\n\nhi\n")
	mb := mailpoll.Mailbox{Name: "first", Host: "127.0.0.1", Port: addr.Port, TLS: mailpoll.TLSImplicit,
		Username: "username", Password: "password", TLSConfig: trust}

	p := &mailpoll.Poller{Store: st, Taker: svc, Options: mailpoll.Options{MoveTo: "Nowhere", Logger: quiet}}
	_, err = p.Poll(context.Background(), mb)
	require.ErrorContains(t, err, `IMAP_MOVE_TO="Nowhere": no such folder`)
	msgs, err := st.InboundMessages(context.Background(), store.MessageFilter{})
	require.NoError(t, err)
	require.Empty(t, msgs, "nothing taken before the move is known to work")

	p.Options = mailpoll.Options{FirstRead: 24 * time.Hour, Logger: quiet}
	res, err := p.Poll(context.Background(), mb)
	require.NoError(t, err)
	require.Equal(t, 1, res.Skipped)
	require.Equal(t, 2, res.Taken, "the backend's own message and today's")
	_, err = st.InboundMessageByKey(context.Background(), "mid:old@elsewhere.test")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = st.InboundMessageByKey(context.Background(), "mid:new@elsewhere.test")
	require.NoError(t, err)
}

// A mailbox nothing was taken from yet (empty, say) is polled again and again without a
// false "UIDVALIDITY changed" or a reset; a real change of UIDVALIDITY is both.
func TestNoFalseResetWhileNothingWasTaken(t *testing.T) {
	t.Parallel()
	addr, trust := tlsIMAP(t)
	svc, st := service(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	mb := mailpoll.Mailbox{Name: "quiet-box", Host: "127.0.0.1", Port: addr.Port, TLS: mailpoll.TLSImplicit,
		Username: "username", Password: "password", TLSConfig: trust}
	p := &mailpoll.Poller{Store: st, Taker: svc, Options: mailpoll.Options{Logger: logger}}
	ctx := context.Background()
	res, err := p.Poll(ctx, mb)
	require.NoError(t, err)
	require.True(t, res.Reset, "the first poll reads from the start")
	cursor, _, err := st.MailboxCursorOf(ctx, "quiet-box")
	require.NoError(t, err)
	// As if nothing had been taken: a mailbox that was empty when first polled.
	require.NoError(t, st.SaveMailboxCursor(ctx, "quiet-box", cursor.UIDValidity, 0))
	res, err = p.Poll(ctx, mb)
	require.NoError(t, err)
	require.False(t, res.Reset)
	require.NotContains(t, logs.String(), "UIDVALIDITY changed")

	require.NoError(t, st.SaveMailboxCursor(ctx, "quiet-box", cursor.UIDValidity+1, 5))
	res, err = p.Poll(ctx, mb)
	require.NoError(t, err)
	require.True(t, res.Reset)
	require.Contains(t, logs.String(), "UIDVALIDITY changed")
}
