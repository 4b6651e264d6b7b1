package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/cadencefile"
	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/preview"
)

// cadenceValidate checks cadence files without touching any database; every problem of every
// file is printed as file:line:col with an excerpt, and the exit status is 2 if any.
func cadenceValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("cadence validate", stderr)
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usageError("usage: starter cadence validate FILE...")
	}
	var failed []string
	for _, f := range files {
		p, err := cadencefile.Load(f)
		if err != nil {
			fmt.Fprintf(stderr, "%s\n\n", err)
			failed = append(failed, f)
			continue
		}
		hash, _ := p.Hash()
		model, _ := p.CanonicalJSON()
		fmt.Fprintf(stdout, "%s: ok (pipeline %s, %d stages, %d templates, %s of the %s a version may take, hash %.12s)\n", f, p.ID,
			len(p.Stages), len(p.Templates), cadence.FormatBytes(len(model)), cadence.FormatBytes(cadence.MaxVersionBytes), hash)
	}
	if len(failed) > 0 {
		return usageError(fmt.Sprintf("%d of %d cadence file(s) invalid: %s", len(failed), len(files), strings.Join(failed, ", ")))
	}
	return nil
}

// cadencePublish stores a cadence file as a new immutable version (or names the version that
// already holds the same model and templates).
func cadencePublish(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("cadence publish", stderr)
	out := jsonOrText(fs, stdout)
	files, err := parseExactly(fs, args, 1, "usage: starter cadence publish FILE")
	if err != nil {
		return err
	}
	p, err := cadencefile.Load(files[0])
	if err != nil {
		fmt.Fprintf(stderr, "%s\n\n", err)
		return usageError(files[0] + " is invalid; nothing was published")
	}
	return callService(ctx, env, false, out,
		func(svc *deals.Service) (publishedVersion, error) {
			cv, err := svc.Store.PublishNext(ctx, p)
			return publishedVersion{Hash: cv.Hash, Pipeline: cv.Pipeline.ID, Version: cv.Version}, err
		},
		func(w io.Writer, v publishedVersion) {
			fmt.Fprintf(w, "pipeline %s is cadence version %d (hash %.12s)\nnew deals on pipeline %s now pin it; move in-flight deals with: starter cadence migrate --from OLD --to %d --dry-run\n",
				v.Pipeline, v.Version, v.Hash, v.Pipeline, v.Version)
		})
}

// publishedVersion is what cadence publish answers: the version, not the whole model.
type publishedVersion struct {
	Hash     string `json:"hash"`
	Pipeline string `json:"pipeline"`
	Version  int64  `json:"version"`
}

