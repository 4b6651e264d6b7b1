package calendar

import (
	"strings"
	"time"

	"github.com/followup-engine/followup/internal/cadence"
)

// Party is what a deal's calendars need of its owner or contact; empty fields fall back to
// the pipeline's calendar block.
type Party struct {
	Zone          string `json:"zone,omitempty"`
	Country       string `json:"country,omitempty"`
	BusinessHours string `json:"business_hours,omitempty"`
}

// DealSpecs are the two calendars a deal is planned in. Open means the pipeline has no
// calendar block: every hour is open (version 0 and second-scale demo pipelines).
type DealSpecs struct {
	Open    bool `json:"open,omitempty"`
	Owner   Spec `json:"owner"`
	Contact Spec `json:"contact"`
}

// ForDeal resolves a deal's calendars: the owner's zone, country and hours for limits and
// tasks; the contact's zone and country for emails, with the pipeline's email window.
func ForDeal(pipeline *cadence.CalendarSpec, owner, contact Party) DealSpecs {
	if pipeline == nil {
		return DealSpecs{Open: true}
	}
	base := SpecOf(*pipeline)
	pick := func(v, def string) string {
		if strings.TrimSpace(v) != "" {
			return v
		}
		return def
	}
	return DealSpecs{
		Owner: Spec{Zone: pick(owner.Zone, base.Zone), Country: pick(owner.Country, base.Country),
			BusinessHours: pick(owner.BusinessHours, base.BusinessHours)},
		Contact: Spec{Zone: pick(contact.Zone, base.Zone), Country: pick(contact.Country, base.Country),
			BusinessHours: base.BusinessHours, Window: base.Window},
	}
}

// Calendars builds the planner's calendars from resolved specs.
func (s DealSpecs) Calendars() (cadence.Calendars, error) {
	if s.Open {
		return cadence.DefaultCalendars(), nil
	}
	owner, err := New(s.Owner)
	if err != nil {
		return cadence.Calendars{}, err
	}
	contact, err := New(s.Contact)
	if err != nil {
		return cadence.Calendars{}, err
	}
	return cadence.Calendars{Owner: owner, Contact: contact}, nil
}

// AddWhy is AddExplained with the shifts as sentences, for the planner's reasons.
func (c *Calendar) AddWhy(from time.Time, d cadence.Duration) (time.Time, []string) {
	at, shifts := c.AddExplained(from, d)
	return at, c.sentences(shifts)
}

// NextSlot is NextWindow with the shifts as sentences; without an email window it is the
// next business opening.
func (c *Calendar) NextSlot(t time.Time) (time.Time, []string) {
	if !c.hasWindow {
		at, shifts := c.nextOpen(t, true)
		return at, c.sentences(shifts)
	}
	at, shifts := c.NextWindow(t)
	return at, c.sentences(shifts)
}

// InSlot reports whether an email may leave at t: inside the window, or business hours
// when there is no window.
func (c *Calendar) InSlot(t time.Time) bool {
	if !c.hasWindow {
		return c.IsOpen(t)
	}
	return c.InWindow(t)
}

// Fraction is the instant percent of the way through the business time between from and to
// (on_stale rungs), counted in whole business minutes.
func (c *Calendar) Fraction(from, to time.Time, percent int) time.Time {
	mins := c.BusinessMinutesBetween(from, to)
	return c.AddBusinessMinutes(from, mins*percent/100)
}

func (c *Calendar) sentences(shifts []Shift) []string {
	out := make([]string, 0, len(shifts))
	for _, s := range shifts {
		out = append(out, s.Reason+" → "+s.To.In(c.loc).Format("Mon 2006-01-02 15:04 MST"))
	}
	return out
}
