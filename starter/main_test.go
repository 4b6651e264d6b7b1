package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/engine"
	"github.com/followup-engine/followup/internal/mail"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/smtptest"
	"github.com/followup-engine/followup/internal/temporaltest"
)

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, env config.MapEnv, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := exitCode(run(ctx, args, env, &out, &errOut), &errOut)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func tableCounts(t *testing.T, dbURL string) map[string]int {
	t.Helper()
	pool := pgtestPool(t, dbURL)
	counts := map[string]int{}
	for _, table := range []string{"owners", "contacts", "deals", "deal_external_ids", "inbound_events", "stage_transitions"} {
		var n int
		require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n))
		counts[table] = n
	}
	return counts
}

func TestBadInputIsRefusedAndWritesNothing(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	// No Temporal server answers here: bad input must be refused before anything dials it.
	env := config.MapEnv{"DATABASE_URL": dbURL, "TEMPORAL_ADDRESS": "127.0.0.1:1"}
	require.Equal(t, 0, runCLI(t, env, "migrate").code)
	before := tableCounts(t, dbURL)

	cases := []struct {
		args []string
		want string
	}{
		{[]string{}, "usage: starter"},
		{[]string{"fly"}, `unknown command "fly"`},
		{[]string{"deal", "create"}, "missing --external-id, --owner, --contact"},
		{[]string{"deal", "create", "--external-id", "x", "--owner", "not-an-email", "--contact", "c@d.test"}, `owner email "not-an-email" is not a plain email address`},
		{[]string{"deal", "create", "--external-id", "x", "--owner", "a@b.test", "--contact", "c@d.test", "--contact-zone", "Mars/Base"}, "not an IANA time zone"},
		{[]string{"deal", "create", "--external-id", "x", "--owner", "a@b.test", "--contact", "c@d.test", "--contact-country", "xx"}, `contact country "xx": no public-holiday table`},
		{[]string{"deal", "create", "--external-id", "x", "--owner", "a@b.test", "--contact", "c@d.test", "--owner-zone", "Local"}, `owner zone "Local" is not an IANA time zone`},
		{[]string{"deal", "create", "--external-id", "x y", "--owner", "a@b.test", "--contact", "c@d.test"}, `external id "x y"`},
		{[]string{"deal", "create", "--external-id", "x", "--owner", "a@b.test", "--contact", "c@d.test", "--cadence-version", "9"}, "cadence version 9: not found"},
		{[]string{"deal", "create", "--external-id", "x", "--owner", "a@b.test", "--contact", "c@d.test", "--title", "a\nb"}, "title must be a single line"},
		{[]string{"deal", "create", "--external-id", "x", "--owner", "a@b.test", "--contact", "c@d.test", "--contact-company", "Bad \xff Co"}, "contact company is not valid UTF-8"},
		{[]string{"deal", "create", "--external-id", "x", "--owner", "a@b.test", "--contact", "c@d.test", "--owner-reply-to", "Ana <ana at b>"}, `owner reply-to: "Ana <ana at b>" is not an address`},
		{[]string{"deal", "stage", "crm:x"}, "usage: starter deal stage"},
		{[]string{"deal", "stage", "crm:missing", "qualification"}, "deal crm:missing: not found"},
		{[]string{"deal", "stage", "12", "qualification"}, "want a deal id or source:external-id"},
		{[]string{"deal", "stage", "crm:x", "qualification", "--at", "yesterday"}, "want RFC 3339"},
		{[]string{"deal", "reopen", "crm:missing"}, "not found"},
		{[]string{"deal", "show", "00000000-0000-0000-0000-000000000000"}, "not found"},
		{[]string{"deal", "fly"}, `unknown deal command "fly"`},
		{[]string{"deal", "engage", "crm:x"}, "usage: starter deal engage DEAL KIND"},
		{[]string{"deal", "engage", "crm:x", "sneeze"}, `kind "sneeze": want one of reply, meeting_booked, click, bounce, unsubscribe, out_of_office`},
		{[]string{"deal", "engage", "crm:x", "reply", "--return-at", "2026-12-01"}, "--return-at applies only to out_of_office, not to reply"},
		{[]string{"deal", "engage", "crm:x", "out_of_office", "--return-at", "soon"}, `--return-at "soon": want RFC 3339`},
		{[]string{"deal", "engage", "crm:x", "out_of_office", "--at", "2026-11-23T10:00:00Z", "--return-at", "2026-11-22T10:00:00Z"},
			"return_at 2026-11-22T10:00:00Z is not after the source time 2026-11-23T10:00:00Z"},
		{[]string{"deal", "engage", "crm:x", "reply", "--address", "bob@prospect.test"}, "address applies only to bounce and unsubscribe"},
		{[]string{"deal", "engage", "crm:missing", "bounce"}, "deal crm:missing: not found"},
		{[]string{"task"}, "usage: starter"},
		{[]string{"task", "finish", "crm:x", "1"}, `unknown task command "finish"`},
		{[]string{"task", "done", "crm:x"}, "usage: starter task done DEAL TASK-ID"},
		{[]string{"task", "skip", "crm:x", "abc"}, `task id "abc": want a positive number`},
		{[]string{"task", "skip", "crm:x", "0"}, `task id "0": want a positive number`},
		{[]string{"task", "done", "crm:x", "1", "--note", "a\nb"}, "note must be a single line"},
		{[]string{"task", "done", "crm:missing", "1"}, "deal crm:missing: not found"},
	}
	for _, c := range cases {
		r := runCLI(t, env, c.args...)
		require.Equal(t, 2, r.code, "%v: stderr %s", c.args, r.stderr)
		require.Contains(t, r.stderr, c.want, "%v", c.args)
		require.Empty(t, r.stdout, "%v", c.args)
	}
	require.Equal(t, before, tableCounts(t, dbURL), "nothing written on error")
}

