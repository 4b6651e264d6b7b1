package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/workflows"
)

// dealPause pauses one deal: starter deal pause DEAL [--until T].
func dealPause(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("deal pause", stderr)
	var r deals.PauseRequest
	var until string
	fs.StringVar(&until, "until", "", "lift the pause by itself then: RFC 3339, or a date YYYY-MM-DD (the start of that day in the owner's time zone); default: until resumed")
	reasonFlag(fs, &r.Reason, "why")
	eventFlags(fs, &r.Source, &r.EventID, "who pauses it", "id of this pause; repeating it is a no-op (default: generated)")
	out := jsonOrText(fs, stdout)
	rest, err := parseExactly(fs, args, 1, "usage: starter deal pause DEAL [--until TIME|DATE] [--reason TEXT] [--event-id ID]")
	if err != nil {
		return err
	}
	r.Deal = rest[0]
	if until != "" {
		if r.Until, r.UntilOn, err = parseWhen("--until", until); err != nil {
			return err
		}
	}
	return callService(ctx, env, true, out,
		func(svc *deals.Service) (deals.EventResponse, error) { return svc.PauseDeal(ctx, r) },
		func(w io.Writer, resp deals.EventResponse) {
			end := "until resumed (starter deal resume " + r.Deal + ")"
			if !resp.Until.IsZero() {
				end = "until " + resp.Until.Format(showTime)
			}
			printEvent(w, resp.Duplicate, resp.State, fmt.Sprintf(
				"pause sent to deal %s (event %d): its cadence holds %s; on resume each step gets the time it had left",
				resp.DealID, resp.EventID, end))
		})
}

// dealResume lifts a deal's own pause: starter deal resume DEAL.
func dealResume(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("deal resume", stderr)
	var r deals.ResumeRequest
	reasonFlag(fs, &r.Reason, "why")
	eventFlags(fs, &r.Source, &r.EventID, "who resumes it", "id of this resume; repeating it is a no-op (default: generated)")
	out := jsonOrText(fs, stdout)
	rest, err := parseExactly(fs, args, 1, "usage: starter deal resume DEAL [--reason TEXT] [--event-id ID]")
	if err != nil {
		return err
	}
	r.Deal = rest[0]
	return callService(ctx, env, true, out,
		func(svc *deals.Service) (deals.EventResponse, error) { return svc.ResumeDeal(ctx, r) },
		func(w io.Writer, resp deals.EventResponse) {
			printEvent(w, resp.Duplicate, resp.State, fmt.Sprintf(
				"resume sent to deal %s (event %d); it runs again unless its owner or pipeline is paused too (deal show says)",
				resp.DealID, resp.EventID))
		})
}

// scopeGroup is starter owner|pipeline VERB: both scopes take the same verbs.
func scopeGroup(what string) groupFunc {
	return func(ctx context.Context, verb string, args []string, env config.Env, stdout, stderr io.Writer) error {
		return runScope(ctx, what, verb, args, env, stdout, stderr)
	}
}

