// Package calendar is the business calendar of the follow-up engine: business hours, public
// holidays per country (github.com/rickar/cal/v2), email windows and deterministic jitter,
// read in one IANA time zone. It implements cadence.Calendar.
//
// Everything here is pure: results depend only on the arguments, the Spec and the zone
// database. Callers in workflow code record the instants they compute (workflow.SideEffect;
// ARCHITECTURE.md, "Determinism and replay"), so a later tzdata or holiday-table change never
// alters a running deal's replay.
//
// Rules, in one place:
//
//   - A holiday closes its whole local day, 00:00 to 24:00: any instant whose local date is a
//     holiday is closed, including the part of a span that runs past midnight into it.
//   - seconds, minutes, hours: elapsed time. days: calendar days in the zone (AddDate, so the
//     wall time is kept across DST changes). None of them snaps to business hours.
//   - business_hours: only open time counts; a start outside hours snaps to the next opening
//     first. A count that ends exactly when a span closes returns that closing instant.
//   - business_days: one business day is one day's span(s) of business hours (a "shift",
//     named by the local date its spans start on; a date counts when some of its shift is
//     open after holidays). The start snaps to the next opening; the result is the same wall
//     time in the Nth following shift. When that wall time is not open there it is clamped
//     into the shift: before its first opening → the first opening; in a gap (a lunch break)
//     → the next opening of the shift; at or after its last closing → that closing instant
//     (the end of business day N, never a later day). AddExplained reports a clamp as a shift,
//     which moves the instant earlier in the last case.
//   - Negative amounts (cadence validation rejects them) count as zero for business units.
//   - Emails: the planner adds the step delay with Add, then NextWindow moves the instant to
//     the earliest open instant inside the email window.
package calendar

import (
	"fmt"
	"iter"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rickar/cal/v2"

	"github.com/followup-engine/followup/internal/cadence"
)

// Spec describes a calendar.
type Spec struct {
	// Zone is an IANA zone name such as "Europe/Berlin"; empty means UTC.
	Zone string `json:"zone,omitempty"`
	// Country names the public holidays that close whole days: an ISO 3166-1 alpha-2 code
	// ("de", "us"), a region code ("de-by", "au-nsw"), or several separated by commas. Empty
	// means no holidays. See Countries.
	Country string `json:"country,omitempty"`
	// BusinessHours is a weekly schedule (see Hours); empty means DefaultBusinessHours.
	BusinessHours string `json:"business_hours,omitempty"`
	// Window is the optional email window, intersected with business time for emails.
	Window string `json:"window,omitempty"`
}

// SpecOf maps a cadence file's calendar block to a Spec; its holiday codes are joined.
func SpecOf(cs cadence.CalendarSpec) Spec {
	return Spec{
		Zone:          cs.Zone,
		Country:       strings.Join(cs.Holidays, ","),
		BusinessHours: cs.BusinessHours,
		Window:        cs.EmailWindow,
	}
}

// Calendar is a business calendar in one zone. Build it with New; it is safe for concurrent
// use.
type Calendar struct {
	spec      Spec
	loc       *time.Location
	hours     Hours
	window    Hours
	hasWindow bool
	holidays  []*cal.Holiday

	mu    sync.Mutex
	years map[int]map[civil]string // holiday names by date, filled on demand
}

var _ cadence.Calendar = (*Calendar)(nil)

// Shift explains one move of an instant: from From to To, because of Reason.
type Shift struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Reason string    `json:"reason"`
}

// Reasons a Shift carries; holiday shifts read HolidayReasonPrefix + the holiday's name
// (as rickar/cal spells it, in the country's language; " (observed)" marks a substitute day).
const (
	ReasonWeekend       = "weekend"
	ReasonOutsideHours  = "outside business hours"
	ReasonOutsideWindow = "outside the email window"
	HolidayReasonPrefix = "holiday: "
)

func (s Shift) String() string {
	const layout = "Mon 2006-01-02 15:04 MST"
	return fmt.Sprintf("%s → %s: %s", s.From.Format(layout), s.To.Format(layout), s.Reason)
}

