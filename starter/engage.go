package main

import (
	"context"
	"fmt"
	"io"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/workflows"
)

// dealEngage reports something the prospect did: starter deal engage DEAL KIND.
func dealEngage(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("deal engage", stderr)
	var r deals.EngageRequest
	var at, returnAt string
	eventFlags(fs, &r.Source, &r.EventID, "who reports it",
		"the source's id of this engagement; repeating it is a no-op (default: generated)")
	fs.StringVar(&at, "at", "", "when it happened at the source, RFC 3339 (default now)")
	fs.StringVar(&returnAt, "return-at", "", "out_of_office: when the prospect is back, RFC 3339, or a date YYYY-MM-DD (the start of that day in the contact's time zone)")
	fs.StringVar(&r.Address, "address", "", "bounce: the address that bounced (default the contact's); unsubscribe: an address to suppress too")
	fs.StringVar(&r.Detail, "detail", "", "detail kept with the event and the suppression (a bounce message, say)")
	out := jsonOrText(fs, stdout)
	rest, err := parseExactly(fs, args, 2, "usage: starter deal engage DEAL KIND [--return-at TIME|DATE] [--at TIME] [--event-id ID] [--source NAME]\n"+
		"KIND is one of: "+deals.EngagementKinds())
	if err != nil {
		return err
	}
	r.Deal, r.Kind = rest[0], cadence.Engagement(rest[1])
	if r.SourceTime, err = parseSourceTime(at); err != nil {
		return err
	}
	if returnAt != "" {
		if r.Kind != cadence.EngagedOutOfOffice {
			return usageError(fmt.Sprintf("--return-at applies only to out_of_office, not to %s", r.Kind))
		}
		if r.ReturnAt, r.ReturnOn, err = parseWhen("--return-at", returnAt); err != nil {
			return err
		}
	}
	return callService(ctx, env, true, out,
		func(svc *deals.Service) (deals.EventResponse, error) { return svc.Engage(ctx, r) },
		func(w io.Writer, resp deals.EventResponse) {
			suppressed := ""
			if resp.Suppressed {
				suppressed = "; suppression recorded, no more email goes to " + suppressedWhom(r.Kind)
			}
			switch {
			case resp.Duplicate:
				fmt.Fprintln(w, alreadyReceived(resp.State)+suppressed)
			case resp.State != "signalled":
				fmt.Fprintf(w, "%s recorded for deal %s (event %d, %s: %s)%s\n", r.Kind, resp.DealID, resp.EventID, resp.State, resp.Reason, suppressed)
			default:
				fmt.Fprintf(w, "%s sent to deal %s (event %d); its exit rules apply unless an applied change is newer%s\n",
					r.Kind, resp.DealID, resp.EventID, suppressed)
			}
		})
}

func suppressedWhom(k cadence.Engagement) string {
	if k == cadence.EngagedBounce {
		return "that address"
	}
	return "the contact"
}

// runTask closes a deal's task: starter task done|skip DEAL TASK-ID.
func runTask(ctx context.Context, verb string, args []string, env config.Env, stdout, stderr io.Writer) error {
	var outcome string
	switch verb {
	case "snooze":
		return taskSnooze(ctx, args, env, stdout, stderr)
	case "done":
		outcome = workflows.TaskDone
	case "skip":
		outcome = workflows.TaskSkipped
	default:
		return usageError(fmt.Sprintf("unknown task command %q\n\n%s", verb, usage()))
	}
	fs := newFlags("task "+verb, stderr)
	r := deals.TaskRequest{Outcome: outcome}
	eventFlags(fs, &r.Source, &r.EventID, "who reports it",
		"id of this request; repeating it is a no-op (default task-<id>-"+outcome+")")
	fs.StringVar(&r.Note, "note", "", "note kept as the task's close reason")
	out := jsonOrText(fs, stdout)
	rest, err := parseExactly(fs, args, 2, fmt.Sprintf("usage: starter task %s DEAL TASK-ID [--note TEXT] [--event-id ID]  (deal show lists task ids)", verb))
	if err != nil {
		return err
	}
	r.Deal = rest[0]
	if r.TaskID, err = parseTaskID(rest[1]); err != nil {
		return err
	}
	return callService(ctx, env, true, out,
		func(svc *deals.Service) (deals.EventResponse, error) { return svc.CloseTask(ctx, r) },
		func(w io.Writer, resp deals.EventResponse) {
			printEvent(w, resp.Duplicate, resp.State, fmt.Sprintf(
				"task %d of deal %s: %s sent (event %d); the deal records it and moves on in a moment",
				r.TaskID, resp.DealID, outcome, resp.EventID))
		})
}
