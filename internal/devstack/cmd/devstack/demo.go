package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/followup-engine/followup/internal/cadencefile"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/demohistory"
	"github.com/followup-engine/followup/internal/engine"
	"github.com/followup-engine/followup/internal/money"
	"github.com/followup-engine/followup/internal/pages"
	"github.com/followup-engine/followup/internal/store"
)

// runDemo publishes the demo pipeline (seconds and minutes), gives it a history (closed deals
// of the last weeks, for the ops dashboard) and creates a handful of live deals on it in the
// running stack.
func runDemo(ctx context.Context, stdout io.Writer) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	env, err := readEnvFile(filepath.Join(localDir(root), "env.sh"))
	if err != nil {
		return fmt.Errorf("no running stack found (start one with make run): %w", err)
	}
	st, err := engine.OpenStore(ctx, env["DATABASE_URL"], store.PoolOptions{Other: 2})
	if err != nil {
		return err
	}
	defer st.Pool().Close()
	// The demo pipeline lives in a cadence file like any other.
	demo, err := cadencefile.Load(filepath.Join(root, "cadences", "demo.yaml"))
	if err != nil {
		return err
	}
	cv, err := st.PublishNext(ctx, demo)
	if err != nil {
		return err
	}
	c, err := client.Dial(client.Options{HostPort: env["TEMPORAL_ADDRESS"], Namespace: env["TEMPORAL_NAMESPACE"]})
	if err != nil {
		return fmt.Errorf("Temporal at %s: %w (is make run up?)", env["TEMPORAL_ADDRESS"], err)
	}
	defer c.Close()
	history, err := demohistory.Seed(ctx, st, demohistory.Options{Cadence: cv, Source: demoHistorySource, Deals: demoHistoryDeals,
		Owners: []store.OwnerInput{{Email: demoOwner, Name: "Ana Rep", Company: "Vendor"}, {Email: demoColleague, Name: "Ben Rep", Company: "Vendor"}},
		Now:    time.Now(), Weeks: 8, Seed: 14, Quiet: 26 * time.Hour})
	if err != nil {
		return err
	}
	// Monthly targets, so that the dashboard shows the open pipeline's coverage.
	thisMonth := time.Now().UTC()
	for i, amount := range []money.Amount{"60000", "80000", "80000"} {
		month := time.Date(thisMonth.Year(), thisMonth.Month()+time.Month(i), 1, 0, 0, 0, 0, time.UTC)
		if _, err := st.SetTarget(store.WithActor(ctx, "demo"), cv.Pipeline.ID, month, "EUR", amount); err != nil {
			return err
		}
	}
	svc := &deals.Service{Store: st, Temporal: c}
	held, err := demoOpenPipeline(ctx, svc, cv.Version)
	if err != nil {
		return err
	}
	now := time.Now()
	run := now.Format("150405")
	people := []struct {
		first, last, company string
		amount               money.Amount
		currency             string
		closeInDays          int
	}{
		{"Bob", "Buyer", "Prospect Inc", "12000.00", "EUR", 20}, {"Chloé", "Dubois", "Atelier Lumière", "8500.50", "EUR", 45},
		{"Dara", "Okafor", "Lagos Logistics", "23000.00", "USD", 75}, {"Emil", "Berg", "Nordlicht GmbH", "15750.00", "EUR", 100},
	}
	var created []deals.CreateResponse
	for i, p := range people {
		v := cv.Version
		resp, err := svc.Create(ctx, deals.CreateRequest{
			Source: "demo", ExternalID: fmt.Sprintf("%s-%d", run, i+1), Title: "Pilot for " + p.company, CadenceVersion: &v,
			Owner:   store.OwnerInput{Email: demoOwner, Name: "Ana Rep", Company: "Vendor"},
			Contact: store.ContactInput{Email: fmt.Sprintf("%s.%s.%s@prospect.example", strings.ToLower(p.last), run, "demo"), FirstName: p.first, LastName: p.last, Company: p.company},
			Amount:  p.amount, Currency: p.currency, ExpectedCloseOn: now.AddDate(0, 0, p.closeInDays).Format(time.DateOnly),
		})
		if err != nil {
			return err
		}
		created = append(created, resp)
	}
	// One deal moves on at once; the others wait for their prospecting time limit.
	if _, err := svc.ChangeStage(ctx, deals.StageRequest{Deal: created[1].DealID, Stage: "qualification", Source: "demo",
		EventID: "demo-" + run + "-qualify", Reason: "discovery call booked"}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "demo: cadence version %d (pipeline %q) with %d deals:\n", cv.Version, cv.Pipeline.ID, len(created))
	for _, d := range created {
		fmt.Fprintf(stdout, "  .local/bin/starter deal show %s\n", d.DealID)
	}
	fmt.Fprintf(stdout, "and a history of %d closed deals over the last 8 weeks (%d added now), and %d open deals paused in their stages (the open pipeline)\n",
		history.Created+history.Existing, history.Created, held)
	pw, err := demoLogin(ctx, st, demoOwner, "Ana Rep", store.RoleRep)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nThe pages: open %s/ and log in as %s with the password %s\n(a new one each make demo; set your own with: printf '%%s\\n' 'a long passphrase' | .local/bin/starter user password %s)\n",
		env["PUBLIC_BASE_URL"], demoOwner, pw, demoOwner)
	opsPW, err := demoLogin(ctx, st, demoOps, "Olga Ops", store.RoleOps)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "The pipeline dashboard: open %s/pipelines/%s and log in as ops user %s with the password %s\n",
		env["PUBLIC_BASE_URL"], cv.Pipeline.ID, demoOps, opsPW)
	fmt.Fprint(stdout, `
What happens next:
  now       intro emails arrive on the mail page
  +10 s     a call task for each deal in prospecting
  +25 s     a follow-up email
  +30 s     a warning task: the deal is going stale (75% of the 40-second limit)
  +40 s     prospecting times out: the deals move to nurturing with their reason and a task for Ana
  +1 min    nurture emails; deal 2 (in qualification) goes stale after 2 minutes
  any time  the pipeline dashboard (log in as ops, link above): the funnel, time in stage,
            velocity and forecast of the history and the open pipeline
  then      Ana's morning digest, at once (else in her first business hour):
              . .local/env.sh && .local/bin/starter user digest `+demoOwner+` now
            it arrives on the mail page with her tasks, the replies and the deals that moved
In the Temporal UI, search: DealStage = "nurturing"
`)
	return nil
}