// runScope pauses or resumes an owner or a pipeline: starter owner|pipeline pause|resume X.
func runScope(ctx context.Context, what, verb string, args []string, env config.Env, stdout, stderr io.Writer) error {
	arg := "EMAIL"
	if what == "pipeline" {
		arg = "PIPELINE-ID"
	}
	if verb != "pause" && verb != "resume" {
		return usageError(fmt.Sprintf("unknown %s command %q\n\n%s", what, verb, usage()))
	}
	fs := newFlags(what+" "+verb, stderr)
	var until, reason, source string
	use := fmt.Sprintf("usage: starter %s resume %s", what, arg)
	if verb == "pause" {
		fs.StringVar(&until, "until", "", "lift the pause by itself then: RFC 3339, or a date YYYY-MM-DD (the start of that day in the "+
			map[string]string{"owner": "owner's", "pipeline": "pipeline calendar's"}[what]+" time zone); default: until resumed")
		reasonFlag(fs, &reason, "why (a holiday, say)")
		use = fmt.Sprintf("usage: starter %s pause %s [--until TIME|DATE] [--reason TEXT]", what, arg)
	}
	sourceFlag(fs, &source, "who asks")
	out := jsonOrText(fs, stdout)
	rest, err := parseExactly(fs, args, 1, use)
	if err != nil {
		return err
	}
	pr := deals.ScopePauseRequest{Target: rest[0], Reason: reason, Source: source}
	if until != "" {
		if pr.Until, pr.UntilOn, err = parseWhen("--until", until); err != nil {
			return err
		}
	}
	svc, closeAll, err := connect(ctx, env, true)
	if err != nil {
		return err
	}
	defer closeAll()
	var resp deals.ScopeResponse
	switch {
	case what == "owner" && verb == "pause":
		resp, err = svc.PauseOwner(ctx, pr)
	case what == "owner":
		resp, err = svc.ResumeOwner(ctx, deals.ScopeResumeRequest{Target: rest[0], Source: source})
	case verb == "pause":
		resp, err = svc.PausePipeline(ctx, pr)
	default:
		resp, err = svc.ResumePipeline(ctx, deals.ScopeResumeRequest{Target: rest[0], Source: source})
	}
	if resp.State == "" {
		return err // refused before anything was recorded
	}
	// A recorded pause or resume is printed even when some deals were not signalled
	// (deals.ErrPartial): the error follows what was done.
	if werr := printAnswer(out, resp, printScope); werr != nil {
		return werr
	}
	return err
}

func printScope(w io.Writer, resp deals.ScopeResponse) {
	name := resp.Scope + " " + resp.Key
	if resp.Owner != "" {
		name = "owner " + resp.Owner
	}
	end := "until resumed"
	if resp.Until != nil {
		end = "until " + resp.Until.Format(showTime)
	}
	switch resp.State {
	case "paused":
		fmt.Fprintf(w, "%s paused %s (pause %d); deals created meanwhile start paused\n", name, end, resp.PauseID)
	case "until_changed":
		fmt.Fprintf(w, "%s was paused already (pause %d, since %s); now %s\n", name, resp.PauseID, resp.Since.Format(showTime), end)
	case "already_paused":
		fmt.Fprintf(w, "%s is paused already %s (pause %d); telling the deals that have not heard\n", name, end, resp.PauseID)
	case "resumed":
		fmt.Fprintf(w, "%s resumed (pause %d lifted); each deal gets the time its steps had left\n", name, resp.PauseID)
	case "already_resumed":
		fmt.Fprintf(w, "%s was resumed already (pause %d); telling the deals that have not heard\n", name, resp.PauseID)
	case "ended":
		fmt.Fprintf(w, "%s: its last pause (%d) ended by itself at %s; nothing to resume\n", name, resp.PauseID, resp.Until.Format(showTime))
		return
	case "not_paused":
		fmt.Fprintf(w, "%s is not paused; nothing to resume\n", name)
		return
	}
	printFanOut(w, resp.FanOut, "open deals", "signalled", "  not signalled: deal %s\n")
}

// printFanOut prints what became of each deal's event (a scope's pause or resume, a
// handover), in the words of the verb: what the deals are, what telling them was called,
// and the line for a deal not told.
func printFanOut(w io.Writer, f deals.FanOut, what, told, notTold string) {
	fmt.Fprintf(w, "  %s %d: %s %d, already told %d", what, f.Deals, told, f.Signalled, f.AlreadyDone)
	if f.Closed > 0 {
		fmt.Fprintf(w, ", closed meanwhile %d", f.Closed)
	}
	if f.Pending > 0 {
		fmt.Fprintf(w, ", recorded and pending %d", f.Pending)
	}
	fmt.Fprintf(w, ", failed %d\n", f.Failed)
	for _, id := range f.PendingDeals {
		fmt.Fprintf(w, "  recorded; delivery pending: deal %s\n", id)
	}
	if f.Pending > 0 {
		fmt.Fprintln(w, "  Temporal does not answer now; the sweeper (starter serve, or starter events sweep) delivers the pending ones once it does")
	}
	for _, id := range f.FailedDeals {
		fmt.Fprintf(w, notTold, id)
	}
}

