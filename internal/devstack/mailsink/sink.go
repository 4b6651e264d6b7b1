// Package mailsink is the local dev stack's SMTP sink: an SMTP server that
// accepts every message (any sender, any recipient, no auth), keeps each one
// as an .eml file in a directory, and a small web UI to read them (the role
// Mailpit plays elsewhere; see Handler for the routes). An IMAP endpoint
// (StartIMAP, imap.go) serves each envelope recipient's mail as that
// address's INBOX, and the message page's prospect buttons (prospect.go)
// store a reply, an auto-reply or a bounce to a message, so the stack's
// mailbox poller has something real to read.
//
// Usage:
//
//	sink, err := mailsink.New(".local/mail") // loads earlier mail
//	addr, err := sink.StartSMTP("127.0.0.1:1025")
//	imapAddr, err := sink.StartIMAP("127.0.0.1:1143", password)
//	defer sink.Close()
//	http.ListenAndServe("127.0.0.1:8025", sink.Handler())
//
// Message ids are the .eml file names without the extension
// (20260102T150405.123456789Z-0a1b2c3d: UTC receive time plus a random
// suffix), so they sort by time and stay the same across restarts. The web
// UI only looks ids up in the in-memory index; it never builds a path from
// request input.
//
// Before storing, the sink prepends two trace headers with the SMTP
// envelope: "Return-Path: <sender>" and "X-Mailsink-Envelope-To: <rcpt>, …"
// (so Bcc recipients stay visible). The directory also holds the IMAP UID
// state (.imap-uidvalidity, .imap-uids; see uids.go).
package mailsink

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// MaxMessageBytes is the SMTP SIZE limit; larger messages are rejected with
// 552 by go-smtp.
const MaxMessageBytes = 10 << 20

// Trace headers prepended to every stored message.
const (
	headerReturnPath = "Return-Path"
	headerEnvTo      = "X-Mailsink-Envelope-To"
)

const (
	fileExt  = ".eml"
	idLayout = "20060102T150405.000000000Z"
)

