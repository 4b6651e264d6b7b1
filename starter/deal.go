package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
)

func runMigrate(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	if _, err := parseExactly(newFlags("migrate", stderr), args, 0, "usage: starter migrate"); err != nil {
		return err
	}
	_, closeAll, err := connect(ctx, env, false)
	if err != nil {
		return err
	}
	closeAll()
	fmt.Fprintln(stdout, "database migrated; built-in cadence version 0 published")
	return nil
}

func dealCreate(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("deal create", stderr)
	var r deals.CreateRequest
	var version int64 = -1
	eventFlags(fs, &r.Source, &r.EventID, "who tells us about the deal (api, cli, hubspot, …)",
		"the source's id of this create (default create:<external-id>)")
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
	valueFlags(fs, (*string)(&r.Amount), &r.Currency, &r.ExpectedCloseOn)
	fs.BoolVar(&r.Import, "import", false, "an existing deal moved over from another system: its stage's clock starts now and its first email counts as sent (it is not sent)")
	out := jsonOrText(fs, stdout)
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
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
	return callService(ctx, env, true, out,
		func(svc *deals.Service) (deals.CreateResponse, error) { return svc.Create(ctx, r) },
		func(w io.Writer, resp deals.CreateResponse) {
			verb := "created"
			if r.Import {
				verb = "imported (the stage's first email counts as sent)"
			}
			if !resp.Created {
				verb = "already exists (converged)"
			}
			fmt.Fprintf(w, "deal %s %s\n  workflow %s run %s\n  stage    %s\nnext: starter deal show %s\n",
				resp.DealID, verb, resp.WorkflowID, resp.RunID, resp.Stage, resp.DealID)
		})
}

func dealStage(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("deal stage", stderr)
	var r deals.StageRequest
	var at string
	eventFlags(fs, &r.Source, &r.EventID, "who reports the change",
		"the source's id of this change; repeating it is a no-op (default: generated)")
	fs.StringVar(&at, "at", "", "when the change happened at the source, RFC 3339 (default now)")
	reasonFlag(fs, &r.Reason, "why")
	out := jsonOrText(fs, stdout)
	rest, err := parseExactly(fs, args, 2, "usage: starter deal stage DEAL STAGE [--reason TEXT] [--event-id ID] [--at TIME]")
	if err != nil {
		return err
	}
	r.Deal, r.Stage = rest[0], rest[1]
	if r.SourceTime, err = parseSourceTime(at); err != nil {
		return err
	}
	return callService(ctx, env, true, out,
		func(svc *deals.Service) (deals.StageResponse, error) { return svc.ChangeStage(ctx, r) },
		func(w io.Writer, resp deals.StageResponse) {
			printEvent(w, resp.Duplicate, resp.State, fmt.Sprintf(
				"stage change to %s sent to deal %s (event %d); the deal applies it unless an applied change is newer",
				r.Stage, resp.DealID, resp.EventID))
		})
}

func dealReopen(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("deal reopen", stderr)
	var r deals.ReopenRequest
	fs.StringVar(&r.Stage, "stage", "", "stage to reopen into (default: the pipeline's first)")
	eventFlags(fs, &r.Source, &r.EventID, "who reopens it", "id of this reopen (default: generated)")
	reasonFlag(fs, &r.Reason, "why")
	out := jsonOrText(fs, stdout)
	rest, err := parseExactly(fs, args, 1, "usage: starter deal reopen DEAL [--stage STAGE] [--reason TEXT]")
	if err != nil {
		return err
	}
	r.Deal = rest[0]
	return callService(ctx, env, true, out,
		func(svc *deals.Service) (deals.ReopenResponse, error) { return svc.Reopen(ctx, r) },
		func(w io.Writer, resp deals.ReopenResponse) {
			fmt.Fprintf(w, "deal %s reopened into %s (visit %d, run %s)\n", resp.DealID, resp.Stage, resp.Visit, resp.RunID)
		})
}

func dealShow(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("deal show", stderr)
	out := jsonOrText(fs, stdout)
	rest, err := parseExactly(fs, args, 1, "usage: starter deal show DEAL [--json]")
	if err != nil {
		return err
	}
	return callService(ctx, env, true, out,
		func(svc *deals.Service) (deals.Details, error) { return svc.Show(ctx, rest[0], 3*time.Second) },
		printDetails)
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
	if o := det.Timeline.Owner; o.Email != "" {
		fmt.Fprintf(tw, "Owner\t%s\t\n", ownerLine(o))
	}
	if !d.DealValue.IsZero() {
		fmt.Fprintf(tw, "Value\t%s\t\n", valueLine(d.Amount, d.Currency, d.ExpectedCloseOn))
	}
	stage, entered, deadline := d.Stage, d.StageEnteredAt, d.Deadline
	if det.Live != nil {
		stage, entered = det.Live.Stage, &det.Live.EnteredAt
		deadline = &det.Live.Deadline
	}
	switch {
	case d.StartError != "" && (entered == nil || entered.IsZero()):
		// The deal's workflow failed before the deal entered its first stage (a failed
		// workflow still answers the query, with no stage).
		fmt.Fprintf(tw, "Stage\t(not started: %s)\t\n", d.StartError)
	case d.StartError != "":
		fmt.Fprintf(tw, "Stage\t%s\tentered %s (visit %d)\n", stage, ts(entered), d.Visit)
		fmt.Fprintf(tw, "Run\tnot started: %s\t\n", d.StartError) // a later run, a reopen
	default:
		fmt.Fprintf(tw, "Stage\t%s\tentered %s (visit %d)\n", stage, ts(entered), d.Visit)
	}
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
		switch {
		case e.Delivered == store.DeliveredMaybe:
			amb = "; MAY HAVE BEEN DELIVERED: an attempt's outcome was lost after the message was handed to the relay"
		case e.Ambiguous:
			amb = " (an earlier attempt's outcome was unknown; it went out again with the same Message-ID)"
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

// ownerLine is "Name <email>", or the email alone for an owner without a name.
func ownerLine(o store.DealOwner) string {
	if o.Name == "" {
		return o.Email
	}
	return o.Name + " <" + o.Email + ">"
}

func stageOfVisit(det deals.Details, visit int) string {
	for _, t := range det.Timeline.Transitions {
		if t.Visit == visit {
			return t.To
		}
	}
	return fmt.Sprintf("visit %d", visit)
}
