// Command devstack is `make run`: the whole engine on this machine without Docker —
// PostgreSQL, the Temporal dev server, a mail sink with a page, the worker and the API —
// with every URL printed, a process that crashes restarted, and everything stopped on Ctrl-C.
// `devstack demo` adds demo deals.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if len(os.Args) > 1 && os.Args[1] == "demo" {
		err = runDemo(ctx, os.Stdout)
	} else {
		err = run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

// Ports of the local stack; each can be moved with its environment variable.
type ports struct {
	Temporal, TemporalUI, SMTP, MailUI, API, IMAP int
	Metrics                                       int // the worker's METRICS_ADDR
}

func loadPorts() ports {
	p := ports{Temporal: 7233, TemporalUI: 8233, SMTP: 1025, MailUI: 8025, API: 8088, IMAP: 1143, Metrics: 9464}
	for name, ptr := range map[string]*int{"FOLLOWUP_TEMPORAL_PORT": &p.Temporal, "FOLLOWUP_TEMPORAL_UI_PORT": &p.TemporalUI,
		"FOLLOWUP_SMTP_PORT": &p.SMTP, "FOLLOWUP_MAIL_UI_PORT": &p.MailUI, "FOLLOWUP_API_PORT": &p.API, "FOLLOWUP_IMAP_PORT": &p.IMAP,
		"FOLLOWUP_METRICS_PORT": &p.Metrics} {
		if v := os.Getenv(name); v != "" {
			_, _ = fmt.Sscan(v, ptr)
		}
	}
	return p
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	started := time.Now()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	local := localDir(root)
	for _, d := range []string{"bin", "logs", "temporal", "mail"} {
		if err := os.MkdirAll(filepath.Join(local, d), 0o755); err != nil {
			return err
		}
	}
	p := loadPorts()
	if err := checkPortsFree(p); err != nil {
		return err
	}

	step(stdout, "PostgreSQL")
	dbURL, err := ensureDatabase(ctx, root, stderr)
	if err != nil {
		return err
	}
	step(stdout, "Temporal CLI (pinned v1.5.1; the first build takes about 5 minutes)")
	cli, err := scriptOutput(ctx, root, "ensure-temporal.sh", stderr)
	if err != nil {
		return fmt.Errorf("Temporal CLI: %w", err)
	}
	step(stdout, "building worker, starter and mail sink")
	bin := filepath.Join(local, "bin")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin+string(filepath.Separator), "./worker", "./starter", "./internal/devstack/cmd/mailsink")
	build.Dir, build.Stdout, build.Stderr = root, stderr, stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	secrets, err := loadSecrets(filepath.Join(local, "secrets.env"))
	if err != nil {
		return err
	}
	dkim, err := ensureDKIMKey(local, mailDomain)
	if err != nil {
		return fmt.Errorf("DKIM key: %w", err)
	}
	if dkim.Generated {
		step(stdout, "generated a DKIM key for "+dkim.Domain+" (selector "+dkim.Selector+") in "+relative(root, dkim.Private))
	}
	env := stackEnv(p, dbURL, secrets, dkim)
	if env["SMTP_MAILBOXES_FILE"], err = writeMailboxesFile(filepath.Join(local, "mailboxes.json"), p, secrets); err != nil {
		return err
	}
	if err := writeEnvFile(filepath.Join(local, "env.sh"), env); err != nil {
		return err
	}

	// Every process is restarted when it exits on its own once the stack is up, each for its
	// own reason: the worker and the API keep no state (Temporal and PostgreSQL hold it, so
	// nothing is lost); the Temporal dev server keeps its state in dev.db and the others
	// reconnect to it (the SDK retries); the mail sink keeps its mail in .local/mail and the
	// sends it missed meanwhile are retried activities. A crash loop still stops the stack,
	// naming the process and its log.
	logs := filepath.Join(local, "logs")
	sup := newSupervisor(logs, relative(root, logs), stderr)
	defer sup.stopAll()

	step(stdout, "starting the Temporal dev server (data in "+relative(root, filepath.Join(local, "temporal", "dev.db"))+")")
	temporalArgs := []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", fmt.Sprint(p.Temporal),
		"--ui-port", fmt.Sprint(p.TemporalUI), "--db-filename", filepath.Join(local, "temporal", "dev.db"),
		"--sqlite-pragma", "journal_mode=WAL", "--sqlite-pragma", "synchronous=NORMAL", "--log-level", "warn",
		"--search-attribute", "DealStage=Keyword", "--search-attribute", "DealOwner=Keyword",
		"--search-attribute", "CadenceVersion=Int", "--search-attribute", "NextActionAt=Datetime"}
	if err := sup.start("temporal", cli, temporalArgs, nil); err != nil {
		return err
	}
	if err := waitTCP(ctx, sup, "Temporal dev server", "temporal", p.Temporal, 90*time.Second); err != nil {
		return err
	}
	step(stdout, "starting the mail sink")
	if err := sup.start("mailsink", filepath.Join(bin, "mailsink"), []string{"-smtp", fmt.Sprintf("127.0.0.1:%d", p.SMTP),
		"-http", fmt.Sprintf("127.0.0.1:%d", p.MailUI), "-dir", filepath.Join(local, "mail"),
		"-dkim-domain", dkim.Domain, "-dkim-selector", dkim.Selector, "-dkim-key", dkim.Private,
		"-imap", fmt.Sprintf("127.0.0.1:%d", p.IMAP)},
		// In the environment, not on the command line, where any local user's ps shows it.
		map[string]string{"MAILSINK_IMAP_PASSWORD": secrets["IMAP_PASSWORD"]}); err != nil {
		return err
	}
	if err := waitTCP(ctx, sup, "mail sink", "mailsink", p.MailUI, 30*time.Second); err != nil {
		return err
	}
	step(stdout, "migrating the database")
	migrate := exec.CommandContext(ctx, filepath.Join(bin, "starter"), "migrate")
	migrate.Env, migrate.Stdout, migrate.Stderr = environ(env), stderr, stderr
	if err := migrate.Run(); err != nil {
		return fmt.Errorf("starter migrate: %w", err)
	}
	step(stdout, "starting the worker and the API")
	if err := sup.start("worker", filepath.Join(bin, "worker"), nil, env); err != nil {
		return err
	}
	if err := sup.start("starter", filepath.Join(bin, "starter"), []string{"serve"}, env); err != nil {
		return err
	}
	if err := waitHTTP(ctx, sup, "API", "starter", fmt.Sprintf("http://127.0.0.1:%d/readyz", p.API), 60*time.Second); err != nil {
		return err
	}
	sup.heal()
	printBlock(stdout, p, env, sup, time.Since(started))
	if len(args) > 0 && args[0] == "-demo" {
		if err := runDemo(ctx, stdout); err != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "\nstopping…")
		return nil
	case err := <-sup.failed:
		return err
	}
}

