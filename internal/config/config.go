// Package config reads the engine's configuration from the environment, failing fast with
// every problem listed at once.
package config

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	netmail "net/mail"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/mail"
	"github.com/followup-engine/followup/internal/mailpoll"
	"github.com/followup-engine/followup/internal/unsubscribe"
)

// Env is where configuration comes from: the process environment, or a map in tests.
type Env = envconfig.EnvLookup

// OS is the process environment.
var OS Env = envconfig.EnvLookupOS

// MapEnv is an Env over a map, for tests.
type MapEnv map[string]string

// LookupEnv implements Env.
func (m MapEnv) LookupEnv(k string) (string, bool) { v, ok := m[k]; return v, ok }

// Environ implements Env.
func (m MapEnv) Environ() []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// Send limits by default: 200 emails per mailbox per rolling 24 hours (Close's default for
// Gmail and Microsoft 365 mailboxes, well under their own limits) and a day between two deals'
// emails to the same contact.
const (
	DefaultMailboxDailyCap = 200
	DefaultContactSpacing  = 24 * time.Hour
)

// DefaultDatabaseURL is the local PostgreSQL `make run` and the tests use.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/followup?sslmode=disable"

// Worker is the worker's configuration.
type Worker struct {
	DatabaseURL string
	Temporal    client.Options
	SMTP        mail.Config
	// Sender sends through SMTP: LoadWorker builds it (which validates SMTP) and RunWorker
	// uses it. A Worker built by hand may leave it nil; RunWorker then builds it from SMTP.
	Sender *mail.Sender
	Mail   MailIdentity
	// SendConcurrency bounds concurrent sends per worker; the pool is sized for it.
	SendConcurrency int
	// MailboxDailyCap is how many emails one sending mailbox sends in any 24 hours (0: no
	// cap); an email over it is deferred to the next window, never failed.
	MailboxDailyCap int
	// ContactSpacing keeps two deals' emails to one contact at least this far apart; 0: off.
	ContactSpacing  time.Duration
	WorkflowPollers int
	ActivityPollers int
	StickyCacheSize int // 0 keeps the SDK default
	// MetricsAddr (METRICS_ADDR) is where the worker serves Prometheus /metrics (the
	// Temporal SDK's and the engine's, ops.go); empty, the default, serves none.
	MetricsAddr string
}

// MailIdentity is how nurture emails present themselves.
type MailIdentity struct {
	MessageIDSecret []byte
	MessageIDDomain string
	DefaultFrom     string
	PostalAddress   string
	// Unsubscribe builds the signed one-click unsubscribe links (PUBLIC_BASE_URL +
	// "/u/" + token); nil when PUBLIC_BASE_URL is not set, and emails then carry none.
	Unsubscribe *unsubscribe.Links
}

// Starter is the starter's configuration.
type Starter struct {
	DatabaseURL string
	Temporal    client.Options
	// MailFrom and MailboxDailyCap are the worker's MAIL_FROM and MAILBOX_DAILY_CAP, read
	// alike, for the send forecast (starter sends forecast).
	MailFrom        string
	MailboxDailyCap int
}

// Server is the configuration of `starter serve`.
type Server struct {
	Starter
	Addr     string // HTTP_ADDR
	APIToken string // API_TOKEN: the bearer token API clients send
	// Unsubscribe verifies the tokens of the public /u/{token} pages; nil when
	// UNSUBSCRIBE_SECRET is not set, and those pages then answer 404.
	Unsubscribe *unsubscribe.Signer
	// SweepInterval (SWEEP_INTERVAL) is how often the server re-signals inbound events stuck
	// in received; 0 turns the sweeper off.
	SweepInterval time.Duration
	// Mailboxes the IMAP poller reads: the entries of SMTP_MAILBOXES_FILE that have an "imap"
	// part, and the shared reply mailbox of IMAP_HOST. None: no poller.
	Mailboxes []mailpoll.Mailbox
	// Poll tunes the poller: IMAP_POLL_INTERVAL, IMAP_MARK_SEEN, IMAP_MOVE_TO.
	Poll mailpoll.Options
	// OwnAddresses are MAIL_FROM and the SMTP_MAILBOXES_FILE addresses: mail from them is
	// ours, never a prospect's reply.
	OwnAddresses []string
	// InboundMIMEMaxBytes (INBOUND_MIME_MAX_BYTES) bounds a message posted to
	// /api/inbound/mime.
	InboundMIMEMaxBytes int
}

