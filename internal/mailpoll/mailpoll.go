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
	Logger  *slog.Logger
}

// Defaults of Options.
const (
	DefaultInterval   = 30 * time.Second
	DefaultFetchBytes = 1 << 20
	DefaultBatch      = 200
	DefaultTimeout    = 30 * time.Second
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
	Skipped   bool   // another process holds the mailbox's lock
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
				res, err := p.Poll(ctx, mb)
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
		res.Skipped = true
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
	cursor, found, err := p.Store.MailboxCursorOf(ctx, mb.Name)
	if err != nil {
		return res, err
	}
	last := cursor.LastUID
	if !found || cursor.UIDValidity != status.UidValidity {
		// New UIDs for every message: read them all again; the intake's dedupe by
		// Message-ID keeps each message one event. (0: no poll got this far yet.)
		res.Reset, last = true, 0
		if found && cursor.UIDValidity != 0 {
			o.Logger.Warn("mailbox UIDVALIDITY changed: reading it again from its start", "mailbox", mb.Name,
				"was", cursor.UIDValidity, "now", status.UidValidity)
		}
		if err := p.Store.SaveMailboxCursor(ctx, mb.Name, status.UidValidity, 0); err != nil {
			return res, err
		}
	}
	res.LastUID = last
	if status.Messages == 0 {
		return res, nil
	}
	uids, err := newUIDs(c, last)
	if err != nil {
		return res, err
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
				return res, err
			}
		}
		if err := p.Store.SaveMailboxCursor(ctx, mb.Name, status.UidValidity, uid); err != nil {
			return res, err
		}
		res.LastUID = uid
	}
	return res, nil
}

// newUIDs lists the UIDs after last, ascending. It asks UID FETCH for the UIDs alone, which
// every server answers without reading a message (SEARCH may parse them).
func newUIDs(c *client.Client, last uint32) ([]uint32, error) {
	var from imap.SeqSet
	from.AddRange(last+1, 0)
	ch := make(chan *imap.Message, 64)
	done := make(chan error, 1)
	go func() { done <- c.UidFetch(&from, []imap.FetchItem{imap.FetchUid}, ch) }()
	var uids []uint32
	for m := range ch {
		// UID last+1:* also answers the newest message when none is newer: filter.
		if m.Uid > last {
			uids = append(uids, m.Uid)
		}
	}
	if err := <-done; err != nil {
		return nil, fmt.Errorf("list UIDs %d:*: %w", last+1, err)
	}
	slices.Sort(uids)
	return slices.Compact(uids), nil
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
		// Without MOVE, go-imap would copy, flag \Deleted and EXPUNGE, which also removes any
		// other message someone flagged \Deleted: refuse instead.
		if ok, err := c.Support("MOVE"); err != nil || !ok {
			return fmt.Errorf("move UID %d to %q: the server does not offer IMAP MOVE (RFC 6851); unset IMAP_MOVE_TO", uid, o.MoveTo)
		}
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
