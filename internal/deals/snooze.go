package deals

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/followup-engine/followup/workflows"
)

// MaxSnooze bounds how far ahead a task may be snoozed: a task pushed further is one to
// skip, or a deal to pause.
const MaxSnooze = 90 * 24 * time.Hour

// SnoozeRequest moves an open task's due date.
type SnoozeRequest struct {
	Deal   string `json:"deal"` // internal id, or source:external-id
	TaskID int64  `json:"task_id"`
	// Until is the new due date; UntilOn gives it as a date, YYYY-MM-DD: the start of that
	// day in the owner's zone. The deal moves it to the owner's first business hour at or
	// after it, and the task's escalation with it.
	Until   time.Time `json:"until,omitzero"`
	UntilOn string    `json:"until_on,omitempty"`
	Source  string    `json:"source"`
	// EventID defaults to task-<id>-snooze-<until, RFC 3339 UTC>: snoozing a task to the same
	// time twice is one event.
	EventID string `json:"event_id"`
}

// SnoozeTask checks that the task is an open task of the deal and the new due date lies in
// the next MaxSnooze, records the event and signals the deal, which writes the task row.
func (s *Service) SnoozeTask(ctx context.Context, r SnoozeRequest) (EventResponse, error) {
	var p problems
	if r.Deal == "" {
		p.add("deal is required")
	}
	if r.TaskID <= 0 {
		p.add("task id %d: want a positive task id (deal show lists them)", r.TaskID)
	}
	if r.Until.IsZero() && r.UntilOn == "" {
		p.add("until is required: the task's new due date")
	}
	checkUntil(&p, r.Until, r.UntilOn)
	checkToken(&p, "source", r.Source)
	if r.EventID != "" {
		checkToken(&p, "event id", r.EventID)
	}
	if err := p.err(); err != nil {
		return EventResponse{}, err
	}
	d, err := s.Resolve(ctx, r.Deal)
	if err != nil {
		return EventResponse{}, err
	}
	until, describe, err := s.dealUntil(ctx, d, r.Until, r.UntilOn)
	if err != nil {
		return EventResponse{}, err
	}
	until = until.UTC()
	if r.EventID == "" {
		r.EventID = fmt.Sprintf("task-%d-snooze-%s", r.TaskID, until.Format(time.RFC3339))
	}
	// Another deal's task is not found, whatever was recorded (task ids are global, so the
	// default event id of another deal's task may be taken).
	t, err := s.taskOf(ctx, d, r.TaskID)
	if err != nil {
		return EventResponse{}, err
	}
	_, retry, err := s.previousEvent(ctx, d.ID, r.Source, r.EventID, workflows.EventTaskSnoozed, func(payload []byte) bool {
		var prev SnoozeRequest
		return json.Unmarshal(payload, &prev) == nil && prev.TaskID == r.TaskID && prev.Until.Equal(until)
	})
	if err != nil {
		return EventResponse{}, err
	}
	now := s.now()
	if !retry {
		// A retry converges on the recorded event, even once the task has moved on.
		if err := checkOpen(d, t); err != nil {
			return EventResponse{}, err
		}
		if err := checkFuture(until, describe, now, MaxSnooze, "skip the task, or pause the deal, instead"); err != nil {
			return EventResponse{}, err
		}
	}
	// Recorded resolved, as an instant alone: sent again (the sweeper), the request means the
	// same instant and gives one form, not both.
	rec := r
	rec.Until, rec.UntilOn = until, ""
	payload, _ := json.Marshal(rec)
	resp, err := s.deliver(ctx, d, payload, workflows.Event{
		Version: workflows.EventVersion, Kind: workflows.EventTaskSnoozed, Source: r.Source, SourceEventID: r.EventID,
		SourceTime: now, TaskID: r.TaskID, Until: until,
	})
	resp.TaskID, resp.Until = r.TaskID, until
	return resp, err
}