// demoOpenPipeline creates (once: keyed by external id) a few deals with amounts through the
// front door, moves each to a stage and pauses it there, so that the dashboard's open
// pipeline, forecast and velocity outlast the demo pipeline's minutes-long time limits. They
// run as any deal does (a paused deal's agenda waits); it returns how many there are.
func demoOpenPipeline(ctx context.Context, svc *deals.Service, version int64) (int, error) {
	stages := []string{"qualification", "meeting", "proposal", "negotiation", "meeting", "proposal", "qualification", "negotiation"}
	currencies := []string{"EUR", "EUR", "USD"}
	today := time.Now()
	for i, stage := range stages {
		v := version
		ext := fmt.Sprintf("open-%02d", i+1)
		if _, err := svc.Store.DealByExternalID(ctx, demoHistorySource, ext); err == nil {
			continue // made by an earlier make demo: left as it is now (it may have moved since)
		} else if !errors.Is(err, store.ErrNotFound) {
			return 0, err
		}
		resp, err := svc.Create(ctx, deals.CreateRequest{
			Source: demoHistorySource, ExternalID: ext, Title: fmt.Sprintf("Expansion for Lead %02d", i+1), CadenceVersion: &v,
			Owner:   store.OwnerInput{Email: []string{demoOwner, demoColleague}[i%2], Name: []string{"Ana Rep", "Ben Rep"}[i%2], Company: "Vendor"},
			Contact: store.ContactInput{Email: fmt.Sprintf("lead%02d@pipeline.example", i+1), FirstName: "Lead", LastName: fmt.Sprintf("%02d", i+1)},
			Amount:  money.Amount(fmt.Sprintf("%d.00", 6000+2500*i)), Currency: currencies[i%len(currencies)],
			ExpectedCloseOn: today.AddDate(0, 0, 10+12*i).Format(time.DateOnly),
		})
		if err != nil {
			return 0, err
		}
		if !resp.Created {
			continue
		}
		if _, err := svc.PauseDeal(ctx, deals.PauseRequest{Deal: resp.DealID, Source: demoHistorySource, EventID: ext + "-pause",
			Reason: "held open for the pipeline dashboard (make demo)"}); err != nil {
			return 0, err
		}
		if _, err := svc.ChangeStage(ctx, deals.StageRequest{Deal: resp.DealID, Stage: stage, Source: demoHistorySource,
			EventID: ext + "-stage", Reason: "where the demo's open pipeline stands"}); err != nil {
			return 0, err
		}
	}
	return len(stages), nil
}

// The demo's history: its deals' source (their external ids are history-0000 on), how many,
// Ana's colleague who holds half of them, and the ops user who reads the dashboard.
const (
	demoHistorySource = "demo-history"
	demoHistoryDeals  = 60
	demoColleague     = "ben@vendor.example"
	demoOps           = "ops@vendor.example"
)

// demoLogin makes a demo user (once) with a new random password, so that the pages can be
// tried at once; it returns the password.
func demoLogin(ctx context.Context, st *store.Store, email, name string, role store.Role) (string, error) {
	if _, err := st.AddUser(ctx, email, name, role); err != nil && !errors.Is(err, store.ErrUserExists) {
		return "", err
	}
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	pw := base64.RawURLEncoding.EncodeToString(b)
	hash, err := pages.HashPassword(pw)
	if err != nil {
		return "", err
	}
	if _, err := st.SetPassword(ctx, email, hash); err != nil {
		return "", err
	}
	return pw, nil
}

func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export ")
		if !ok {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			v, err := shellUnquote(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", path, k, err)
			}
			env[k] = v
		}
	}
	if env["DATABASE_URL"] == "" || env["TEMPORAL_ADDRESS"] == "" {
		return nil, errors.New(path + " lacks DATABASE_URL or TEMPORAL_ADDRESS")
	}
	return env, sc.Err()
}

// shellUnquote reads a value as writeEnvFile quotes it (in single quotes, a ' inside as
// close, \', reopen), or as a hand-edited file might hold it (bare, or in double quotes
// without escapes).
func shellUnquote(v string) (string, error) {
	var b strings.Builder
	for v != "" {
		switch {
		case v[0] == '\'' || v[0] == '"':
			end := strings.IndexByte(v[1:], v[0])
			if end < 0 {
				return "", errors.New("unterminated quote")
			}
			b.WriteString(v[1 : 1+end])
			v = v[2+end:]
		case v[0] == '\\' && len(v) > 1:
			b.WriteByte(v[1])
			v = v[2:]
		default:
			end := strings.IndexAny(v, `'"\`)
			if end < 0 {
				end = len(v)
			}
			end = max(end, 1) // a lone backslash at the end
			b.WriteString(v[:end])
			v = v[end:]
		}
	}
	return b.String(), nil
}
