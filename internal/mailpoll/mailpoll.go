// Package mailpoll reads the engine's mailboxes over IMAP and hands each new message to the
// mailbox intake (deals.Service.TakeMessage). It reads INBOX only, read-only unless told to
// mark or move what it took, remembers where it stopped per mailbox (UIDVALIDITY and the last
// UID, in PostgreSQL), and holds a PostgreSQL advisory lock per mailbox while it polls, so any
// number of API processes may run it and a mailbox is still read by one at a time.
package mailpoll

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/client"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/opsmetrics"
	"github.com/followup-engine/followup/internal/store"
)

// TLSMode is how a mailbox's connection is secured.
type TLSMode string

// The TLS modes: implicit TLS (port 993, the default), STARTTLS (port 143), or none, which is
// allowed only towards a loopback host (a local test server).
const (
	TLSImplicit TLSMode = "tls"
	TLSStart    TLSMode = "starttls"
	TLSNone     TLSMode = "none"
)

// Mailbox is one IMAP mailbox to read.
type Mailbox struct {
	// Name identifies the mailbox's cursor in PostgreSQL: username@host, or the sending
	// address whose entry of SMTP_MAILBOXES_FILE it is.
	Name     string
	Host     string
	Port     int
	TLS      TLSMode
	Username string
	Password string
	// TLSConfig overrides the TLS client configuration (tests trust their own CA with it).
	TLSConfig *tls.Config
}

// String describes the mailbox without its password.
func (m Mailbox) String() string {
	return fmt.Sprintf("%s (%s:%d, user %q, TLS %s)", m.Name, m.Host, m.Port, m.Username, m.TLS)
}

