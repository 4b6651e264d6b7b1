package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
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
	var asJSON bool
	fs.StringVar(&until, "until", "", "lift the pause by itself then: RFC 3339, or a date YYYY-MM-DD (the start of that day in the owner's time zone); default: until resumed")
	fs.StringVar(&r.Reason, "reason", "", "why")
	fs.StringVar(&r.Source, "source", "cli", "who pauses it")
	fs.StringVar(&r.EventID, "event-id", "", "id of this pause; repeating it is a no-op (default: generated)")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError("usage: starter deal pause DEAL [--until TIME|DATE] [--reason TEXT] [--event-id ID]")
	}
	r.Deal = rest[0]
	if until != "" {
		if r.Until, r.UntilOn, err = parseWhen("--until", until); err != nil {
			return err
		}
	}
	svc, closeAll, err := connect(ctx, env, true)
	if err != nil {
		return err
	}
	defer closeAll()
	resp, err := svc.PauseDeal(ctx, r)
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
	end := "until resumed (starter deal resume " + r.Deal + ")"
	if !resp.Until.IsZero() {
		end = "until " + resp.Until.Format(showTime)
	}
	fmt.Fprintf(stdout, "pause sent to deal %s (event %d): its cadence holds %s; on resume each step gets the time it had left\n",
		resp.DealID, resp.EventID, end)
	return nil
}

// dealResume lifts a deal's own pause: starter deal resume DEAL.
func dealResume(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("deal resume", stderr)
	var r deals.ResumeRequest
	var asJSON bool
	fs.StringVar(&r.Reason, "reason", "", "why")
	fs.StringVar(&r.Source, "source", "cli", "who resumes it")
	fs.StringVar(&r.EventID, "event-id", "", "id of this resume; repeating it is a no-op (default: generated)")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError("usage: starter deal resume DEAL [--reason TEXT] [--event-id ID]")
	}
	r.Deal = rest[0]
	svc, closeAll, err := connect(ctx, env, true)
	if err != nil {
		return err
	}
	defer closeAll()
	resp, err := svc.ResumeDeal(ctx, r)
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
	fmt.Fprintf(stdout, "resume sent to deal %s (event %d); it runs again unless its owner or pipeline is paused too (deal show says)\n",
		resp.DealID, resp.EventID)
	return nil
}

