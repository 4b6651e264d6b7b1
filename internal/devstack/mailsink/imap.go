package mailsink

import (
	"cmp"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/mail"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/backend"
	"github.com/emersion/go-imap/commands"
	"github.com/emersion/go-imap/server"
)

// The IMAP endpoint lets the dev stack's mailbox poller read the sink's mail
// exactly as it reads Gmail or Microsoft 365.
//
// Log in with any mailbox address as the user name (case-insensitive; an
// address with no mail yet has an empty INBOX) and the password given to
// StartIMAP (plaintext LOGIN or AUTHENTICATE PLAIN, no TLS: a loopback dev
// server). Each user has one mailbox, INBOX: the stored messages whose SMTP
// envelope recipients (X-Mailsink-Envelope-To) include the address. UIDs and
// UIDVALIDITY: see uids.go.
//
// Supported: LOGIN, AUTHENTICATE PLAIN, CAPABILITY, NOOP, LOGOUT, LIST/LSUB
// (INBOX only), STATUS, SELECT, EXAMINE, UNSELECT, CLOSE, CHECK, SEARCH and
// UID SEARCH (sequence and UID sets, flags, dates, sizes, header and text
// matches, NOT, OR), FETCH and UID FETCH (UID, FLAGS, INTERNALDATE,
// RFC822.SIZE, ENVELOPE, BODY, BODYSTRUCTURE, BODY[…] and BODY.PEEK[…] with
// HEADER, HEADER.FIELDS (NOT), TEXT, MIME, part numbers and <partial>,
// RFC822, RFC822.HEADER, RFC822.TEXT), STORE and UID STORE (flags live in
// memory only; a non-PEEK body fetch in a SELECTed mailbox sets \Seen),
// EXPUNGE (hides \Deleted messages from that mailbox's IMAP view, in memory
// only: the .eml stays, the web page keeps showing it, and a restart brings
// it back; mail is only removed with the page's "Delete all").
//
// Refused: CREATE, DELETE, RENAME, APPEND, COPY, MOVE, STARTTLS.
//
// A mailbox is a snapshot taken at SELECT/EXAMINE (and STATUS): messages that
// arrive later are seen at the next SELECT, which pollers do on every poll,
// or at a NOOP, which adds them to the view and answers "* n EXISTS". IDLE
// reports nothing (a client in IDLE is closed after imapIdleTimeout).
//
// Limits: at most imapMaxConns connections at once (more are greeted with
// BYE and closed), a connection that sends nothing for imapIdleTimeout is
// closed (IDLE included), and messages are read from their .eml files for
// each FETCH.
const (
	imapMaxConns     = 20
	imapIdleTimeout  = 5 * time.Minute
	imapWriteTimeout = time.Minute
	inboxName        = "INBOX"
)

// imapServer is a running IMAP endpoint.
type imapServer struct {
	srv    *server.Server
	ln     net.Listener
	served chan struct{}
}

func (is *imapServer) close() {
	_ = is.srv.Close()
	_ = is.ln.Close()
	<-is.served
}

// StartIMAP listens on addr ("127.0.0.1:1143"; port 0 picks a free port) and
// serves IMAP over the sink's mail in the background until Close; logins
// need password. It returns the bound address. A Sink serves IMAP at most
// once. See imap.go for what the server supports.
func (s *Sink) StartIMAP(addr, password string) (net.Addr, error) {
	if password == "" {
		return nil, errors.New("mailsink: IMAP needs a password")
	}
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return nil, errors.New("mailsink: sink is closed")
	}
	if s.imapSrv != nil {
		return nil, errors.New("mailsink: IMAP already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mailsink: %w", err)
	}
	srv := server.New(&imapBackend{sink: s, password: []byte(password)})
	srv.AllowInsecureAuth = true // loopback dev server, no TLS
	srv.MaxLiteralSize = 64 << 10
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.Enable(selectTracker{})
	is := &imapServer{srv: srv, ln: ln, served: make(chan struct{})}
	go func() {
		defer close(is.served)
		_ = srv.Serve(&limitListener{Listener: ln, sem: make(chan struct{}, imapMaxConns)})
	}()
	s.imapSrv = is
	return ln.Addr(), nil
}

