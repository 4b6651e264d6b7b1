package cadence

import (
	"fmt"
	"slices"
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
	ItemResume    ItemKind = "resume"     // a pause lifts by itself (the workflow's, not the planner's)
	ItemEscalate  ItemKind = "escalate"   // an open task is overdue past its escalation (the workflow's)
)

// ResumeItemID is the id of the item that lifts a pause with an end date.
const ResumeItemID = "resume"

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
	// EmailsStopped says why the visit's remaining emails are not sent (a reply, a booked
	// meeting, an opt-out); its email steps keep their planned instants for counting.
	EmailsStopped string `json:"emails_stopped,omitempty"`
	// Responded: the prospect replied or booked a meeting, so on_exhausted ("unresponsive")
	// no longer applies to this visit.
	Responded bool `json:"responded,omitempty"`
}

// Outcomes of a blocking task in Done: open until the owner closes it.
const (
	OutcomeOpen = "open"
)

// BlockedOn returns the blocking task the visit waits for, if any.
func BlockedOn(p Pipeline, v Visit) (Done, bool) {
	stage, ok := p.Stage(v.Stage)
	if !ok {
		return Done{}, false
	}
	for _, step := range stage.Steps {
		if !step.Blocking {
			continue
		}
		for _, d := range v.Done {
			if d.StepID == step.ID && d.Outcome == OutcomeOpen {
				return d, true
			}
		}
	}
	return Done{}, false
}

func (v Visit) done(id string) (Done, bool) {
	for _, d := range v.Done {
		if ItemID(d.StepID, d.Occurrence) == id {
			return d, true
		}
	}
	return Done{}, false
}

// deferred applies a deferral of item id, if any is later than at.
func (v Visit) deferred(id string, at time.Time, reason string) (time.Time, string) {
	if def, ok := v.deferral(id); ok && def.Until.After(at) {
		return def.Until, fmt.Sprintf("deferred to %s: %s", def.Until.UTC().Format(timeLayout), def.Why)
	}
	return at, reason
}

// Defer records deferrals. The latest deferral of an item wins (deferral), so entries of
// the same item that end before a new one are dropped: a send limit asking again every few
// minutes keeps one entry, not hundreds carried across continue-as-new. The slice is built
// anew, never changed in place, so a copied Visit never alters the one it came from.
func (v *Visit) Defer(ds ...Deferral) {
	kept := make([]Deferral, 0, len(v.Deferrals)+len(ds))
	for _, old := range v.Deferrals {
		if !slices.ContainsFunc(ds, func(d Deferral) bool { return d.ItemID == old.ItemID && old.Until.Before(d.Until) }) {
			kept = append(kept, old)
		}
	}
	v.Deferrals = append(kept, ds...)
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
	// JitterKey (the deal id) spreads emails by a small deterministic offset inside the
	// window; empty means no jitter. Only slotted (business) contact calendars jitter, so
	// second-scale demo and test pipelines keep exact instants.
	JitterKey string
}

// Explaining is a Calendar that says why an instant moved (a weekend, a holiday, closed hours).
type Explaining interface {
	AddWhy(from time.Time, d Duration) (time.Time, []string)
}

// Slotted is a contact calendar that places emails in its sending window.
type Slotted interface {
	NextSlot(t time.Time) (time.Time, []string)
	InSlot(t time.Time) bool
}

// Fractional is a calendar that can place a share of the business time between two instants
// (on_stale rungs count business minutes).
type Fractional interface {
	Fraction(from, to time.Time, percent int) time.Time
}

// Measuring is a calendar that measures and adds open time (pauses freeze what is left).
type Measuring interface {
	BusinessBetween(a, b time.Time) time.Duration
	AddBusiness(from time.Time, d time.Duration) time.Time
}

// Remaining is the open time from from until to in cal (0 when to has passed).
func Remaining(cal Calendar, from, to time.Time) time.Duration {
	if !to.After(from) {
		return 0
	}
	if m, ok := cal.(Measuring); ok {
		return m.BusinessBetween(from, to)
	}
	return to.Sub(from)
}

// AddRemaining places d of open time after from in cal.
func AddRemaining(cal Calendar, from time.Time, d time.Duration) time.Time {
	if m, ok := cal.(Measuring); ok {
		return m.AddBusiness(from, d)
	}
	return from.Add(d)
}

// fraction is the instant percent of the way from from to to, in cal's business time.
func fraction(cal Calendar, from, to time.Time, percent int) time.Time {
	if f, ok := cal.(Fractional); ok {
		return f.Fraction(from, to, percent)
	}
	return from.Add(to.Sub(from) * time.Duration(percent) / 100)
}