func TestCreateShowStageOnRealServer(t *testing.T) {
	t.Parallel()
	srv := temporaltest.Start(t)
	dbURL := pgtest.NewDatabase(t)
	smtp := smtptest.Start(t)
	env := config.MapEnv{"DATABASE_URL": dbURL, "TEMPORAL_ADDRESS": srv.FrontendHostPort(), "TEMPORAL_NAMESPACE": "default"}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- engine.RunWorker(ctx, config.Worker{
			DatabaseURL: dbURL, Temporal: client.Options{HostPort: srv.FrontendHostPort(), Namespace: "default"},
			SMTP:            mail.Config{Host: smtp.Host(), Port: smtp.Port(), TLS: mail.TLSNone, Timeout: 5 * time.Second},
			Mail:            config.MailIdentity{MessageIDSecret: []byte("starter-test-secret-0123456789ab"), MessageIDDomain: "t.test"},
			SendConcurrency: 1, WorkflowPollers: 2, ActivityPollers: 1,
		}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	r := runCLI(t, env, "deal", "create", "--external-id", "hs-42", "--owner", "ana@vendor.test", "--owner-name", "Ana Rep",
		"--owner-company", "Vendor", "--contact", "bob@prospect.test", "--contact-first-name", "Bob", "--contact-company", "Prospect Inc",
		"--source", "hubspot", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var created deals.CreateResponse
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &created))
	require.True(t, created.Created)
	smtp.WaitForMessages(t, 1, 30*time.Second)

	// Converges on a second create.
	r = runCLI(t, env, "deal", "create", "--external-id", "hs-42", "--owner", "ana@vendor.test", "--contact", "bob@prospect.test", "--source", "hubspot")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "already exists (converged)")

	var show result
	deadline := time.Now().Add(20 * time.Second)
	for {
		show = runCLI(t, env, "deal", "show", "hubspot:hs-42")
		if show.code == 0 && strings.Contains(show.stdout, "task intro-call#1") && strings.Contains(show.stdout, "sent after") {
			break
		}
		require.True(t, time.Now().Before(deadline), "deal show never showed the planned call:\n%s\n%s", show.stdout, show.stderr)
		time.Sleep(200 * time.Millisecond)
	}
	for _, want := range []string{"Stage     prospecting", "Deadline", "live answer from the deal workflow",
		"task intro-call#1", "2 business days after intro#1 sent", "stale", "time limit of 15 business days in prospecting",
		"(new) -> prospecting", "prospecting/intro#1", "sent after 1 attempt(s)"} {
		require.Contains(t, show.stdout, want)
	}

	r = runCLI(t, env, "deal", "stage", created.DealID, "qualification", "--reason", "call booked", "--event-id", "hs-evt-7", "--source", "hubspot")
	require.Equal(t, 0, r.code, r.stderr)
	r = runCLI(t, env, "deal", "stage", created.DealID, "qualification", "--event-id", "hs-evt-7", "--source", "hubspot")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "event already received")
	require.Eventually(t, func() bool {
		r = runCLI(t, env, "deal", "show", created.DealID, "--json")
		var det deals.Details
		return r.code == 0 && json.Unmarshal([]byte(r.stdout), &det) == nil && det.Live != nil && det.Live.Stage == "qualification" && len(det.Timeline.Tasks) == 1
	}, 20*time.Second, 200*time.Millisecond)
	require.Contains(t, r.stdout, `"qualification-followup#1"`)
	require.Contains(t, r.stdout, `"title": "Qualify Bob (budget, authority, need, timeline)"`)
}

func pgtestPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func TestCadenceVerbs(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	env := config.MapEnv{"DATABASE_URL": dbURL, "TEMPORAL_ADDRESS": "127.0.0.1:1"}

	r := runCLI(t, env, "cadence", "validate", "../cadences/b2b.yaml", "../cadences/short-cycle.yaml", "../cadences/demo.yaml")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "../cadences/b2b.yaml: ok (pipeline b2b")

	r = runCLI(t, env, "cadence", "validate", "../cadences/b2b.yaml", "../internal/cadencefile/testdata/invalid/unknown-stage.yaml")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, `unknown-stage.yaml:8:16: stage "prospecting" on_stale: move_to "nurture" names no stage`)
	require.Contains(t, r.stderr, "1 of 2 cadence file(s) invalid")

	r = runCLI(t, env, "cadence", "publish", "../internal/cadencefile/testdata/invalid/unknown-stage.yaml")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "nothing was published")

	r = runCLI(t, env, "cadence", "publish", "../cadences/b2b.yaml", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, `"version": 1`)
	r = runCLI(t, env, "cadence", "publish", "../cadences/b2b.yaml")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "is cadence version 1", "publishing the same file again names the same version")

	r = runCLI(t, env, "cadence", "preview", "--version", "1", "--start", "2026-05-22T16:30", "--days", "10")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "Tue 2026-05-26 09:00 CEST")
	require.Contains(t, r.stdout, "outside the email window")
	r = runCLI(t, env, "cadence", "preview", "../cadences/b2b.yaml", "--start", "soon")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, `--start "soon"`)

	r = runCLI(t, env, "cadence", "migrate", "--from", "1", "--to", "1")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "same version")
	r = runCLI(t, env, "cadence", "migrate", "--from", "0", "--to", "1", "--dry-run")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "migrate within one pipeline")
	r = runCLI(t, env, "cadence", "publish", "../cadences/short-cycle.yaml")
	require.Equal(t, 0, r.code, r.stderr)
}