// mailDomain is the domain the stack's mail comes from: of MAIL_FROM, of the Message-IDs
// (MESSAGE_ID_DOMAIN) and of the DKIM signatures (DKIM_DOMAIN).
const mailDomain = "followup.local"

// stackEnv is the environment of the worker and the API (and of starter migrate).
func stackEnv(p ports, dbURL string, secrets map[string]string, dkim dkimKey) map[string]string {
	return map[string]string{
		"DATABASE_URL":       dbURL,
		"TEMPORAL_ADDRESS":   fmt.Sprintf("127.0.0.1:%d", p.Temporal),
		"TEMPORAL_NAMESPACE": "default",
		"SMTP_HOST":          "127.0.0.1",
		"SMTP_PORT":          fmt.Sprint(p.SMTP),
		"SMTP_TLS":           "none",
		"MESSAGE_ID_SECRET":  secrets["MESSAGE_ID_SECRET"],
		"MESSAGE_ID_DOMAIN":  mailDomain,
		"MAIL_FROM":          "Followup Demo <sales@" + mailDomain + ">",
		"API_TOKEN":          secrets["API_TOKEN"],
		"HTTP_ADDR":          fmt.Sprintf("127.0.0.1:%d", p.API),
		// The worker's Prometheus metrics (the API's are at /metrics on HTTP_ADDR).
		"METRICS_ADDR": fmt.Sprintf("127.0.0.1:%d", p.Metrics),
		// Unsubscribe links point at the local API: in the footer, and (an http loopback base
		// is accepted for that) in List-Unsubscribe + List-Unsubscribe-Post, which the mail
		// page turns into a one-click button.
		"PUBLIC_BASE_URL":    fmt.Sprintf("http://127.0.0.1:%d", p.API),
		"UNSUBSCRIBE_SECRET": secrets["UNSUBSCRIBE_SECRET"],
		// The worker signs with the generated key; the mail page, given the same file, checks
		// with its public half.
		"DKIM_DOMAIN":           dkim.Domain,
		"DKIM_SELECTOR":         dkim.Selector,
		"DKIM_PRIVATE_KEY_FILE": dkim.Private,
		// The mailbox intake reads the demo owner's mailbox on the sink's IMAP endpoint, where
		// replies to the demo's emails land (Reply-To is the owner); bounces go to MAIL_FROM's
		// mailbox, read through its SMTP_MAILBOXES_FILE entry (writeMailboxesFile).
		"IMAP_HOST":          "127.0.0.1",
		"IMAP_PORT":          fmt.Sprint(p.IMAP),
		"IMAP_TLS":           "none",
		"IMAP_USERNAME":      demoOwner,
		"IMAP_PASSWORD":      secrets["IMAP_PASSWORD"],
		"IMAP_POLL_INTERVAL": "2s",
	}
}

