package main

import (
	"context"
	"fmt"
	"io"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
)

// ownerHandover moves a departing owner's open deals and open tasks to another owner:
// starter owner handover FROM TO [--pipeline P]. Repeating it is safe: it moves nothing more
// and tells only the deals an earlier run could not.
func ownerHandover(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	const use = "usage: starter owner handover FROM TO [--pipeline P]  (FROM: the departing owner's email or id; TO: an email)"
	fs := newFlags("owner handover", stderr)
	var r deals.HandoverRequest
	fs.StringVar(&r.Pipeline, "pipeline", "", "only the deals of this pipeline (default: every pipeline)")
	sourceFlag(fs, &r.Source, "who asks")
	out := jsonOrText(fs, stdout)
	rest, err := parseExactly(fs, args, 2, use)
	if err != nil {
		return err
	}
	r.From, r.To = rest[0], rest[1]
	svc, closeAll, err := connect(ctx, env, true)
	if err != nil {
		return err
	}
	defer closeAll()
	resp, err := svc.Handover(ctx, r)
	if resp.FromID == "" {
		return err // refused before anything was moved
	}
	// A handover whose deals were not all told (deals.ErrPartial) is printed, then the error.
	if werr := printAnswer(out, resp, printHandover); werr != nil {
		return werr
	}
	return err
}

func printHandover(w io.Writer, resp deals.HandoverResponse) {
	scope := "open deals"
	if resp.Pipeline != "" {
		scope = "open deals of pipeline " + resp.Pipeline
	}
	to := resp.To
	if resp.ToCreated {
		to += " (a new owner, created with the pipeline's calendar and the default sender)"
	}
	switch {
	case resp.Moved > 0:
		fmt.Fprintf(w, "%s's %s moved to %s: %d, with their open tasks\n", resp.From, scope, to, resp.Moved)
	case resp.Deals > 0:
		fmt.Fprintf(w, "%s has no %s left; the handover to %s moved them before\n", resp.From, scope, to)
	default:
		fmt.Fprintf(w, "%s has no %s; nothing to hand over to %s\n", resp.From, scope, to)
		return
	}
	printFanOut(w, resp.FanOut, "deals", "told now", "  not told: deal %s (run the same command again)\n")
}