// idPattern matches the ids New generates (and thus the file names loaded).
var idPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}\.[0-9]{9}Z-[0-9a-f]{8}$`)

// Sink stores received mail in a directory and indexes it in memory. It is
// safe for concurrent use.
type Sink struct {
	dir string

	mu    sync.RWMutex
	index []*entry          // newest first
	byID  map[string]*entry // same entries
	// DKIM keys the check knows: TXT record by lower-case name
	// (selector._domainkey.domain); see AddDKIMKey.
	dkimKeys map[string]string
	dkimGen  int       // bumped by AddDKIMKey; cached results of older generations are stale
	imap     imapState // UIDs, UIDVALIDITY, IMAP flags (see uids.go)

	life     sync.Mutex // guards the fields below
	srv      *smtp.Server
	ln       net.Listener
	served   chan struct{} // closed when Serve returned
	closed   bool
	inflight sync.WaitGroup // stores in progress; Add only while !closed
	imapSrv  *imapServer    // set by StartIMAP
}

// entry is the index record of one stored message.
type entry struct {
	ID           string
	ReceivedAt   time.Time
	Size         int64
	EnvelopeFrom string
	EnvelopeTo   []string
	From         string   // From header, RFC 2047-decoded
	FromAddr     string   // bare address, or the raw header if unparsable
	To           []string // To addresses for display ("Name <addr>")
	ToAddrs      []string // bare addresses
	Subject      string   // RFC 2047-decoded
	MessageID    string   // without angle brackets
	InReplyTo    []string // ids of In-Reply-To, without angle brackets
	References   []string // ids of References, in order

	dkim    *dkimResult // cached DKIM check (guarded by Sink.mu); nil until first shown
	dkimGen int         // Sink.dkimGen the cached result was computed with

	unsub *unsubscribeResult // answer to the last one-click POST (guarded by Sink.mu); nil before one

	// UID is the message's IMAP UID in every mailbox that holds it (see
	// uids.go); set before the entry is published in the index.
	UID uint32
}

// New opens (creating it if needed) dir and indexes the .eml files an
// earlier run left there. Files whose names New did not generate are
// ignored.
func New(dir string) (*Sink, error) {
	if dir == "" {
		return nil, errors.New("mailsink: empty directory")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("mailsink: %w", err)
	}
	s := &Sink{dir: dir, byID: make(map[string]*entry)}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("mailsink: %w", err)
	}
	for _, de := range des {
		id, ok := strings.CutSuffix(de.Name(), fileExt)
		if !ok || !idPattern.MatchString(id) || !de.Type().IsRegular() {
			continue
		}
		e, err := s.loadEntry(id)
		if err != nil {
			return nil, fmt.Errorf("mailsink: load %s: %w", de.Name(), err)
		}
		s.byID[id] = e
		s.index = append(s.index, e)
	}
	sortIndex(s.index)
	if err := s.loadUIDs(); err != nil {
		return nil, fmt.Errorf("mailsink: imap uids: %w", err)
	}
	return s, nil
}

// Dir returns the directory the sink stores mail in.
func (s *Sink) Dir() string { return s.dir }

// StartSMTP listens on addr ("127.0.0.1:1025"; port 0 picks a free port)
// and serves SMTP in the background until Close. It returns the bound
// address. A Sink serves SMTP at most once.
func (s *Sink) StartSMTP(addr string) (net.Addr, error) {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return nil, errors.New("mailsink: sink is closed")
	}
	if s.srv != nil {
		return nil, errors.New("mailsink: SMTP already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mailsink: %w", err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{sink: s}, nil
	}))
	srv.Domain = "mailsink.local"
	srv.MaxMessageBytes = MaxMessageBytes
	srv.MaxRecipients = 1000
	srv.EnableSMTPUTF8 = true
	srv.ReadTimeout = 5 * time.Minute
	srv.WriteTimeout = time.Minute
	// Clients that hang up mid-session make go-smtp log; that is noise here.
	srv.ErrorLog = log.New(io.Discard, "", 0)

	s.srv, s.ln, s.served = srv, ln, make(chan struct{})
	go func(served chan struct{}) {
		defer close(served)
		_ = srv.Serve(ln) // returns once Close closes the listener
	}(s.served)
	return ln.Addr(), nil
}

// SMTPAddr returns the address StartSMTP bound, or nil.
func (s *Sink) SMTPAddr() net.Addr {
	s.life.Lock()
	defer s.life.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops the SMTP server (and the IMAP server, see StartIMAP) at once: it closes the listener and all open
// connections (a transaction that has not finished DATA is dropped; its
// client sees a connection error) and waits until messages being written
// are on disk. No file is written after Close returns. The index stays
// readable, so Handler keeps working. Close is idempotent.
func (s *Sink) Close() error {
	s.life.Lock()
	if s.closed {
		s.life.Unlock()
		return nil
	}
	s.closed = true
	srv, ln, served := s.srv, s.ln, s.served
	is := s.imapSrv
	s.life.Unlock()

	var err error
	if is != nil {
		is.close()
	}
	if srv != nil {
		if cerr := srv.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
		// Close only closes listeners Serve registered; Serve may not have
		// started yet.
		_ = ln.Close()
		<-served
	}
	s.inflight.Wait()
	return err
}

// beginStore registers a store in progress; false once the sink is closed.
func (s *Sink) beginStore() bool {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return false
	}
	s.inflight.Add(1)
	return true
}

// store writes one received message, indexes it and gives it its IMAP UID;
// it returns the new message's id. SMTP and the web page's prospect buttons
// both store through here.
func (s *Sink) store(from string, to []string, data []byte) (string, error) {
	if !s.beginStore() {
		return "", errors.New("mailsink: closed")
	}
	defer s.inflight.Done()

	now := time.Now().UTC()
	id, err := newID(now)
	if err != nil {
		return "", err
	}
	nl := "\n"
	if bytes.Contains(data, []byte("\r\n")) {
		nl = "\r\n"
	}
	var buf bytes.Buffer
	buf.Grow(len(data) + 256)
	fmt.Fprintf(&buf, "%s: <%s>%s", headerReturnPath, headerSafe(from), nl)
	if len(to) > 0 {
		rcpts := make([]string, len(to))
		for i, r := range to {
			rcpts[i] = "<" + headerSafe(r) + ">"
		}
		fmt.Fprintf(&buf, "%s: %s%s", headerEnvTo, strings.Join(rcpts, ", "), nl)
	}
	buf.Write(data)
	raw := buf.Bytes()

	// Write then rename, so a crash never leaves a truncated .eml behind.
	final := s.path(id)
	tmp := filepath.Join(s.dir, ".tmp-"+id)
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return "", err
	}

	e := indexEntry(id, now, raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	// UID and index entry under one lock: a mailbox snapshot never sees a
	// UID lower than one it saw before appear later.
	s.assignUID(e)
	s.byID[id] = e
	s.index = append(s.index, e)
	sortIndex(s.index)
	return id, nil
}

// list returns the index, newest first.
func (s *Sink) list() []*entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.index)
}

// lookup finds a message by id; ids never reach the file system unchecked.
func (s *Sink) lookup(id string) (*entry, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.byID[id]
	return e, ok
}

// readRaw returns the stored .eml of e.
func (s *Sink) readRaw(e *entry) ([]byte, error) {
	return os.ReadFile(s.path(e.ID))
}

// deleteAll removes every indexed message and starts a new IMAP
// UIDVALIDITY. Messages whose file cannot be removed stay indexed (with
// their UIDs, under the new UIDVALIDITY).
func (s *Sink) deleteAll() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	kept := s.index[:0]
	for _, e := range s.index {
		if err := os.Remove(s.path(e.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			kept = append(kept, e)
			continue
		}
		delete(s.byID, e.ID)
	}
	clear(s.index[len(kept):])
	s.index = kept
	// A new UIDVALIDITY: IMAP clients drop what they knew and read again.
	if err := s.resetUIDs(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (s *Sink) path(id string) string { return filepath.Join(s.dir, id+fileExt) }

// loadEntry indexes a stored file, reading only its header.
func (s *Sink) loadEntry(id string) (*entry, error) {
	received, err := time.Parse(idLayout, id[:len(idLayout)])
	if err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(id))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	// Read the header only: up to the first empty line.
	var head []byte
	br := bufio.NewReader(io.LimitReader(f, MaxMessageBytes))
	for {
		line, err := br.ReadBytes('\n')
		head = append(head, line...)
		if err != nil || len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
	}
	e := indexEntry(id, received, head)
	e.Size = st.Size()
	return e, nil
}

// indexEntry builds the index record from the raw message (or its header).
func indexEntry(id string, received time.Time, raw []byte) *entry {
	e := &entry{ID: id, ReceivedAt: received, Size: int64(len(raw))}
	fields, _ := parseHeader(raw)
	h := make(mail.Header)
	for _, f := range fields {
		k := textproto.CanonicalMIMEHeaderKey(f.Name)
		h[k] = append(h[k], f.Raw)
	}
	e.Subject = decodeHeader(h.Get("Subject"))
	e.MessageID = strings.Trim(strings.TrimSpace(h.Get("Message-Id")), "<>")
	e.InReplyTo = parseMsgIDs(strings.Join(h["In-Reply-To"], " "))
	e.References = parseMsgIDs(strings.Join(h["References"], " "))
	e.EnvelopeFrom = strings.Trim(strings.TrimSpace(h.Get(headerReturnPath)), "<>")
	if v := h.Get(headerEnvTo); v != "" {
		for r := range strings.SplitSeq(v, ",") {
			if r = strings.Trim(strings.TrimSpace(r), "<>"); r != "" {
				e.EnvelopeTo = append(e.EnvelopeTo, r)
			}
		}
	}
	e.From = decodeHeader(h.Get("From"))
	if as, err := h.AddressList("From"); err == nil && len(as) > 0 {
		e.FromAddr = as[0].Address
		e.From = displayAddress(as[0])
	} else {
		e.FromAddr = e.From
	}
	if as, err := h.AddressList("To"); err == nil {
		for _, a := range as {
			e.To = append(e.To, displayAddress(a))
			e.ToAddrs = append(e.ToAddrs, a.Address)
		}
	} else if v := decodeHeader(h.Get("To")); v != "" {
		e.To, e.ToAddrs = []string{v}, []string{v}
	}
	return e
}

func displayAddress(a *mail.Address) string {
	if a.Name == "" {
		return a.Address
	}
	return a.Name + " <" + a.Address + ">"
}

var wordDecoder = new(mime.WordDecoder) // handles UTF-8, ISO-8859-1, US-ASCII

// decodeHeader decodes RFC 2047 encoded words, falling back to the raw value.
func decodeHeader(v string) string {
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}

// headerSafe strips bytes that could end or corrupt a header line.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 || r == '<' || r == '>' {
			return -1
		}
		return r
	}, s)
}

func newID(t time.Time) (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return t.UTC().Format(idLayout) + "-" + hex.EncodeToString(b[:]), nil
}

// sortIndex orders newest first; ids start with the UTC time, so a reverse
// id sort is a reverse time sort with a stable tie-break.
func sortIndex(es []*entry) {
	slices.SortFunc(es, func(a, b *entry) int { return strings.Compare(b.ID, a.ID) })
}

// session is one SMTP connection; go-smtp calls it sequentially.
type session struct {
	sink *Sink
	from string
	to   []string
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from, ss.to = from, nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r) // bounded by MaxMessageBytes
	if err != nil {
		return err
	}
	if _, err := ss.sink.store(ss.from, ss.to, data); err != nil {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "mailsink: cannot store message: " + err.Error()}
	}
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }
