package calendar

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// DefaultBusinessHours are the business hours of a Spec that names none.
const DefaultBusinessHours = "Mon-Fri 09:00-17:00"

const (
	minutesPerDay  = 24 * 60
	minutesPerWeek = 7 * minutesPerDay
)

// Hours is a weekly schedule of open spans in wall-clock time, such as business hours or an
// email window. It carries no zone: a Calendar reads it in its own location.
//
// Grammar (case-insensitive, spaces free):
//
//	hours   = "always" | group { ";" group }
//	group   = days spans
//	days    = dayitem { "," dayitem }
//	dayitem = day [ "-" day ]          ranges wrap around the week: "Fri-Mon" is Fri, Sat, Sun, Mon
//	day     = "Mon" | "Tue" | "Wed" | "Thu" | "Fri" | "Sat" | "Sun"   (full names are accepted too)
//	spans   = span { "," span }
//	span    = time "-" time             an end at or before the start runs past midnight
//	time    = H:MM or HH:MM, 00:00…23:59; 24:00 only as an end
//
// Examples: "Mon-Fri 09:00-17:00"; "Mon-Thu 08:30-12:00, 13:00-17:30; Fri 08:30-12:00";
// "Sun-Thu 22:00-02:00" (each span starts on the named day and ends at 02:00 the next day);
// "always" (Mon-Sun 00:00-24:00).
//
// A span belongs to the day it starts on; it lasts at most 24 hours. Spans must not overlap
// (across midnight and the end of the week too); spans that touch are fine.
type Hours struct {
	text string
	days [7][]span // indexed by time.Weekday, sorted by start
}

// span is one open span: minutes after the midnight that begins its day. End is greater than
// start and at most start+24h, so it may pass 24:00 into the next day.
type span struct {
	day        time.Weekday
	start, end int
}

func (s span) String() string {
	end := s.end
	if end > minutesPerDay {
		end -= minutesPerDay
	}
	return fmt.Sprintf("%s %s-%s", dayAbbrev[s.day], clock(s.start), clock(end))
}

func clock(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// String returns the schedule as written.
func (h Hours) String() string { return h.text }

// IsZero reports whether h is the zero Hours (no schedule parsed).
func (h Hours) IsZero() bool { return h.text == "" }

// ParseHours parses business hours; see Hours for the grammar.
func ParseHours(s string) (Hours, error) { return parseHours("business hours", s) }

// ParseWindow parses an email window. The grammar is that of Hours; only error messages
// differ ("email window …").
func ParseWindow(s string) (Hours, error) { return parseHours("email window", s) }

var dayAbbrev = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

var dayNames = map[string]time.Weekday{
	"mon": time.Monday, "monday": time.Monday,
	"tue": time.Tuesday, "tues": time.Tuesday, "tuesday": time.Tuesday,
	"wed": time.Wednesday, "wednesday": time.Wednesday,
	"thu": time.Thursday, "thur": time.Thursday, "thurs": time.Thursday, "thursday": time.Thursday,
	"fri": time.Friday, "friday": time.Friday,
	"sat": time.Saturday, "saturday": time.Saturday,
	"sun": time.Sunday, "sunday": time.Sunday,
}

type tokKind int

const (
	tokWord tokKind = iota
	tokTime
	tokDash
	tokComma
	tokSemi
)

type token struct {
	kind tokKind
	text string
}

func tokenize(s string) ([]token, error) {
	var toks []token
	rs := []rune(s)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '-' || r == '–' || r == '—':
			toks = append(toks, token{tokDash, string(r)})
			i++
		case r == ',':
			toks = append(toks, token{tokComma, ","})
			i++
		case r == ';':
			toks = append(toks, token{tokSemi, ";"})
			i++
		case unicode.IsLetter(r):
			j := i
			for j < len(rs) && unicode.IsLetter(rs[j]) {
				j++
			}
			toks = append(toks, token{tokWord, string(rs[i:j])})
			i = j
		case unicode.IsDigit(r):
			j := i
			for j < len(rs) && (unicode.IsDigit(rs[j]) || rs[j] == ':' || rs[j] == '.') {
				j++
			}
			toks = append(toks, token{tokTime, string(rs[i:j])})
			i = j
		default:
			return nil, fmt.Errorf("unexpected %q", string(r))
		}
	}
	return toks, nil
}

