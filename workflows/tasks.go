package workflows

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/store"
)

const escalateItemPrefix = "escalate-"

// escalateItemID is the agenda item of an open task's escalation.
func escalateItemID(taskID int64) string { return escalateItemPrefix + strconv.FormatInt(taskID, 10) }

// withEscalations adds, to a plan, the escalation of every open task that has one pending.
func (d *deal) withEscalations(items []cadence.Item) []cadence.Item {
	var extra []cadence.Item
	for _, t := range d.state.OpenTasks {
		if t.Escalate == nil || t.Escalated || t.EscalateAt.IsZero() {
			continue
		}
		extra = append(extra, cadence.Item{ID: escalateItemID(t.ID), Kind: cadence.ItemEscalate,
			StepID: t.StepID, Occurrence: t.Occurrence, At: t.EscalateAt,
			Reason: fmt.Sprintf("task %d is still open %s after it fell due (%s)", t.ID, t.Escalate.After, t.DueAt.UTC().Format(time.RFC3339))})
	}
	if len(extra) == 0 {
		return items
	}
	all := append(append([]cadence.Item{}, items...), extra...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].At.Before(all[j].At) })
	return all
}

// escalate gives the owner the escalation task of an overdue task, once.
func (d *deal) escalate(ctx workflow.Context, item cadence.Item) error {
	id, err := strconv.ParseInt(strings.TrimPrefix(item.ID, escalateItemPrefix), 10, 64)
	if err != nil {
		return err
	}
	for i := range d.state.OpenTasks {
		t := &d.state.OpenTasks[i]
		if t.ID != id || t.Escalate == nil || t.Escalated {
			continue
		}
		t.Escalated = true
		d.dirty = true
		spec := t.Escalate.Task(cadence.TaskSpec{Kind: t.Kind, Title: t.Title})
		ref, err := d.createTask(ctx, escalateItemPrefix+t.StepID, t.Occurrence, &spec, workflow.Now(ctx))
		if err != nil {
			return err
		}
		d.state.OpenTasks = append(d.state.OpenTasks, ref)
		d.logger.Info("Task escalated", "Task", id, "Escalation", ref.ID)
		return nil
	}
	return nil
}

// taskSnoozed moves an open task's due date to the first business moment at or after the
// requested time, in the owner's calendar; its escalation moves with it.
func (d *deal) taskSnoozed(ctx workflow.Context, ev Event) error {
	idx := d.openTask(ev.TaskID)
	if idx < 0 {
		return d.recordOutcome(ctx, ev, store.EventIgnored, fmt.Sprintf("task %d is not open in the deal's current stage visit", ev.TaskID))
	}
	now := workflow.Now(ctx)
	if !ev.Until.After(now) {
		return d.recordOutcome(ctx, ev, store.EventIgnored, "a snooze must end in the future")
	}
	due := d.inOwnerCalendar(ctx, ev.Until, cadence.Of(0, cadence.BusinessHours))
	err := workflow.ExecuteActivity(dbOptions(ctx), a.SnoozeTask, activities.SnoozeTaskInput{
		DealID: d.in.DealID, TaskID: ev.TaskID, DueAt: due,
	}).Get(ctx, nil)
	if err != nil {
		return err
	}
	t := &d.state.OpenTasks[idx]
	t.DueAt = due
	if t.Escalate != nil {
		t.EscalateAt, t.Escalated = d.inOwnerCalendar(ctx, due, t.Escalate.After), false
		// Snoozed while paused: the resume must not put back the time the old escalation
		// had left.
		d.unfreeze(escalateItemID(t.ID))
	}
	d.dirty = true
	reason := fmt.Sprintf("task %d due %s", t.ID, due.UTC().Format(time.RFC3339))
	if !due.Equal(ev.Until) {
		reason += " (the first business hour at or after the requested time)"
	}
	return d.recordOutcome(ctx, ev, store.EventApplied, reason)
}
