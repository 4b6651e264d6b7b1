package calendar

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
)

// Expected instants are written in the calendar's zone with their UTC offset, so every DST
// case states which side of the change it lands on.
const layout = "Mon 2006-01-02 15:04 -07:00"

// shiftLayout is shorter: the offsets are pinned by the results.
const shiftLayout = "Mon 01-02 15:04"

// Calendars used by several tests. Specs, not *Calendar values, so each test builds its own.
var (
	berlinDE  = Spec{Zone: "Europe/Berlin", Country: "de"}
	londonGB  = Spec{Zone: "Europe/London", Country: "gb"}
	newYorkUS = Spec{Zone: "America/New_York", Country: "us"}
	sydneyNSW = Spec{Zone: "Australia/Sydney", Country: "au-nsw"}
	sydneyAU  = Spec{Zone: "Australia/Sydney", Country: "au"}
	aucklNZ   = Spec{Zone: "Pacific/Auckland", Country: "nz"}
	tokyoJP   = Spec{Zone: "Asia/Tokyo", Country: "jp"}
	honolulu  = Spec{Zone: "Pacific/Honolulu", Country: "us"}
	tongatapu = Spec{Zone: "Pacific/Tongatapu"}
	// A night desk in New York: business hours and email window both straddle midnight.
	nightDesk = Spec{Zone: "America/New_York", Country: "us", BusinessHours: "Sun-Thu 20:00-04:00", Window: "Sun-Thu 22:00-02:00"}
)

func mustCal(t *testing.T, spec Spec) *Calendar {
	t.Helper()
	c, err := New(spec)
	require.NoError(t, err)
	return c
}

// local parses "2006-01-02 15:04" in the calendar's zone, or an RFC 3339 instant.
func local(t *testing.T, c *Calendar, s string) time.Time {
	t.Helper()
	if strings.Contains(s, "T") {
		at, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return at
	}
	at, err := time.ParseInLocation("2006-01-02 15:04", s, c.Location())
	require.NoError(t, err)
	return at
}

func show(c *Calendar, at time.Time) string { return at.In(c.Location()).Format(layout) }

func showShifts(c *Calendar, shifts []Shift) []string {
	out := []string{}
	for _, s := range shifts {
		out = append(out, fmt.Sprintf("%s → %s: %s", s.From.In(c.Location()).Format(shiftLayout), s.To.In(c.Location()).Format(shiftLayout), s.Reason))
	}
	return out
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"unknown zone", Spec{Zone: "Europe/Berln"}, `calendar zone "Europe/Berln": unknown IANA time zone (want e.g. "Europe/Berlin")`},
		{"host zone", Spec{Zone: "Local"}, `calendar zone "Local" depends on the host; name an IANA zone such as "Europe/Berlin"`},
		{"bad hours", Spec{BusinessHours: "Mon-Fry 09:00-17:00"}, `business hours "Mon-Fry 09:00-17:00": unknown day "Fry" (want Mon…Sun)`},
		{"bad window", Spec{Window: "Tue-Thu 9-11"}, `email window "Tue-Thu 9-11": time "9" is not HH:MM`},
		{"window never open", Spec{Window: "Sat-Sun 10:00-12:00"}, `email window "Sat-Sun 10:00-12:00" never overlaps business hours "Mon-Fri 09:00-17:00", so no email could ever be sent`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.spec)
			require.EqualError(t, err, tt.want)
		})
	}
	t.Run("unknown country", func(t *testing.T) {
		t.Parallel()
		_, err := New(Spec{Country: "de,xx"})
		require.ErrorContains(t, err, `holidays: unknown country code "xx" (want an ISO 3166-1 alpha-2 code: ar, at, au, be,`)
		require.ErrorContains(t, err, `; or a region: au-act, au-nsw,`)
	})
}

func TestCountries(t *testing.T) {
	t.Parallel()
	codes := Countries()
	for _, want := range []string{"us", "gb", "de", "fr", "nl", "au", "nz", "ca", "jp", "au-nsw", "de-by", "ch-zh"} {
		require.Contains(t, codes, want)
	}
	for _, code := range codes {
		c, err := New(Spec{Zone: "UTC", Country: strings.ToUpper(code)})
		require.NoError(t, err, code)
		require.NotEmpty(t, c.holidays, code)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c := mustCal(t, Spec{})
	require.Equal(t, time.UTC, c.Location())
	require.Equal(t, DefaultBusinessHours, c.BusinessHours().String())
	_, ok := c.Window()
	require.False(t, ok)
	require.Equal(t, Spec{Zone: "Europe/Berlin", Country: "de,at", BusinessHours: "Mon-Fri 08:00-16:00", Window: "Tue-Thu 09:00-11:30"},
		SpecOf(cadence.CalendarSpec{Zone: "Europe/Berlin", Holidays: []string{"de", "at"}, BusinessHours: "Mon-Fri 08:00-16:00", EmailWindow: "Tue-Thu 09:00-11:30"}))
}

func TestHoliday(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec Spec
		day  string
		want string // "" = not a holiday
	}{
		{berlinDE, "2026-12-24 12:00", ""},
		{berlinDE, "2026-12-25 12:00", "Weihnachtstag"},
		{berlinDE, "2026-12-26 12:00", "Zweiter Weihnachtsfeiertag"},
		{newYorkUS, "2026-11-26 12:00", "Thanksgiving Day"},
		{newYorkUS, "2026-07-03 12:00", "Independence Day (observed)"}, // 4 July 2026 is a Saturday
		{londonGB, "2026-12-28 12:00", "Boxing Day (observed)"},        // 26 December 2026 is a Saturday
		{aucklNZ, "2026-04-27 12:00", "ANZAC Day (observed)"},          // 25 April 2026 is a Saturday
		{tokyoJP, "2026-05-06 12:00", "Constitution Memorial Day (observed)"},
		{sydneyAU, "2026-01-26 12:00", "Australia Day"},
		{sydneyAU, "2026-10-05 12:00", ""}, // Labour Day is a NSW day, not a national one
		{sydneyNSW, "2026-10-05 12:00", "Labour Day"},
		{Spec{Zone: "Europe/Paris", Country: "fr"}, "2026-07-14 12:00", "Fête Nationale"},
		{Spec{Zone: "Europe/Amsterdam", Country: "nl"}, "2026-04-27 12:00", "Koningsdag"},
		{Spec{Zone: "America/Toronto", Country: "ca"}, "2026-07-01 12:00", "Canada Day"},
		{Spec{Zone: "Europe/Berlin"}, "2026-12-25 12:00", ""}, // no country, no holidays
	}
	for _, tt := range tests {
		t.Run(tt.spec.Country+" "+tt.day, func(t *testing.T) {
			t.Parallel()
			c := mustCal(t, tt.spec)
			name, ok := c.Holiday(local(t, c, tt.day))
			require.Equal(t, tt.want != "", ok)
			require.Equal(t, tt.want, name)
		})
	}
}

func TestNextOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		spec   Spec
		from   string
		want   string
		shifts []string
	}{
		{"open stays", berlinDE, "2026-03-25 10:00", "Wed 2026-03-25 10:00 +01:00", []string{}},
		{"opening instant is open", berlinDE, "2026-03-25 09:00", "Wed 2026-03-25 09:00 +01:00", []string{}},
		{"closing instant is closed", berlinDE, "2026-03-25 17:00", "Thu 2026-03-26 09:00 +01:00",
			[]string{"Wed 03-25 17:00 → Thu 03-26 09:00: outside business hours"}},
		{"early morning", berlinDE, "2026-03-26 06:00", "Thu 2026-03-26 09:00 +01:00",
			[]string{"Thu 03-26 06:00 → Thu 03-26 09:00: outside business hours"}},
		// Saturday 23:00 → Monday 09:00, across the spring-forward night.
		{"saturday night", berlinDE, "2026-03-28 23:00", "Mon 2026-03-30 09:00 +02:00",
			[]string{"Sat 03-28 23:00 → Mon 03-30 09:00: weekend"}},
		{"friday evening", berlinDE, "2026-03-27 18:00", "Mon 2026-03-30 09:00 +02:00",
			[]string{"Fri 03-27 18:00 → Mon 03-30 09:00: weekend"}},
		{"de christmas", berlinDE, "2026-12-24 18:00", "Mon 2026-12-28 09:00 +01:00", []string{
			"Thu 12-24 18:00 → Fri 12-25 09:00: outside business hours",
			"Fri 12-25 09:00 → Mon 12-28 09:00: holiday: Weihnachtstag",
		}},
		// 26 December 2026 is a holiday on a Saturday: it closes nothing the weekend has not.
		{"holiday on a saturday", berlinDE, "2026-12-26 23:00", "Mon 2026-12-28 09:00 +01:00",
			[]string{"Sat 12-26 23:00 → Mon 12-28 09:00: weekend"}},
		{"on the holiday itself", berlinDE, "2026-12-25 11:00", "Mon 2026-12-28 09:00 +01:00",
			[]string{"Fri 12-25 11:00 → Mon 12-28 09:00: holiday: Weihnachtstag"}},
		{"gb substitute day", londonGB, "2026-12-24 17:30", "Tue 2026-12-29 09:00 +00:00", []string{
			"Thu 12-24 17:30 → Fri 12-25 09:00: outside business hours",
			"Fri 12-25 09:00 → Mon 12-28 09:00: holiday: Christmas Day",
			"Mon 12-28 09:00 → Tue 12-29 09:00: holiday: Boxing Day (observed)",
		}},
		{"us thanksgiving", newYorkUS, "2026-11-25 17:00", "Fri 2026-11-27 09:00 -05:00", []string{
			"Wed 11-25 17:00 → Thu 11-26 09:00: outside business hours",
			"Thu 11-26 09:00 → Fri 11-27 09:00: holiday: Thanksgiving Day",
		}},
		{"nz anzac observed", aucklNZ, "2026-04-24 17:00", "Tue 2026-04-28 09:00 +12:00", []string{
			"Fri 04-24 17:00 → Mon 04-27 09:00: weekend",
			"Mon 04-27 09:00 → Tue 04-28 09:00: holiday: ANZAC Day (observed)",
		}},
		// Easter 2026 in Sydney: Good Friday, the DST end on Easter Sunday, Easter Monday.
		{"au easter", sydneyAU, "2026-04-02 17:00", "Tue 2026-04-07 09:00 +10:00", []string{
			"Thu 04-02 17:00 → Fri 04-03 09:00: outside business hours",
			"Fri 04-03 09:00 → Mon 04-06 09:00: holiday: Good Friday",
			"Mon 04-06 09:00 → Tue 04-07 09:00: holiday: Easter Monday",
		}},
		{"jp golden week", tokyoJP, "2026-05-01 17:00", "Thu 2026-05-07 09:00 +09:00", []string{
			"Fri 05-01 17:00 → Mon 05-04 09:00: weekend",
			"Mon 05-04 09:00 → Tue 05-05 09:00: holiday: Greenery Day",
			"Tue 05-05 09:00 → Wed 05-06 09:00: holiday: Children's Day",
			"Wed 05-06 09:00 → Thu 05-07 09:00: holiday: Constitution Memorial Day (observed)",
		}},
		{"new york spring forward", newYorkUS, "2026-03-07 23:00", "Mon 2026-03-09 09:00 -04:00",
			[]string{"Sat 03-07 23:00 → Mon 03-09 09:00: weekend"}},
		// UTC−10: 03:30 UTC on Friday is still Thursday 17:30 in Honolulu.
		{"honolulu thursday evening", honolulu, "2026-03-27T03:30:00Z", "Fri 2026-03-27 09:00 -10:00",
			[]string{"Thu 03-26 17:30 → Fri 03-27 09:00: outside business hours"}},
		{"honolulu before opening", honolulu, "2026-03-30T18:00:00Z", "Mon 2026-03-30 09:00 -10:00",
			[]string{"Mon 03-30 08:00 → Mon 03-30 09:00: outside business hours"}},
		// UTC+13: 20:30 UTC on Sunday is already Monday 09:30 in Tonga, open.
		{"tonga monday morning", tongatapu, "2026-03-29T20:30:00Z", "Mon 2026-03-30 09:30 +13:00", []string{}},
		{"tonga friday evening", tongatapu, "2026-03-27T04:30:00Z", "Mon 2026-03-30 09:00 +13:00",
			[]string{"Fri 03-27 17:30 → Mon 03-30 09:00: weekend"}},
		{"lunch break", Spec{Zone: "Europe/Berlin", BusinessHours: "Mon-Thu 08:30-12:00, 13:00-17:30; Fri 08:30-12:00"}, "2026-03-26 12:15", "Thu 2026-03-26 13:00 +01:00",
			[]string{"Thu 03-26 12:15 → Thu 03-26 13:00: outside business hours"}},
		{"short friday", Spec{Zone: "Europe/Berlin", BusinessHours: "Mon-Thu 08:30-12:00, 13:00-17:30; Fri 08:30-12:00"}, "2026-03-27 12:00", "Mon 2026-03-30 08:30 +02:00",
			[]string{"Fri 03-27 12:00 → Mon 03-30 08:30: weekend"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := mustCal(t, tt.spec)
			from := local(t, c, tt.from)
			require.Equal(t, tt.want, show(c, c.NextOpen(from)))
			// Without an email window, NextWindow is NextOpen with its reasons.
			at, shifts := c.NextWindow(from)
			require.Equal(t, tt.want, show(c, at))
			require.Equal(t, tt.shifts, showShifts(c, shifts))
			require.True(t, c.IsOpen(at))
			require.Equal(t, from.Equal(at), c.IsOpen(from))
		})
	}
}