func parseHours(what, s string) (Hours, error) {
	fail := func(format string, args ...any) (Hours, error) {
		return Hours{}, fmt.Errorf("%s %q: %s", what, s, fmt.Sprintf(format, args...))
	}
	text := strings.TrimSpace(s)
	if text == "" {
		return fail("empty (want e.g. %q)", DefaultBusinessHours)
	}
	body := text
	if strings.EqualFold(text, "always") {
		body = "Mon-Sun 00:00-24:00"
	}
	toks, err := tokenize(body)
	if err != nil {
		return fail("%v", err)
	}
	h := Hours{text: text}
	var all []span
	for len(toks) > 0 {
		end := 0
		for end < len(toks) && toks[end].kind != tokSemi {
			end++
		}
		group := toks[:end]
		if end < len(toks) {
			toks = toks[end+1:]
		} else {
			toks = nil
		}
		if len(group) == 0 {
			continue // tolerate ";;" and a trailing ";"
		}
		spans, err := parseGroup(group)
		if err != nil {
			return fail("%v", err)
		}
		all = append(all, spans...)
	}
	if len(all) == 0 {
		return fail("no day has open hours (want e.g. %q)", DefaultBusinessHours)
	}
	if err := checkOverlaps(all); err != nil {
		return fail("%v", err)
	}
	for _, sp := range all {
		h.days[sp.day] = append(h.days[sp.day], sp)
	}
	for d := range h.days {
		sort.Slice(h.days[d], func(i, j int) bool { return h.days[d][i].start < h.days[d][j].start })
	}
	return h, nil
}

func parseGroup(toks []token) ([]span, error) {
	i := 0
	if toks[0].kind != tokWord {
		return nil, fmt.Errorf("expected a day (Mon…Sun) before %q", toks[0].text)
	}
	var days []time.Weekday
	seen := map[time.Weekday]bool{}
	add := func(d time.Weekday) {
		if !seen[d] {
			seen[d] = true
			days = append(days, d)
		}
	}
	var daysText []string
	for {
		from, err := parseDay(toks[i].text)
		if err != nil {
			return nil, err
		}
		item := toks[i].text
		i++
		to := from
		if i+1 < len(toks) && toks[i].kind == tokDash && toks[i+1].kind == tokWord {
			if to, err = parseDay(toks[i+1].text); err != nil {
				return nil, err
			}
			item += "-" + toks[i+1].text
			i += 2
		} else if i < len(toks) && toks[i].kind == tokDash {
			return nil, fmt.Errorf("day range %q needs an end day (Mon…Sun)", item+"-")
		}
		for d := from; ; d = (d + 1) % 7 {
			add(d)
			if d == to {
				break
			}
		}
		daysText = append(daysText, item)
		if i+1 < len(toks) && toks[i].kind == tokComma && toks[i+1].kind == tokWord {
			i++
			continue
		}
		break
	}
	label := strings.Join(daysText, ",")
	if i == len(toks) {
		return nil, fmt.Errorf("%s has no time span (want e.g. %q)", label, DefaultBusinessHours)
	}
	if toks[i].kind != tokTime {
		return nil, fmt.Errorf("unexpected %q after %s (want a time span like 09:00-17:00)", toks[i].text, label)
	}
	var spans []span
	for {
		if i+2 >= len(toks) || toks[i].kind != tokTime || toks[i+1].kind != tokDash || toks[i+2].kind != tokTime {
			got := toks[i].text
			if i+1 < len(toks) {
				got += toks[i+1].text
			}
			if i+2 < len(toks) {
				got += toks[i+2].text
			}
			return nil, fmt.Errorf("time span %q: want HH:MM-HH:MM", got)
		}
		start, err := parseClock(toks[i].text, false)
		if err != nil {
			return nil, err
		}
		end, err := parseClock(toks[i+2].text, true)
		if err != nil {
			return nil, err
		}
		spanText := toks[i].text + "-" + toks[i+2].text
		if end == start {
			return nil, fmt.Errorf("time span %s is empty (for a whole day write 00:00-24:00)", spanText)
		}
		if end < start {
			end += minutesPerDay // runs past midnight into the next day
		}
		for _, d := range days {
			spans = append(spans, span{day: d, start: start, end: end})
		}
		i += 3
		if i == len(toks) {
			return spans, nil
		}
		if toks[i].kind == tokComma {
			i++
			if i < len(toks) && toks[i].kind == tokWord {
				return nil, fmt.Errorf("day %q after a time span: separate day groups with \";\" (e.g. \"Mon-Thu 09:00-17:00; Fri 09:00-12:00\")", toks[i].text)
			}
			if i == len(toks) {
				return nil, fmt.Errorf("trailing \",\" after %s", spanText)
			}
			continue
		}
		if toks[i].kind == tokWord {
			return nil, fmt.Errorf("day %q after a time span: separate day groups with \";\" (e.g. \"Mon-Thu 09:00-17:00; Fri 09:00-12:00\")", toks[i].text)
		}
		return nil, fmt.Errorf("unexpected %q after %s", toks[i].text, spanText)
	}
}

