package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/smtptest"
	"github.com/followup-engine/followup/internal/testtier"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// stack is what `make run` runs, started by startStack on free ports and a fresh state
// folder.
type stack struct {
	local     string
	ports     map[string]int
	out, errs *smtptest.LockedBuffer // stdout and stderr: the console
	cancel    context.CancelFunc     // Ctrl-C
	done      chan error             // what run returned
}

// startStack runs run(args) until its URL block is printed. It needs PostgreSQL and the
// Temporal CLI: `make test-go` sets DATABASE_URL and TEMPORAL_CLI; without them the test is
// skipped (ensure-temporal.sh would otherwise build the CLI, about 5 minutes).
func startStack(t *testing.T, args ...string) *stack {
	t.Helper()
	testtier.Needs(t, "PostgreSQL and Temporal")
	for _, v := range []string{"DATABASE_URL", "TEMPORAL_CLI"} {
		if os.Getenv(v) == "" {
			t.Skipf("%s is not set: run `make test-go`, which sets DATABASE_URL and TEMPORAL_CLI", v)
		}
	}
	s := &stack{local: t.TempDir(), ports: map[string]int{}, out: &smtptest.LockedBuffer{}, errs: &smtptest.LockedBuffer{}, done: make(chan error, 1)}
	t.Setenv("FOLLOWUP_LOCAL_DIR", s.local)
	t.Setenv("DATABASE_URL", pgtest.NewDatabase(t))
	for _, name := range []string{"FOLLOWUP_TEMPORAL_PORT", "FOLLOWUP_TEMPORAL_UI_PORT", "FOLLOWUP_SMTP_PORT", "FOLLOWUP_MAIL_UI_PORT", "FOLLOWUP_API_PORT", "FOLLOWUP_IMAP_PORT", "FOLLOWUP_METRICS_PORT"} {
		s.ports[name] = freePort(t)
		t.Setenv(name, fmt.Sprint(s.ports[name]))
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- run(ctx, args, s.out, s.errs) }()
	// Stopped even when the test fails half-way (a second stop is a no-op).
	t.Cleanup(func() { s.stop(t) })

	deadline := time.Now().Add(8 * time.Minute) // the first run builds the binaries
	for !strings.Contains(s.out.String(), "followup is running") {
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("run returned early: %v\nstdout:\n%s\nstderr:\n%s", err, s.out.String(), s.errs.String())
		case <-time.After(200 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "no URL block:\n%s\n%s", s.out.String(), s.errs.String())
	}
	return s
}

// stop is Ctrl-C: run returns nil, and no process and no port of the stack is left.
func (s *stack) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case err, ok := <-s.done:
		if !ok {
			return // stopped already
		}
		close(s.done)
		require.NoError(t, err, "stderr:\n%s", s.errs.String())
	case <-time.After(90 * time.Second):
		t.Fatal("run did not stop")
	}
	for name, port := range s.ports {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			t.Errorf("port %d (%s) still held after stop", port, name)
		}
	}
	ps, err := exec.Command("ps", "-eo", "args").Output()
	require.NoError(t, err)
	require.NotContains(t, string(ps), s.local, "a process of the stack outlived it")
}

func (s *stack) url(port string) string { return fmt.Sprintf("http://127.0.0.1:%d", s.ports[port]) }