func TestAdd(t *testing.T) {
	t.Parallel()
	hd := func(n int) cadence.Duration { return cadence.Of(n, cadence.Hours) }
	dd := func(n int) cadence.Duration { return cadence.Of(n, cadence.Days) }
	bh := func(n int) cadence.Duration { return cadence.Of(n, cadence.BusinessHours) }
	bd := func(n int) cadence.Duration { return cadence.Of(n, cadence.BusinessDays) }
	tests := []struct {
		name   string
		spec   Spec
		from   string
		d      cadence.Duration
		want   string
		shifts []string
	}{
		// Calendar units never snap.
		{"zero stays put", berlinDE, "2026-03-28 23:00", cadence.Zero, "Sat 2026-03-28 23:00 +01:00", nil},
		{"seconds on a saturday", berlinDE, "2026-03-28 23:00", cadence.Of(30, cadence.Seconds), "Sat 2026-03-28 23:00 +01:00", nil},
		{"minutes on a holiday", berlinDE, "2026-12-25 10:00", cadence.Of(90, cadence.Minutes), "Fri 2026-12-25 11:30 +01:00", nil},

		// Europe/Berlin spring forward: Sunday 2026-03-29 02:00 CET → 03:00 CEST.
		{"berlin spring: 1 day keeps wall time", berlinDE, "2026-03-28 12:00", dd(1), "Sun 2026-03-29 12:00 +02:00", nil},
		{"berlin spring: 24 hours elapse", berlinDE, "2026-03-28 12:00", hd(24), "Sun 2026-03-29 13:00 +02:00", nil},
		{"berlin spring: business hours", berlinDE, "2026-03-27 16:00", bh(2), "Mon 2026-03-30 10:00 +02:00", []string{}},
		{"berlin spring: business day", berlinDE, "2026-03-27 10:30", bd(1), "Mon 2026-03-30 10:30 +02:00", []string{}},
		// Europe/Berlin fall back: Sunday 2026-10-25 03:00 CEST → 02:00 CET.
		{"berlin fall: 1 day keeps wall time", berlinDE, "2026-10-24 12:00", dd(1), "Sun 2026-10-25 12:00 +01:00", nil},
		{"berlin fall: 24 hours elapse", berlinDE, "2026-10-24 12:00", hd(24), "Sun 2026-10-25 11:00 +01:00", nil},
		{"berlin fall: business day", berlinDE, "2026-10-23 16:59", bd(1), "Mon 2026-10-26 16:59 +01:00", []string{}},
		{"berlin fall: always-open business hours are elapsed time", Spec{Zone: "Europe/Berlin", BusinessHours: "always"}, "2026-10-24 12:00", bh(24), "Sun 2026-10-25 11:00 +01:00", []string{}},
		// Australia/Sydney fall back on Easter Sunday 2026-04-05 (03:00 AEDT → 02:00 AEST).
		{"sydney autumn: 1 day", sydneyNSW, "2026-04-04 09:00", dd(1), "Sun 2026-04-05 09:00 +10:00", nil},
		{"sydney autumn: 24 hours", sydneyNSW, "2026-04-04 09:00", hd(24), "Sun 2026-04-05 08:00 +10:00", nil},
		{"sydney autumn: business day over easter", sydneyNSW, "2026-04-02 11:00", bd(1), "Tue 2026-04-07 11:00 +10:00", []string{
			"Fri 04-03 09:00 → Mon 04-06 09:00: holiday: Good Friday",
			"Mon 04-06 09:00 → Tue 04-07 09:00: holiday: Easter Monday",
		}},
		// Australia/Sydney spring forward 2026-10-04 (02:00 AEST → 03:00 AEDT), then NSW Labour Day.
		{"sydney spring: 1 day", sydneyNSW, "2026-10-03 12:00", dd(1), "Sun 2026-10-04 12:00 +11:00", nil},
		{"sydney spring: 24 hours", sydneyNSW, "2026-10-03 12:00", hd(24), "Sun 2026-10-04 13:00 +11:00", nil},
		{"sydney spring: business hours over labour day", sydneyNSW, "2026-10-02 16:00", bh(3), "Tue 2026-10-06 11:00 +11:00",
			[]string{"Mon 10-05 09:00 → Tue 10-06 09:00: holiday: Labour Day"}},
		// America/New_York spring forward 2026-03-08.
		{"new york spring: 24 hours", newYorkUS, "2026-03-07 12:00", hd(24), "Sun 2026-03-08 13:00 -04:00", nil},
		{"new york spring: 1 day", newYorkUS, "2026-03-07 12:00", dd(1), "Sun 2026-03-08 12:00 -04:00", nil},

		// A start outside hours snaps to the next opening first.
		{"saturday night + 1 business day", berlinDE, "2026-03-28 23:00", bd(1), "Tue 2026-03-31 09:00 +02:00",
			[]string{"Sat 03-28 23:00 → Mon 03-30 09:00: weekend"}},
		{"saturday night + 0 business hours", berlinDE, "2026-03-28 23:00", bh(0), "Mon 2026-03-30 09:00 +02:00",
			[]string{"Sat 03-28 23:00 → Mon 03-30 09:00: weekend"}},
		{"saturday night + 1 business hour", berlinDE, "2026-03-28 23:00", bh(1), "Mon 2026-03-30 10:00 +02:00",
			[]string{"Sat 03-28 23:00 → Mon 03-30 09:00: weekend"}},
		// A count that ends when the day closes returns the closing instant.
		{"a full day of business hours", berlinDE, "2026-03-30 09:00", bh(8), "Mon 2026-03-30 17:00 +02:00", []string{}},
		{"business hours overnight", berlinDE, "2026-03-30 16:00", bh(2), "Tue 2026-03-31 10:00 +02:00", []string{}},

		// business_days across a weekend and a holiday.
		{"friday + 1 business day", berlinDE, "2026-03-27 14:00", bd(1), "Mon 2026-03-30 14:00 +02:00", []string{}},
		{"across de christmas", berlinDE, "2026-12-23 14:00", bd(2), "Mon 2026-12-28 14:00 +01:00",
			[]string{"Fri 12-25 09:00 → Mon 12-28 09:00: holiday: Weihnachtstag"}},
		{"across gb christmas and boxing day", londonGB, "2026-12-24 10:00", bd(1), "Tue 2026-12-29 10:00 +00:00", []string{
			"Fri 12-25 09:00 → Mon 12-28 09:00: holiday: Christmas Day",
			"Mon 12-28 09:00 → Tue 12-29 09:00: holiday: Boxing Day (observed)",
		}},
		{"across us thanksgiving at UTC−10", honolulu, "2026-11-25 16:00", bd(1), "Fri 2026-11-27 16:00 -10:00",
			[]string{"Thu 11-26 09:00 → Fri 11-27 09:00: holiday: Thanksgiving Day"}},
		// UTC+13 (Auckland in summer): Wednesday 21:00 UTC is Thursday 10:00; Friday is Waitangi Day.
		{"across waitangi day at UTC+13", aucklNZ, "2026-02-04T21:00:00Z", bd(1), "Mon 2026-02-09 10:00 +13:00",
			[]string{"Fri 02-06 09:00 → Mon 02-09 09:00: holiday: Waitangi Day"}},
		{"tonga business hour", tongatapu, "2026-03-27T04:30:00Z", bh(1), "Mon 2026-03-30 10:00 +13:00",
			[]string{"Fri 03-27 17:30 → Mon 03-30 09:00: weekend"}},
		{"ten business days over easter", berlinDE, "2026-03-23 09:00", bd(10), "Wed 2026-04-08 09:00 +02:00", []string{
			"Fri 04-03 09:00 → Mon 04-06 09:00: holiday: Karfreitag",
			"Mon 04-06 09:00 → Tue 04-07 09:00: holiday: Ostermontag",
		}},

		// business_days clamps into the target day's hours.
		{"clamp to the end of a short friday", Spec{Zone: "Europe/Berlin", BusinessHours: "Mon-Thu 08:30-12:00, 13:00-17:30; Fri 08:30-12:00"}, "2026-03-26 15:00", bd(1), "Fri 2026-03-27 12:00 +01:00",
			[]string{"Fri 03-27 15:00 → Fri 03-27 12:00: outside business hours"}},
		{"clamp out of a lunch break", Spec{Zone: "Europe/Berlin", BusinessHours: "Mon 09:00-17:00; Tue 09:00-12:00, 14:00-17:00"}, "2026-03-23 13:00", bd(1), "Tue 2026-03-24 14:00 +01:00",
			[]string{"Tue 03-24 13:00 → Tue 03-24 14:00: outside business hours"}},
		{"clamp to a late opening", Spec{Zone: "Europe/Berlin", BusinessHours: "Mon 09:00-17:00; Tue 11:00-17:00"}, "2026-03-23 10:00", bd(1), "Tue 2026-03-24 11:00 +01:00",
			[]string{"Tue 03-24 10:00 → Tue 03-24 11:00: outside business hours"}},
		{"snap then count from a short friday morning", Spec{Zone: "Europe/Berlin", BusinessHours: "Mon-Thu 08:30-12:00, 13:00-17:30; Fri 08:30-12:00"}, "2026-03-27 08:00", bd(1), "Mon 2026-03-30 08:30 +02:00",
			[]string{"Fri 03-27 08:00 → Fri 03-27 08:30: outside business hours"}},

		// Spans past midnight: a business day is the shift named by the day it starts on.
		{"night shift: after midnight", nightDesk, "2026-11-16 01:00", bd(1), "Tue 2026-11-17 01:00 -05:00", []string{}},
		{"night shift: thursday to sunday", nightDesk, "2026-11-19 23:00", bd(1), "Sun 2026-11-22 23:00 -05:00", []string{}},
		{"night shift: business hours across midnight", nightDesk, "2026-11-16 23:30", bh(3), "Tue 2026-11-17 02:30 -05:00", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := mustCal(t, tt.spec)
			from := local(t, c, tt.from)
			require.Equal(t, tt.want, show(c, c.Add(from, tt.d)))
			at, shifts := c.AddExplained(from, tt.d)
			require.Equal(t, tt.want, show(c, at))
			if tt.shifts == nil {
				require.Empty(t, shifts)
			} else {
				require.Equal(t, tt.shifts, showShifts(c, shifts))
			}
		})
	}
}

