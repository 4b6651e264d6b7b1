package integration

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/backend"
	"github.com/emersion/go-imap/backend/memory"
	imapclient "github.com/emersion/go-imap/client"
	"github.com/emersion/go-imap/server"
	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/mailpoll"
	"github.com/followup-engine/followup/internal/store"
)

// imapServer is a real IMAP server (go-imap's, over its in-memory backend) whose INBOX
// UIDVALIDITY a test can change, as a provider does when it rebuilds a mailbox.
type imapServer struct {
	addr     *net.TCPAddr
	validity atomic.Uint32
	// mu serialises the memory backend, which is not safe for concurrent use: the poller
	// reads on one connection while the test appends on another.
	mu sync.Mutex
}

func startIMAP(t *testing.T) *imapServer {
	t.Helper()
	s := &imapServer{}
	s.validity.Store(1)
	srv := server.New(&validityBackend{Backend: memory.New(), s: s})
	srv.AllowInsecureAuth = true // loopback
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.addr = ln.Addr().(*net.TCPAddr)
	go srv.Serve(ln) //nolint:errcheck // ends when closed
	t.Cleanup(func() { _ = srv.Close() })
	// The memory backend starts with one message of its own: a stranger's, which the intake
	// must record as ignored.
	return s
}

func (s *imapServer) mailbox() mailpoll.Mailbox {
	return mailpoll.Mailbox{Name: "ana@vendor.test", Host: "127.0.0.1", Port: s.addr.Port, TLS: mailpoll.TLSNone,
		Username: "username", Password: "password"}
}

// deliver appends a message to INBOX, as the provider does when mail arrives.
func (s *imapServer) deliver(t *testing.T, raw string) {
	t.Helper()
	c, err := imapclient.Dial(s.addr.String())
	require.NoError(t, err)
	defer c.Logout() //nolint:errcheck
	require.NoError(t, c.Login("username", "password"))
	require.NoError(t, c.Append("INBOX", nil, time.Now(), bytes.NewBufferString(strings.ReplaceAll(raw, "\n", "\r\n"))))
}

type validityBackend struct {
	*memory.Backend
	s *imapServer
}

func (b *validityBackend) Login(ci *imap.ConnInfo, user, pass string) (backend.User, error) {
	u, err := b.Backend.Login(ci, user, pass)
	if err != nil {
		return nil, err
	}
	return &validityUser{User: u, s: b.s}, nil
}

type validityUser struct {
	backend.User
	s *imapServer
}

func (u *validityUser) GetMailbox(name string) (backend.Mailbox, error) {
	mb, err := u.User.GetMailbox(name)
	if err != nil {
		return nil, err
	}
	return &validityMailbox{Mailbox: mb, s: u.s}, nil
}

type validityMailbox struct {
	backend.Mailbox
	s *imapServer
}

func (m *validityMailbox) Status(items []imap.StatusItem) (*imap.MailboxStatus, error) {
	defer m.lock()()
	st, err := m.Mailbox.Status(items)
	if err == nil {
		st.UidValidity = m.s.validity.Load()
	}
	return st, err
}

func (m *validityMailbox) lock() func() { m.s.mu.Lock(); return m.s.mu.Unlock }

func (m *validityMailbox) Info() (*imap.MailboxInfo, error) {
	defer m.lock()()
	return m.Mailbox.Info()
}
func (m *validityMailbox) Check() error   { defer m.lock()(); return m.Mailbox.Check() }
func (m *validityMailbox) Expunge() error { defer m.lock()(); return m.Mailbox.Expunge() }
func (m *validityMailbox) SetSubscribed(s bool) error {
	defer m.lock()()
	return m.Mailbox.SetSubscribed(s)
}

func (m *validityMailbox) ListMessages(uid bool, set *imap.SeqSet, items []imap.FetchItem, ch chan<- *imap.Message) error {
	defer m.lock()()
	return m.Mailbox.ListMessages(uid, set, items, ch)
}

func (m *validityMailbox) SearchMessages(uid bool, c *imap.SearchCriteria) ([]uint32, error) {
	defer m.lock()()
	return m.Mailbox.SearchMessages(uid, c)
}

func (m *validityMailbox) CreateMessage(flags []string, date time.Time, body imap.Literal) error {
	defer m.lock()()
	return m.Mailbox.CreateMessage(flags, date, body)
}

func (m *validityMailbox) UpdateMessagesFlags(uid bool, set *imap.SeqSet, op imap.FlagsOp, flags []string) error {
	defer m.lock()()
	return m.Mailbox.UpdateMessagesFlags(uid, set, op, flags)
}

func (m *validityMailbox) CopyMessages(uid bool, set *imap.SeqSet, dest string) error {
	defer m.lock()()
	return m.Mailbox.CopyMessages(uid, set, dest)
}

// mailboxPipeline: prospecting sends the intro and a threaded follow-up 10 s later; a reply
// gives the owner a task.
func mailboxPipeline() cadence.Pipeline {
	p := fixturePipeline(10 * time.Second)
	p.Exits = &cadence.Exits{Reply: &cadence.ExitRule{Task: &cadence.TaskSpec{Kind: "email", Title: "Answer {{.Contact.FirstName}} today", DueIn: cadence.Of(2, cadence.Hours)}}}
	return p
}