func parseDay(word string) (time.Weekday, error) {
	d, ok := dayNames[strings.ToLower(word)]
	if !ok {
		return 0, fmt.Errorf("unknown day %q (want Mon…Sun)", word)
	}
	return d, nil
}

// parseClock reads H:MM or HH:MM into minutes after midnight; 24:00 only when asEnd.
func parseClock(s string, asEnd bool) (int, error) {
	hh, mm, ok := strings.Cut(s, ":")
	if !ok || len(hh) < 1 || len(hh) > 2 || len(mm) != 2 {
		return 0, fmt.Errorf("time %q is not HH:MM", s)
	}
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("time %q is not HH:MM", s)
	}
	if h > 24 || m > 59 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("time %q is out of range (want 00:00…24:00)", s)
	}
	if h == 24 && !asEnd {
		return 0, fmt.Errorf("time %q: a span cannot start at 24:00", s)
	}
	return h*60 + m, nil
}

// weekPiece is a span placed on a Monday-based week, in minutes [start, end) within
// [0, minutesPerWeek); a span that runs past Sunday midnight is split in two pieces.
type weekPiece struct {
	start, end int
	of         span
}

func weekPieces(spans []span) []weekPiece {
	var out []weekPiece
	for _, sp := range spans {
		base := ((int(sp.day) + 6) % 7) * minutesPerDay // Monday = 0
		s, e := base+sp.start, base+sp.end
		if e <= minutesPerWeek {
			out = append(out, weekPiece{s, e, sp})
			continue
		}
		out = append(out, weekPiece{s, minutesPerWeek, sp}, weekPiece{0, e - minutesPerWeek, sp})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].start != out[j].start {
			return out[i].start < out[j].start
		}
		return out[i].end < out[j].end
	})
	return out
}

func checkOverlaps(spans []span) error {
	pieces := weekPieces(spans)
	for i := 1; i < len(pieces); i++ {
		for j := 0; j < i; j++ {
			if pieces[i].start < pieces[j].end && pieces[j].start < pieces[i].end {
				a, b := pieces[j].of, pieces[i].of
				if weekOrder(b) < weekOrder(a) {
					a, b = b, a
				}
				return fmt.Errorf("%s overlaps %s", b, a)
			}
		}
	}
	return nil
}

func weekOrder(s span) int { return ((int(s.day)+6)%7)*minutesPerDay + s.start }

// overlaps reports whether two weekly schedules share any open minute.
func (h Hours) overlaps(o Hours) bool {
	a, b := weekPieces(h.spans()), weekPieces(o.spans())
	for _, x := range a {
		for _, y := range b {
			if x.start < y.end && y.start < x.end {
				return true
			}
		}
	}
	return false
}

func (h Hours) spans() []span {
	var out []span
	for _, d := range h.days {
		out = append(out, d...)
	}
	return out
}
