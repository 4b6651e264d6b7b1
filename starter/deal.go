package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/engine"
	"github.com/followup-engine/followup/internal/store"
)

// connect opens PostgreSQL (migrated) and, when needed, a Temporal client.
func connect(ctx context.Context, env config.Env, withTemporal bool) (*deals.Service, func(), error) {
	cfg, err := config.LoadStarter(env)
	if err != nil {
		return nil, nil, err
	}
	st, err := engine.OpenStore(ctx, cfg.DatabaseURL, store.PoolOptions{Other: 4})
	if err != nil {
		return nil, nil, err
	}
	pool := st.Pool()
	svc := &deals.Service{Store: st}
	closeAll := pool.Close
	if withTemporal {
		opts := cfg.Temporal
		opts.Logger = tlog.NewStructuredLogger(quietLogger())
		// Lazy: bad input is refused before anything dials Temporal.
		c, err := client.NewLazyClient(opts)
		if err != nil {
			pool.Close()
			return nil, nil, fmt.Errorf("Temporal client for %s: %w", engine.HostPort(opts), err)
		}
		svc.Temporal = c
		closeAll = func() { c.Close(); pool.Close() }
	}
	return svc, closeAll, nil
}

func runMigrate(ctx context.Context, args []string, env config.Env, stdout io.Writer) error {
	if len(args) > 0 {
		return usageError("usage: starter migrate")
	}
	_, closeAll, err := connect(ctx, env, false)
	if err != nil {
		return err
	}
	closeAll()
	fmt.Fprintln(stdout, "database migrated; built-in cadence version 0 published")
	return nil
}

func runDeal(ctx context.Context, verb string, args []string, env config.Env, stdout, stderr io.Writer) error {
	switch verb {
	case "create":
		return dealCreate(ctx, args, env, stdout, stderr)
	case "stage":
		return dealStage(ctx, args, env, stdout, stderr)
	case "engage":
		return dealEngage(ctx, args, env, stdout, stderr)
	case "reopen":
		return dealReopen(ctx, args, env, stdout, stderr)
	case "show":
		return dealShow(ctx, args, env, stdout, stderr)
	case "pause":
		return dealPause(ctx, args, env, stdout, stderr)
	case "resume":
		return dealResume(ctx, args, env, stdout, stderr)
	default:
		return usageError(fmt.Sprintf("unknown deal command %q\n\n%s", verb, usage))
	}
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse parses flags that may follow positional arguments ("deal stage D S --reason x").
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, usageError("")
			}
			return nil, usageError(err.Error())
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

func dealCreate(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("deal create", stderr)
	var r deals.CreateRequest
	var version int64 = -1
	var asJSON bool
	fs.StringVar(&r.Source, "source", "cli", "who tells us about the deal (api, cli, hubspot, …)")
	fs.StringVar(&r.ExternalID, "external-id", "", "the deal's id at the source (required)")
	fs.StringVar(&r.Title, "title", "", "deal title")
	fs.StringVar(&r.Owner.Email, "owner", "", "owner (rep) email (required)")
	fs.StringVar(&r.Owner.Name, "owner-name", "", "owner name")
	fs.StringVar(&r.Owner.Company, "owner-company", "", "owner's company, used in emails")
	fs.StringVar(&r.Owner.Zone, "owner-zone", "", "owner's IANA time zone (default: the pipeline's)")
	fs.StringVar(&r.Owner.Country, "owner-country", "", "owner's two-letter country code")
	fs.StringVar(&r.Owner.SenderFrom, "owner-from", "", "From address of the owner's emails (default: MAIL_FROM, else the owner email)")
	fs.StringVar(&r.Owner.SenderReplyTo, "owner-reply-to", "", "Reply-To of the owner's emails (default: the owner email)")
	fs.StringVar(&r.Contact.Email, "contact", "", "prospect email (required)")
	fs.StringVar(&r.Contact.FirstName, "contact-first-name", "", "prospect first name")
	fs.StringVar(&r.Contact.LastName, "contact-last-name", "", "prospect last name")
	fs.StringVar(&r.Contact.Company, "contact-company", "", "prospect company")
	fs.StringVar(&r.Contact.Zone, "contact-zone", "", "prospect's IANA time zone (default: the pipeline's)")
	fs.StringVar(&r.Contact.Country, "contact-country", "", "prospect's two-letter country code")
	fs.StringVar(&r.Pipeline, "pipeline", "", "pipeline id (default: the built-in b2b-default)")
	fs.Int64Var(&version, "cadence-version", -1, "cadence version to pin (default: the pipeline's latest published)")
	fs.StringVar(&r.EventID, "event-id", "", "the source's id of this create (default create:<external-id>)")
	fs.BoolVar(&r.Import, "import", false, "an existing deal moved over from another system: its stage's clock starts now and its first email counts as sent (it is not sent)")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError("deal create takes flags only; unexpected " + strings.Join(rest, " "))
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"--external-id", r.ExternalID}, {"--owner", r.Owner.Email}, {"--contact", r.Contact.Email}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return usageError("deal create: missing " + strings.Join(missing, ", "))
	}
	if version >= 0 {
		r.CadenceVersion = &version
	}
	svc, closeAll, err := connect(ctx, env, true)
	if err != nil {
		return err
	}
	defer closeAll()
	resp, err := svc.Create(ctx, r)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(stdout, resp)
	}
	verb := "created"
	if r.Import {
		verb = "imported (the stage's first email counts as sent)"
	}
	if !resp.Created {
		verb = "already exists (converged)"
	}
	fmt.Fprintf(stdout, "deal %s %s\n  workflow %s run %s\n  stage    %s\nnext: starter deal show %s\n",
		resp.DealID, verb, resp.WorkflowID, resp.RunID, resp.Stage, resp.DealID)
	return nil
}

