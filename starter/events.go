package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
)

// runEvents handles `starter events sweep`: one sweep of the inbound events stuck in
// received, as `starter serve` runs every SWEEP_INTERVAL.
func runEvents(ctx context.Context, verb string, args []string, env config.Env, stdout, stderr io.Writer) error {
	if verb != "sweep" {
		return usageError(fmt.Sprintf("unknown events command %q\n\n%s", verb, usage()))
	}
	fs := newFlags("events sweep", stderr)
	olderThan := fs.Duration("older-than", deals.DefaultSweepAge, "only events received longer ago than this (a request still in flight is left alone)")
	limit := fs.Int("limit", deals.DefaultSweepLimit, "at most this many events, oldest first")
	out := jsonOrText(fs, stdout)
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	if *olderThan < 0 || *limit < 1 {
		return usageError("events sweep: --older-than must not be negative and --limit must be at least 1")
	}
	svc, closeAll, err := connect(ctx, env, true)
	if err != nil {
		return err
	}
	defer closeAll()
	res, err := svc.SweepReceived(ctx, *olderThan, *limit)
	// A sweep that stops (Temporal gone, interrupted) still says what it found and did: print
	// that, then fail.
	if werr := printAnswer(out, res, func(w io.Writer, res deals.SweepResult) { printSweep(w, res, *olderThan) }); werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	if res.Failed > 0 || res.Left > 0 {
		return fmt.Errorf("%d events are still received (%d failed, %d not tried); run the sweep again once Temporal answers",
			res.Failed+res.Left, res.Failed, res.Left)
	}
	return nil
}

func printSweep(w io.Writer, res deals.SweepResult, olderThan time.Duration) {
	if res.Found == 0 {
		fmt.Fprintf(w, "no inbound event has waited in received for more than %s\n", olderThan)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\tKIND\tSOURCE/ID\tDEAL\tRESULT\tSTATE\tWHY")
	for _, ev := range res.Events {
		why := ev.Reason
		if ev.Error != "" {
			why = ev.Error
		}
		fmt.Fprintf(tw, "%d\t%s\t%s/%s\t%s\t%s\t%s\t%s\n", ev.ID, ev.Kind, ev.Source, ev.SourceEventID, ev.DealID, ev.Result, ev.State, why)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d found: %d signalled, %d settled, %d skipped, %d failed", res.Found, res.Signalled, res.Settled, res.Skipped, res.Failed)
	if res.Left > 0 {
		fmt.Fprintf(w, ", %d not tried (%s)", res.Left, res.Stopped)
	}
	fmt.Fprintln(w)
}
