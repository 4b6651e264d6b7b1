package inbox

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// cueReach is how far after a cue its date may start, in bytes of folded text.
const cueReach = 40

// maxDaysAhead is the furthest a return date may lie after the message's Date.
const maxDaysAhead = 366

// returnCues matches the cue words on folded text (see fold). Group "back" names the day of
// return; "until" the last day away; "ab" is German "ab <date> wieder …", a back cue only
// when "wieder" follows the date.
var returnCues = regexp.MustCompile(`\b(?:(?P<back>` + strings.Join([]string{
	// English
	`back in the office on`, `back in the office from`, `back at work on`, `back on`,
	`returning to the office on`, `returning on`, `returning`, `return on`,
	`available again on`, `available again from`,
	// German
	`wieder im buro am`, `wieder im buro ab`, `wieder erreichbar am`, `wieder erreichbar ab`,
	`wieder da am`, `wieder da ab`, `zuruck am`, `zuruck ab`,
	// French
	`je serai de retour le`, `de retour au bureau le`, `de retour a partir du`, `de retour le`,
	`retour le`, `a partir du`,
	// Spanish
	`estare de vuelta el`, `de vuelta el`, `de regreso el`, `regresare el`, `regreso el`,
	`volvere el`, `a partir del`,
}, "|") + `)|(?P<ab>ab)|(?P<until>` + strings.Join([]string{
	`until`, `till`, `through`, `thru`,
	`bis einschliesslich`, `bis zum`, `bis`,
	`jusqu'au`, `jusqu'a`,
	`hasta el`, `hasta`,
}, "|") + `))\b`)

// monthNames maps folded month names and abbreviations in English, German, French and
// Spanish to their month.
var monthNames = func() map[string]time.Month {
	names := map[string]time.Month{}
	for month, spellings := range [][]string{
		{"january", "jan", "januar", "janner", "janvier", "janv", "enero", "ene"},
		{"february", "feb", "februar", "fevrier", "fevr", "fev", "febrero"},
		{"march", "mar", "marz", "maerz", "mars", "marzo"},
		{"april", "apr", "avril", "avr", "abril", "abr"},
		{"may", "mai", "mayo"},
		{"june", "jun", "juni", "juin", "junio"},
		{"july", "jul", "juli", "juillet", "juil", "julio"},
		{"august", "aug", "aout", "agosto", "ago"},
		{"september", "sept", "sep", "septembre", "septiembre", "setiembre"},
		{"october", "oct", "oktober", "okt", "octobre", "octubre"},
		{"november", "nov", "novembre", "noviembre"},
		{"december", "dec", "dezember", "dez", "decembre", "diciembre", "dic"},
	} {
		for _, name := range spellings {
			names[name] = time.Month(month + 1)
		}
	}
	return names
}()

// monthPattern is an alternation of every month name, longest first so that "sept" is not
// read as "sep".
func monthPattern() string {
	names := make([]string, 0, len(monthNames))
	for name := range monthNames {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		if len(names[i]) != len(names[j]) {
			return len(names[i]) > len(names[j])
		}
		return names[i] < names[j]
	})
	return `(` + strings.Join(names, "|") + `)`
}

// dateShape is one way of writing a date; read turns its submatches into day, month and
// year (0 when not written).
type dateShape struct {
	pattern *regexp.Regexp
	read    func(m []string) (day, month, year int)
}