func dealStage(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("deal stage", stderr)
	var r deals.StageRequest
	var at string
	var asJSON bool
	fs.StringVar(&r.Source, "source", "cli", "who reports the change")
	fs.StringVar(&r.EventID, "event-id", "", "the source's id of this change; repeating it is a no-op (default: generated)")
	fs.StringVar(&at, "at", "", "when the change happened at the source, RFC 3339 (default now)")
	fs.StringVar(&r.Reason, "reason", "", "why")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 2 {
		return usageError("usage: starter deal stage DEAL STAGE [--reason TEXT] [--event-id ID] [--at TIME]")
	}
	r.Deal, r.Stage = rest[0], rest[1]
	if at != "" {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return usageError(fmt.Sprintf("--at %q: want RFC 3339, like 2026-11-23T10:00:00Z", at))
		}
		r.SourceTime = t
	}
	svc, closeAll, err := connect(ctx, env, true)
	if err != nil {
		return err
	}
	defer closeAll()
	resp, err := svc.ChangeStage(ctx, r)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(stdout, resp)
	}
	if resp.Duplicate {
		fmt.Fprintf(stdout, "event already received (state %s); nothing sent again\n", resp.State)
		return nil
	}
	fmt.Fprintf(stdout, "stage change to %s sent to deal %s (event %d); the deal applies it unless an applied change is newer\n",
		r.Stage, resp.DealID, resp.EventID)
	return nil
}

func dealReopen(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("deal reopen", stderr)
	var r deals.ReopenRequest
	var asJSON bool
	fs.StringVar(&r.Stage, "stage", "", "stage to reopen into (default: the pipeline's first)")
	fs.StringVar(&r.Source, "source", "cli", "who reopens it")
	fs.StringVar(&r.EventID, "event-id", "", "id of this reopen (default: generated)")
	fs.StringVar(&r.Reason, "reason", "", "why")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError("usage: starter deal reopen DEAL [--stage STAGE] [--reason TEXT]")
	}
	r.Deal = rest[0]
	svc, closeAll, err := connect(ctx, env, true)
	if err != nil {
		return err
	}
	defer closeAll()
	resp, err := svc.Reopen(ctx, r)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(stdout, resp)
	}
	fmt.Fprintf(stdout, "deal %s reopened into %s (visit %d, run %s)\n", resp.DealID, resp.Stage, resp.Visit, resp.RunID)
	return nil
}

func dealShow(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("deal show", stderr)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError("usage: starter deal show DEAL [--json]")
	}
	svc, closeAll, err := connect(ctx, env, true)
	if err != nil {
		return err
	}
	defer closeAll()
	det, err := svc.Show(ctx, rest[0], 3*time.Second)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(stdout, det)
	}
	printDetails(stdout, det)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

