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
	"github.com/followup-engine/followup/internal/engine"
	"github.com/followup-engine/followup/internal/pages"
	"github.com/followup-engine/followup/internal/store"
)

// runDemo publishes the demo pipeline (seconds and minutes) and creates a handful of deals
// on it in the running stack.
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
	svc := &deals.Service{Store: st, Temporal: c}
	run := time.Now().Format("150405")
	people := []struct{ first, last, company string }{
		{"Bob", "Buyer", "Prospect Inc"}, {"Chloé", "Dubois", "Atelier Lumière"}, {"Dara", "Okafor", "Lagos Logistics"}, {"Emil", "Berg", "Nordlicht GmbH"},
	}
	var created []deals.CreateResponse
	for i, p := range people {
		v := cv.Version
		resp, err := svc.Create(ctx, deals.CreateRequest{
			Source: "demo", ExternalID: fmt.Sprintf("%s-%d", run, i+1), Title: "Pilot for " + p.company, CadenceVersion: &v,
			Owner:   store.OwnerInput{Email: demoOwner, Name: "Ana Rep", Company: "Vendor"},
			Contact: store.ContactInput{Email: fmt.Sprintf("%s.%s.%s@prospect.example", strings.ToLower(p.last), run, "demo"), FirstName: p.first, LastName: p.last, Company: p.company},
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
	pw, err := demoLogin(ctx, st)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nThe pages: open %s/ and log in as %s with the password %s\n(a new one each make demo; set your own with: printf '%%s\\n' 'a long passphrase' | .local/bin/starter user password %s)\n",
		env["PUBLIC_BASE_URL"], demoOwner, pw, demoOwner)
	fmt.Fprint(stdout, `
What happens next:
  now       intro emails arrive on the mail page
  +10 s     a call task for each deal in prospecting
  +25 s     a follow-up email
  +30 s     a warning task: the deal is going stale (75% of the 40-second limit)
  +40 s     prospecting times out: the deals move to nurturing with their reason and a task for Ana
  +1 min    nurture emails; deal 2 (in qualification) goes stale after 2 minutes
  then      Ana's morning digest, at once (else in her first business hour):
              . .local/env.sh && .local/bin/starter user digest `+demoOwner+` now
            it arrives on the mail page with her tasks, the replies and the deals that moved
In the Temporal UI, search: DealStage = "nurturing"
`)
	return nil
}

// demoLogin makes the demo's owner a rep user (once) with a new random password, so that
// the pages can be tried at once; it returns the password.
func demoLogin(ctx context.Context, st *store.Store) (string, error) {
	if _, err := st.AddUser(ctx, demoOwner, "Ana Rep", store.RoleRep); err != nil && !errors.Is(err, store.ErrUserExists) {
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
	if _, err := st.SetPassword(ctx, demoOwner, hash); err != nil {
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