// DefaultInboundMIMEMaxBytes is INBOUND_MIME_MAX_BYTES's default: 10 MiB.
const DefaultInboundMIMEMaxBytes = 10 << 20

// DefaultSweepInterval is SWEEP_INTERVAL's default.
const DefaultSweepInterval = 30 * time.Second

type reader struct {
	env      Env
	problems []string
}

func (r *reader) str(key, def string) string {
	if v, ok := r.env.LookupEnv(key); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

func (r *reader) int(key string, def, min, max int) int {
	s := r.str(key, "")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		r.problems = append(r.problems, fmt.Sprintf("%s=%q: want a whole number from %d to %d", key, s, min, max))
		return def
	}
	return n
}

func (r *reader) duration(key string, def time.Duration) time.Duration {
	s := r.str(key, "")
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		r.problems = append(r.problems, fmt.Sprintf("%s=%q: want a positive duration like 15s", key, s))
		return def
	}
	return d
}

// durationOrOff reads a duration where 0 means off; any positive one is taken as it is.
func (r *reader) durationOrOff(key string, def time.Duration) time.Duration {
	s := r.str(key, "")
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		r.problems = append(r.problems, fmt.Sprintf("%s=%q: want a duration like 24h, or 0 for off", key, s))
		return def
	}
	return d
}

// interval reads a duration where 0 means off; any other must be 1s or more.
func (r *reader) interval(key string, def time.Duration) time.Duration {
	s := r.str(key, "")
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s) // "0" parses too
	if err == nil && d == 0 {
		return 0
	}
	if err != nil || d < time.Second {
		r.problems = append(r.problems, fmt.Sprintf("%s=%q: want a duration of 1s or more like 30s, or 0 for off", key, s))
		return def
	}
	return d
}

// unsubscribe reads PUBLIC_BASE_URL, UNSUBSCRIBE_SECRET and UNSUBSCRIBE_PREVIOUS_SECRETS:
// the signer that verifies links (nil without a secret) and the links the worker puts in
// emails (nil without a base URL). The secret is required once a base URL is set: links
// would otherwise go out that no process can verify.
func (r *reader) unsubscribe() (*unsubscribe.Signer, *unsubscribe.Links) {
	base := r.str("PUBLIC_BASE_URL", "")
	baseProblemAt := len(r.problems) // the base's problem is listed before the secrets'
	raw := r.str("UNSUBSCRIBE_SECRET", "")
	prevRaw := r.str("UNSUBSCRIBE_PREVIOUS_SECRETS", "")
	var signer *unsubscribe.Signer
	if raw == "" {
		if prevRaw != "" {
			r.problems = append(r.problems, "UNSUBSCRIBE_PREVIOUS_SECRETS is set without UNSUBSCRIBE_SECRET")
		}
	} else {
		signer = r.unsubscribeSigner(raw, prevRaw)
	}
	if base == "" {
		return signer, nil
	}
	// The base is checked once: by NewLinks when there is a signer to make links with, else
	// on its own, so its problem is listed all the same.
	var links *unsubscribe.Links
	var err error
	if signer != nil {
		links, err = unsubscribe.NewLinks(base, signer)
	} else {
		_, err = unsubscribe.CheckBaseURL(base)
	}
	switch {
	case err != nil:
		r.problems = slices.Insert(r.problems, baseProblemAt, fmt.Sprintf("PUBLIC_BASE_URL=%q: %s", base, err))
	case raw == "":
		r.problems = slices.Insert(r.problems, baseProblemAt, "UNSUBSCRIBE_SECRET is required when PUBLIC_BASE_URL is set: 64+ hex characters (or 32+ raw bytes) "+
			"that stay the same across restarts and are the same for the worker and the API (unsubscribe links are signed with it); "+
			"generate one with `openssl rand -hex 32`")
	}
	return signer, links
}