// IMAPAddr returns the address StartIMAP bound, or nil.
func (s *Sink) IMAPAddr() net.Addr {
	s.life.Lock()
	defer s.life.Unlock()
	if s.imapSrv == nil {
		return nil
	}
	return s.imapSrv.ln.Addr()
}

// limitListener bounds concurrent connections and wraps each in idle and
// write timeouts.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
			return &idleConn{Conn: c, release: sync.OnceFunc(func() { <-l.sem })}, nil
		default:
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = io.WriteString(c, "* BYE mailsink: too many IMAP connections\r\n")
			_ = c.Close()
		}
	}
}

// idleConn closes a connection whose client sends nothing for
// imapIdleTimeout or does not read for imapWriteTimeout.
type idleConn struct {
	net.Conn
	release func()
}

func (c *idleConn) Read(p []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(imapIdleTimeout))
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(imapWriteTimeout))
	return c.Conn.Write(p)
}

func (c *idleConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// selectTracker wraps SELECT and EXAMINE so the mailbox knows whether it
// is read-only (EXAMINE): only then does a non-PEEK body fetch leave \Seen
// alone. The backend API does not tell a mailbox how it was opened.
type selectTracker struct{}

func (selectTracker) Capabilities(server.Conn) []string { return nil }

func (selectTracker) Command(name string) server.HandlerFactory {
	switch name {
	case "SELECT":
		return func() server.Handler { return &trackedSelect{} }
	case "EXAMINE":
		return func() server.Handler {
			h := &trackedSelect{}
			h.ReadOnly = true
			return h
		}
	case "NOOP":
		return func() server.Handler { return &pollNoop{} }
	}
	return nil
}

// pollNoop is NOOP that reports new mail: messages stored since the
// mailbox was opened join its view and the client gets "* n EXISTS".
type pollNoop struct{ commands.Noop }

func (h *pollNoop) Handle(conn server.Conn) error {
	mb, ok := conn.Context().Mailbox.(*imapMailbox)
	if !ok {
		return nil
	}
	if n, grew := mb.refresh(); grew {
		return conn.WriteResp(imap.NewUntaggedResp([]any{n, imap.RawString("EXISTS")}))
	}
	return nil
}

type trackedSelect struct{ server.Select }

func (h *trackedSelect) Handle(conn server.Conn) error {
	err := h.Select.Handle(conn)
	ctx := conn.Context()
	if mb, ok := ctx.Mailbox.(*imapMailbox); ok {
		mb.readOnly = ctx.MailboxReadOnly
	}
	return err
}

// imapBackend authenticates users against the one password.
type imapBackend struct {
	sink     *Sink
	password []byte
}

func (b *imapBackend) Login(_ *imap.ConnInfo, username, password string) (backend.User, error) {
	ok := subtle.ConstantTimeCompare([]byte(password), b.password) == 1
	addr, valid := mailboxAddress(username)
	if !ok || !valid {
		return nil, backend.ErrInvalidCredentials
	}
	return &imapUser{sink: b.sink, addr: addr}, nil
}

// mailboxAddress returns the lower-case bare address a login names.
func mailboxAddress(username string) (string, bool) {
	username = strings.TrimSpace(username)
	a, err := mail.ParseAddress(username)
	if err != nil || a.Name != "" || !strings.EqualFold(a.Address, username) || !strings.Contains(a.Address, "@") {
		return "", false
	}
	return strings.ToLower(a.Address), true
}

// imapUser is one logged-in mailbox address.
type imapUser struct {
	sink *Sink
	addr string
}

func (u *imapUser) Username() string { return u.addr }

func (u *imapUser) ListMailboxes(bool) ([]backend.Mailbox, error) {
	return []backend.Mailbox{u.sink.snapshot(u.addr)}, nil
}

func (u *imapUser) GetMailbox(name string) (backend.Mailbox, error) {
	if !strings.EqualFold(name, inboxName) {
		return nil, backend.ErrNoSuchMailbox
	}
	return u.sink.snapshot(u.addr), nil
}

var errOnlyInbox = errors.New("mailsink: each address has exactly one mailbox, INBOX; mailboxes cannot be created, deleted or renamed")

func (u *imapUser) CreateMailbox(string) error         { return errOnlyInbox }
func (u *imapUser) DeleteMailbox(string) error         { return errOnlyInbox }
func (u *imapUser) RenameMailbox(string, string) error { return errOnlyInbox }
func (u *imapUser) Logout() error                      { return nil }

// imapMailbox is one session's view of an INBOX, taken when it was opened.
type imapMailbox struct {
	sink     *Sink
	addr     string
	validity uint32
	uidNext  uint32
	readOnly bool // EXAMINE (set by trackedSelect)

	mu   sync.Mutex // guards msgs (EXPUNGE removes from it)
	msgs []*entry   // ascending UID; sequence number = index + 1
}

// snapshot takes the current view of addr's INBOX.
func (s *Sink) snapshot(addr string) *imapMailbox {
	s.mu.RLock()
	defer s.mu.RUnlock()
	mb := &imapMailbox{sink: s, addr: addr, validity: s.imap.validity, uidNext: s.imap.nextUID}
	gone := s.imap.expunged[addr]
	for _, e := range s.index {
		if !gone[e.ID] && slices.ContainsFunc(e.EnvelopeTo, func(r string) bool { return strings.EqualFold(r, addr) }) {
			mb.msgs = append(mb.msgs, e)
		}
	}
	slices.SortFunc(mb.msgs, func(a, b *entry) int { return cmp.Compare(a.UID, b.UID) })
	return mb
}

// refresh appends the messages stored since the view was taken (UIDs above
// its last; under the same UIDVALIDITY only) and returns the new count and
// whether it grew. Sequence numbers of the view stay as they were.
func (mb *imapMailbox) refresh() (uint32, bool) {
	now := mb.sink.snapshot(mb.addr)
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if now.validity != mb.validity {
		return uint32(len(mb.msgs)), false
	}
	var lastUID uint32
	if len(mb.msgs) > 0 {
		lastUID = mb.msgs[len(mb.msgs)-1].UID
	}
	before := len(mb.msgs)
	for _, e := range now.msgs {
		if e.UID > lastUID {
			mb.msgs = append(mb.msgs, e)
		}
	}
	mb.uidNext = max(mb.uidNext, now.uidNext)
	return uint32(len(mb.msgs)), len(mb.msgs) > before
}

func (mb *imapMailbox) Name() string { return inboxName }

func (mb *imapMailbox) Info() (*imap.MailboxInfo, error) {
	return &imap.MailboxInfo{Delimiter: "/", Name: inboxName}, nil
}

// flagsOf returns a copy of a message's flags in this mailbox.
func (mb *imapMailbox) flagsOf(id string) []string {
	mb.sink.mu.RLock()
	defer mb.sink.mu.RUnlock()
	return slices.Clone(mb.sink.imap.flags[mb.addr][id])
}

func (mb *imapMailbox) setFlags(id string, f func([]string) []string) {
	s := mb.sink
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.imap.flags == nil {
		s.imap.flags = map[string]map[string][]string{}
	}
	m := s.imap.flags[mb.addr]
	if m == nil {
		m = map[string][]string{}
		s.imap.flags[mb.addr] = m
	}
	m[id] = f(m[id])
}

func (mb *imapMailbox) view() []*entry {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return slices.Clone(mb.msgs)
}

var permanentFlags = []string{imap.SeenFlag, imap.AnsweredFlag, imap.FlaggedFlag, imap.DeletedFlag, imap.DraftFlag}

func (mb *imapMailbox) Status(items []imap.StatusItem) (*imap.MailboxStatus, error) {
	msgs := mb.view()
	st := imap.NewMailboxStatus(inboxName, items)
	st.Flags = permanentFlags
	st.PermanentFlags = append(slices.Clone(permanentFlags), `\*`)
	var unseen uint32
	for i, e := range msgs {
		if !slices.Contains(mb.flagsOf(e.ID), imap.SeenFlag) {
			unseen++
			if st.UnseenSeqNum == 0 {
				st.UnseenSeqNum = uint32(i + 1)
			}
		}
	}
	for _, it := range items {
		switch it {
		case imap.StatusMessages:
			st.Messages = uint32(len(msgs))
		case imap.StatusRecent:
			st.Recent = 0
		case imap.StatusUnseen:
			st.Unseen = unseen
		case imap.StatusUidNext:
			st.UidNext = mb.uidNext
		case imap.StatusUidValidity:
			st.UidValidity = mb.validity
		}
	}
	return st, nil
}

func (mb *imapMailbox) SetSubscribed(bool) error { return nil }
func (mb *imapMailbox) Check() error             { return nil }

// inSet reports whether id is in set, "*" being last (RFC 3501 §6.4.8: the
// largest number in use).
func inSet(set *imap.SeqSet, id, last uint32) bool {
	if set == nil {
		return true
	}
	for _, sq := range set.Set {
		start, stop := sq.Start, sq.Stop
		if start == 0 {
			start = last
		}
		if stop == 0 {
			stop = last
		}
		if start > stop {
			start, stop = stop, start
		}
		if id >= start && id <= stop {
			return true
		}
	}
	return false
}

// last returns the largest sequence number or UID of msgs.
func last(msgs []*entry, uid bool) uint32 {
	if len(msgs) == 0 {
		return 0
	}
	if uid {
		return msgs[len(msgs)-1].UID
	}
	return uint32(len(msgs))
}

func (mb *imapMailbox) ListMessages(uid bool, seqSet *imap.SeqSet, items []imap.FetchItem, ch chan<- *imap.Message) error {
	defer close(ch)
	msgs := mb.view()
	max := last(msgs, uid)
	for i, e := range msgs {
		seq := uint32(i + 1)
		id := seq
		if uid {
			id = e.UID
		}
		if !inSet(seqSet, id, max) {
			continue
		}
		m, err := mb.fetch(seq, e, items)
		if err != nil {
			continue // deleted meanwhile ("Delete all")
		}
		ch <- m
	}
	return nil
}

// readIMAP reads a stored message with CRLF line ends, as IMAP serves it.
func (s *Sink) readIMAP(e *entry) ([]byte, error) {
	raw, err := os.ReadFile(s.path(e.ID))
	if err != nil {
		return nil, err
	}
	return toCRLF(raw), nil
}

func (mb *imapMailbox) fetch(seq uint32, e *entry, items []imap.FetchItem) (*imap.Message, error) {
	raw, err := mb.sink.readIMAP(e)
	if err != nil {
		return nil, err
	}
	m := imap.NewMessage(seq, items)
	for _, it := range items {
		switch it {
		case imap.FetchUid:
			m.Uid = e.UID
		case imap.FetchFlags:
			// Filled in below, after a body fetch may have set \Seen.
		case imap.FetchInternalDate:
			m.InternalDate = e.ReceivedAt
		case imap.FetchRFC822Size:
			m.Size = uint32(len(raw))
		case imap.FetchEnvelope:
			m.Envelope = envelopeOf(raw)
		case imap.FetchBody, imap.FetchBodyStructure:
			m.BodyStructure = bodyStructureOf(raw, it == imap.FetchBodyStructure, 0)
		default:
			sec, err := imap.ParseBodySectionName(it)
			if err != nil {
				continue
			}
			if !sec.Peek && !mb.readOnly {
				mb.setFlags(e.ID, func(fs []string) []string {
					if !slices.Contains(fs, imap.SeenFlag) {
						fs = append(fs, imap.SeenFlag)
					}
					return fs
				})
			}
			m.Body[sec] = sectionLiteral(raw, sec)
		}
	}
	if _, ok := m.Items[imap.FetchFlags]; ok {
		m.Flags = mb.flagsOf(e.ID)
		if m.Flags == nil {
			m.Flags = []string{}
		}
	}
	return m, nil
}

func (mb *imapMailbox) SearchMessages(uid bool, c *imap.SearchCriteria) ([]uint32, error) {
	msgs := mb.view()
	lastSeq, lastUID := last(msgs, false), last(msgs, true)
	var ids []uint32
	for i, e := range msgs {
		sm := &searchMsg{mb: mb, e: e, seq: uint32(i + 1), lastSeq: lastSeq, lastUID: lastUID}
		if !sm.match(c) {
			continue
		}
		if uid {
			ids = append(ids, e.UID)
		} else {
			ids = append(ids, sm.seq)
		}
	}
	return ids, nil
}

func (mb *imapMailbox) CreateMessage([]string, time.Time, imap.Literal) error {
	return errors.New("mailsink: APPEND is not supported; send mail to the sink over SMTP")
}

func (mb *imapMailbox) UpdateMessagesFlags(uid bool, seqSet *imap.SeqSet, op imap.FlagsOp, flags []string) error {
	msgs := mb.view()
	max := last(msgs, uid)
	for i, e := range msgs {
		id := uint32(i + 1)
		if uid {
			id = e.UID
		}
		if !inSet(seqSet, id, max) {
			continue
		}
		mb.setFlags(e.ID, func(fs []string) []string { return updateFlags(fs, op, flags) })
	}
	return nil
}

// updateFlags applies a STORE operation; \Recent is the server's, not the
// client's.
func updateFlags(cur []string, op imap.FlagsOp, flags []string) []string {
	var add []string
	for _, f := range flags {
		if f != imap.RecentFlag && !slices.Contains(add, f) {
			add = append(add, f)
		}
	}
	switch op {
	case imap.SetFlags:
		return add
	case imap.AddFlags:
		for _, f := range add {
			if !slices.Contains(cur, f) {
				cur = append(cur, f)
			}
		}
		return cur
	case imap.RemoveFlags:
		return slices.DeleteFunc(cur, func(f string) bool { return slices.Contains(add, f) })
	}
	return cur
}

func (mb *imapMailbox) CopyMessages(bool, *imap.SeqSet, string) error {
	return errors.New("mailsink: COPY is not supported: each address has only INBOX")
}

// Expunge removes the \Deleted messages from this mailbox's IMAP view (in
// memory; the files stay). The backend has no Updates channel, so the
// server itself searched for those \Deleted messages just before and sends
// their EXPUNGE responses: the snapshot drops the same ones, which keeps
// sequence numbers in step.
func (mb *imapMailbox) Expunge() error {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	var gone []string
	kept := mb.msgs[:0]
	for _, e := range mb.msgs {
		if slices.Contains(mb.flagsOf(e.ID), imap.DeletedFlag) {
			gone = append(gone, e.ID)
			continue
		}
		kept = append(kept, e)
	}
	mb.msgs = kept
	if len(gone) == 0 {
		return nil
	}
	s := mb.sink
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.imap.expunged == nil {
		s.imap.expunged = map[string]map[string]bool{}
	}
	if s.imap.expunged[mb.addr] == nil {
		s.imap.expunged[mb.addr] = map[string]bool{}
	}
	for _, id := range gone {
		s.imap.expunged[mb.addr][id] = true
	}
	return nil
}
