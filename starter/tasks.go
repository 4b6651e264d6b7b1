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

// localTime is how task list shows a due time in the owner's zone.
const localTime = "Mon 2006-01-02 15:04"

// taskList handles `starter task list --owner EMAIL`: the owner's open tasks in due order, as
// GET /api/tasks answers them, with due times in the owner's zone.
func taskList(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("task list", stderr)
	var r deals.TaskListRequest
	fs.StringVar(&r.Owner, "owner", "", "the owner's email (required)")
	due := fs.String("due", "", "only the tasks overdue, due today (until the end of the owner's day) or upcoming")
	fs.IntVar(&r.Limit, "limit", deals.DefaultListLimit, "at most this many (1-500)")
	fs.StringVar(&r.Before, "before", "", "the next page: the cursor the previous page ends with")
	out := jsonOrText(fs, stdout)
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	if r.Owner == "" {
		return usageError("usage: starter task list --owner EMAIL [--due overdue|today|upcoming] [--json]")
	}
	if r.Limit < 1 || r.Limit > store.MaxListLimit {
		return usageError(fmt.Sprintf("task list: --limit must be from 1 to %d", store.MaxListLimit))
	}
	r.Due = deals.Due(*due)
	return callService(ctx, env, false, out,
		func(svc *deals.Service) (deals.TaskList, error) { return svc.OwnerTasks(ctx, r) },
		printTaskList)
}

func printTaskList(w io.Writer, l deals.TaskList) {
	what := "open tasks"
	if l.Due != deals.DueAll {
		what = string(l.Due) + " " + what
	}
	if len(l.Tasks) == 0 {
		fmt.Fprintf(w, "%s has no %s\n", l.Owner, what)
		return
	}
	loc, err := time.LoadLocation(l.Zone)
	if err != nil {
		loc = time.UTC
	}
	fmt.Fprintf(w, "%s's %s, due times in %s:\n", l.Owner, what, loc)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DUE\tTASK\tKIND\tTITLE\tCONTACT\tDEAL\tSTEP")
	for _, t := range l.Tasks {
		step := t.StepID
		if t.Blocking {
			step += " (blocking)"
		}
		contact := t.ContactEmail
		if t.ContactName != "" {
			contact = t.ContactName + " <" + t.ContactEmail + ">"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", t.DueAt.In(loc).Format(localTime), t.ID, t.Kind, t.Title, contact, t.DealID, step)
	}
	tw.Flush()
	if l.Next != "" {
		fmt.Fprintf(w, "more: starter task list --owner %s --before %s\n", l.Owner, l.Next)
	}
}