// jitterMax bounds the deterministic spread of emails that would otherwise leave together
// at a window's opening.
const jitterMax = 10 * time.Minute

// addWhy adds d in cal, with the reasons for any shift when the calendar can say them.
func addWhy(cal Calendar, from time.Time, d Duration) (time.Time, []string) {
	if e, ok := cal.(Explaining); ok {
		return e.AddWhy(from, d)
	}
	return cal.Add(from, d), nil
}

// slot places an email at the contact's next sending slot, then spreads it by the deal's
// jitter when that keeps it inside the same open stretch of the window.
func slot(cals Calendars, id string, at time.Time, shifts []string, jitter bool) (time.Time, []string) {
	s, ok := cals.Contact.(Slotted)
	if !ok {
		return at, shifts
	}
	at, more := s.NextSlot(at)
	shifts = append(shifts, more...)
	if !jitter || cals.JitterKey == "" {
		return at, shifts
	}
	j := Jitter(cals.JitterKey+"/"+id, jitterMax)
	if j == 0 {
		return at, shifts
	}
	if spread := at.Add(j); s.InSlot(spread) && s.InSlot(at.Add(j/2)) {
		shifts = append(shifts, fmt.Sprintf("spread by %s so the deal's emails do not leave in one burst", j))
		return spread, shifts
	}
	return at, shifts
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
	blocked := false
steps:
	for _, step := range stage.Steps {
		for occ := 1; occ <= step.Occurrences(); occ++ {
			id := ItemID(step.ID, occ)
			if d, ok := v.done(id); ok {
				if step.Blocking && d.Outcome == OutcomeOpen {
					// Later steps count from when the owner closes the task: unknown yet.
					blocked = true
					break steps
				}
				cursor = d.At
				cursorWhat = fmt.Sprintf("%s %s", id, d.Outcome)
				continue
			}
			cal := cals.Owner
			kind := ItemTask
			switch step.Kind {
			case StepEmail:
				cal, kind = cals.Contact, ItemEmail
			case StepWait:
				kind = ItemWait
			}
			at, shifts := addWhy(cal, cursor, step.After)
			reason := fmt.Sprintf("%s after %s (%s)", step.After, cursorWhat, cursor.UTC().Format(timeLayout))
			if step.After.IsZero() {
				reason = fmt.Sprintf("right after %s (%s)", cursorWhat, cursor.UTC().Format(timeLayout))
			}
			planned := at
			at, reason = v.deferred(id, at, reason)
			deferred := !at.Equal(planned)
			if deferred {
				shifts = nil // the deferral's reason replaces the calendar's
			}
			if kind == ItemEmail {
				// Email delays count in the contact's calendar, then the email window applies
				// (to a deferred instant too).
				at, shifts = slot(cals, id, at, shifts, !deferred)
			}
			reason = withShifts(reason, shifts)
			cursor = at
			cursorWhat = fmt.Sprintf("%s (planned)", id)
			if kind == ItemEmail && v.EmailsStopped != "" {
				continue // not sent; later steps still count from its planned instant
			}
			item := Item{ID: id, Kind: kind, StepID: step.ID, Occurrence: occ, At: at, Reason: reason}
			if step.Task != nil {
				item.DueAt = cals.Owner.Add(at, step.Task.DueIn)
			}
			items = append(items, item)
		}
	}
	if stage.OnStale != nil && !stage.TimeLimit.IsZero() {
		deadline := Deadline(p, v, cals)
		for _, r := range stage.StaleTasks {
			stepID := StaleTaskStepID(r.At)
			if _, ok := v.done(ItemID(stepID, 1)); ok {
				continue
			}
			at := fraction(cals.Owner, v.EnteredAt, deadline, r.At)
			reason := fmt.Sprintf("%d%% of the time limit of %s in %s since %s: a task before the deal goes stale",
				r.At, stage.TimeLimit, stage.ID, v.EnteredAt.UTC().Format(timeLayout))
			at, reason = v.deferred(ItemID(stepID, 1), at, reason)
			items = append(items, Item{ID: ItemID(stepID, 1), Kind: ItemStaleTask, StepID: stepID, Occurrence: 1,
				At: at, DueAt: cals.Owner.Add(at, r.Task.DueIn), Reason: reason})
		}
	}
	if stage.OnExhausted != nil && len(stage.Steps) > 0 && !blocked && !v.Responded {
		at := cals.Owner.Add(cursor, stage.OnExhausted.After)
		reason := fmt.Sprintf("%s after the last step: move to %s (%s)", stage.OnExhausted.After, stage.OnExhausted.MoveTo, stage.OnExhausted.Reason)
		at, reason = v.deferred(ExhaustedItemID, at, reason)
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