// New builds a calendar from a spec, reporting an unknown zone, an unknown holiday code, a
// malformed schedule, or an email window that never overlaps business hours.
func New(spec Spec) (*Calendar, error) {
	c := &Calendar{spec: spec, years: map[int]map[civil]string{}}
	zone := strings.TrimSpace(spec.Zone)
	switch {
	case zone == "":
		c.loc = time.UTC
	case zone == "Local":
		return nil, fmt.Errorf("calendar zone %q depends on the host; name an IANA zone such as \"Europe/Berlin\"", spec.Zone)
	default:
		loc, err := time.LoadLocation(zone)
		if err != nil {
			return nil, fmt.Errorf("calendar zone %q: unknown IANA time zone (want e.g. \"Europe/Berlin\")", spec.Zone)
		}
		c.loc = loc
	}
	hol, err := holidaysFor(spec.Country)
	if err != nil {
		return nil, err
	}
	c.holidays = hol
	hoursText := spec.BusinessHours
	if strings.TrimSpace(hoursText) == "" {
		hoursText = DefaultBusinessHours
	}
	if c.hours, err = ParseHours(hoursText); err != nil {
		return nil, err
	}
	if strings.TrimSpace(spec.Window) != "" {
		if c.window, err = ParseWindow(spec.Window); err != nil {
			return nil, err
		}
		if !c.window.overlaps(c.hours) {
			return nil, fmt.Errorf("email window %q never overlaps business hours %q, so no email could ever be sent", spec.Window, c.hours)
		}
		c.hasWindow = true
	}
	return c, nil
}

// MustNew is New for specs known to be valid (built-in cadences, tests); it panics on error.
func MustNew(spec Spec) *Calendar {
	c, err := New(spec)
	if err != nil {
		panic(err)
	}
	return c
}

// Known reports whether code is a holiday code Spec.Country accepts (lower case).
func Known(code string) bool {
	_, ok := holidaySets[code]
	return ok
}