// demoOwner owns the demo's deals and the README's examples: make run reads its mailbox.
const demoOwner = "ana@vendor.example"

// writeMailboxesFile writes SMTP_MAILBOXES_FILE for MAIL_FROM's mailbox: its SMTP relay is
// the sink, as for every other sender, and its IMAP part is the sink's endpoint, where
// bounces of the stack's emails land. 0600: it holds the sink's IMAP password.
func writeMailboxesFile(path string, p ports, secrets map[string]string) (string, error) {
	type imap struct {
		Host     string `json:"host"`
		Port     int    `json:"port"`
		Username string `json:"username"`
		Password string `json:"password"`
		TLS      string `json:"tls"`
	}
	type mailbox struct {
		Host string `json:"host"`
		Port int    `json:"port"`
		TLS  string `json:"tls"`
		IMAP imap   `json:"imap"`
	}
	sender := "sales@" + mailDomain
	b, err := json.MarshalIndent(map[string]mailbox{sender: {Host: "127.0.0.1", Port: p.SMTP, TLS: "none",
		IMAP: imap{Host: "127.0.0.1", Port: p.IMAP, Username: sender, Password: secrets["IMAP_PASSWORD"], TLS: "none"}}}, "", "  ")
	if err != nil {
		return "", err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}

// localDir holds the stack's state: .local in the repository, or FOLLOWUP_LOCAL_DIR.
func localDir(root string) string {
	if d := os.Getenv("FOLLOWUP_LOCAL_DIR"); d != "" {
		return d
	}
	return filepath.Join(root, ".local")
}

func relative(root, path string) string {
	if rel, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

func step(w io.Writer, what string) { fmt.Fprintf(w, "==> %s\n", what) }

func printBlock(w io.Writer, p ports, env map[string]string, sup *supervisor, took time.Duration) {
	fmt.Fprintf(w, `
────────────────────────────────────────────────────────────────────────
 followup is running (started in %s)

   API            http://127.0.0.1:%d   (Authorization: Bearer $API_TOKEN)
   API health     http://127.0.0.1:%d/readyz
   Metrics        http://127.0.0.1:%d/metrics (API), http://127.0.0.1:%d/metrics (worker: Temporal SDK)
   Mail page      http://127.0.0.1:%d   (SMTP on 127.0.0.1:%d; DKIM checked against the %s key)
   Mailboxes      IMAP on 127.0.0.1:%d: %s (replies) and %s (bounces), read every %s
                  (press Reply, Auto-reply or Bounce on an email in the mail page)
   Temporal UI    http://127.0.0.1:%d   (search: DealStage = "prospecting")
   Temporal gRPC  127.0.0.1:%d
   PostgreSQL     %s
   Logs           .local/logs/   (worker pid %d, API pid %d; a process that crashes is restarted)

 Try next, in another terminal:
   make demo                                  # demo deals: mail, a stage timeout and a task within a minute
   . .local/env.sh                            # every setting of the worker and the API, for the CLI
   .local/bin/starter deal create --external-id 1001 --owner ana@vendor.example \
       --contact bob@prospect.example --contact-first-name Bob
   .local/bin/starter deal show cli:1001
   curl -H "Authorization: Bearer $API_TOKEN" http://127.0.0.1:%d/api/deals/cli:1001

 Ctrl-C stops everything; the next make run resumes with the same data.
────────────────────────────────────────────────────────────────────────
`, took.Round(100*time.Millisecond), p.API, p.API, p.API, p.Metrics, p.MailUI, p.SMTP, env["DKIM_SELECTOR"]+"._domainkey."+env["DKIM_DOMAIN"],
		p.IMAP, demoOwner, "sales@"+mailDomain, env["IMAP_POLL_INTERVAL"], p.TemporalUI, p.Temporal, redact(env["DATABASE_URL"]), sup.pid("worker"), sup.pid("starter"), p.API)
}

func redact(u string) string {
	at := strings.LastIndex(u, "@")
	scheme := strings.Index(u, "://")
	if at < 0 || scheme < 0 {
		return u
	}
	if colon := strings.Index(u[scheme+3:at], ":"); colon >= 0 {
		return u[:scheme+3+colon+1] + "***" + u[at:]
	}
	return u
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run devstack from inside the repository (make run)")
		}
		dir = parent
	}
}

