// Package preview shows the exact timeline a deal would get from a cadence, computed by the
// same planner and calendars the deal workflow uses.
package preview

import (
	"errors"
	"fmt"
	"time"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/calendar"
)

// Request describes the sample deal.
type Request struct {
	Start   time.Time      `json:"start"`
	Owner   calendar.Party `json:"owner"`
	Contact calendar.Party `json:"contact"`
	Days    int            `json:"days"` // horizon; default 90
	// DealID seeds the small deterministic jitter that spreads emails inside the window,
	// exactly as the workflow does for that deal; default "preview".
	DealID string `json:"deal_id,omitempty"`
	// Emails adds to each email touch what the prospect would receive (Touch.Email): sender,
	// text part, and what a contact known only by address would see where it differs.
	Emails bool `json:"emails,omitempty"`
}

// Touch is one entry of the timeline.
type Touch struct {
	Stage  string    `json:"stage"`
	Visit  int       `json:"visit"`
	Item   string    `json:"item"`
	Kind   string    `json:"kind"`  // the planner's item kind: email, task, stale, exhausted, stale_task, wait
	What   string    `json:"what"`  // the kind for people: "stale warning task", "wait ends" (see Label)
	At     time.Time `json:"at"`    // UTC
	Local  string    `json:"local"` // in the zone of whoever it is for: the contact for emails, the owner otherwise
	DueAt  time.Time `json:"due_at,omitzero"`
	Reason string    `json:"reason"`
	// Email touches: the subject the prospect sees, rendered with sample data ("Re: " and the
	// thread's subject for a threaded step), and the email a threaded step replies to
	// ("prospecting/intro#1"): the previous email of the timeline, which the preview assumes sent.
	Subject   string `json:"subject,omitempty"`
	InReplyTo string `json:"in_reply_to,omitempty"`
	Email     *Email `json:"email,omitempty"` // with Request.Emails
}

// MaxDays bounds a preview's horizon.
const MaxDays = 730

// Timeline simulates a deal entering p's first stage at r.Start, nobody answering: every
// step at its planned instant, every time limit firing.
func Timeline(p cadence.Pipeline, r Request) ([]Touch, error) {
	if r.Start.IsZero() {
		return nil, errors.New("preview needs a start instant")
	}
	if r.Days == 0 {
		r.Days = 90
	}
	if r.Days < 1 || r.Days > MaxDays {
		return nil, fmt.Errorf("preview horizon of %d days: want 1 to %d", r.Days, MaxDays)
	}
	specs := calendar.ForDeal(p.Calendar, r.Owner, r.Contact)
	cals, err := specs.Calendars()
	if err != nil {
		return nil, err
	}
	cals.JitterKey = r.DealID
	if cals.JitterKey == "" {
		cals.JitterKey = "preview"
	}
	entries, err := cadence.Simulate(p, cals, r.Start.UTC(), time.Duration(r.Days)*24*time.Hour, 1000)
	if err != nil {
		return nil, err
	}
	ownerLoc, contactLoc := location(cals.Owner), location(cals.Contact)
	out := make([]Touch, 0, len(entries))
	var last *sent                   // the deal's last email: what a threaded step replies to
	renders := map[string]rendered{} // each template renders once
	for _, e := range entries {
		loc := ownerLoc
		if e.Item.Kind == cadence.ItemEmail {
			loc = contactLoc
		}
		t := Touch{
			Stage: e.Stage, Visit: e.Visit, Item: e.Item.ID, Kind: string(e.Item.Kind), What: Label(e.Item.Kind),
			At: e.Item.At.UTC(), Local: e.Item.At.In(loc).Format("Mon 2006-01-02 15:04 MST"),
			DueAt: e.Item.DueAt.UTC(), Reason: e.Item.Reason,
		}
		if e.Item.Kind == cadence.ItemEmail {
			s, err := compose(p, &t, e.Item.StepID, last, r.Emails, renders)
			if err != nil {
				return nil, err
			}
			last = &s
		}
		out = append(out, t)
	}
	return out, nil
}

func location(c cadence.Calendar) *time.Location {
	if cal, ok := c.(*calendar.Calendar); ok {
		return cal.Location()
	}
	return time.UTC
}
