package cadence

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ItemKind is what an agenda item does when it is due.
type ItemKind string

const (
	ItemEmail     ItemKind = "email"      // send a step's email
	ItemTask      ItemKind = "task"       // create a step's task
	ItemStale     ItemKind = "stale"      // the stage time limit: apply on_stale
	ItemExhausted ItemKind = "exhausted"  // every step ran: apply on_exhausted
	ItemStaleTask ItemKind = "stale_task" // an on_stale warning rung: give the owner a task
	ItemWait      ItemKind = "wait"       // a wait step ends
)

// Item ids for the stage rules; step items are "<step id>#<occurrence>".
const (
	StaleItemID     = "stale"
	ExhaustedItemID = "exhausted"
)

// StaleTaskStepID is the step id of an on_stale warning rung's task, e.g. "stale-80" for
// the rung at 80%; its item id is ItemID(StaleTaskStepID(80), 1).
func StaleTaskStepID(percent int) string { return "stale-" + strconv.Itoa(percent) }

// ItemID is the stable id of one occurrence of a step, e.g. "nurture#3".
func ItemID(stepID string, occurrence int) string {
	return stepID + "#" + strconv.Itoa(occurrence)
}

// Item is one dated entry of a deal's agenda, with the reason for its instant.
type Item struct {
	ID         string    `json:"id"`
	Kind       ItemKind  `json:"kind"`
	StepID     string    `json:"step_id,omitempty"`
	Occurrence int       `json:"occurrence,omitempty"`
	At         time.Time `json:"at"`
	// DueAt is the due date of the task the item creates (task steps, and stale or exhausted
	// moves that give the owner a task).
	DueAt  time.Time `json:"due_at,omitzero"`
	Reason string    `json:"reason"`
}

// Done records a step occurrence that ran. At is when its outcome arrived
// (workflow.Now), or its planned instant when it was skipped by suppression.
type Done struct {
	StepID     string    `json:"step_id"`
	Occurrence int       `json:"occurrence"`
	At         time.Time `json:"at"`
	Outcome    string    `json:"outcome"`
}

// Deferral pushes a pending item to no earlier than Until (an out-of-office return date,
// a retry re-planned into the next window).
type Deferral struct {
	ItemID string    `json:"item_id"`
	Until  time.Time `json:"until"`
	Why    string    `json:"why"`
}

// Visit is the planner's input: one stage visit as it stands.
type Visit struct {
	Stage     string    `json:"stage"`
	Number    int       `json:"number"`
	EnteredAt time.Time `json:"entered_at"`
	// Deadline is the stage time limit's instant, fixed when first planned, so a later
	// calendar change does not move it for a visit under way. Zero: not planned yet.
	Deadline  time.Time  `json:"deadline,omitzero"`
	Done      []Done     `json:"done,omitempty"`
	Deferrals []Deferral `json:"deferrals,omitempty"`
}

func (v Visit) done(id string) (Done, bool) {
	for _, d := range v.Done {
		if ItemID(d.StepID, d.Occurrence) == id {
			return d, true
		}
	}
	return Done{}, false
}

func (v Visit) deferral(id string) (Deferral, bool) {
	var latest Deferral
	found := false
	for _, d := range v.Deferrals {
		if d.ItemID == id && (!found || d.Until.After(latest.Until)) {
			latest, found = d, true
		}
	}
	return latest, found
}

// Calendars are the two calendars a deal is planned in: limits and tasks count in the owner's,
// email delays in the contact's.
type Calendars struct {
	Owner   Calendar
	Contact Calendar
}

// Explaining is a Calendar that says why an instant moved (a weekend, a holiday, closed hours).
type Explaining interface {
	AddWhy(from time.Time, d Duration) (time.Time, []string)
}

// Slotted is a contact calendar that places emails in its sending window.
type Slotted interface {
	NextSlot(t time.Time) (time.Time, []string)
}

// addWhy adds d in cal, with the reasons for any shift when the calendar can say them.
func addWhy(cal Calendar, from time.Time, d Duration) (time.Time, []string) {
	if e, ok := cal.(Explaining); ok {
		return e.AddWhy(from, d)
	}
	return cal.Add(from, d), nil
}

func withShifts(reason string, shifts []string) string {
	if len(shifts) == 0 {
		return reason
	}
	return reason + "; moved: " + strings.Join(shifts, "; ")
}

