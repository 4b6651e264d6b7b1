// Package smtptest runs a real SMTP server in-process (built on go-smtp) so
// that mail code is tested against the wire protocol rather than mocks. Tests
// can script per-transaction faults (reply codes, dropped connections, stalls)
// to exercise the failure classes internal/mail's Classify tells apart
// (ARCHITECTURE.md, "SMTP failure classes").
package smtptest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Stage says at which point of a transaction a Fault fires.
type Stage int

const (
	// AfterData fires once the whole message (up to the final dot) has been
	// read, i.e. in reply to the end of DATA. It is the zero value because it
	// is the stage most tests care about (RFC 1047 gap, post-DATA rejects).
	AfterData Stage = iota
	// AtRcpt fires in reply to the first RCPT TO of the transaction.
	AtRcpt
)

func (s Stage) String() string {
	switch s {
	case AfterData:
		return "AfterData"
	case AtRcpt:
		return "AtRcpt"
	}
	return "Stage(" + strconv.Itoa(int(s)) + ")"
}

// Fault scripts the server's behaviour for one transaction.
type Fault struct {
	Stage Stage
	// Code, Enhanced and Message form the reply, e.g. 451, "4.3.0", "try again
	// later". Enhanced is sent literally: leave it empty to send a reply with
	// no enhanced status code (to test servers that omit it). Code 0 means
	// "no error": after any Stall the server proceeds normally.
	Code     int
	Enhanced string
	Message  string
	// Drop closes the TCP connection instead of replying. At AfterData it
	// happens after the final dot was read: the RFC 1047 "maybe delivered" case.
	Drop bool
	// Stall delays the reply (or the drop); used for timeout/cancel tests.
	// It ends early when the server is closed so tests don't leak sleepers.
	Stall time.Duration
	// Before, when set, runs as the fault fires, before the reply: another fault at that
	// exact moment (the sender's database connection breaking before it hears 250).
	Before func()
}

// Received is one message the server accepted with 250.
type Received struct {
	From       string   // envelope MAIL FROM
	To         []string // envelope RCPT TOs
	Data       []byte   // raw message as received
	Header     mail.Header
	MessageID  string // Message-ID without angle brackets
	Subject    string // RFC 2047-decoded
	ReceivedAt time.Time
}

// Server is an in-process SMTP server on 127.0.0.1. It is safe for
// concurrent use.
type Server struct {
	srv  *smtp.Server
	ln   net.Listener
	done chan struct{} // closed on shutdown; interrupts stalls

	mu       sync.Mutex
	faults   []Fault
	msgs     []Received
	attempts int
}

// Start listens on 127.0.0.1:0 and serves until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s := &Server{ln: ln, done: make(chan struct{})}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, conn: c}, nil
	}))
	s.srv.Domain = "smtptest.local"
	// Bound idle connections so a wedged client cannot hang a test forever.
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	// Dropped connections make go-smtp log write errors; they are expected
	// here, and logging via t after the test ends would panic.
	s.srv.ErrorLog = log.New(io.Discard, "", 0)

	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = s.srv.Serve(ln) // returns once Close closes the listener
	}()
	t.Cleanup(func() {
		close(s.done)
		_ = s.srv.Close()
		// Close only closes listeners Serve has registered; if the test was
		// quick, Serve may not have started yet, so close ours explicitly.
		_ = ln.Close()
		<-served
	})
	return s
}

// Host returns the listening IP address.
func (s *Server) Host() string { return s.ln.Addr().(*net.TCPAddr).IP.String() }

// Port returns the listening TCP port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Addr returns host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Enqueue appends faults; each MAIL transaction takes the next one (FIFO).
// With an empty queue the server accepts.
func (s *Server) Enqueue(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// Attempts returns how many MAIL transactions were started, accepted or not.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Messages returns a copy of the accepted messages in arrival order.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Received, len(s.msgs))
	copy(out, s.msgs)
	return out
}

// WaitForMessages polls until at least n messages were accepted and returns
// all of them; it fails the test if that does not happen within timeout.
func (s *Server) WaitForMessages(t testing.TB, n int, timeout time.Duration) []Received {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := s.Messages()
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("smtptest: got %d messages, want %d within %v", len(msgs), n, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// beginTransaction counts the attempt and pops the fault for it, if any.
func (s *Server) beginTransaction() *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	if len(s.faults) == 0 {
		return nil
	}
	f := s.faults[0]
	s.faults = s.faults[1:]
	return &f
}

func (s *Server) record(r Received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, r)
}