// taskSnooze moves an open task's due date: starter task snooze DEAL TASK-ID --until T.
func taskSnooze(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	const use = "usage: starter task snooze DEAL TASK-ID --until TIME|DATE  (deal show lists task ids)"
	fs := newFlags("task snooze", stderr)
	var r deals.SnoozeRequest
	var until string
	fs.StringVar(&until, "until", "", "the new due date: RFC 3339, or a date YYYY-MM-DD (the start of that day in the owner's time zone); "+
		"moved to the owner's first business hour at or after it (required)")
	eventFlags(fs, &r.Source, &r.EventID, "who reports it",
		"id of this request; repeating it is a no-op (default task-<id>-snooze-<until>)")
	out := jsonOrText(fs, stdout)
	rest, err := parseExactly(fs, args, 2, use)
	if err != nil {
		return err
	}
	if until == "" {
		return usageError(use)
	}
	r.Deal = rest[0]
	if r.TaskID, err = parseTaskID(rest[1]); err != nil {
		return err
	}
	if r.Until, r.UntilOn, err = parseWhen("--until", until); err != nil {
		return err
	}
	return callService(ctx, env, true, out,
		func(svc *deals.Service) (deals.EventResponse, error) { return svc.SnoozeTask(ctx, r) },
		func(w io.Writer, resp deals.EventResponse) {
			printEvent(w, resp.Duplicate, resp.State, fmt.Sprintf(
				"task %d of deal %s: snooze until %s sent (event %d); the deal moves it into the owner's business hours in a moment",
				r.TaskID, resp.DealID, resp.Until.Format(showTime), resp.EventID))
		})
}

// runSends flips or shows the global send switch: starter sends hold|release|status.
func runSends(ctx context.Context, verb string, args []string, env config.Env, stdout, stderr io.Writer) error {
	if verb != "hold" && verb != "release" && verb != "status" {
		return usageError(fmt.Sprintf("unknown sends command %q\n\n%s", verb, usage()))
	}
	fs := newFlags("sends "+verb, stderr)
	var reason, by string
	if verb == "hold" {
		reasonFlag(fs, &reason, "why (shown by sends status and in the send activity's log)")
	}
	if verb != "status" {
		who := "cli"
		if u, ok := env.LookupEnv("USER"); ok && u != "" {
			who = u
		}
		fs.StringVar(&by, "by", who, "who flips the switch")
	}
	out := jsonOrText(fs, stdout)
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	svc, closeAll, err := connect(ctx, env, false)
	if err != nil {
		return err
	}
	defer closeAll()
	var resp deals.SendsResponse
	switch verb {
	case "hold":
		resp, err = svc.HoldSends(ctx, reason, by)
	case "release":
		resp, err = svc.ReleaseSends(ctx, by)
	default:
		resp.SendSwitch, err = svc.SendStatus(ctx)
	}
	if err != nil {
		return err
	}
	// status changes nothing: its JSON is the switch alone, without "changed".
	var answer any = resp
	if verb == "status" {
		answer = resp.SendSwitch
	}
	return printAnswer(out, answer, func(w io.Writer, _ any) {
		prefix := ""
		if verb != "status" && !resp.Changed {
			prefix = "no change: "
		}
		fmt.Fprintln(w, prefix+describeSwitch(resp.SendSwitch))
	})
}

func describeSwitch(sw store.SendSwitch) string {
	at := sw.ChangedAt.UTC().Format(showTime)
	if sw.Held {
		why := ""
		if sw.Reason != "" {
			why = ": " + sw.Reason
		}
		return fmt.Sprintf("sends are HELD since %s by %s%s; no email goes out (starter sends release)", at, sw.ChangedBy, why)
	}
	if sw.ChangedBy == "" {
		return "sends go out (never held)"
	}
	return fmt.Sprintf("sends go out (released %s by %s)", at, sw.ChangedBy)
}

// pausesLine says who holds a paused deal, for deal show.
func pausesLine(ps []workflows.Pause) string {
	var parts []string
	for _, p := range ps {
		s := "by its " + p.Scope + " since " + p.Since.UTC().Format(showTime)
		if !p.Until.IsZero() {
			s += ", until " + p.Until.UTC().Format(showTime)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