// unsubscribeSigner parses UNSUBSCRIBE_SECRET (raw) and UNSUBSCRIBE_PREVIOUS_SECRETS
// (prevRaw, comma-separated); nil when the secret is unusable (a problem is listed).
func (r *reader) unsubscribeSigner(raw, prevRaw string) *unsubscribe.Signer {
	secret, err := unsubscribe.ParseSecret(raw)
	if err != nil {
		r.problems = append(r.problems, "UNSUBSCRIBE_SECRET: "+err.Error())
	}
	var previous [][]byte
	if prevRaw != "" {
		for i, p := range strings.Split(prevRaw, ",") {
			b, err := unsubscribe.ParseSecret(strings.TrimSpace(p))
			if err != nil {
				r.problems = append(r.problems, fmt.Sprintf("UNSUBSCRIBE_PREVIOUS_SECRETS entry %d: %s", i+1, err))
				continue
			}
			previous = append(previous, b)
		}
	}
	signer, err := unsubscribe.NewSigner(secret, previous...)
	if err != nil {
		return nil // the problem is listed above
	}
	return signer
}

// dkim reads DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE (a PEM file): all three
// sign every email, none signs nothing, anything else is a problem. mail.NewSender checks
// the key.
func (r *reader) dkim() *mail.DKIMConfig {
	vars := []string{"DKIM_DOMAIN", "DKIM_SELECTOR", "DKIM_PRIVATE_KEY_FILE"}
	vals := make([]string, len(vars))
	var missing []string
	for i, k := range vars {
		if vals[i] = r.str(k, ""); vals[i] == "" {
			missing = append(missing, k)
		}
	}
	switch len(missing) {
	case len(vars):
		return nil
	case 0:
	default:
		r.problems = append(r.problems, fmt.Sprintf("DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE go together (all three to sign emails, or none); %s not set",
			strings.Join(missing, " and ")))
		return nil
	}
	pem, err := os.ReadFile(vals[2])
	if err != nil {
		r.problems = append(r.problems, fmt.Sprintf("DKIM_PRIVATE_KEY_FILE=%q: %s", vals[2], fileError(err)))
		return nil
	}
	return &mail.DKIMConfig{Domain: vals[0], Selector: vals[1], PrivateKeyPEM: pem}
}

// mailboxJSON is one entry of SMTP_MAILBOXES_FILE. The timeout and HELO name are the
// default relay's (SMTP_TIMEOUT, SMTP_HELO).
type mailboxJSON struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Username string `json:"username"`
	Password string `json:"password"`
	TLS      string `json:"tls"`
	// IMAP, when given, is where replies to this mailbox arrive: the API server's poller reads
	// its INBOX.
	IMAP *imapJSON `json:"imap,omitempty"`
}

// imapJSON is the "imap" part of an SMTP_MAILBOXES_FILE entry.
type imapJSON struct {
	Host     string `json:"host"`
	Port     int    `json:"port"` // default 993, or 143 with tls starttls or none
	Username string `json:"username"`
	Password string `json:"password"`
	TLS      string `json:"tls"` // tls (default), starttls, or none (loopback hosts only)
}

// relay is the entry's SMTP relay.
func (m mailboxJSON) relay() mail.Relay {
	return mail.Relay{Host: m.Host, Port: m.Port, Username: m.Username, Password: m.Password, TLS: mail.TLSPolicy(m.TLS)}
}

// imapMailbox builds an IMAP mailbox named name; the TLS mode defaults to implicit TLS and the
// port to the mode's.
func imapMailbox(name, host string, port int, username, password, mode string) mailpoll.Mailbox {
	if mode == "" {
		mode = string(mailpoll.TLSImplicit)
	}
	if port == 0 {
		port = 993
		if mode != string(mailpoll.TLSImplicit) {
			port = 143
		}
	}
	return mailpoll.Mailbox{Name: name, Host: host, Port: port, Username: username, Password: password, TLS: mailpoll.TLSMode(mode)}
}

// mailboxes reads SMTP_MAILBOXES_FILE, a JSON object from sending address to relay:
//
//	{"ana@acme.com": {"host": "smtp.gmail.com", "port": 587, "username": "ana@acme.com", "password": "…", "tls": "mandatory"}}
//
// Keys are lower-cased; unknown fields are problems. Problems never quote a value from the
// file, which holds passwords. mail.NewSender checks each relay.
func (r *reader) mailboxes(file string) map[string]mailboxJSON {
	if file == "" {
		return nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		r.problems = append(r.problems, fmt.Sprintf("SMTP_MAILBOXES_FILE=%q: %s", file, fileError(err)))
		return nil
	}
	out, problems := parseMailboxes(data)
	for _, p := range problems {
		r.problems = append(r.problems, fmt.Sprintf("SMTP_MAILBOXES_FILE=%q: %s", file, p))
	}
	return out
}