func TestBusinessMinutes(t *testing.T) {
	t.Parallel()
	c := mustCal(t, berlinDE)
	entry := local(t, c, "2026-03-23 09:00")
	// Ten business days from Monday 23 March: Good Friday and Easter Monday are closed, so
	// the limit falls on Wednesday 8 April; that is ten days of eight open hours.
	deadline := c.Add(entry, cadence.Of(10, cadence.BusinessDays))
	require.Equal(t, "Wed 2026-04-08 09:00 +02:00", show(c, deadline))
	total := c.BusinessMinutesBetween(entry, deadline)
	require.Equal(t, 10*8*60, total)
	require.Equal(t, -total, c.BusinessMinutesBetween(deadline, entry))

	tests := []struct {
		minutes int
		want    string
	}{
		{0, "Mon 2026-03-23 09:00 +01:00"},
		{total * 50 / 100, "Fri 2026-03-27 17:00 +01:00"}, // five full days end at Friday's close
		{total*50/100 + 1, "Mon 2026-03-30 09:01 +02:00"}, // the next minute is Monday's first
		{total * 80 / 100, "Wed 2026-04-01 17:00 +02:00"}, // eight full days
		{total, "Tue 2026-04-07 17:00 +02:00"},            // the same span of open time as the deadline
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.minutes), func(t *testing.T) {
			t.Parallel()
			at := c.AddBusinessMinutes(entry, tt.minutes)
			require.Equal(t, tt.want, show(c, at))
			require.Equal(t, tt.minutes, c.BusinessMinutesBetween(entry, at))
		})
	}

	t.Run("across the spring-forward weekend", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, 2*time.Hour, c.BusinessBetween(local(t, c, "2026-03-27 16:00"), local(t, c, "2026-03-30 10:00")))
		require.Equal(t, time.Duration(0), c.BusinessBetween(local(t, c, "2026-03-28 10:00"), local(t, c, "2026-03-29 10:00")))
		require.Equal(t, 90*time.Second, c.BusinessBetween(local(t, c, "2026-03-30 09:00"), local(t, c, "2026-03-30 09:01").Add(30*time.Second)))
	})
}