func checkPortsFree(p ports) error {
	var busy []string
	for name, port := range map[string]int{"Temporal (FOLLOWUP_TEMPORAL_PORT)": p.Temporal, "Temporal UI (FOLLOWUP_TEMPORAL_UI_PORT)": p.TemporalUI,
		"SMTP (FOLLOWUP_SMTP_PORT)": p.SMTP, "mail page (FOLLOWUP_MAIL_UI_PORT)": p.MailUI, "API (FOLLOWUP_API_PORT)": p.API,
		"IMAP (FOLLOWUP_IMAP_PORT)": p.IMAP, "worker metrics (FOLLOWUP_METRICS_PORT)": p.Metrics} {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			busy = append(busy, fmt.Sprintf("%d for the %s", port, name))
			continue
		}
		_ = ln.Close()
	}
	if len(busy) > 0 {
		return fmt.Errorf("ports already in use: %s (another make run? stop it, or move the port with the variable named)", strings.Join(busy, ", "))
	}
	return nil
}

// scriptOutput runs one of internal/devstack/scripts and returns its one line of stdout;
// its progress goes to stderr as it happens.
func scriptOutput(ctx context.Context, root, script string, stderr io.Writer) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "internal", "devstack", "scripts", script))
	cmd.Dir, cmd.Stderr = root, stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", script, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// stackSecrets are the secrets loadSecrets keeps in secrets.env, in the file's order, each
// generated (random bytes, hex-encoded) when missing.
var stackSecrets = []struct {
	name  string
	bytes int
}{{"MESSAGE_ID_SECRET", 32}, {"API_TOKEN", 24}, {"UNSUBSCRIBE_SECRET", 32}, {"IMAP_PASSWORD", 16}}

func loadSecrets(path string) (map[string]string, error) {
	secrets := map[string]string{}
	if b, err := os.ReadFile(path); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
				secrets[k] = v
			}
		}
	}
	changed := false
	for _, k := range stackSecrets {
		if secrets[k.name] == "" {
			b := make([]byte, k.bytes)
			if _, err := rand.Read(b); err != nil {
				return nil, err
			}
			secrets[k.name] = hex.EncodeToString(b)
			changed = true
		}
	}
	if changed {
		var content strings.Builder
		for _, k := range stackSecrets {
			fmt.Fprintf(&content, "%s=%s\n", k.name, secrets[k.name])
		}
		if err := os.WriteFile(path, []byte(content.String()), 0o600); err != nil {
			return nil, err
		}
	}
	return secrets, nil
}

// writeEnvFile writes env as a shell script of exports: every setting the stack gives the
// worker and the API, so that either can be started by hand. It holds secrets: 0600, and
// written under a temporary name then renamed, so that make demo never reads half of it.
func writeEnvFile(path string, env map[string]string) error {
	var b strings.Builder
	b.WriteString(`# Written by make run: every setting it gives the worker and the API (secrets
# included; keep this file to yourself). Source it to use the CLI against the local stack,
# or to run a process by hand beside it:
#   . .local/env.sh && go run ./worker
#   . .local/env.sh && HTTP_ADDR=127.0.0.1:8089 go run ./starter serve
`)
	for _, k := range slices.Sorted(maps.Keys(env)) {
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(env[k]))
	}
	tmp := path + ".tmp"
	_ = os.Remove(tmp) // a leftover from a killed run may have another mode
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// shellQuote quotes v for a POSIX shell: in single quotes, where each ' inside closes them,
// is written as \' and opens them again.
func shellQuote(v string) string {
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

func environ(extra map[string]string) []string {
	out := os.Environ()
	for k, v := range extra {
		out = append(out, k+"="+v)
	}
	return out
}

// waitTCP waits for a listener on port: what, started as the process name.
func waitTCP(ctx context.Context, sup *supervisor, what, name string, port int, timeout time.Duration) error {
	return waitFor(ctx, sup, what, name, timeout, func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	})
}

// waitHTTP waits for url to answer 200: what, served by the process name.
func waitHTTP(ctx context.Context, sup *supervisor, what, name, url string, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	return waitFor(ctx, sup, what, name, timeout, func() bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// waitFor polls ok until what (the process name) is up; it gives up on Ctrl-C, when a
// process of the stack exits (the supervisor's error names it and shows its log), or after
// timeout.
func waitFor(ctx context.Context, sup *supervisor, what, name string, timeout time.Duration, ok func() bool) error {
	deadline := time.Now().Add(timeout)
	for !ok() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-sup.failed:
			return err
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not up after %s (see %s)", what, timeout, sup.shownLog(name))
		}
	}
	return nil
}