// DefaultCalendars is the version-0 pair: both always open.
func DefaultCalendars() Calendars { return Calendars{Owner: AlwaysOpen{}, Contact: AlwaysOpen{}} }

const timeLayout = "2006-01-02 15:04 MST"

// Plan returns the pending items of a stage visit, earliest first. It is pure and
// incremental: each step's instant counts from the actual time of the previous step of the
// visit (or stage entry), so a late or deferred step pushes the later ones instead of
// bunching them. Steps already done are not returned.
func Plan(p Pipeline, v Visit, cals Calendars) ([]Item, error) {
	stage, ok := p.Stage(v.Stage)
	if !ok {
		return nil, fmt.Errorf("plan: stage %q is not in pipeline %q", v.Stage, p.ID)
	}
	var items []Item
	cursor := v.EnteredAt
	cursorWhat := "stage entry"
	pendingSteps := 0
	for _, step := range stage.Steps {
		for occ := 1; occ <= step.Occurrences(); occ++ {
			id := ItemID(step.ID, occ)
			if d, ok := v.done(id); ok {
				cursor = d.At
				cursorWhat = fmt.Sprintf("%s %s", id, d.Outcome)
				continue
			}
			cal := cals.Owner
			kind := ItemTask
			if step.Kind == StepEmail {
				cal, kind = cals.Contact, ItemEmail
			}
			at, shifts := addWhy(cal, cursor, step.After)
			if kind == ItemEmail {
				// Email delays count in the contact's calendar, then the email window applies.
				if s, ok := cal.(Slotted); ok {
					var more []string
					at, more = s.NextSlot(at)
					shifts = append(shifts, more...)
				}
			}
			reason := fmt.Sprintf("%s after %s (%s)", step.After, cursorWhat, cursor.UTC().Format(timeLayout))
			if step.After.IsZero() {
				reason = fmt.Sprintf("right after %s (%s)", cursorWhat, cursor.UTC().Format(timeLayout))
			}
			reason = withShifts(reason, shifts)
			if def, ok := v.deferral(id); ok && def.Until.After(at) {
				at = def.Until
				reason = fmt.Sprintf("deferred to %s: %s", def.Until.UTC().Format(timeLayout), def.Why)
			}
			item := Item{ID: id, Kind: kind, StepID: step.ID, Occurrence: occ, At: at, Reason: reason}
			if step.Task != nil {
				item.DueAt = cals.Owner.Add(at, step.Task.DueIn)
			}
			items = append(items, item)
			pendingSteps++
			cursor = at
			cursorWhat = fmt.Sprintf("%s (planned)", id)
		}
	}
	if stage.OnExhausted != nil && len(stage.Steps) > 0 {
		at := cals.Owner.Add(cursor, stage.OnExhausted.After)
		reason := fmt.Sprintf("%s after the last step: move to %s (%s)", stage.OnExhausted.After, stage.OnExhausted.MoveTo, stage.OnExhausted.Reason)
		items = append(items, ruleItem(ExhaustedItemID, ItemExhausted, at, reason, stage.OnExhausted, cals))
	}
	if stage.OnStale != nil && !stage.TimeLimit.IsZero() {
		at := Deadline(p, v, cals)
		reason := fmt.Sprintf("time limit of %s in %s since %s: move to %s (%s)", stage.TimeLimit, stage.ID,
			v.EnteredAt.UTC().Format(timeLayout), stage.OnStale.MoveTo, stage.OnStale.Reason)
		items = append(items, ruleItem(StaleItemID, ItemStale, at, reason, stage.OnStale, cals))
	}
	// Stable: at equal instants steps keep pipeline order and come before the rules.
	sort.SliceStable(items, func(i, j int) bool { return items[i].At.Before(items[j].At) })
	return items, nil
}

func ruleItem(id string, kind ItemKind, at time.Time, reason string, m *Move, cals Calendars) Item {
	item := Item{ID: id, Kind: kind, At: at, Reason: reason}
	if m.Task != nil {
		item.DueAt = cals.Owner.Add(at, m.Task.DueIn)
	}
	return item
}

// Deadline is the stage time limit's instant for a visit, zero when the stage has none.
func Deadline(p Pipeline, v Visit, cals Calendars) time.Time {
	stage, ok := p.Stage(v.Stage)
	if !ok || stage.TimeLimit.IsZero() {
		return time.Time{}
	}
	if !v.Deadline.IsZero() {
		return v.Deadline
	}
	return cals.Owner.Add(v.EnteredAt, stage.TimeLimit)
}
