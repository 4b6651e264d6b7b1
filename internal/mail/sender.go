// Package mail sends one nurture email per call over SMTP (via go-mail) and
// classifies failures by reply code so the send activity can decide between
// retry, suppression and alerting (ARCHITECTURE.md, "SMTP failure classes").
package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	netmail "net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLSPolicy selects STARTTLS behaviour.
type TLSPolicy string

const (
	TLSNone          TLSPolicy = "none"          // plaintext only (dev sinks)
	TLSOpportunistic TLSPolicy = "opportunistic" // STARTTLS if offered
	TLSMandatory     TLSPolicy = "mandatory"     // fail unless STARTTLS succeeds
)

// DefaultTimeout is used when Config.Timeout is zero.
const DefaultTimeout = 15 * time.Second

// Relay is one SMTP server and the credentials used there.
type Relay struct {
	Host     string
	Port     int
	Username string // SMTP AUTH PLAIN when non-empty
	Password string
	TLS      TLSPolicy
}

// String describes r without its password, so a logged config leaks nothing.
func (r Relay) String() string {
	return fmt.Sprintf("%s:%d (user %q, TLS %s)", r.Host, r.Port, r.Username, r.TLS)
}

// Config describes the SMTP relay, optional per-mailbox relays and optional DKIM signing.
type Config struct {
	Host     string
	Port     int
	Username string // SMTP AUTH PLAIN when non-empty
	Password string
	TLS      TLSPolicy
	Timeout  time.Duration // go-mail WithTimeout; DefaultTimeout when zero
	HeloName string        // optional; go-mail defaults to os.Hostname

	// Mailboxes are per-mailbox relays, keyed by the lower-cased sending address (the
	// Mailbox of Message.From, e.g. "ana@acme.com"). Timeout and HeloName apply to them
	// too. Messages from any other address go through the relay above.
	Mailboxes map[string]Relay
	// DKIM, when set, signs every message (see DKIMConfig).
	DKIM *DKIMConfig
}

// ErrInvalidMailboxConfig wraps NewSender's errors about one of Config.Mailboxes, and
// ErrInvalidDKIMConfig those about Config.DKIM; other NewSender errors are about the
// default relay.
var (
	ErrInvalidMailboxConfig = errors.New("mail: invalid SMTP config for mailbox")
	ErrInvalidDKIMConfig    = errors.New("mail: invalid DKIM config")
)

func (c Config) relay() Relay {
	return Relay{Host: c.Host, Port: c.Port, Username: c.Username, Password: c.Password, TLS: c.TLS}
}

func (c Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

// SendTimeoutBudget returns the longest one Send can take. go-mail's timeout
// is a connection deadline set at dial and reset before MAIL (its NOOP
// check), and DialAndSendWithContext's ctx bounds only the dial, so one send
// can take about 2x Timeout; 5s of slack covers the rest. Send also enforces
// this budget itself. The activity sizes Start-To-Close from it.
func (c Config) SendTimeoutBudget() time.Duration {
	return 2*c.timeout() + 5*time.Second
}

// validate checks the default relay with Timeout and HeloName; mailboxes and DKIM are
// checked by NewSender.
func (c Config) validate() error {
	errs := c.relay().problems()
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %v is negative", c.Timeout))
	}
	if c.HeloName != "" && strings.ContainsFunc(c.HeloName, func(r rune) bool { return r <= ' ' || r > '~' }) {
		errs = append(errs, fmt.Errorf("HELO name %q contains spaces or non-printable characters", c.HeloName))
	}
	if len(errs) > 0 {
		return fmt.Errorf("mail: invalid SMTP config: %w", errors.Join(errs...))
	}
	return nil
}

// problems lists what is wrong with r. No message quotes the password.
func (r Relay) problems() []error {
	var errs []error
	if strings.TrimSpace(r.Host) == "" {
		errs = append(errs, errors.New("host is empty"))
	} else if strings.ContainsAny(r.Host, " \t\r\n/") {
		errs = append(errs, fmt.Errorf("host %q is not a hostname", r.Host))
	}
	if r.Port < 1 || r.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d is outside 1..65535", r.Port))
	}
	switch r.TLS {
	case TLSNone, TLSOpportunistic, TLSMandatory:
	default:
		errs = append(errs, fmt.Errorf("TLS policy %q is not one of %q, %q, %q",
			r.TLS, TLSNone, TLSOpportunistic, TLSMandatory))
	}
	if r.Username == "" && r.Password != "" {
		errs = append(errs, errors.New("password is set but username is empty"))
	}
	// go-mail refuses PLAIN over plaintext to anything but localhost at send
	// time; failing here turns an endless retry loop into a startup error.
	if r.Username != "" && r.TLS == TLSNone && !isLoopbackName(r.Host) {
		errs = append(errs, fmt.Errorf("SMTP AUTH with TLS policy %q would send the password in clear to %q", TLSNone, r.Host))
	}
	return errs
}

