package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/store"
)

// A pause holds the whole agenda: steps, stale rungs and the stage deadline. Each pending
// item's remaining business time is frozen when the pause begins and re-planned from the
// moment the deal resumes, in the calendar it counts in, so nothing fires in a burst to catch
// up. Several scopes (the deal, its owner, its pipeline) may hold a deal at once; it resumes
// when the last lets go.

func (d *deal) paused() bool { return len(d.state.Pauses) > 0 }

// agenda is what the loop waits for: the plan, or while paused only the end of a pause that
// has an end date.
func (d *deal) agenda() []cadence.Item {
	if !d.paused() {
		return d.withEscalations(d.plan.Items)
	}
	var until time.Time
	var scope string
	for _, p := range d.state.Pauses {
		if p.Until.IsZero() {
			continue
		}
		if until.IsZero() || p.Until.Before(until) {
			until, scope = p.Until, p.Scope
		}
	}
	if until.IsZero() {
		return []cadence.Item{}
	}
	return []cadence.Item{{ID: cadence.ResumeItemID, Kind: cadence.ItemResume, At: until,
		Reason: fmt.Sprintf("the %s pause ends; the cadence goes on with the time it had left", scope)}}
}

// outlook is what pages show as next: the agenda and, while paused with a known end, every
// touch (the stage deadline included) where the resume will re-plan it.
func (d *deal) outlook() []cadence.Item {
	agenda := d.markSending(d.agenda())
	if !d.paused() || len(d.plan.AfterPause) == 0 {
		return agenda
	}
	return append(slices.Clip(agenda), d.plan.AfterPause...)
}

// markSending says, on the item whose send is in flight, that it is being sent.
func (d *deal) markSending(items []cadence.Item) []cadence.Item {
	if d.send == nil {
		return items
	}
	out := slices.Clone(items)
	for i := range out {
		if out[i].ID == d.send.item.ID {
			out[i].Reason = fmt.Sprintf("being sent since %s: retried until the relay accepts it, or the deal leaves the stage",
				d.send.since.UTC().Format(time.RFC3339))
		}
	}
	return out
}

// shownDeadline is the stage deadline pages show: while paused with a known end, where the
// resume will put it (the plan's own deadline is frozen).
func (d *deal) shownDeadline() time.Time {
	if d.paused() {
		for _, it := range d.plan.AfterPause {
			if it.ID == cadence.StaleItemID {
				return it.At
			}
		}
	}
	return d.plan.Deadline
}

// unfreeze forgets the frozen time of an item re-planned while paused (a snoozed task's
// escalation), so the resume keeps the new plan.
func (d *deal) unfreeze(itemID string) {
	if fr := d.state.Frozen; fr != nil {
		fr.Items = slices.DeleteFunc(slices.Clone(fr.Items), func(it FrozenItem) bool { return it.ID == itemID })
	}
}

// freeze records what each pending item of a visit still had to wait at `at`.
func freeze(visit int, at time.Time, items []cadence.Item, deadline time.Time, cals cadence.Calendars) *Frozen {
	f := &Frozen{Visit: visit, At: at}
	for _, it := range items {
		cal, contact := cals.Owner, false
		if it.Kind == cadence.ItemEmail {
			cal, contact = cals.Contact, true
		}
		f.Items = append(f.Items, FrozenItem{ID: it.ID, Remaining: cadence.Remaining(cal, at, it.At), Contact: contact})
	}
	if !deadline.IsZero() {
		rem := cadence.Remaining(cals.Owner, at, deadline)
		f.Deadline = &rem
	}
	return f
}

func (d *deal) pause(ctx workflow.Context, ev Event) error {
	scope, err := pauseScope(ev)
	if err != nil {
		return d.recordOutcome(ctx, ev, store.EventIgnored, err.Error())
	}
	now := workflow.Now(ctx)
	if !ev.Until.IsZero() && !ev.Until.After(now) {
		return d.recordOutcome(ctx, ev, store.EventIgnored, fmt.Sprintf("the pause would have ended at %s, already past", ev.Until.UTC().Format(time.RFC3339)))
	}
	for i, p := range d.state.Pauses {
		if p.Scope == scope {
			d.state.Pauses[i].Until = ev.Until
			d.dirty = true
			return d.recordOutcome(ctx, ev, store.EventApplied, fmt.Sprintf("already paused by its %s; the end of the pause is updated", scope))
		}
	}
	if !d.paused() {
		d.state.Frozen = nil // the next refresh freezes the visit as it stands now
	}
	d.state.Pauses = append(d.state.Pauses, Pause{Scope: scope, Since: now, Until: ev.Until})
	d.dirty = true
	d.logger.Info("Deal paused", "Scope", scope, "Until", ev.Until)
	return d.recordOutcome(ctx, ev, store.EventApplied, fmt.Sprintf("paused by its %s", scope))
}