// TestMakeRunStartsEverythingAndStopsClean runs what `make run` runs, on free ports and a
// fresh state folder: every URL answers, a deal's email reaches the mail page, and stopping
// leaves no process and no port behind.
func TestMakeRunStartsEverythingAndStopsClean(t *testing.T) {
	s := startStack(t)
	local, ports, out := s.local, s.ports, s.out
	api := fmt.Sprintf("http://127.0.0.1:%d", ports["FOLLOWUP_API_PORT"])
	mailUI := fmt.Sprintf("http://127.0.0.1:%d", ports["FOLLOWUP_MAIL_UI_PORT"])
	for _, u := range []string{api + "/healthz", api + "/readyz", mailUI + "/", fmt.Sprintf("http://127.0.0.1:%d/", ports["FOLLOWUP_TEMPORAL_UI_PORT"]),
		api + "/metrics", fmt.Sprintf("http://127.0.0.1:%d/metrics", ports["FOLLOWUP_METRICS_PORT"])} {
		require.Contains(t, out.String(), strings.Split(strings.TrimPrefix(u, "http://"), "/")[0], "the block names %s", u)
		resp, err := http.Get(u)
		require.NoError(t, err, u)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, u)
	}

	// A deal created through the API sends its intro email to the mail page.
	secrets, err := os.ReadFile(filepath.Join(local, "secrets.env"))
	require.NoError(t, err)
	var token string
	for _, line := range strings.Split(string(secrets), "\n") {
		if v, ok := strings.CutPrefix(line, "API_TOKEN="); ok {
			token = v
		}
	}
	req, err := http.NewRequest("POST", api+"/api/deals", strings.NewReader(
		`{"source":"smoke","external_id":"1","owner":{"email":"ana@vendor.example"},"contact":{"email":"bob@prospect.example","first_name":"Bob"}}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Eventually(t, func() bool {
		resp, err := http.Get(mailUI + "/api/messages")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var msgs []map[string]any
		return json.NewDecoder(resp.Body).Decode(&msgs) == nil && len(msgs) == 1
	}, 60*time.Second, 250*time.Millisecond, "the intro email reaches the mail page")

	// The stack's DKIM key was generated into the state folder and handed to the worker and
	// the mail page: the intro email is signed and its signature verifies ("none" would mean
	// the worker does not sign, "fail" that the two were given different keys).
	resp, err = http.Get(mailUI + "/api/messages")
	require.NoError(t, err)
	var msgs []map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&msgs))
	resp.Body.Close()
	require.Equal(t, "pass", msgs[0]["dkim"], "DKIM result of the intro email")
	_, err = os.Stat(filepath.Join(local, "dkim-devstack.pem"))
	require.NoError(t, err)
	for _, secret := range []string{"PRIVATE KEY", token} {
		require.NotContains(t, out.String(), secret, "make run prints no secret")
	}

	s.stop(t)
}

// sinkMessage is a message as the mail page's /api/messages lists it.
type sinkMessage struct {
	MessageID  string   `json:"message_id"`
	Subject    string   `json:"subject"`
	EnvelopeTo []string `json:"envelope_to"`
	InReplyTo  []string `json:"in_reply_to"`
}

func sinkMessages(t *testing.T, mailUI string) []sinkMessage {
	t.Helper()
	resp, err := http.Get(mailUI + "/api/messages")
	require.NoError(t, err)
	defer resp.Body.Close()
	var msgs []sinkMessage
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&msgs))
	return msgs
}

// TestKilledWorkerIsRestartedAndTheDemoGoesOn is the README's promise "nothing is lost when a
// worker restarts", seen under make run: kill -9 the worker once the demo's intro emails have
// arrived; the console says it is restarted, the stack keeps running, and each prospecting
// deal's next email (the follow-up 15 seconds in, a reply to the intro) still arrives, once.
func TestKilledWorkerIsRestartedAndTheDemoGoesOn(t *testing.T) {
	s := startStack(t)
	mailUI := s.url("FOLLOWUP_MAIL_UI_PORT")
	m := regexp.MustCompile(`worker pid (\d+)`).FindStringSubmatch(s.out.String())
	require.NotNil(t, m, "the URL block names the worker's pid:\n%s", s.out.String())
	worker, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", worker))
	require.NoError(t, err)
	require.Equal(t, filepath.Join(s.local, "bin", "worker"), exe)

	var demoOut smtptest.LockedBuffer
	require.NoError(t, runDemo(context.Background(), &demoOut))
	checkDemoLogin(t, s.url("FOLLOWUP_API_PORT"), demoOut.String()) // the pages, with the printed password
	// Deal 2 moves to qualification at once; the other three (Buyer, Okafor, Berg) stay in
	// prospecting, where the intro goes now and the follow-up, a reply to it, 25 seconds in.
	// Their addresses carry the time of the demo run: found by their first part.
	prospecting := regexp.MustCompile(`^(buyer|okafor|berg)\.\d{6}\.demo@prospect\.example$`)
	contactOf := func(msg sinkMessage) string {
		for _, rcpt := range msg.EnvelopeTo {
			if prospecting.MatchString(rcpt) {
				return rcpt
			}
		}
		return ""
	}
	intros := map[string]string{} // contact → the intro's Message-ID
	require.Eventually(t, func() bool {
		for _, msg := range sinkMessages(t, mailUI) {
			if c := contactOf(msg); c != "" && len(msg.InReplyTo) == 0 {
				intros[c] = msg.MessageID
			}
		}
		return len(intros) == 3
	}, 60*time.Second, 250*time.Millisecond, "the intro emails arrive")
	// Let the sends that delivered them complete (a worker killed inside a send is the
	// ledger's business, and its retry waits for the activity's 2-minute timeout).
	time.Sleep(2 * time.Second)

	require.NoError(t, syscall.Kill(worker, syscall.SIGKILL))
	killedAt := time.Now()
	var restarted int
	require.Eventually(t, func() bool {
		m := regexp.MustCompile(`devstack: worker restarted \(pid (\d+)\)\n`).FindStringSubmatch(s.errs.String())
		if m != nil {
			restarted, _ = strconv.Atoi(m[1])
		}
		return m != nil
	}, 30*time.Second, 100*time.Millisecond, "the console says the worker restarted:\n%s", s.errs.String())
	require.Contains(t, s.errs.String(), fmt.Sprintf("devstack: worker exited (signal: killed); restarting in 1s (restart 1, log %s)\n",
		filepath.Join(s.local, "logs", "worker.log")))
	require.NotEqual(t, worker, restarted)
	t.Logf("worker %d killed; %d running %s later", worker, restarted, time.Since(killedAt).Round(time.Millisecond))

	// Each follow-up arrives, once: no email is lost or sent twice across the restart.
	require.Eventually(t, func() bool {
		n := 0
		for _, msg := range sinkMessages(t, mailUI) {
			if c := contactOf(msg); c != "" && slices.Contains(msg.InReplyTo, intros[c]) {
				n++
			}
		}
		return n >= len(intros)
	}, 90*time.Second, 250*time.Millisecond, "the follow-ups arrive after the restart")
	time.Sleep(2 * time.Second) // room for a duplicate to show up
	msgs := sinkMessages(t, mailUI)
	ids := map[string]int{}
	for _, msg := range msgs {
		ids[msg.MessageID]++
	}
	for c := range intros {
		var subjects []string
		for _, msg := range msgs {
			if contactOf(msg) == c {
				subjects = append(subjects, msg.Subject)
				require.Equal(t, 1, ids[msg.MessageID], "%s: %q arrived %d times", c, msg.Subject, ids[msg.MessageID])
			}
		}
		require.Len(t, subjects, 2, "%s got the intro and the follow-up, once each: %q", c, subjects)
	}
	select {
	case err := <-s.done:
		s.done <- err
		t.Fatalf("the stack stopped: %v", err)
	default:
	}
	resp, err := http.Get(s.url("FOLLOWUP_API_PORT") + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	s.stop(t)
	require.NotContains(t, s.errs.String(), "restart 2", "one kill, one restart")
}

// TestEnvFileRunsTheWorkerAndAPIByHand: .local/env.sh holds every setting the stack gives
// the worker and the API, shell-quoted, 0600: sourced by sh it gives back each value as is,
// and the worker's and the API's configuration load from it alone.
func TestEnvFileRunsTheWorkerAndAPIByHand(t *testing.T) {
	dir := t.TempDir()
	dkim, err := ensureDKIMKey(dir, mailDomain)
	require.NoError(t, err)
	secrets, err := loadSecrets(filepath.Join(dir, "secrets.env"))
	require.NoError(t, err)
	// A URL with what a shell would expand or split: quotes, $, spaces, backslashes.
	dbURL := `postgres://o'brien:p$ss w"rd\x@127.0.0.1:5432/followup?sslmode=disable`
	env := stackEnv(ports{Temporal: 7233, TemporalUI: 8233, SMTP: 1025, MailUI: 8025, API: 8088, IMAP: 1143}, dbURL, secrets, dkim)
	path := filepath.Join(dir, "env.sh")
	require.NoError(t, os.WriteFile(path, []byte("# an older, world-readable one\n"), 0o644))
	require.NoError(t, writeEnvFile(path, env))

	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "env.sh holds secrets")
	read, err := readEnvFile(path)
	require.NoError(t, err)
	require.Equal(t, env, read, "make demo reads back what make run wrote")

	if _, err := exec.LookPath("sh"); err == nil {
		out, err := exec.Command("sh", "-c", `. "$0" && env -0`, path).Output()
		require.NoError(t, err)
		sourced := map[string]string{}
		for _, kv := range strings.Split(string(out), "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				sourced[k] = v
			}
		}
		for k, v := range env {
			require.Equal(t, v, sourced[k], "%s after `. .local/env.sh`", k)
		}
	}

	_, err = config.LoadWorker(config.MapEnv(read))
	require.NoError(t, err, "the worker starts on env.sh alone")
	srv, err := config.LoadServer(config.MapEnv(read))
	require.NoError(t, err, "starter serve starts on env.sh alone")
	require.NotNil(t, srv.Unsubscribe, "the API verifies unsubscribe links")
}

func TestShellUnquote(t *testing.T) {
	for in, want := range map[string]string{
		`'plain'`:           "plain",
		`'it'\''s'`:         "it's",
		`bare`:              "bare",
		`"double quoted"`:   "double quoted",
		`'a'b"c"`:           "abc",
		`trailing\`:         `trailing\`,
		`'<sales@x.local>'`: "<sales@x.local>",
	} {
		got, err := shellUnquote(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := shellUnquote(`'open`)
	require.Error(t, err)
}