// parseMailboxes walks the top-level object itself, so every entry's problems are listed
// and a key given twice (in any case) is caught, which json.Unmarshal into a map would hide.
func parseMailboxes(data []byte) (map[string]mailboxJSON, []string) {
	dec := json.NewDecoder(bytes.NewReader(data))
	syntax := func(err error) []string { return []string{jsonError(err, data)} }
	tok, err := dec.Token()
	if err != nil {
		return nil, syntax(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, []string{`want a JSON object like {"ana@acme.com": {"host": …, "port": 587, "username": …, "password": …, "tls": "mandatory"}}`}
	}
	out := map[string]mailboxJSON{}
	var problems []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntax(err)
		}
		key := tok.(string) // object keys are strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, syntax(err)
		}
		addr := strings.ToLower(strings.TrimSpace(key))
		if _, dup := out[addr]; dup {
			problems = append(problems, fmt.Sprintf("mailbox %q is given twice", addr))
			continue
		}
		var mb mailboxJSON
		entry := json.NewDecoder(bytes.NewReader(raw))
		entry.DisallowUnknownFields()
		if err := entry.Decode(&mb); err != nil {
			problems = append(problems, fmt.Sprintf("mailbox %q: %s", key, jsonError(err, nil)))
			continue
		}
		if string(bytes.TrimSpace(raw)) == "null" {
			problems = append(problems, fmt.Sprintf("mailbox %q: want an object with host, port, username, password and tls", key))
			continue
		}
		out[addr] = mb
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, syntax(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, []string{"more after the JSON object"}
	}
	return out, problems
}

// jsonError describes a decoding error without quoting the input: encoding/json's own
// messages can quote a character or a number from it, and the file holds passwords.
func jsonError(err error, data []byte) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := 1, 1
		for _, c := range data[:min(int(syn.Offset), len(data))] {
			if c == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
		return fmt.Sprintf("not valid JSON near line %d, column %d", line, col)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends early"
	case errors.As(err, &typ):
		want := map[reflect.Kind]string{reflect.Int: "a number", reflect.String: "a string", reflect.Struct: "an object"}[typ.Type.Kind()]
		if typ.Field == "" {
			return "want " + want
		}
		return fmt.Sprintf("%q: want %s", typ.Field, want)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// Names a key of ours, not a value: fine to quote.
		return strings.TrimPrefix(err.Error(), "json: ") + " (known: host, port, username, password, tls, imap)"
	}
	return "not valid JSON"
}

func fileError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return "cannot read it: " + pe.Err.Error()
	}
	return "cannot read it"
}

// mailProblems lists mail.NewSender's errors under the variables they come from.
func (r *reader) mailProblems(err error, mailboxesFile string) {
	parts := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	}
	for _, e := range parts {
		label := "SMTP_*"
		switch {
		case errors.Is(e, mail.ErrInvalidDKIMConfig):
			label = "DKIM_* (DKIM_DOMAIN, DKIM_SELECTOR, DKIM_PRIVATE_KEY_FILE)"
		case errors.Is(e, mail.ErrInvalidMailboxConfig):
			label = fmt.Sprintf("SMTP_MAILBOXES_FILE=%q", mailboxesFile)
		}
		// One problem per line: indent the lines of errors.Join under their label.
		r.problems = append(r.problems, label+": "+strings.ReplaceAll(e.Error(), "\n", "\n    "))
	}
}

func (r *reader) err(what string) error {
	if len(r.problems) == 0 {
		return nil
	}
	return fmt.Errorf("%s configuration is invalid:\n  %s", what, strings.Join(r.problems, "\n  "))
}

func (r *reader) temporal() client.Options {
	opts, err := envconfig.LoadClientOptions(envconfig.LoadClientOptionsRequest{EnvLookup: r.env})
	if err != nil {
		r.problems = append(r.problems, "Temporal client (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, …): "+err.Error())
	}
	return opts
}