func (d *deal) resume(ctx workflow.Context, ev Event) error {
	scope, err := pauseScope(ev)
	if err != nil {
		return d.recordOutcome(ctx, ev, store.EventIgnored, err.Error())
	}
	kept := d.state.Pauses[:0:0]
	found := false
	for _, p := range d.state.Pauses {
		if p.Scope == scope {
			found = true
			continue
		}
		kept = append(kept, p)
	}
	if !found {
		return d.recordOutcome(ctx, ev, store.EventIgnored, fmt.Sprintf("the deal is not paused by its %s", scope))
	}
	d.state.Pauses = kept
	if err := d.thawIfFree(ctx); err != nil {
		return err
	}
	reason := fmt.Sprintf("the %s pause is lifted", scope)
	if d.paused() {
		reason += fmt.Sprintf("; still paused by its %s", d.state.Pauses[0].Scope)
	}
	return d.recordOutcome(ctx, ev, store.EventApplied, reason)
}

// pausesEnd lifts the pauses whose end date has come.
func (d *deal) pausesEnd(ctx workflow.Context) error {
	now := workflow.Now(ctx)
	kept := d.state.Pauses[:0:0]
	for _, p := range d.state.Pauses {
		if p.Until.IsZero() || p.Until.After(now) {
			kept = append(kept, p)
		}
	}
	d.state.Pauses = kept
	return d.thawIfFree(ctx) // marks the deal for re-planning
}

// thawIfFree re-plans the frozen visit from now once no pause holds the deal: every pending
// item gets the business time it had left, counted from now in its calendar (and then the
// email window), and so does the stage deadline.
func (d *deal) thawIfFree(ctx workflow.Context) error {
	d.dirty = true
	fr := d.state.Frozen
	if d.paused() || fr == nil {
		return nil
	}
	d.state.Frozen = nil
	if fr.Visit != d.state.Visit.Number {
		return nil
	}
	now := workflow.Now(ctx)
	var th thawed
	err := workflow.SideEffect(ctx, func(workflow.Context) any {
		cals, err := d.calSpecs.Calendars()
		if err != nil {
			cals = cadence.DefaultCalendars()
		}
		return thaw(fr, now, cals)
	}).Get(&th)
	if err != nil {
		return err
	}
	d.state.Visit.Defer(th.Deferrals...)
	for _, e := range th.Escalations {
		for i := range d.state.OpenTasks {
			if t := &d.state.OpenTasks[i]; escalateItemID(t.ID) == e.ItemID && !t.Escalated {
				t.EscalateAt = e.Until
			}
		}
	}
	if !th.Deadline.IsZero() {
		d.state.Visit.Deadline = th.Deadline
	}
	d.logger.Info("Deal resumed", "Deferrals", len(th.Deferrals), "Deadline", th.Deadline)
	return nil
}

// thawed is a frozen visit given back its time from a resume instant.
type thawed struct {
	Deferrals   []cadence.Deferral `json:"deferrals,omitempty"`
	Deadline    time.Time          `json:"deadline,omitzero"`
	Escalations []cadence.Deferral `json:"escalations,omitempty"` // open tasks' new escalation instants
}

// thaw gives every frozen item, and the stage deadline, the business time it had left,
// counted from at in its calendar.
func thaw(fr *Frozen, at time.Time, cals cadence.Calendars) thawed {
	why := fmt.Sprintf("paused from %s to %s; re-planned with the time it had left",
		fr.At.UTC().Format("2006-01-02 15:04 MST"), at.UTC().Format("2006-01-02 15:04 MST"))
	var out thawed
	for _, it := range fr.Items {
		if it.ID == cadence.StaleItemID {
			continue // the deadline below carries it
		}
		cal := cals.Owner
		if it.Contact {
			cal = cals.Contact
		}
		moved := cadence.Deferral{ItemID: it.ID, Until: cadence.AddRemaining(cal, at, it.Remaining), Why: why}
		if strings.HasPrefix(it.ID, escalateItemPrefix) {
			out.Escalations = append(out.Escalations, moved)
			continue
		}
		out.Deferrals = append(out.Deferrals, moved)
	}
	if fr.Deadline != nil {
		out.Deadline = cadence.AddRemaining(cals.Owner, at, *fr.Deadline)
	}
	return out
}

// pausedUntil is when every pause holding the deal has ended; zero when one has no end.
func (d *deal) pausedUntil() time.Time {
	var until time.Time
	for _, p := range d.state.Pauses {
		if p.Until.IsZero() {
			return time.Time{}
		}
		if p.Until.After(until) {
			until = p.Until
		}
	}
	return until
}

// afterPause plans the frozen visit as the resume at `at` will: what the rep sees the pause
// move each touch to. Nil when the frozen state belongs to another visit.
func afterPause(p cadence.Pipeline, visit cadence.Visit, fr *Frozen, at time.Time, cals cadence.Calendars) ([]cadence.Item, error) {
	if fr == nil || fr.Visit != visit.Number {
		return nil, nil
	}
	th := thaw(fr, at, cals)
	visit.Defer(th.Deferrals...) // a new slice: the deal's own visit is not touched
	if !th.Deadline.IsZero() {
		visit.Deadline = th.Deadline
	}
	return cadence.Plan(p, visit, cals)
}

func pauseScope(ev Event) (string, error) {
	switch ev.Scope {
	case "":
		return ScopeDeal, nil
	case ScopeDeal, ScopeOwner, ScopePipeline:
		return ev.Scope, nil
	}
	return "", fmt.Errorf("unknown pause scope %q (want deal, owner or pipeline)", ev.Scope)
}