// A reply read from the owner's mailbox over IMAP stops the deal's follow-ups and gives the
// owner a task, attributed to the intro it answers; the same message read again, after a
// restart of the poller or after a UIDVALIDITY change, is one event. An out-of-office moves
// the next email past its return date; a bounce report suppresses the address.
func TestMailboxIntakeOnTheRealStack(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mainServer, "it-mailbox", mailboxPipeline())
	e.start()
	imapSrv := startIMAP(t)
	ctx := context.Background()

	replied := e.create("mbx-reply")
	intro := e.smtp.WaitForMessages(t, 1, 20*time.Second)[0]
	require.Equal(t, "mbx-reply@prospect.test", intro.To[0])

	// The poller runs as starter serve runs it.
	poller := &mailpoll.Poller{Store: e.store, Taker: e.svc, Mailboxes: []mailpoll.Mailbox{imapSrv.mailbox()},
		Options: mailpoll.Options{Interval: 300 * time.Millisecond, Logger: quietLogger(t)}}
	runCtx, stopRun := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { defer close(ran); poller.Run(runCtx) }()
	t.Cleanup(func() { stopRun(); <-ran })
	t.Cleanup(func() {
		if t.Failed() {
			all, _ := e.store.InboundMessages(ctx, store.MessageFilter{})
			for _, m := range all {
				t.Logf("read: %+v", m)
				for _, d := range m.DealIDs {
					tl, _ := e.store.DealTimeline(ctx, d)
					for _, ev := range tl.Events {
						t.Logf("event of %s: %+v", d, ev)
					}
				}
			}
		}
	})

	reply := fmt.Sprintf(`From: Bob <mbx-reply@prospect.test>
To: Ana Rep <ana@vendor.test>
Subject: Re: %s
Date: %s
Message-ID: <reply-1@prospect.test>
In-Reply-To: <%s>
References: <%s>
Content-Type: text/plain; charset=UTF-8

Yes, let's talk on Thursday.

On Mon, Dec 7, 2026 at 10:02 AM Ana Rep <sales@vendor.test> wrote:
> Hi Bob,
`, intro.Subject, time.Now().Format(time.RFC1123Z), intro.MessageID, intro.MessageID)
	deliveredAt := time.Now()
	imapSrv.deliver(t, reply)
	tl := e.eventually("the reply task", 20*time.Second, func(tl store.Timeline) bool { return hasTask(tl, "exit-reply") }, replied.DealID)
	taskAfter := time.Since(deliveredAt)
	t.Logf("reply delivered to the mailbox → owner's task recorded: %s", taskAfter.Round(time.Millisecond))
	require.Equal(t, "Answer Bob today", taskOf(tl, "exit-reply").Title)
	require.Equal(t, "the prospect replied", e.view(replied.DealID).EmailsStopped)

	msgs, err := e.store.InboundMessages(ctx, store.MessageFilter{DealID: replied.DealID})
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	m := msgs[0]
	require.Equal(t, store.MessageKind("reply"), m.Kind)
	require.Equal(t, store.MatchThread, m.Match)
	require.Equal(t, store.MessageEngaged, m.Outcome)
	require.Equal(t, &store.LedgerKey{DealID: replied.DealID, Visit: 1, StepID: "intro", Occurrence: 1}, m.Answers, "counted on the step it answered")
	require.Equal(t, "mid:reply-1@prospect.test", m.Key)
	require.Equal(t, "imap:ana@vendor.test", m.Source)

	// The memory backend's own message, from a stranger, is recorded ignored with a reason.
	ignored, err := e.store.InboundMessageByKey(ctx, "mid:0000000@localhost/")
	if err == nil {
		require.Equal(t, store.MessageIgnored, ignored.Outcome)
		require.NotEmpty(t, ignored.Reason)
	}

	// No email after the reply: the follow-up was due 10 s after the intro.
	time.Sleep(time.Until(intro.ReceivedAt.Add(13 * time.Second)))
	for _, got := range e.smtp.Messages() {
		if strings.Contains(strings.Join(got.To, ","), "mbx-reply@") {
			require.Equal(t, intro.MessageID, got.MessageID, "only the intro went to the prospect who replied")
		}
	}
	stopRun()
	<-ran

	mb := imapSrv.mailbox()
	events := func() int {
		n := 0
		tl, err := e.store.DealTimeline(ctx, replied.DealID)
		require.NoError(t, err)
		for _, ev := range tl.Events {
			if ev.Source == deals.MessageSource {
				n++
			}
		}
		return n
	}
	require.Equal(t, 1, events())

	// The same message delivered again (a second copy, a new UID): one event still.
	imapSrv.deliver(t, reply)
	res, err := poller.Poll(ctx, mb)
	require.NoError(t, err)
	require.Equal(t, mailpoll.PollResult{Taken: 1, Duplicate: 1, LastUID: res.LastUID}, res)
	require.Equal(t, 1, events())

	// A new poller (a restarted process) reads nothing twice.
	restarted := &mailpoll.Poller{Store: e.store, Taker: e.svc, Mailboxes: []mailpoll.Mailbox{mb}}
	res, err = restarted.Poll(ctx, mb)
	require.NoError(t, err)
	require.Zero(t, res.Taken)

	// UIDVALIDITY changes: the whole mailbox is read again, every message a duplicate.
	imapSrv.validity.Store(2)
	res, err = restarted.Poll(ctx, mb)
	require.NoError(t, err)
	require.True(t, res.Reset)
	require.Equal(t, 3, res.Taken, "the backend's own message and the two copies of the reply")
	require.Equal(t, 3, res.Duplicate)
	require.Equal(t, 1, events())
	cursor, found, err := e.store.MailboxCursorOf(ctx, mb.Name)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, uint32(2), cursor.UIDValidity)
	require.Empty(t, cursor.LastError)

	// An out-of-office with a return date moves the next email past it.
	away := e.create("mbx-away")
	var awayIntro string
	require.Eventually(t, func() bool {
		for _, got := range e.smtp.Messages() {
			if got.To[0] == "mbx-away@prospect.test" {
				awayIntro = got.MessageID
				return true
			}
		}
		return false
	}, 20*time.Second, 100*time.Millisecond)
	back := time.Now().UTC().AddDate(0, 0, 3)
	ooo := fmt.Sprintf(`From: mbx-away@prospect.test
To: ana@vendor.test
Subject: Automatic reply: a quick idea
Auto-Submitted: auto-replied
Date: %s
Message-ID: <ooo-1@prospect.test>
In-Reply-To: <%s>
Content-Type: text/plain; charset=UTF-8

I am out of the office with limited access to email. I will be back on %s.
`, time.Now().Format(time.RFC1123Z), awayIntro, back.Format("Monday, 2 January 2006"))
	took, err := e.svc.TakeMessage(ctx, []byte(strings.ReplaceAll(ooo, "\n", "\r\n")), deals.MessageOrigin{Source: "api"})
	require.NoError(t, err)
	require.Equal(t, store.MessageKind("auto_reply"), took.Kind)
	require.Equal(t, back.Format(time.DateOnly), took.ReturnOn)
	require.Eventually(t, func() bool {
		for _, it := range e.view(away.DealID).Next {
			if it.StepID == "value-followup" {
				return !it.At.Before(back.Truncate(24 * time.Hour))
			}
		}
		return false
	}, 10*time.Second, 200*time.Millisecond, "the follow-up waits for the prospect's return")
	require.Empty(t, e.view(away.DealID).EmailsStopped, "an out-of-office never stops the cadence")

	// A delivery report for the away intro's address suppresses it and gives the bounce task.
	dsn := fmt.Sprintf(`From: MAILER-DAEMON@mx.prospect.test
To: sales@vendor.test
Subject: Undelivered Mail Returned to Sender
Date: %s
Message-ID: <dsn-1@mx.prospect.test>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain

Your message could not be delivered.

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.prospect.test

Final-Recipient: rfc822; mbx-away@prospect.test
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <mbx-away@prospect.test>: Recipient address rejected: User unknown

--b1
Content-Type: text/rfc822-headers

Message-ID: <%s>
To: mbx-away@prospect.test
Subject: a quick idea

--b1--
`, time.Now().Format(time.RFC1123Z), awayIntro)
	took, err = e.svc.TakeMessage(ctx, []byte(strings.ReplaceAll(dsn, "\n", "\r\n")), deals.MessageOrigin{Source: "api"})
	require.NoError(t, err)
	require.Equal(t, store.MessageKind("bounce"), took.Kind)
	require.Equal(t, store.MatchThread, took.Match)
	require.Len(t, took.Events, 1)
	require.True(t, took.Events[0].Suppressed)
	e.eventually("the bounce task", 20*time.Second, func(tl store.Timeline) bool { return hasTask(tl, "exit-bounce") }, away.DealID)

	// A report for an address we never mailed changes nothing.
	stranger := strings.ReplaceAll(strings.ReplaceAll(dsn, "mbx-away@prospect.test", "nobody@else.test"), "dsn-1@", "dsn-2@")
	stranger = strings.ReplaceAll(stranger, "<"+awayIntro+">", "<not-ours@else.test>")
	took, err = e.svc.TakeMessage(ctx, []byte(strings.ReplaceAll(stranger, "\n", "\r\n")), deals.MessageOrigin{Source: "api"})
	require.NoError(t, err)
	require.Equal(t, store.MessageIgnored, took.Outcome)
	require.Contains(t, took.Reason, "never mailed")
	require.Empty(t, took.Events)
}

func quietLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func hasTask(tl store.Timeline, stepID string) bool {
	for _, t := range tl.Tasks {
		if t.StepID == stepID {
			return true
		}
	}
	return false
}

func taskOf(tl store.Timeline, stepID string) store.Task {
	for _, t := range tl.Tasks {
		if t.StepID == stepID {
			return t
		}
	}
	return store.Task{}
}
