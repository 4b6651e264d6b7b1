// Package mail sends one nurture email per call over SMTP (via go-mail) and
// classifies failures by reply code so the send activity can decide between
// retry, suppression and alerting (reliability.md §2.3–§2.4).
package mail

import (
	"context"
	"errors"
	"fmt"
	"net"
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

// Config describes the SMTP relay.
type Config struct {
	Host     string
	Port     int
	Username string // SMTP AUTH PLAIN when non-empty
	Password string
	TLS      TLSPolicy
	Timeout  time.Duration // go-mail WithTimeout; DefaultTimeout when zero
	HeloName string        // optional; go-mail defaults to os.Hostname
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

func (c Config) validate() error {
	var errs []error
	if strings.TrimSpace(c.Host) == "" {
		errs = append(errs, errors.New("host is empty"))
	} else if strings.ContainsAny(c.Host, " \t\r\n/") {
		errs = append(errs, fmt.Errorf("host %q is not a hostname", c.Host))
	}
	if c.Port < 1 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d is outside 1..65535", c.Port))
	}
	switch c.TLS {
	case TLSNone, TLSOpportunistic, TLSMandatory:
	default:
		errs = append(errs, fmt.Errorf("TLS policy %q is not one of %q, %q, %q",
			c.TLS, TLSNone, TLSOpportunistic, TLSMandatory))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %v is negative", c.Timeout))
	}
	if c.HeloName != "" && strings.ContainsFunc(c.HeloName, func(r rune) bool { return r <= ' ' || r > '~' }) {
		errs = append(errs, fmt.Errorf("HELO name %q contains spaces or non-printable characters", c.HeloName))
	}
	if c.Username == "" && c.Password != "" {
		errs = append(errs, errors.New("password is set but username is empty"))
	}
	// go-mail refuses PLAIN over plaintext to anything but localhost at send
	// time; failing here turns an endless retry loop into a startup error.
	if c.Username != "" && c.TLS == TLSNone && !isLoopbackName(c.Host) {
		errs = append(errs, fmt.Errorf("SMTP AUTH with TLS policy %q would send the password in clear to %q", TLSNone, c.Host))
	}
	if len(errs) > 0 {
		return fmt.Errorf("mail: invalid SMTP config: %w", errors.Join(errs...))
	}
	return nil
}

// isLoopbackName mirrors go-mail's smtp.isLocalhost, which is what decides
// whether PLAIN auth is allowed without TLS.
func isLoopbackName(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// Sender sends messages through one SMTP relay. It is safe for concurrent
// use: every Send gets its own go-mail client and connection.
type Sender struct {
	cfg  Config
	opts []gomail.Option
}

// NewSender validates cfg and prepares the go-mail client options.
func NewSender(cfg Config) (*Sender, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	policy := map[TLSPolicy]gomail.TLSPolicy{
		TLSNone:          gomail.NoTLS,
		TLSOpportunistic: gomail.TLSOpportunistic,
		TLSMandatory:     gomail.TLSMandatory,
	}[cfg.TLS]
	opts := []gomail.Option{
		gomail.WithPort(cfg.Port),
		gomail.WithTLSPolicy(policy),
		gomail.WithTimeout(cfg.timeout()),
	}
	if cfg.Username != "" {
		opts = append(opts,
			gomail.WithSMTPAuth(gomail.SMTPAuthPlain),
			gomail.WithUsername(cfg.Username),
			gomail.WithPassword(cfg.Password))
	}
	if cfg.HeloName != "" {
		opts = append(opts, gomail.WithHELO(cfg.HeloName))
	}
	// Fail now, not on the first send, if go-mail rejects an option.
	if _, err := gomail.NewClient(cfg.Host, opts...); err != nil {
		return nil, fmt.Errorf("mail: invalid SMTP config: %w", err)
	}
	return &Sender{cfg: cfg, opts: opts}, nil
}

// Send dials, sends m, and closes the connection. It returns the server's
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
	msg, err := Build(m)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeoutBudget())
	defer cancel()

	guard := &connGuard{ctx: ctx}
	defer guard.closeAll()
	opts := append(slices.Clip(s.opts), gomail.WithDialContextFunc(guard.dial))
	client, err := gomail.NewClient(s.cfg.Host, opts...)
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
