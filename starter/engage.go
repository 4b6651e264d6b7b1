package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

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
	var asJSON bool
	fs.StringVar(&r.Source, "source", "cli", "who reports it")
	fs.StringVar(&r.EventID, "event-id", "", "the source's id of this engagement; repeating it is a no-op (default: generated)")
	fs.StringVar(&at, "at", "", "when it happened at the source, RFC 3339 (default now)")
	fs.StringVar(&returnAt, "return-at", "", "out_of_office: when the prospect is back, RFC 3339, or a date YYYY-MM-DD (the start of that day in the contact's time zone)")
	fs.StringVar(&r.Address, "address", "", "bounce: the address that bounced (default the contact's); unsubscribe: an address to suppress too")
	fs.StringVar(&r.Detail, "detail", "", "detail kept with the event and the suppression (a bounce message, say)")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 2 {
		return usageError("usage: starter deal engage DEAL KIND [--return-at TIME|DATE] [--at TIME] [--event-id ID] [--source NAME]\n" +
			"KIND is one of: " + kindList())
	}
	r.Deal, r.Kind = rest[0], cadence.Engagement(rest[1])
	if at != "" {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return usageError(fmt.Sprintf("--at %q: want RFC 3339, like 2026-11-23T10:00:00Z", at))
		}
		r.SourceTime = t
	}
	if returnAt != "" {
		if r.Kind != cadence.EngagedOutOfOffice {
			return usageError(fmt.Sprintf("--return-at applies only to out_of_office, not to %s", r.Kind))
		}
		if r.ReturnAt, r.ReturnOn, err = parseWhen("--return-at", returnAt); err != nil {
			return err
		}
	}
	svc, closeAll, err := connect(ctx, env, true)
	if err != nil {
		return err
	}
	defer closeAll()
	resp, err := svc.Engage(ctx, r)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(stdout, resp)
	}
	suppressed := ""
	if resp.Suppressed {
		suppressed = "; suppression recorded, no more email goes to " + suppressedWhom(r.Kind)
	}
	switch {
	case resp.Duplicate:
		fmt.Fprintf(stdout, "event already received (state %s); nothing sent again%s\n", resp.State, suppressed)
	case resp.State != "signalled":
		fmt.Fprintf(stdout, "%s recorded for deal %s (event %d, %s: %s)%s\n", r.Kind, resp.DealID, resp.EventID, resp.State, resp.Reason, suppressed)
	default:
		fmt.Fprintf(stdout, "%s sent to deal %s (event %d); its exit rules apply unless an applied change is newer%s\n",
			r.Kind, resp.DealID, resp.EventID, suppressed)
	}
	return nil
}

func suppressedWhom(k cadence.Engagement) string {
	if k == cadence.EngagedBounce {
		return "that address"
	}
	return "the contact"
}

func kindList() string {
	var names []string
	for _, k := range cadence.Engagements() {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
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
		return usageError(fmt.Sprintf("unknown task command %q\n\n%s", verb, usage))
	}
	fs := newFlags("task "+verb, stderr)
	r := deals.TaskRequest{Outcome: outcome}
	var asJSON bool
	fs.StringVar(&r.Source, "source", "cli", "who reports it")
	fs.StringVar(&r.EventID, "event-id", "", "id of this request; repeating it is a no-op (default task-<id>-"+outcome+")")
	fs.StringVar(&r.Note, "note", "", "note kept as the task's close reason")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 2 {
		return usageError(fmt.Sprintf("usage: starter task %s DEAL TASK-ID [--note TEXT] [--event-id ID]  (deal show lists task ids)", verb))
	}
	r.Deal = rest[0]
	id, err := strconv.ParseInt(strings.TrimPrefix(rest[1], "#"), 10, 64)
	if err != nil || id <= 0 {
		return usageError(fmt.Sprintf("task id %q: want a positive number, as deal show lists it (#12)", rest[1]))
	}
	r.TaskID = id
	svc, closeAll, err := connect(ctx, env, true)
	if err != nil {
		return err
	}
	defer closeAll()
	resp, err := svc.CloseTask(ctx, r)
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
	fmt.Fprintf(stdout, "task %d of deal %s: %s sent (event %d); the deal records it and moves on in a moment\n",
		r.TaskID, resp.DealID, outcome, resp.EventID)
	return nil
}

// parseWhen reads a time flag that takes RFC 3339 (an instant) or a date YYYY-MM-DD (which
// the front door reads as the start of that day in the zone the verb names).
func parseWhen(flag, v string) (at time.Time, date string, err error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, "", nil
	}
	if _, err := time.Parse(time.DateOnly, v); err == nil {
		return time.Time{}, v, nil
	}
	return time.Time{}, "", usageError(fmt.Sprintf("%s %q: want RFC 3339 (2026-12-01T09:00:00+01:00) or a date (2026-12-01)", flag, v))
}