// LoadWorker reads the worker's configuration.
func LoadWorker(env Env) (Worker, error) {
	r := &reader{env: env}
	w := Worker{
		DatabaseURL:     r.str("DATABASE_URL", DefaultDatabaseURL),
		Temporal:        r.temporal(),
		SendConcurrency: r.int("SEND_CONCURRENCY", 4, 1, 256),
		WorkflowPollers: r.int("WORKFLOW_POLLERS", 2, 2, 64), // the SDK needs two: sticky and normal queues
		ActivityPollers: r.int("ACTIVITY_POLLERS", 2, 1, 64),
		StickyCacheSize: r.int("STICKY_CACHE_SIZE", 0, 0, 1_000_000),
	}
	port := r.int("SMTP_PORT", 1025, 1, 65535)
	w.SMTP = mail.Config{
		Host:     r.str("SMTP_HOST", "127.0.0.1"),
		Port:     port,
		Username: r.str("SMTP_USERNAME", ""),
		Password: r.str("SMTP_PASSWORD", ""),
		TLS:      mail.TLSPolicy(r.str("SMTP_TLS", "none")),
		Timeout:  r.duration("SMTP_TIMEOUT", 15*time.Second),
		HeloName: r.str("SMTP_HELO", ""),
	}
	w.SMTP.DKIM = r.dkim()
	mailboxesFile := r.str("SMTP_MAILBOXES_FILE", "")
	for addr, mb := range r.mailboxes(mailboxesFile) {
		if w.SMTP.Mailboxes == nil {
			w.SMTP.Mailboxes = map[string]mail.Relay{}
		}
		w.SMTP.Mailboxes[addr] = mb.relay()
	}
	sender, err := mail.NewSender(w.SMTP)
	if err != nil {
		r.mailProblems(err, mailboxesFile)
	}
	w.Sender = sender
	secret := r.str("MESSAGE_ID_SECRET", "")
	switch {
	case secret == "":
		r.problems = append(r.problems, "MESSAGE_ID_SECRET is required: 32+ hex characters that stay the same across restarts (Message-IDs of retried sends are derived from it); generate one with `openssl rand -hex 32`")
	default:
		b, err := hex.DecodeString(secret)
		if err != nil || len(b) < 16 {
			r.problems = append(r.problems, "MESSAGE_ID_SECRET: want at least 32 hex characters")
		}
		w.Mail.MessageIDSecret = b
	}
	w.Mail.MessageIDDomain = r.str("MESSAGE_ID_DOMAIN", "followup.invalid")
	w.Mail.DefaultFrom = r.str("MAIL_FROM", "")
	if w.Mail.DefaultFrom != "" {
		if err := cadence.CheckAddress(w.Mail.DefaultFrom); err != nil {
			r.problems = append(r.problems, "MAIL_FROM: "+err.Error())
		}
	}
	w.Mail.PostalAddress = r.str("MAIL_POSTAL_ADDRESS", "")
	_, w.Mail.Unsubscribe = r.unsubscribe()
	w.MailboxDailyCap = r.int("MAILBOX_DAILY_CAP", DefaultMailboxDailyCap, 0, 100000)
	w.ContactSpacing = r.durationOrOff("CONTACT_SPACING", DefaultContactSpacing)
	w.MetricsAddr = r.metricsAddr()
	return w, r.err("worker")
}

// starter reads what every starter command shares, serve included.
func (r *reader) starter() Starter {
	return Starter{DatabaseURL: r.str("DATABASE_URL", DefaultDatabaseURL), Temporal: r.temporal(),
		MailFrom: r.str("MAIL_FROM", ""), MailboxDailyCap: r.int("MAILBOX_DAILY_CAP", DefaultMailboxDailyCap, 0, 100000)}
}

// LoadServer reads the HTTP server's configuration.
func LoadServer(env Env) (Server, error) {
	r := &reader{env: env}
	s := Server{Starter: r.starter()}
	s.Addr = r.str("HTTP_ADDR", "127.0.0.1:8088")
	s.APIToken = r.str("API_TOKEN", "")
	if len(s.APIToken) < 16 {
		r.problems = append(r.problems, "API_TOKEN is required: 16+ characters that API clients send as `Authorization: Bearer …`; generate one with `openssl rand -hex 24`")
	}
	s.Unsubscribe, _ = r.unsubscribe()
	s.SweepInterval = r.interval("SWEEP_INTERVAL", DefaultSweepInterval)
	r.mailIntake(&s)
	return s, r.err("server")
}