const showTime = "2006-01-02 15:04:05 MST"

func ts(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(showTime)
}

func printDetails(w io.Writer, det deals.Details) {
	d := det.Timeline.Deal
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	defer tw.Flush()
	state := d.State
	fmt.Fprintf(tw, "Deal\t%s\t%s\n", d.ID, d.Title)
	fmt.Fprintf(tw, "State\t%s\tcadence version %d\n", state, d.CadenceVersion)
	stage, entered, deadline := d.Stage, d.StageEnteredAt, d.Deadline
	if det.Live != nil {
		stage, entered = det.Live.Stage, &det.Live.EnteredAt
		deadline = &det.Live.Deadline
	}
	fmt.Fprintf(tw, "Stage\t%s\tentered %s (visit %d)\n", stage, ts(entered), d.Visit)
	fmt.Fprintf(tw, "Deadline\t%s\t\n", ts(deadline))
	if det.Live != nil && det.Live.Paused {
		fmt.Fprintf(tw, "Paused\t%s\t\n", pausesLine(det.Live.Pauses))
	}
	switch {
	case det.Live != nil:
		fmt.Fprintf(tw, "Source\tlive answer from the deal workflow\t\n")
	case det.LiveErr != "":
		fmt.Fprintf(tw, "Source\tPostgreSQL projection (%s)\t\n", det.LiveErr)
	}
	fmt.Fprintln(tw, "\nNext actions\t\t")
	next := det.Timeline.Planned
	if det.Live != nil {
		next = nil
		for _, it := range det.Live.Next {
			at := it.At
			next = append(next, store.PlannedAction{ItemID: it.ID, Kind: string(it.Kind), At: at, Reason: it.Reason})
		}
	}
	if len(next) == 0 {
		fmt.Fprintln(tw, "  (none)\t\t")
	}
	for _, a := range next {
		at := a.At
		fmt.Fprintf(tw, "  %s\t%s %s\t%s\n", ts(&at), a.Kind, a.ItemID, a.Reason)
	}
	fmt.Fprintln(tw, "\nTasks\t\t")
	if len(det.Timeline.Tasks) == 0 {
		fmt.Fprintln(tw, "  (none)\t\t")
	}
	for _, t := range det.Timeline.Tasks {
		due := t.DueAt
		fmt.Fprintf(tw, "  #%d [%s] %s\tdue %s\t%s %s\n", t.ID, t.State, t.Title, ts(&due), t.Kind, t.CloseReason)
	}
	fmt.Fprintln(tw, "\nEmails\t\t")
	if len(det.Timeline.Emails) == 0 {
		fmt.Fprintln(tw, "  (none)\t\t")
	}
	for _, e := range det.Timeline.Emails {
		amb := ""
		if e.Ambiguous {
			amb = " (an attempt's outcome was unknown)"
		}
		fmt.Fprintf(tw, "  %s/%s#%d\t%s after %d attempt(s)%s\t<%s> %s\n", stageOfVisit(det, e.Key.Visit), e.Key.StepID, e.Key.Occurrence,
			e.State, e.Attempts, amb, e.MessageID, e.Detail)
	}
	fmt.Fprintln(tw, "\nHistory\t\t")
	for _, t := range det.Timeline.Transitions {
		from := t.From
		if from == "" {
			from = "(new)"
		}
		at := t.At
		fmt.Fprintf(tw, "  %s\t%s -> %s\t%s %s\n", ts(&at), from, t.To, t.Source, t.Reason)
	}
	fmt.Fprintln(tw, "\nEvents\t\t")
	for _, e := range det.Timeline.Events {
		st := e.SourceTime
		fmt.Fprintf(tw, "  #%d %s\t%s %s/%s\t%s %s\n", e.ID, ts(&st), e.Kind, e.Source, e.SourceEventID, e.State, e.Reason)
	}
}

func stageOfVisit(det deals.Details, visit int) string {
	for _, t := range det.Timeline.Transitions {
		if t.Visit == visit {
			return t.To
		}
	}
	return fmt.Sprintf("visit %d", visit)
}