// Problems lists what is wrong with m; no message quotes the password.
func (m Mailbox) Problems() []string {
	var p []string
	if strings.TrimSpace(m.Host) == "" || strings.ContainsAny(m.Host, " \t\r\n/") {
		p = append(p, fmt.Sprintf("host %q is not a hostname", m.Host))
	}
	if m.Port < 1 || m.Port > 65535 {
		p = append(p, fmt.Sprintf("port %d is outside 1..65535", m.Port))
	}
	switch m.TLS {
	case TLSImplicit, TLSStart:
	case TLSNone:
		if !loopback(m.Host) {
			p = append(p, fmt.Sprintf("TLS %q would send the password in clear to %q: only a loopback host may go without TLS", m.TLS, m.Host))
		}
	default:
		p = append(p, fmt.Sprintf("TLS %q is not one of %q, %q, %q", m.TLS, TLSImplicit, TLSStart, TLSNone))
	}
	if m.Username == "" || m.Password == "" {
		p = append(p, "username and password are required")
	}
	return p
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Options tune the poller; zero values take the defaults.
type Options struct {
	Interval time.Duration // between two polls of a mailbox; DefaultInterval
	// MarkSeen sets \Seen on each message taken; MoveTo moves it to that folder. Both are off
	// by default: the poller then opens INBOX read-only and changes nothing in the mailbox.
	MarkSeen bool
	MoveTo   string
	// FetchBytes bounds what is fetched of one message (its first bytes: headers and the
	// start of the body, which is all classification reads); DefaultFetchBytes.
	FetchBytes int
	// Batch bounds the messages taken in one poll; the next poll goes on. DefaultBatch.
	Batch int
	// Timeout bounds the dial and each IMAP command; DefaultTimeout.
	Timeout time.Duration
	// FirstRead is how far back the first poll of a mailbox reads (by the date the server
	// received each message); DefaultFirstRead. Older mail there is history, not news, and a
	// rep's years of INBOX would otherwise hold today's replies back.
	FirstRead time.Duration
	Logger    *slog.Logger
}

// Defaults of Options.
const (
	DefaultInterval   = 30 * time.Second
	DefaultFetchBytes = 1 << 20
	DefaultBatch      = 200
	DefaultTimeout    = 30 * time.Second
	DefaultFirstRead  = 7 * 24 * time.Hour
	// MaxConcurrentPolls bounds the mailboxes polled at once: each holds a PostgreSQL
	// connection for its lock while it polls, and uses another.
	MaxConcurrentPolls = 4
)

func (o Options) withDefaults() Options {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.FetchBytes <= 0 {
		o.FetchBytes = DefaultFetchBytes
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.FirstRead <= 0 {
		o.FirstRead = DefaultFirstRead
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Taker takes one message in: deals.Service.TakeMessage.
type Taker interface {
	TakeMessage(ctx context.Context, raw []byte, from deals.MessageOrigin) (deals.MessageResponse, error)
}

// Poller reads a set of mailboxes.
type Poller struct {
	Store     *store.Store
	Taker     Taker
	Mailboxes []Mailbox
	Options   Options
}

// PollResult says what one poll of a mailbox did.
type PollResult struct {
	Locked    bool   // another process holds the mailbox's lock: nothing was done
	Skipped   int    // first poll: messages older than FirstRead, left alone
	Reset     bool   // UIDVALIDITY changed (or first poll): the mailbox is read from its start
	Taken     int    // messages handed to the intake
	Duplicate int    // of those, messages taken before (by key)
	LastUID   uint32 // the cursor after the poll
}

// Run polls every mailbox every Interval until ctx ends. A mailbox that fails is retried at
// the next interval (doubling up to 10 minutes while it keeps failing); the others go on.
func (p *Poller) Run(ctx context.Context) {
	o := p.Options.withDefaults()
	var wg sync.WaitGroup
	slots := make(chan struct{}, MaxConcurrentPolls)
	names := make([]string, len(p.Mailboxes))
	for i, mb := range p.Mailboxes {
		names[i] = mb.Name
	}
	opsmetrics.WatchMailboxes(names, time.Now()) // followup_mailbox_poll_lag_seconds{mailbox="1"…}
	for _, mb := range p.Mailboxes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wait, failing := time.Duration(0), false
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
				select {
				case <-ctx.Done():
					return
				case slots <- struct{}{}:
				}
				res, err := p.Poll(ctx, mb)
				<-slots
				switch {
				case ctx.Err() != nil:
					return
				case err != nil:
					wait = min(max(2*wait, o.Interval), 10*time.Minute)
					if !failing {
						o.Logger.Warn("mailbox poll failed; retrying", "mailbox", mb.Name, "error", err, "retry_in", wait)
					}
					failing = true
				default:
					opsmetrics.MailboxPolled(mb.Name, time.Now())
					if failing {
						o.Logger.Info("mailbox poll works again", "mailbox", mb.Name)
					}
					if res.Taken > 0 || res.Reset {
						o.Logger.Info("mailbox polled", "mailbox", mb.Name, "taken", res.Taken, "duplicate", res.Duplicate,
							"reset", res.Reset, "last_uid", res.LastUID)
					}
					wait, failing = o.Interval, false
				}
			}
		}()
	}
	wg.Wait()
}

// Poll reads one mailbox once: every message after its cursor, at most Batch of them.
func (p *Poller) Poll(ctx context.Context, mb Mailbox) (PollResult, error) {
	var res PollResult
	ran, err := p.Store.WithMailboxLock(ctx, mb.Name, func(ctx context.Context) error {
		var err error
		res, err = p.pollLocked(ctx, mb)
		note := ""
		if err != nil {
			note = err.Error()
		}
		if nerr := p.Store.NoteMailboxPoll(context.WithoutCancel(ctx), mb.Name, note); nerr != nil && err == nil {
			err = nerr
		}
		return err
	})
	if err == nil && !ran {
		res.Locked = true
	}
	return res, err
}

func (p *Poller) pollLocked(ctx context.Context, mb Mailbox) (PollResult, error) {
	o := p.Options.withDefaults()
	var res PollResult
	c, err := dial(ctx, mb, o.Timeout)
	if err != nil {
		return res, err
	}
	defer c.Logout() //nolint:errcheck // the connection closes either way
	// A cancelled ctx ends the session at once rather than at the next timeout.
	stop := context.AfterFunc(ctx, func() { c.Terminate() }) //nolint:errcheck
	defer stop()
	if err := c.Login(mb.Username, mb.Password); err != nil {
		return res, fmt.Errorf("login as %q: %w", mb.Username, err)
	}
	writes := o.MarkSeen || o.MoveTo != ""
	status, err := c.Select("INBOX", !writes)
	if err != nil {
		return res, fmt.Errorf("select INBOX: %w", err)
	}
	if o.MoveTo != "" {
		if err := checkMoveTo(c, o.MoveTo); err != nil {
			return res, err
		}
	}
	cursor, found, err := p.Store.MailboxCursorOf(ctx, mb.Name)
	if err != nil {
		return res, err
	}
	last := cursor.LastUID
	// First: nothing was taken from this mailbox yet (a poll that failed before its first
	// message leaves it so).
	first := !found || cursor.UIDValidity == 0 || cursor.LastUID == 0
	// Changed: the server renumbered the mailbox since the cursor was saved.
	changed := found && cursor.UIDValidity != 0 && cursor.UIDValidity != status.UidValidity
	if first || changed {
		// Read every message (again); the intake's dedupe by Message-ID keeps each message
		// one event. An empty mailbox stays "first" poll after poll: that is no reset.
		last = 0
		res.Reset = changed || !found || cursor.UIDValidity == 0
		if changed {
			o.Logger.Warn("mailbox UIDVALIDITY changed: reading it again from its start", "mailbox", mb.Name,
				"was", cursor.UIDValidity, "now", status.UidValidity)
		}
		if res.Reset {
			if err := p.Store.SaveMailboxCursor(ctx, mb.Name, status.UidValidity, 0); err != nil {
				return res, err
			}
		}
	}
	res.LastUID = last
	if status.Messages == 0 {
		return res, nil
	}
	listed, err := newUIDs(c, last)
	if err != nil {
		return res, err
	}
	var uids []uint32
	var skippedUpTo uint32
	for _, m := range listed {
		// The first poll leaves alone what the server received before FirstRead (a
		// UIDVALIDITY change reads everything again).
		if first && !m.at.IsZero() && time.Since(m.at) > o.FirstRead {
			res.Skipped++
			if len(uids) == 0 {
				skippedUpTo = m.uid
			}
			continue
		}
		uids = append(uids, m.uid)
	}
	if res.Skipped > 0 {
		o.Logger.Info("first poll: mail older than the first-read window is left alone", "mailbox", mb.Name,
			"messages", res.Skipped, "first_read", o.FirstRead)
	}
	if skippedUpTo > 0 {
		if err := p.Store.SaveMailboxCursor(ctx, mb.Name, status.UidValidity, skippedUpTo); err != nil {
			return res, err
		}
		res.LastUID = skippedUpTo
	}
	if len(uids) > o.Batch {
		uids = uids[:o.Batch]
	}
	section := &imap.BodySectionName{Peek: true, Partial: []int{0, o.FetchBytes}}
	for _, uid := range uids {
		raw, err := fetch(c, uid, section)
		if err != nil {
			return res, fmt.Errorf("fetch UID %d: %w", uid, err)
		}
		if raw != nil { // nil: expunged meanwhile
			took, err := p.Taker.TakeMessage(ctx, raw, deals.MessageOrigin{Source: "imap:" + mb.Name, UID: uid})
			if err != nil {
				return res, fmt.Errorf("take UID %d: %w", uid, err)
			}
			res.Taken++
			if took.Duplicate {
				res.Duplicate++
			}
			if err := settle(c, uid, o); err != nil {
				// Taken and recorded: a mark or move that fails must not make the next poll
				// take it again and fail the same way.
				o.Logger.Warn("mailbox: could not mark or move a message taken", "mailbox", mb.Name, "uid", uid, "error", err)
			}
		}
		if err := p.Store.SaveMailboxCursor(ctx, mb.Name, status.UidValidity, uid); err != nil {
			return res, err
		}
		res.LastUID = uid
	}
	return res, nil
}

// listedMessage is a message after the cursor: its UID and when the server received it.
type listedMessage struct {
	uid uint32
	at  time.Time
}

// newUIDs lists the messages after last, by ascending UID. It asks UID FETCH for the UIDs and
// arrival dates alone, which every server answers without reading a message (SEARCH may parse
// them).
func newUIDs(c *client.Client, last uint32) ([]listedMessage, error) {
	var from imap.SeqSet
	from.AddRange(last+1, 0)
	ch := make(chan *imap.Message, 64)
	done := make(chan error, 1)
	go func() { done <- c.UidFetch(&from, []imap.FetchItem{imap.FetchUid, imap.FetchInternalDate}, ch) }()
	var out []listedMessage
	for m := range ch {
		// UID last+1:* also answers the newest message when none is newer: filter.
		if m.Uid > last {
			out = append(out, listedMessage{m.Uid, m.InternalDate})
		}
	}
	if err := <-done; err != nil {
		return nil, fmt.Errorf("list UIDs %d:*: %w", last+1, err)
	}
	slices.SortFunc(out, func(a, b listedMessage) int { return int(int64(a.uid) - int64(b.uid)) })
	return slices.CompactFunc(out, func(a, b listedMessage) bool { return a.uid == b.uid }), nil
}

// checkMoveTo makes sure a message can be moved to folder before any is taken: the server
// offers MOVE and the folder exists.
func checkMoveTo(c *client.Client, folder string) error {
	// Without MOVE, go-imap would copy, flag \Deleted and EXPUNGE, which also removes any
	// other message someone flagged \Deleted: refuse instead.
	if ok, err := c.Support("MOVE"); err != nil || !ok {
		return fmt.Errorf("IMAP_MOVE_TO=%q: the server does not offer IMAP MOVE (RFC 6851); unset IMAP_MOVE_TO", folder)
	}
	ch := make(chan *imap.MailboxInfo, 4)
	done := make(chan error, 1)
	go func() { done <- c.List("", folder, ch) }()
	found := false
	for range ch {
		found = true
	}
	if err := <-done; err != nil {
		return fmt.Errorf("IMAP_MOVE_TO=%q: list the folder: %w", folder, err)
	}
	if !found {
		return fmt.Errorf("IMAP_MOVE_TO=%q: no such folder in this mailbox; create it or unset IMAP_MOVE_TO", folder)
	}
	return nil
}

// settle marks or moves a message taken, as configured.
func settle(c *client.Client, uid uint32, o Options) error {
	var set imap.SeqSet
	set.AddNum(uid)
	if o.MarkSeen {
		if err := c.UidStore(&set, imap.FormatFlagsOp(imap.AddFlags, true), []any{imap.SeenFlag}, nil); err != nil {
			return fmt.Errorf("mark UID %d seen: %w", uid, err)
		}
	}
	if o.MoveTo != "" {
		if err := c.UidMove(&set, o.MoveTo); err != nil {
			return fmt.Errorf("move UID %d to %q: %w", uid, o.MoveTo, err)
		}
	}
	return nil
}

// fetch reads the first bytes of one message; nil when the server no longer has it.
func fetch(c *client.Client, uid uint32, section *imap.BodySectionName) ([]byte, error) {
	var set imap.SeqSet
	set.AddNum(uid)
	ch := make(chan *imap.Message, 1)
	done := make(chan error, 1)
	go func() { done <- c.UidFetch(&set, []imap.FetchItem{imap.FetchUid, section.FetchItem()}, ch) }()
	var raw []byte
	for msg := range ch {
		if msg.Uid != uid {
			continue
		}
		if lit := msg.GetBody(section); lit != nil {
			raw, _ = io.ReadAll(lit) // an in-memory literal, already bounded by the partial fetch
		}
	}
	if err := <-done; err != nil {
		return nil, err
	}
	return raw, nil
}

func dial(ctx context.Context, mb Mailbox, timeout time.Duration) (*client.Client, error) {
	addr := net.JoinHostPort(mb.Host, strconv.Itoa(mb.Port))
	dialer := &net.Dialer{Timeout: timeout}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		dialer.Deadline = dl
	}
	cfg := mb.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{ServerName: mb.Host, MinVersion: tls.VersionTLS12}
	}
	var c *client.Client
	var err error
	switch mb.TLS {
	case TLSImplicit:
		c, err = client.DialWithDialerTLS(dialer, addr, cfg)
	case TLSStart, TLSNone:
		c, err = client.DialWithDialer(dialer, addr)
	default:
		return nil, fmt.Errorf("TLS mode %q", mb.TLS)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	c.Timeout = timeout
	if mb.TLS == TLSStart {
		if err := c.StartTLS(cfg); err != nil {
			c.Terminate() //nolint:errcheck
			return nil, fmt.Errorf("STARTTLS with %s: %w", addr, err)
		}
	}
	return c, nil
}