// stall waits d or until the server shuts down.
func (s *Server) stall(d time.Duration) {
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-s.done:
	}
}

// session is one SMTP connection; go-smtp calls its methods sequentially.
type session struct {
	s     *Server
	conn  *smtp.Conn
	fault *Fault // fault for the current transaction, nil if none
	from  string
	to    []string
}

var errDropped = errors.New("smtptest: connection dropped by fault")

// apply runs f if it is scheduled for stage; it returns the error go-smtp
// turns into the reply, or nil to proceed normally.
func (ss *session) apply(stage Stage) error {
	f := ss.fault
	if f == nil || f.Stage != stage {
		return nil
	}
	ss.fault = nil // one shot, even if the client retries RCPT in the same transaction
	ss.s.stall(f.Stall)
	if f.Before != nil {
		f.Before()
	}
	if f.Drop {
		// Close the raw socket, not the smtp.Conn: no reply must be written.
		_ = ss.conn.Conn().Close()
		return errDropped
	}
	if f.Code == 0 {
		return nil
	}
	enh := smtp.NoEnhancedCode
	if f.Enhanced != "" {
		var err error
		if enh, err = parseEnhanced(f.Enhanced); err != nil {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 0, 0}, Message: err.Error()}
		}
	}
	msg := f.Message
	if msg == "" {
		msg = "scripted fault"
	}
	return &smtp.SMTPError{Code: f.Code, EnhancedCode: enh, Message: msg}
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.fault = ss.s.beginTransaction()
	ss.from = from
	ss.to = nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := ss.apply(AtRcpt); err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	// Read up to the final dot before any AfterData fault so that Drop models
	// "server got the whole message, client never got the reply".
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := ss.apply(AfterData); err != nil {
		return err
	}
	rec := Received{
		From:       ss.from,
		To:         append([]string(nil), ss.to...),
		Data:       data,
		ReceivedAt: time.Now(),
	}
	if m, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		rec.Header = m.Header
		rec.MessageID = strings.Trim(strings.TrimSpace(m.Header.Get("Message-Id")), "<>")
		dec := new(mime.WordDecoder)
		if subj, err := dec.DecodeHeader(m.Header.Get("Subject")); err == nil {
			rec.Subject = subj
		} else {
			rec.Subject = m.Header.Get("Subject")
		}
	}
	ss.s.record(rec)
	return nil
}

func (ss *session) Reset() {
	ss.fault = nil
	ss.from = ""
	ss.to = nil
}

func (ss *session) Logout() error { return nil }

func parseEnhanced(s string) (smtp.EnhancedCode, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return smtp.EnhancedCode{}, fmt.Errorf("smtptest: bad enhanced code %q", s)
	}
	var ec smtp.EnhancedCode
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return smtp.EnhancedCode{}, fmt.Errorf("smtptest: bad enhanced code %q", s)
		}
		ec[i] = n
	}
	return ec, nil
}

// NeverGreet starts a TCP listener that accepts connections and never writes
// a byte, for testing client greeting timeouts. It closes when the test ends.
func NeverGreet(t testing.TB) (host string, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, silently
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	addr := ln.Addr().(*net.TCPAddr)
	return addr.IP.String(), addr.Port
}

// Bodies decodes the text and HTML parts of a multipart/alternative message (as received,
// or as encoded for sending), with CRLF line ends turned into LF.
func Bodies(t testing.TB, data []byte) (text, html string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("smtptest: read message: %v", err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("smtptest: want a multipart/alternative message, got Content-Type %q (%v)", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return text, html
		}
		if err != nil {
			t.Fatalf("smtptest: read part: %v", err)
		}
		var r io.Reader = p
		if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			r = quotedprintable.NewReader(p)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("smtptest: decode part: %v", err)
		}
		body := strings.ReplaceAll(string(b), "\r\n", "\n")
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			text = body
		case "text/html":
			html = body
		}
	}
}

// LockedBuffer is a bytes.Buffer that one goroutine may write (a logger, a child process's
// output) while another reads it. Its zero value is empty and ready to use.
//
// It lives here, not in a package of its own, because smtptest is the project's test-helper
// package that imports no other package of the project: every test that wants the buffer can
// import it without an import cycle.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what was written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