func TestNextWindow(t *testing.T) {
	t.Parallel()
	tueThu := Spec{Zone: "Europe/Berlin", Country: "de", Window: "Tue-Thu 09:00-11:30"}
	tests := []struct {
		name   string
		spec   Spec
		from   string
		want   string
		shifts []string
	}{
		{"inside the window", tueThu, "2026-03-24 10:00", "Tue 2026-03-24 10:00 +01:00", []string{}},
		{"open but after the window", tueThu, "2026-03-24 14:00", "Wed 2026-03-25 09:00 +01:00",
			[]string{"Tue 03-24 14:00 → Wed 03-25 09:00: outside the email window"}},
		{"friday to tuesday", tueThu, "2026-03-27 10:00", "Tue 2026-03-31 09:00 +02:00",
			[]string{"Fri 03-27 10:00 → Tue 03-31 09:00: outside the email window"}},
		// Ascension Day (Christi Himmelfahrt) is Thursday 14 May 2026.
		{"window day is a holiday", tueThu, "2026-05-13 12:00", "Tue 2026-05-19 09:00 +02:00", []string{
			"Wed 05-13 12:00 → Thu 05-14 09:00: outside the email window",
			"Thu 05-14 09:00 → Fri 05-15 09:00: holiday: Christi Himmelfahrt",
			"Fri 05-15 09:00 → Tue 05-19 09:00: outside the email window",
		}},
		{"window opens before business hours", Spec{Zone: "America/New_York", Window: "Mon-Fri 08:00-10:00"}, "2026-03-10 10:30", "Wed 2026-03-11 09:00 -04:00", []string{
			"Tue 03-10 10:30 → Wed 03-11 08:00: outside the email window",
			"Wed 03-11 08:00 → Wed 03-11 09:00: outside business hours",
		}},
		// Business hours 20:00-04:00 and window 22:00-02:00, Sunday to Thursday nights.
		{"night: after midnight, in the window", nightDesk, "2026-11-17 01:30", "Tue 2026-11-17 01:30 -05:00", []string{}},
		{"night: open, window not yet", nightDesk, "2026-11-17 21:00", "Tue 2026-11-17 22:00 -05:00",
			[]string{"Tue 11-17 21:00 → Tue 11-17 22:00: outside the email window"}},
		{"night: open, window closed", nightDesk, "2026-11-17 03:00", "Tue 2026-11-17 22:00 -05:00",
			[]string{"Tue 11-17 03:00 → Tue 11-17 22:00: outside the email window"}},
		{"night: friday small hours", nightDesk, "2026-11-20 03:00", "Sun 2026-11-22 22:00 -05:00",
			[]string{"Fri 11-20 03:00 → Sun 11-22 22:00: outside the email window"}},
		{"night: friday morning", nightDesk, "2026-11-20 05:00", "Sun 2026-11-22 22:00 -05:00", []string{
			"Fri 11-20 05:00 → Sun 11-22 20:00: weekend",
			"Sun 11-22 20:00 → Sun 11-22 22:00: outside the email window",
		}},
		// A holiday closes its whole local day: Wednesday night's window runs until midnight,
		// Thanksgiving's hours are closed, and Thursday's span reopens at Friday 00:00.
		{"night: eve of thanksgiving", nightDesk, "2026-11-25 23:30", "Wed 2026-11-25 23:30 -05:00", []string{}},
		{"night: thanksgiving after midnight", nightDesk, "2026-11-26 00:30", "Fri 2026-11-27 00:00 -05:00",
			[]string{"Thu 11-26 00:30 → Fri 11-27 00:00: holiday: Thanksgiving Day"}},
		{"night: thanksgiving evening", nightDesk, "2026-11-26 21:00", "Fri 2026-11-27 00:00 -05:00",
			[]string{"Thu 11-26 21:00 → Fri 11-27 00:00: holiday: Thanksgiving Day"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := mustCal(t, tt.spec)
			from := local(t, c, tt.from)
			at, shifts := c.NextWindow(from)
			require.Equal(t, tt.want, show(c, at))
			require.Equal(t, tt.shifts, showShifts(c, shifts))
			require.True(t, c.InWindow(at))
			require.Equal(t, from.Equal(at), c.InWindow(from))
		})
	}
}