// validateMailbox checks one entry of Config.Mailboxes: its key and its relay.
func validateMailbox(addr string, r Relay) error {
	errs := r.problems()
	if a, err := netmail.ParseAddress(addr); err != nil || a.Name != "" || a.Address != addr {
		errs = append(errs, errors.New("the key is not a bare email address like ana@acme.com"))
	} else if addr != strings.ToLower(addr) {
		errs = append(errs, errors.New("the key is not lower-case"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w %q: %w", ErrInvalidMailboxConfig, addr, errors.Join(errs...))
	}
	return nil
}

// isLoopbackName mirrors go-mail's smtp.isLocalhost, which is what decides
// whether PLAIN auth is allowed without TLS: these three exact strings, nothing else.
// It must not be merged with isLoopbackHost (message.go), which is broader (any case of
// localhost, all of 127.0.0.0/8): accepting a relay host like "127.0.0.2" or "LOCALHOST"
// here would pass validation and then fail every send, as go-mail refuses PLAIN there.
func isLoopbackName(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// Sender sends messages through the SMTP relay of their From address, DKIM-signing
// them when configured. It is safe for concurrent use: every Send gets its own go-mail
// client and connection.
type Sender struct {
	budget    time.Duration // Config.SendTimeoutBudget, all Send needs of the Config itself
	def       relayClient
	mailboxes map[string]relayClient // by Mailbox(From)
	dkim      *dkimKey               // nil: no signing
}

// relayClient is a relay's host and go-mail client options.
type relayClient struct {
	host string
	opts []gomail.Option
}

// NewSender validates cfg (the default relay, every mailbox relay and the DKIM key) and
// prepares the go-mail client options. Every problem is reported at once.
func NewSender(cfg Config) (*Sender, error) {
	s := &Sender{budget: cfg.SendTimeoutBudget()}
	var errs []error
	if err := cfg.validate(); err != nil {
		errs = append(errs, err)
	} else if s.def, err = newRelayClient(cfg, cfg.relay()); err != nil {
		errs = append(errs, fmt.Errorf("mail: invalid SMTP config: %w", err))
	}
	for _, addr := range slices.Sorted(maps.Keys(cfg.Mailboxes)) {
		r := cfg.Mailboxes[addr]
		if err := validateMailbox(addr, r); err != nil {
			errs = append(errs, err)
			continue
		}
		rc, err := newRelayClient(cfg, r)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w %q: %w", ErrInvalidMailboxConfig, addr, err))
			continue
		}
		if s.mailboxes == nil {
			s.mailboxes = make(map[string]relayClient, len(cfg.Mailboxes))
		}
		s.mailboxes[addr] = rc
	}
	if cfg.DKIM != nil {
		k, err := newDKIMKey(*cfg.DKIM)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidDKIMConfig, err))
		}
		s.dkim = k
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// newRelayClient turns a validated relay into go-mail options; Timeout and HeloName come
// from cfg.
func newRelayClient(cfg Config, r Relay) (relayClient, error) {
	policy := map[TLSPolicy]gomail.TLSPolicy{
		TLSNone:          gomail.NoTLS,
		TLSOpportunistic: gomail.TLSOpportunistic,
		TLSMandatory:     gomail.TLSMandatory,
	}[r.TLS]
	opts := []gomail.Option{
		gomail.WithPort(r.Port),
		gomail.WithTLSPolicy(policy),
		gomail.WithTimeout(cfg.timeout()),
	}
	if r.Username != "" {
		opts = append(opts,
			gomail.WithSMTPAuth(gomail.SMTPAuthPlain),
			gomail.WithUsername(r.Username),
			gomail.WithPassword(r.Password))
	}
	if cfg.HeloName != "" {
		opts = append(opts, gomail.WithHELO(cfg.HeloName))
	}
	// Fail now, not on the first send, if go-mail rejects an option.
	if _, err := gomail.NewClient(r.Host, opts...); err != nil {
		return relayClient{}, err
	}
	return relayClient{host: r.Host, opts: opts}, nil
}

// Mailbox is the sending mailbox of a From value: its address, lower-cased ("Ana Rep
// <Ana@Acme.com>" → "ana@acme.com"); a value that does not parse is only trimmed and
// lower-cased. It is the one key of a sending mailbox: Config.Mailboxes picks relays by it
// and the daily cap counts sends by it, so both always mean the same mailbox.
func Mailbox(from string) string {
	if a, err := netmail.ParseAddress(from); err == nil {
		return strings.ToLower(a.Address)
	}
	return strings.ToLower(strings.TrimSpace(from))
}

// relayFor picks the relay of a From address; addresses without their own relay use the
// default one.
func (s *Sender) relayFor(from string) relayClient {
	if r, ok := s.mailboxes[Mailbox(from)]; ok {
		return r
	}
	return s.def
}

// prepare is the one way to a sendable message: Build, then the Date and, when
// configured, the DKIM signature. Send and Encode both use it, so Encode's bytes are what
// Send writes.
func (s *Sender) prepare(m Message) (*gomail.Msg, error) {
	msg, err := Build(m)
	if err != nil {
		return nil, err
	}
	// go-mail would add the same Date on first write; setting it here makes the
	// rendering that is signed and the one that is sent agree.
	msg.SetDate()
	if s.dkim == nil {
		return msg, nil
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("mail: render for DKIM: %w", err)
	}
	sig, err := s.dkim.sign(buf.Bytes())
	if err != nil {
		return nil, err
	}
	msg.SetGenHeader(headerDKIMSignature, sig)
	return msg, nil
}

// Encode returns m as Send writes it to the relay: Build's headers and body, the Date and,
// when configured, the DKIM-Signature. Date, the multipart boundary and the signature (t=,
// b=) change from one call to the next.
func (s *Sender) Encode(m Message) ([]byte, error) {
	msg, err := s.prepare(m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("mail: render: %w", err)
	}
	return buf.Bytes(), nil
}

// Send dials the relay of m's From address, sends m, and closes the connection. It returns the server's
// reply text to the final dot (e.g. "2.0.0 OK: queued as ABC") on success.
//
// ctx bounds the whole exchange, not just the dial: the connection is closed
// as soon as ctx is done, which unblocks any read or write in progress. The
// exchange is also capped at SendTimeoutBudget. Errors are meant for
// Classify; when ctx ended the send, the error also wraps ctx.Err().
//
// A message counts as sent once the server answered 250 to the final dot,
// even if the RSET or QUIT that follow fail: reporting an error there would
// make the caller send a duplicate.
func (s *Sender) Send(ctx context.Context, m Message) (serverResponse string, err error) {
	msg, err := s.prepare(m)
	if err != nil {
		return "", err
	}
	relay := s.relayFor(m.From) // Build parsed m.From the same way
	ctx, cancel := context.WithTimeout(ctx, s.budget)
	defer cancel()

	guard := &connGuard{ctx: ctx}
	defer guard.closeAll()
	opts := append(slices.Clip(relay.opts), gomail.WithDialContextFunc(guard.dial))
	client, err := gomail.NewClient(relay.host, opts...)
	if err != nil {
		return "", fmt.Errorf("mail: new client: %w", err)
	}

	sendErr := client.DialAndSendWithContext(ctx, msg)
	if msg.IsDelivered() {
		return msg.ServerResponse(), nil
	}
	if sendErr == nil {
		// Not reachable with go-mail v0.8.1; guard against a silent non-send.
		sendErr = errors.New("go-mail reported neither delivery nor an error")
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return "", fmt.Errorf("mail: send aborted: %w: %w", ctxErr, sendErr)
	}
	return "", fmt.Errorf("mail: send: %w", sendErr)
}

// connGuard is the go-mail dial function for one Send. go-mail only passes
// a context to the dial (and cancels it once dialled), so the guard ties each
// connection to the Send's own ctx instead, closing it when ctx is done. It
// also closes connections go-mail abandons: go-mail v0.8.1 leaks the conn
// when the greeting, EHLO, STARTTLS or AUTH fails.
type connGuard struct {
	ctx    context.Context
	dialer net.Dialer

	mu    sync.Mutex
	conns []net.Conn
	stops []func() bool
}

func (g *connGuard) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := g.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(g.ctx, func() { _ = conn.Close() })
	g.mu.Lock()
	defer g.mu.Unlock()
	g.conns = append(g.conns, conn)
	g.stops = append(g.stops, stop)
	return conn, nil
}

func (g *connGuard) closeAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, c := range g.conns {
		g.stops[i]()
		_ = c.Close() // usually already closed by QUIT; the error is meaningless
	}
	g.conns, g.stops = nil, nil
}
