package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
)

// cadenceSteps handles `starter cadence steps PIPELINE [--from D] [--to D] [--json]`: what
// each step of each published version earned, then each step across versions.
func cadenceSteps(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("cadence steps", stderr)
	var r deals.StepStatsRequest
	fs.StringVar(&r.From, "from", "", fmt.Sprintf("the period's start: a date YYYY-MM-DD (UTC) or an RFC 3339 time (default: %d days before today)", deals.DefaultStepStatsDays))
	fs.StringVar(&r.To, "to", "", "the period's end, excluded: a date YYYY-MM-DD (UTC) or an RFC 3339 time (default: tomorrow, so today counts)")
	out := jsonOrText(fs, stdout)
	rest, err := parseExactly(fs, args, 1, "usage: starter cadence steps PIPELINE [--from D] [--to D] [--json]")
	if err != nil {
		return err
	}
	r.Pipeline = rest[0]
	return callService(ctx, env, false, out,
		func(svc *deals.Service) (store.StepStatsReport, error) { return svc.StepStats(ctx, r) },
		printStepStats)
}

func printStepStats(w io.Writer, r store.StepStatsReport) {
	fmt.Fprintf(w, "pipeline %s, emails sent and tasks created from %s to %s (no open tracking)\n",
		r.Query.Pipeline, r.Query.From.UTC().Format(time.RFC3339), r.Query.To.UTC().Format(time.RFC3339))
	for _, v := range r.Versions {
		fmt.Fprintf(w, "\nversion %d (hash %.12s, published %s):\n", v.Version, v.Hash, v.PublishedAt.UTC().Format(time.DateOnly))
		printStepTable(w, v.Steps)
	}
	fmt.Fprintf(w, "\nall versions, by stage and step:\n")
	printStepTable(w, r.ByStep)
}

func printStepTable(w io.Writer, steps []store.StepStats) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGE\tSTEP\tKIND\tSENT\tSUPPRESSED\tBOUNCED\tREPLIED\tREPLY RATE\tMEDIAN REPLY\tUNSUBSCRIBED\tMEETINGS\tTASKS\tDONE\tSKIPPED\tESCALATED\t")
	for _, s := range steps {
		kind := string(s.Kind)
		if kind == "" {
			kind = "(not a step)"
		}
		best := ""
		if s.Best {
			best = "← most replies"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", s.Stage, s.StepID, kind,
			s.Sent, s.Suppressed, s.Bounced, s.Replied, s.ReplyRateText(), s.MedianReplyText(), s.Unsubscribed, s.MeetingsBooked,
			s.TasksCreated, s.TasksDone, s.TasksSkipped, s.TasksEscalated, best)
	}
	tw.Flush()
}