// TestFridayBeforeHolidayPreview plans the emails of a deal that starts on the Friday before
// a public holiday, the way the planner does for emails (step delay in the contact's
// calendar, each counted from the previous touch, then the email window), and checks that
// every touch lands on a working day inside the contact's window.
func TestFridayBeforeHolidayPreview(t *testing.T) {
	t.Parallel()
	type step struct {
		after  cadence.Duration
		want   string
		shifts []string
	}
	tests := []struct {
		name  string
		spec  Spec
		start string
		steps []step
	}{
		{
			// Whit Monday (Pfingstmontag) is 25 May 2026.
			name:  "de whitsun",
			spec:  Spec{Zone: "Europe/Berlin", Country: "de", Window: "Mon-Thu 09:00-11:30"},
			start: "2026-05-22 15:00",
			steps: []step{
				{cadence.Zero, "Tue 2026-05-26 09:00 +02:00", []string{
					"Fri 05-22 15:00 → Mon 05-25 09:00: outside the email window",
					"Mon 05-25 09:00 → Tue 05-26 09:00: holiday: Pfingstmontag",
				}},
				{cadence.Of(2, cadence.BusinessDays), "Thu 2026-05-28 09:00 +02:00", []string{}},
				{cadence.Of(1, cadence.BusinessDays), "Mon 2026-06-01 09:00 +02:00",
					[]string{"Fri 05-29 09:00 → Mon 06-01 09:00: outside the email window"}},
				{cadence.Of(7, cadence.Days), "Mon 2026-06-08 09:00 +02:00", []string{}},
				{cadence.Of(3, cadence.BusinessHours), "Tue 2026-06-09 09:00 +02:00",
					[]string{"Mon 06-08 12:00 → Tue 06-09 09:00: outside the email window"}},
			},
		},
		{
			// Labor Day is Monday 7 September 2026; the contact reads mail 08:00-10:00, business
			// hours are 09:00-17:00, so emails go out 09:00-10:00.
			name:  "us labor day",
			spec:  Spec{Zone: "America/Chicago", Country: "us", Window: "Mon-Fri 08:00-10:00"},
			start: "2026-09-04 16:30",
			steps: []step{
				{cadence.Zero, "Tue 2026-09-08 09:00 -05:00", []string{
					"Fri 09-04 16:30 → Mon 09-07 08:00: outside the email window",
					"Mon 09-07 08:00 → Tue 09-08 09:00: holiday: Labor Day",
				}},
				{cadence.Of(1, cadence.BusinessDays), "Wed 2026-09-09 09:00 -05:00", []string{}},
				{cadence.Of(2, cadence.Days), "Fri 2026-09-11 09:00 -05:00", []string{}},
				{cadence.Of(1, cadence.Days), "Mon 2026-09-14 09:00 -05:00",
					[]string{"Sat 09-12 09:00 → Mon 09-14 09:00: weekend"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := mustCal(t, tt.spec)
			cursor := local(t, c, tt.start)
			for i, st := range tt.steps {
				due, addShifts := c.AddExplained(cursor, st.after)
				at, winShifts := c.NextWindow(due)
				require.Equal(t, st.want, show(c, at), "step %d", i+1)
				require.Equal(t, st.shifts, showShifts(c, append(addShifts, winShifts...)), "step %d", i+1)
				_, holiday := c.Holiday(at)
				require.False(t, holiday, "step %d", i+1)
				require.True(t, c.InWindow(at), "step %d", i+1)
				wd := at.In(c.Location()).Weekday()
				require.NotContains(t, []time.Weekday{time.Saturday, time.Sunday}, wd, "step %d", i+1)
				cursor = at // the next step counts from this touch's actual time
			}
		})
	}
}

// TestDeferralPushesLaterSteps: a step counts from the actual time of the previous touch, so
// an out-of-office deferral of one email moves the later ones instead of bunching them.
func TestDeferralPushesLaterSteps(t *testing.T) {
	t.Parallel()
	c := mustCal(t, Spec{Zone: "Europe/Berlin", Country: "de", Window: "Tue-Thu 09:00-11:30"})
	first := local(t, c, "2026-03-24 10:00") // Tuesday, in the window
	second, _ := c.NextWindow(c.Add(first, cadence.Of(2, cadence.BusinessDays)))
	require.Equal(t, "Thu 2026-03-26 10:00 +01:00", show(c, second))

	// The prospect is out of office until Monday 6 April (Easter Monday, a holiday).
	deferred, shifts := c.NextWindow(local(t, c, "2026-04-06 00:00"))
	require.Equal(t, "Tue 2026-04-07 09:00 +02:00", show(c, deferred))
	require.Equal(t, []string{"Mon 04-06 00:00 → Tue 04-07 09:00: holiday: Ostermontag"}, showShifts(c, shifts))
	third, _ := c.NextWindow(c.Add(deferred, cadence.Of(2, cadence.BusinessDays)))
	require.Equal(t, "Thu 2026-04-09 09:00 +02:00", show(c, third))
}

// TestSharedCalendar uses one calendar from many goroutines (its holiday cache is the only
// state it changes); run with -race.
func TestSharedCalendar(t *testing.T) {
	t.Parallel()
	c := mustCal(t, Spec{Zone: "Europe/London", Country: "gb,ie"})
	start := local(t, c, "2026-12-24 10:00")
	for i := range 8 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			from := start.AddDate(i, 0, 0)
			at := c.Add(from, cadence.Of(1, cadence.BusinessDays))
			require.True(t, at.After(from))
			require.True(t, c.IsOpen(at))
		})
	}
}