// cadencePreview prints the exact timeline a sample deal would get, in local and UTC times,
// with the reason for each instant and every shift (weekend, holiday, window), and the
// subject of each email; --emails adds each email as the prospect would receive it.
func cadencePreview(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("cadence preview", stderr)
	var (
		r       preview.Request
		version int64 = -1
		start   string
	)
	fs.Int64Var(&version, "version", -1, "preview a published cadence version instead of a file")
	fs.StringVar(&start, "start", "", "when the deal starts: RFC 3339, or YYYY-MM-DDTHH:MM in the owner's zone (default now)")
	fs.StringVar(&r.Owner.Zone, "owner-zone", "", "owner's IANA zone (default: the cadence's)")
	fs.StringVar(&r.Owner.Country, "owner-country", "", "owner's holiday country (default: the cadence's)")
	fs.StringVar(&r.Contact.Zone, "contact-zone", "", "contact's IANA zone (default: the cadence's)")
	fs.StringVar(&r.Contact.Country, "contact-country", "", "contact's holiday country (default: the cadence's)")
	fs.IntVar(&r.Days, "days", 90, "how many days to show")
	fs.BoolVar(&r.Emails, "emails", false, "also print each email as the prospect would get it: sender, subject, thread, text")
	out := jsonOrText(fs, stdout)
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if (len(rest) == 1) == (version >= 0) {
		return usageError("usage: starter cadence preview (FILE | --version N) [--start TIME] [--contact-zone Z] [--contact-country C] [--owner-zone Z] [--owner-country C] [--days N] [--emails]")
	}
	var p cadence.Pipeline
	if version >= 0 {
		svc, closeAll, err := connect(ctx, env, false)
		if err != nil {
			return err
		}
		defer closeAll()
		cv, err := svc.Store.Cadence(ctx, version)
		if err != nil {
			return err
		}
		p = cv.Pipeline
	} else if p, err = cadencefile.Load(rest[0]); err != nil {
		fmt.Fprintf(stderr, "%s\n\n", err)
		return usageError(rest[0] + " is invalid")
	}
	if r.Start, err = parseStart(start, p, r.Owner.Zone); err != nil {
		return usageError(err.Error())
	}
	touches, err := preview.Timeline(p, r)
	if err != nil {
		return usageError("preview: " + err.Error())
	}
	if out.json {
		return writeJSON(stdout, touches)
	}
	fmt.Fprintf(stdout, "pipeline %s from %s, nobody answering, %d days\n\n", p.ID, r.Start.Format(time.RFC3339), r.Days)
	if err := preview.WriteTable(stdout, touches); err != nil || !r.Emails {
		return err
	}
	fmt.Fprintln(stdout)
	return preview.WriteEmails(stdout, touches)
}

// parseStart reads RFC 3339, or a local date-time in the owner's (else the cadence's) zone.
func parseStart(s string, p cadence.Pipeline, ownerZone string) (time.Time, error) {
	if s == "" {
		return time.Now().UTC().Truncate(time.Minute), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	zone := ownerZone
	if zone == "" && p.Calendar != nil {
		zone = p.Calendar.Zone
	}
	loc := time.UTC
	if zone != "" {
		l, err := time.LoadLocation(zone)
		if err != nil {
			return time.Time{}, fmt.Errorf("zone %q: %v", zone, err)
		}
		loc = l
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--start %q: want RFC 3339 or YYYY-MM-DDTHH:MM", s)
}

func cadenceMigrate(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("cadence migrate", stderr)
	var r deals.MigrateRequest
	fs.Int64Var(&r.From, "from", -1, "cadence version the deals run now (required)")
	fs.Int64Var(&r.To, "to", -1, "cadence version to move them to (required)")
	fs.StringVar(&r.Deal, "deal", "", "migrate one deal only (id or source:external-id)")
	fs.BoolVar(&r.DryRun, "dry-run", false, "list what would change per deal; change nothing")
	out := jsonOrText(fs, stdout)
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 || r.From < 0 || r.To < 0 {
		return usageError("usage: starter cadence migrate --from VERSION --to VERSION [--deal DEAL] [--dry-run]")
	}
	// A dry run only reads: it needs no Temporal.
	return callService(ctx, env, !r.DryRun, out,
		func(svc *deals.Service) ([]deals.DealMigration, error) { return svc.Migrate(ctx, r) },
		func(w io.Writer, result []deals.DealMigration) {
			if len(result) == 0 {
				fmt.Fprintf(w, "no open deal runs cadence version %d\n", r.From)
				return
			}
			for _, m := range result {
				state := m.State
				if state == "received" {
					state = "recorded; delivery pending (Temporal does not answer now; the sweeper delivers it once it does)"
				}
				fmt.Fprintf(w, "deal %s (%s): %s\n", m.DealID, m.Stage, state)
				fmt.Fprintf(w, "  %s\n", strings.Join(m.Changes, "\n  "))
			}
			if r.DryRun {
				fmt.Fprintf(w, "dry run: nothing changed; run again without --dry-run to migrate %d deal(s)\n", len(result))
			} else {
				fmt.Fprintln(w, "each deal applies the new version at its next step boundary; steps already run are not repeated")
			}
		})
}