// mailIntake reads what the mailbox intake needs: the mailboxes to poll, the poll options,
// our own addresses and the MIME endpoint's bound.
func (r *reader) mailIntake(s *Server) {
	var entries map[string]mailboxJSON
	s.OwnAddresses, entries = r.ownAddresses()
	file := r.str("SMTP_MAILBOXES_FILE", "")
	for _, addr := range slices.Sorted(maps.Keys(entries)) {
		im := entries[addr].IMAP
		if im == nil {
			continue
		}
		mb := imapMailbox(addr, im.Host, im.Port, im.Username, im.Password, im.TLS)
		for _, p := range mb.Problems() {
			r.problems = append(r.problems, fmt.Sprintf("SMTP_MAILBOXES_FILE=%q: mailbox %q: imap: %s", file, addr, p))
		}
		s.Mailboxes = append(s.Mailboxes, mb)
	}
	if host := r.str("IMAP_HOST", ""); host != "" {
		user := r.str("IMAP_USERNAME", "")
		if a, err := netmail.ParseAddress(user); err == nil && a.Address == user {
			// The shared reply mailbox is ours too: a message from it is a forward, not a reply.
			s.OwnAddresses = append(s.OwnAddresses, strings.ToLower(user))
		}
		mb := imapMailbox(user+"@"+host, host, r.int("IMAP_PORT", 0, 1, 65535), user, r.str("IMAP_PASSWORD", ""), r.str("IMAP_TLS", ""))
		for _, p := range mb.Problems() {
			r.problems = append(r.problems, "IMAP_* (IMAP_HOST, IMAP_PORT, IMAP_TLS, IMAP_USERNAME, IMAP_PASSWORD): "+p)
		}
		s.Mailboxes = append(s.Mailboxes, mb)
	} else {
		for _, k := range []string{"IMAP_PORT", "IMAP_TLS", "IMAP_USERNAME", "IMAP_PASSWORD"} {
			if r.str(k, "") != "" {
				r.problems = append(r.problems, k+" is set without IMAP_HOST")
			}
		}
	}
	s.Poll.Interval = r.duration("IMAP_POLL_INTERVAL", mailpoll.DefaultInterval)
	if s.Poll.Interval < time.Second {
		r.problems = append(r.problems, "IMAP_POLL_INTERVAL: want 1s or more")
	}
	s.Poll.FirstRead = r.duration("IMAP_FIRST_READ", mailpoll.DefaultFirstRead)
	s.Poll.MarkSeen = r.boolean("IMAP_MARK_SEEN")
	s.Poll.MoveTo = r.str("IMAP_MOVE_TO", "")
	if strings.EqualFold(s.Poll.MoveTo, "INBOX") || strings.ContainsAny(s.Poll.MoveTo, "\r\n\x00") {
		r.problems = append(r.problems, fmt.Sprintf("IMAP_MOVE_TO=%q: want the name of another folder, like Processed", s.Poll.MoveTo))
	}
	s.InboundMIMEMaxBytes = r.int("INBOUND_MIME_MAX_BYTES", DefaultInboundMIMEMaxBytes, 1<<10, 64<<20)
}

// ownAddresses reads MAIL_FROM and the addresses of SMTP_MAILBOXES_FILE (whose entries it
// also returns): mail from them is ours.
func (r *reader) ownAddresses() ([]string, map[string]mailboxJSON) {
	var own []string
	if from := r.str("MAIL_FROM", ""); from != "" {
		if a, err := netmail.ParseAddress(from); err == nil {
			own = append(own, strings.ToLower(a.Address))
		}
	}
	entries := r.mailboxes(r.str("SMTP_MAILBOXES_FILE", ""))
	for _, addr := range slices.Sorted(maps.Keys(entries)) {
		own = append(own, addr)
	}
	return own, entries
}

// LoadOwnAddresses reads the addresses mail of ours comes from, beyond the owners: MAIL_FROM
// and SMTP_MAILBOXES_FILE's (starter inbound take, which takes a message as the API does).
func LoadOwnAddresses(env Env) ([]string, error) {
	r := &reader{env: env}
	own, _ := r.ownAddresses()
	return own, r.err("mail")
}

// boolean reads true/false (also 1/0, yes/no); unset is false.
func (r *reader) boolean(key string) bool {
	switch strings.ToLower(r.str(key, "")) {
	case "", "false", "0", "no":
		return false
	case "true", "1", "yes":
		return true
	}
	r.problems = append(r.problems, fmt.Sprintf("%s=%q: want true or false", key, r.str(key, "")))
	return false
}

// LoadStarter reads the starter's configuration.
func LoadStarter(env Env) (Starter, error) {
	r := &reader{env: env}
	return r.starter(), r.err("starter")
}