var dateShapes = []dateShape{
	{ // ISO 8601: 2026-12-15
		regexp.MustCompile(`\b(\d{4})-(\d{1,2})-(\d{1,2})\b`),
		func(m []string) (int, int, int) { return atoi(m[3]), atoi(m[2]), atoi(m[1]) },
	},
	{ // day first with dots: 15.12.2026, 15.12.26, 15.12.
		regexp.MustCompile(`\b(\d{1,2})\.\s?(\d{1,2})\.(?:\s?(\d{4}|\d{2})\b)?`),
		func(m []string) (int, int, int) { return atoi(m[1]), atoi(m[2]), atoi(m[3]) },
	},
	{ // slashes: day first, unless the second number cannot be a month (12/15/2026)
		regexp.MustCompile(`\b(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?\b`),
		func(m []string) (int, int, int) {
			first, second := atoi(m[1]), atoi(m[2])
			if second > 12 && first <= 12 {
				return second, first, atoi(m[3])
			}
			return first, second, atoi(m[3])
		},
	},
	{ // day then month name: 15 December 2026, 15. Dezember, 1er janvier, 15 de diciembre de 2026
		regexp.MustCompile(`\b(\d{1,2})(?:st|nd|rd|th|er|\.)?\s*(?:of\s+|de\s+)?` + monthPattern() + `\b\.?(?:,?\s*(?:de\s+|del\s+)?(\d{4})\b)?`),
		func(m []string) (int, int, int) { return atoi(m[1]), int(monthNames[m[2]]), atoi(m[3]) },
	},
	{ // month name then day: December 15th, 2026; Dec 15
		regexp.MustCompile(`\b` + monthPattern() + `\b\.?\s*(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s*(\d{4})\b)?`),
		func(m []string) (int, int, int) { return atoi(m[2]), int(monthNames[m[1]]), atoi(m[3]) },
	},
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// maxCues bounds the cues tried in one text, so a text made of cues stays cheap.
const maxCues = 1000

// returnDate reads the day someone is back from text, as "YYYY-MM-DD", or "". anchor is the
// message's Date (else now): a date without a year is the first one on or after it, and a
// date before it or more than maxDaysAhead days after it is dropped.
func returnDate(text string, anchor time.Time) string {
	if len(text) > MaxTextScan {
		text = text[:MaxTextScan]
	}
	text = fold(text)
	anchorDay := time.Date(anchor.Year(), anchor.Month(), anchor.Day(), 0, 0, 0, 0, time.UTC)
	dates := findDates(text)
	back, ab, until := returnCues.SubexpIndex("back"), returnCues.SubexpIndex("ab"), returnCues.SubexpIndex("until")
	for _, cue := range returnCues.FindAllStringSubmatchIndex(text, maxCues) {
		// The first date written after the cue, if it starts within reach.
		i := sort.Search(len(dates), func(i int) bool { return dates[i].start >= cue[1] })
		if i == len(dates) || dates[i].start-cue[1] > cueReach {
			continue
		}
		date := dates[i]
		day, ok := calendarDate(date.day, date.month, date.year, anchorDay)
		// The date as written must not be past, even for an "until" cue.
		if !ok || day.Before(anchorDay) {
			continue
		}
		switch {
		case cue[2*back] >= 0:
		case cue[2*ab] >= 0:
			rest := text[date.end:min(len(text), date.end+cueReach)]
			if !strings.Contains(rest, "wieder") {
				continue
			}
		case cue[2*until] >= 0:
			day = day.AddDate(0, 0, 1)
		}
		if day.After(anchorDay.AddDate(0, 0, maxDaysAhead)) {
			continue
		}
		return day.Format("2006-01-02")
	}
	return ""
}

// writtenDate is a date found in text: where it is and what it says (year 0: not written).
type writtenDate struct {
	start, end       int
	day, month, year int
}

// findDates finds every date written in text, in order; where two shapes match at the same
// place the one listed first in dateShapes wins.
func findDates(text string) []writtenDate {
	var dates []writtenDate
	for _, shape := range dateShapes {
		for _, at := range shape.pattern.FindAllStringSubmatchIndex(text, -1) {
			found := make([]string, len(at)/2)
			for i := range found {
				if at[2*i] >= 0 {
					found[i] = text[at[2*i]:at[2*i+1]]
				}
			}
			d, m, y := shape.read(found)
			dates = append(dates, writtenDate{at[0], at[1], d, m, y})
		}
	}
	sort.SliceStable(dates, func(i, j int) bool { return dates[i].start < dates[j].start })
	return dates
}

// calendarDate is the date d.m.y; without a year (y == 0), the first such date on or after
// anchorDay. A two-digit year is in this century.
func calendarDate(d, m, y int, anchorDay time.Time) (time.Time, bool) {
	if m < 1 || m > 12 || d < 1 || d > 31 {
		return time.Time{}, false
	}
	valid := func(y int) (time.Time, bool) {
		t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
		return t, t.Day() == d
	}
	if y > 0 {
		if y < 100 {
			y += 2000
		}
		return valid(y)
	}
	// February 29 may be four years away; anything later is dropped by the caller anyway.
	for year := anchorDay.Year(); year <= anchorDay.Year()+4; year++ {
		if t, ok := valid(year); ok && !t.Before(anchorDay) {
			return t, true
		}
	}
	return time.Time{}, false
}