// Countries lists the holiday codes Spec.Country accepts, sorted.
func Countries() []string {
	out := make([]string, 0, len(holidaySets))
	for k := range holidaySets {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func holidaysFor(codes string) ([]*cal.Holiday, error) {
	var out []*cal.Holiday
	seen := map[*cal.Holiday]bool{}
	for _, code := range strings.FieldsFunc(codes, func(r rune) bool { return r == ',' || r == ' ' || r == ';' }) {
		set, ok := holidaySets[strings.ToLower(code)]
		if !ok {
			var national, regional []string
			for _, k := range Countries() {
				if strings.Contains(k, "-") {
					regional = append(regional, k)
				} else {
					national = append(national, k)
				}
			}
			return nil, fmt.Errorf("holidays: unknown country code %q (want an ISO 3166-1 alpha-2 code: %s; or a region: %s)",
				code, strings.Join(national, ", "), strings.Join(regional, ", "))
		}
		for _, h := range set {
			if !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	return out, nil
}

// Spec returns the spec the calendar was built from.
func (c *Calendar) Spec() Spec { return c.spec }

// Location returns the calendar's zone.
func (c *Calendar) Location() *time.Location { return c.loc }

// BusinessHours returns the parsed business hours.
func (c *Calendar) BusinessHours() Hours { return c.hours }

// Window returns the email window, and false when the calendar has none (emails then go out
// in business hours).
func (c *Calendar) Window() (Hours, bool) { return c.window, c.hasWindow }

// Holiday reports the public holiday on t's local date, by name.
func (c *Calendar) Holiday(t time.Time) (string, bool) {
	return c.holidayOn(c.civilOf(t))
}

// IsOpen reports whether t lies inside business hours on a day that is not a holiday.
func (c *Calendar) IsOpen(t time.Time) bool {
	t = c.norm(t)
	if _, hol := c.holidayOn(c.civilOf(t)); hol {
		return false
	}
	return c.scheduledAt(&c.hours, t)
}

// InWindow reports whether an email may go out at t: open, and inside the email window if any.
func (c *Calendar) InWindow(t time.Time) bool {
	t = c.norm(t)
	return c.IsOpen(t) && (!c.hasWindow || c.scheduledAt(&c.window, t))
}

// NextOpen returns the earliest instant at or after t inside business hours and not on a
// holiday.
func (c *Calendar) NextOpen(t time.Time) time.Time {
	at, _ := c.nextOpen(c.norm(t), false)
	return at
}

// NextWindow returns the earliest instant at or after t at which an email may go out (inside
// business hours, not on a holiday, inside the email window if any), and the shifts that led
// there, in order. No shift means t itself was fine.
func (c *Calendar) NextWindow(t time.Time) (time.Time, []Shift) {
	cur, shifts := c.nextOpen(c.norm(t), true)
	if !c.hasWindow {
		return cur, shifts
	}
	for hop := 0; ; hop++ {
		if hop > maxHops {
			panic(fmt.Sprintf("calendar: no email window found after %s (%d hops)", t, maxHops))
		}
		if c.scheduledAt(&c.window, cur) {
			return cur, shifts
		}
		next := c.nextScheduled(&c.window, cur)
		shifts = appendShift(shifts, Shift{From: cur, To: next, Reason: ReasonOutsideWindow})
		var more []Shift
		cur, more = c.nextOpen(next, true)
		for _, s := range more {
			shifts = appendShift(shifts, s)
		}
	}
}

// Add implements cadence.Calendar; see the package comment for the rule of each unit.
func (c *Calendar) Add(from time.Time, d cadence.Duration) time.Time {
	at, _ := c.add(from, d, false)
	return at
}

// AddExplained is Add, also returning the shifts business units caused: the snap of a start
// outside hours, each holiday that closed a business day the count crossed, and a clamp of
// business_days into the target day's hours. Calendar units never shift.
func (c *Calendar) AddExplained(from time.Time, d cadence.Duration) (time.Time, []Shift) {
	return c.add(from, d, true)
}

// AddBusiness adds d of open time to from (a start outside hours snaps to the next opening
// first). A non-positive d returns that opening.
func (c *Calendar) AddBusiness(from time.Time, d time.Duration) time.Time {
	at, _ := c.addBusiness(c.norm(from), d, false)
	return at
}

// AddBusinessMinutes adds n business minutes; see AddBusiness.
func (c *Calendar) AddBusinessMinutes(from time.Time, n int) time.Time {
	return c.AddBusiness(from, time.Duration(n)*time.Minute)
}

// BusinessBetween returns the open time in [a, b); negative when b is before a.
func (c *Calendar) BusinessBetween(a, b time.Time) time.Duration {
	a, b = c.norm(a), c.norm(b)
	if b.Before(a) {
		return -c.BusinessBetween(b, a)
	}
	var total time.Duration
	for iv := range c.openFrom(a) {
		if !iv.s.Before(b) {
			break
		}
		s, e := later(iv.s, a), earlier(iv.e, b)
		if e.After(s) {
			total += e.Sub(s)
		}
	}
	return total
}

// BusinessMinutesBetween is BusinessBetween in whole minutes (truncated toward zero).
func (c *Calendar) BusinessMinutesBetween(a, b time.Time) int {
	return int(c.BusinessBetween(a, b) / time.Minute)
}

// --- internals ---

const (
	maxHops     = 10000 // hops between business hours, holidays and window: far beyond any real calendar
	maxScanDays = 400   // consecutive days without an opening before we call the calendar broken
)

// civil is a local calendar date.
type civil struct {
	y int
	m time.Month
	d int
}

func (d civil) add(n int) civil {
	y, m, dd := time.Date(d.y, d.m, d.d+n, 12, 0, 0, 0, time.UTC).Date()
	return civil{y, m, dd}
}

func (d civil) weekday() time.Weekday {
	return time.Date(d.y, d.m, d.d, 12, 0, 0, 0, time.UTC).Weekday()
}

func (d civil) before(o civil) bool {
	if d.y != o.y {
		return d.y < o.y
	}
	if d.m != o.m {
		return d.m < o.m
	}
	return d.d < o.d
}

func (c *Calendar) norm(t time.Time) time.Time { return t.Round(0).In(c.loc) }

func (c *Calendar) civilOf(t time.Time) civil {
	y, m, d := t.In(c.loc).Date()
	return civil{y, m, d}
}

// wall is the instant of minute min after the start of local date d, normalised by time.Date
// (min may pass 24:00; a wall time skipped by DST lands after the gap).
func (c *Calendar) wall(d civil, min int) time.Time {
	return time.Date(d.y, d.m, d.d, 0, min, 0, 0, c.loc)
}

func (c *Calendar) midnight(d civil) time.Time { return c.wall(d, 0) }

type interval struct{ s, e time.Time }

// scheduled returns the spans of h that start on local date d, as instants, ignoring holidays.
func (c *Calendar) scheduled(h *Hours, d civil) []interval {
	var out []interval
	for _, sp := range h.days[d.weekday()] {
		s, e := c.wall(d, sp.start), c.wall(d, sp.end)
		if e.After(s) {
			out = append(out, interval{s, e})
		}
	}
	return out
}

// shift returns the open parts of the business spans that start on local date d: holidays
// cut out whole local days.
func (c *Calendar) shift(d civil) []interval {
	var out []interval
	for _, iv := range c.scheduled(&c.hours, d) {
		out = append(out, c.clip(iv)...)
	}
	return out
}

// clip removes from iv the parts that fall on holidays.
func (c *Calendar) clip(iv interval) []interval {
	var out []interval
	for s := iv.s; s.Before(iv.e); {
		day := c.civilOf(s)
		e := earlier(iv.e, c.midnight(day.add(1)))
		if !e.After(s) { // cannot happen with sane zones; avoid looping
			e = iv.e
		}
		if _, hol := c.holidayOn(day); !hol {
			out = append(out, interval{s, e})
		}
		s = e
	}
	return out
}

// openFrom yields the open intervals (business hours minus holidays) that end after t, in
// chronological order; intervals may touch but never overlap.
func (c *Calendar) openFrom(t time.Time) iter.Seq[interval] {
	return func(yield func(interval) bool) {
		empty := 0
		for d := c.civilOf(t).add(-1); ; d = d.add(1) {
			found := false
			for _, iv := range c.shift(d) {
				if !iv.e.After(t) {
					continue
				}
				found = true
				if !yield(interval{later(iv.s, t), iv.e}) {
					return
				}
			}
			if found {
				empty = 0
			} else if empty++; empty > maxScanDays {
				panic(fmt.Sprintf("calendar: no business hours in %d days after %s", maxScanDays, t))
			}
		}
	}
}

// scheduledAt reports whether t lies inside one of h's spans, ignoring holidays.
func (c *Calendar) scheduledAt(h *Hours, t time.Time) bool {
	today := c.civilOf(t)
	for _, d := range []civil{today.add(-1), today} {
		for _, iv := range c.scheduled(h, d) {
			if !t.Before(iv.s) && t.Before(iv.e) {
				return true
			}
		}
	}
	return false
}

// nextScheduled returns the earliest instant ≥ t inside one of h's spans, ignoring holidays.
func (c *Calendar) nextScheduled(h *Hours, t time.Time) time.Time {
	start := c.civilOf(t).add(-1)
	for i := 0; i < 16; i++ {
		for _, iv := range c.scheduled(h, start.add(i)) {
			if iv.e.After(t) {
				return later(iv.s, t).In(c.loc)
			}
		}
	}
	panic(fmt.Sprintf("calendar: schedule %q has no span in two weeks after %s", h, t))
}

// nextOpen moves t to the earliest open instant, explaining each move when asked. A holiday
// is named when it closes a day that has business hours; a holiday on a day without any
// (a Saturday) is just part of the weekend.
func (c *Calendar) nextOpen(t time.Time, explain bool) (time.Time, []Shift) {
	var shifts []Shift
	cur := t
	for hop := 0; ; hop++ {
		if hop > maxHops {
			panic(fmt.Sprintf("calendar: no business hours found after %s (%d hops)", t, maxHops))
		}
		day := c.civilOf(cur)
		if name, hol := c.holidayOn(day); hol && c.hasHours(day) {
			next := c.nextScheduled(&c.hours, c.midnight(day.add(1)))
			if explain {
				shifts = appendShift(shifts, Shift{From: cur, To: next, Reason: HolidayReasonPrefix + name})
			}
			cur = next
			continue
		}
		next := c.nextScheduled(&c.hours, cur)
		if !next.After(cur) {
			return cur, shifts
		}
		if explain {
			shifts = appendShift(shifts, Shift{From: cur, To: next, Reason: c.gapReason(cur, next)})
		}
		cur = next
	}
}

// hasHours reports whether any business span covers part of local date d: one that starts on
// d, or one of the day before that runs past midnight.
func (c *Calendar) hasHours(d civil) bool {
	if len(c.hours.days[d.weekday()]) > 0 {
		return true
	}
	for _, sp := range c.hours.days[d.add(-1).weekday()] {
		if sp.end > minutesPerDay {
			return true
		}
	}
	return false
}

// gapReason explains a move between business spans: "weekend" when it crosses a local date
// on which no business span starts, else "outside business hours".
func (c *Calendar) gapReason(from, to time.Time) string {
	end := c.civilOf(to)
	for d := c.civilOf(from); d.before(end); d = d.add(1) {
		if len(c.hours.days[d.weekday()]) == 0 {
			return ReasonWeekend
		}
	}
	return ReasonOutsideHours
}

// appendShift appends s, merging it into the previous shift when they continue each other
// for the same reason, and dropping empty moves.
func appendShift(shifts []Shift, s Shift) []Shift {
	if !s.To.After(s.From) {
		return shifts
	}
	if n := len(shifts); n > 0 && shifts[n-1].Reason == s.Reason && shifts[n-1].To.Equal(s.From) {
		shifts[n-1].To = s.To
		return shifts
	}
	return append(shifts, s)
}

func (c *Calendar) add(from time.Time, d cadence.Duration, explain bool) (time.Time, []Shift) {
	from = c.norm(from)
	n := d.Amount
	switch d.Unit {
	case cadence.Seconds:
		return from.Add(time.Duration(n) * time.Second), nil
	case cadence.Minutes:
		return from.Add(time.Duration(n) * time.Minute), nil
	case cadence.Hours:
		return from.Add(time.Duration(n) * time.Hour), nil
	case cadence.Days:
		return from.AddDate(0, 0, n), nil
	case cadence.BusinessHours:
		return c.addBusiness(from, time.Duration(n)*time.Hour, explain)
	case cadence.BusinessDays:
		return c.addBusinessDays(from, n, explain)
	default:
		if n == 0 {
			return from, nil
		}
		panic(fmt.Errorf("calendar: unknown unit %q (validate pipelines before planning)", d.Unit))
	}
}

func (c *Calendar) addBusiness(from time.Time, d time.Duration, explain bool) (time.Time, []Shift) {
	start, shifts := c.nextOpen(from, explain)
	result := start
	if d > 0 {
		remaining := d
		for iv := range c.openFrom(start) {
			avail := iv.e.Sub(iv.s)
			if remaining <= avail {
				result = iv.s.Add(remaining)
				break
			}
			remaining -= avail
		}
	}
	if explain {
		shifts = append(shifts, c.holidayShifts(start, result)...)
	}
	return result.In(c.loc), shifts
}

// holidayShifts explains the business days closed by holidays whose scheduled opening lies in
// [from, to): each moves that opening to the next scheduled opening after the holiday.
func (c *Calendar) holidayShifts(from, to time.Time) []Shift {
	var out []Shift
	end := c.civilOf(to)
	for d := c.civilOf(from); !end.before(d); d = d.add(1) {
		name, hol := c.holidayOn(d)
		if !hol {
			continue
		}
		ivs := c.scheduled(&c.hours, d)
		if len(ivs) == 0 || ivs[0].s.Before(from) || !ivs[0].s.Before(to) {
			continue
		}
		next := c.nextScheduled(&c.hours, c.midnight(d.add(1)))
		out = append(out, Shift{From: ivs[0].s.In(c.loc), To: next, Reason: HolidayReasonPrefix + name})
	}
	return out
}

func (c *Calendar) addBusinessDays(from time.Time, n int, explain bool) (time.Time, []Shift) {
	start, shifts := c.nextOpen(from, explain)
	if n <= 0 {
		return start, shifts
	}
	// The shift (local date) the start belongs to: a span of yesterday that runs past
	// midnight, or one of today.
	today := c.civilOf(start)
	anchor, delta := today, 0
	for _, iv := range c.scheduled(&c.hours, today.add(-1)) {
		if !start.Before(iv.s) && start.Before(iv.e) {
			anchor, delta = today.add(-1), 1
		}
	}
	day := anchor
	var ivs []interval
	for counted, scanned := 0, 0; counted < n; {
		day = day.add(1)
		if scanned++; scanned > maxScanDays+n*7 {
			panic(fmt.Sprintf("calendar: cannot count %d business days from %s", n, start))
		}
		if ivs = c.shift(day); len(ivs) > 0 {
			counted++
			continue
		}
		if sched := c.scheduled(&c.hours, day); explain && len(sched) > 0 {
			name, _ := c.holidayOn(day)
			next := c.nextScheduled(&c.hours, c.midnight(day.add(1)))
			shifts = append(shifts, Shift{From: sched[0].s.In(c.loc), To: next, Reason: HolidayReasonPrefix + name})
		}
	}
	hh, mm, ss := start.Clock()
	want := time.Date(day.y, day.m, day.d+delta, hh, mm, ss, start.Nanosecond(), c.loc)
	got := clampInto(want, ivs)
	if explain && !got.Equal(want) {
		reason := ReasonOutsideHours
		if name, hol := c.holidayOn(c.civilOf(want)); hol {
			reason = HolidayReasonPrefix + name
		}
		shifts = append(shifts, Shift{From: want, To: got.In(c.loc), Reason: reason})
	}
	return got.In(c.loc), shifts
}

// clampInto returns t when it lies in one of the (chronological, non-empty) intervals;
// otherwise the first opening after t among them, or the last closing when t is past them all.
func clampInto(t time.Time, ivs []interval) time.Time {
	for _, iv := range ivs {
		if t.Before(iv.s) {
			return iv.s
		}
		if t.Before(iv.e) {
			return t
		}
	}
	return ivs[len(ivs)-1].e
}

// holidayOn returns the name of the public holiday observed on local date d.
func (c *Calendar) holidayOn(d civil) (string, bool) {
	if len(c.holidays) == 0 {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	table, ok := c.years[d.y]
	if !ok {
		table = c.yearTable(d.y)
		c.years[d.y] = table
	}
	name, ok := table[d]
	return name, ok
}

// yearTable lists the observed holidays falling in year y (a substitute day can come from the
// previous or next year's holiday, e.g. 1 January on a Saturday observed on 31 December).
// When two holidays share a day the first in list order names it.
func (c *Calendar) yearTable(y int) map[civil]string {
	table := map[civil]string{}
	for _, h := range c.holidays {
		for _, year := range []int{y - 1, y, y + 1} {
			actual, observed := h.Calc(year)
			if observed.IsZero() {
				continue
			}
			oy, om, od := observed.Date()
			if oy != y {
				continue
			}
			key := civil{oy, om, od}
			if _, taken := table[key]; taken {
				continue
			}
			name := h.Name
			if ay, am, ad := actual.Date(); ay != oy || am != om || ad != od {
				name += " (observed)"
			}
			table[key] = name
		}
	}
	return table
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