// runScope pauses or resumes an owner or a pipeline: starter owner|pipeline pause|resume X.
func runScope(ctx context.Context, what, verb string, args []string, env config.Env, stdout, stderr io.Writer) error {
	arg := "EMAIL"
	if what == "pipeline" {
		arg = "PIPELINE-ID"
	}
	if verb != "pause" && verb != "resume" {
		return usageError(fmt.Sprintf("unknown %s command %q\n\n%s", what, verb, usage))
	}
	fs := newFlags(what+" "+verb, stderr)
	var until, reason, source string
	var asJSON bool
	if verb == "pause" {
		fs.StringVar(&until, "until", "", "lift the pause by itself then: RFC 3339, or a date YYYY-MM-DD (the start of that day in the "+
			map[string]string{"owner": "owner's", "pipeline": "pipeline calendar's"}[what]+" time zone); default: until resumed")
		fs.StringVar(&reason, "reason", "", "why (a holiday, say)")
	}
	fs.StringVar(&source, "source", "cli", "who asks")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		if verb == "pause" {
			return usageError(fmt.Sprintf("usage: starter %s pause %s [--until TIME|DATE] [--reason TEXT]", what, arg))
		}
		return usageError(fmt.Sprintf("usage: starter %s resume %s", what, arg))
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
	if asJSON {
		if werr := writeJSON(stdout, resp); werr != nil {
			return werr
		}
	} else {
		printScope(stdout, resp)
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
	fmt.Fprintf(w, "  open deals %d: signalled %d, already told %d", resp.Deals, resp.Signalled, resp.AlreadyDone)
	if resp.Closed > 0 {
		fmt.Fprintf(w, ", closed meanwhile %d", resp.Closed)
	}
	fmt.Fprintf(w, ", failed %d\n", resp.Failed)
	for _, id := range resp.FailedDeals {
		fmt.Fprintf(w, "  not signalled: deal %s\n", id)
	}
}

// taskSnooze moves an open task's due date: starter task snooze DEAL TASK-ID --until T.
func taskSnooze(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("task snooze", stderr)
	var r deals.SnoozeRequest
	var until string
	var asJSON bool
	fs.StringVar(&until, "until", "", "the new due date: RFC 3339, or a date YYYY-MM-DD (the start of that day in the owner's time zone); "+
		"moved to the owner's first business hour at or after it (required)")
	fs.StringVar(&r.Source, "source", "cli", "who reports it")
	fs.StringVar(&r.EventID, "event-id", "", "id of this request; repeating it is a no-op (default task-<id>-snooze-<until>)")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 2 || until == "" {
		return usageError("usage: starter task snooze DEAL TASK-ID --until TIME|DATE  (deal show lists task ids)")
	}
	r.Deal = rest[0]
	id, err := strconv.ParseInt(strings.TrimPrefix(rest[1], "#"), 10, 64)
	if err != nil || id <= 0 {
		return usageError(fmt.Sprintf("task id %q: want a positive number, as deal show lists it (#12)", rest[1]))
	}
	r.TaskID = id
	if r.Until, r.UntilOn, err = parseWhen("--until", until); err != nil {
		return err
	}
	svc, closeAll, err := connect(ctx, env, true)
	if err != nil {
		return err
	}
	defer closeAll()
	resp, err := svc.SnoozeTask(ctx, r)
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
	fmt.Fprintf(stdout, "task %d of deal %s: snooze until %s sent (event %d); the deal moves it into the owner's business hours in a moment\n",
		r.TaskID, resp.DealID, resp.Until.Format(showTime), resp.EventID)
	return nil
}

// runSends flips or shows the global send switch: starter sends hold|release|status.
func runSends(ctx context.Context, verb string, args []string, env config.Env, stdout, stderr io.Writer) error {
	if verb != "hold" && verb != "release" && verb != "status" {
		return usageError(fmt.Sprintf("unknown sends command %q\n\n%s", verb, usage))
	}
	fs := newFlags("sends "+verb, stderr)
	var reason, by string
	var asJSON bool
	if verb == "hold" {
		fs.StringVar(&reason, "reason", "", "why (shown by sends status and in the send activity's log)")
	}
	if verb != "status" {
		who := "cli"
		if u, ok := env.LookupEnv("USER"); ok && u != "" {
			who = u
		}
		fs.StringVar(&by, "by", who, "who flips the switch")
	}
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError(fmt.Sprintf("sends %s takes flags only; unexpected %s", verb, strings.Join(rest, " ")))
	}
	svc, closeAll, err := connect(ctx, env, false)
	if err != nil {
		return err
	}
	defer closeAll()
	var sw store.SendSwitch
	changed := false
	switch verb {
	case "hold":
		var resp deals.SendsResponse
		resp, err = svc.HoldSends(ctx, reason, by)
		sw, changed = resp.SendSwitch, resp.Changed
	case "release":
		var resp deals.SendsResponse
		resp, err = svc.ReleaseSends(ctx, by)
		sw, changed = resp.SendSwitch, resp.Changed
	default:
		sw, err = svc.SendStatus(ctx)
	}
	if err != nil {
		return err
	}
	if asJSON {
		if verb == "status" {
			return writeJSON(stdout, sw)
		}
		return writeJSON(stdout, deals.SendsResponse{SendSwitch: sw, Changed: changed})
	}
	prefix := ""
	if verb != "status" && !changed {
		prefix = "no change: "
	}
	fmt.Fprintln(stdout, prefix+describeSwitch(sw))
	return nil
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
