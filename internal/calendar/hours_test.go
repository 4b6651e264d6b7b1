package calendar

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// describe lists a schedule's spans Monday first, e.g. "Mon 09:00-17:00 | Tue 09:00-17:00".
func describe(h Hours) string {
	var parts []string
	for _, d := range []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday} {
		for _, sp := range h.days[d] {
			parts = append(parts, sp.String())
		}
	}
	return strings.Join(parts, " | ")
}

func TestParseHours(t *testing.T) {
	t.Parallel()
	weekdays := "Mon 09:00-17:00 | Tue 09:00-17:00 | Wed 09:00-17:00 | Thu 09:00-17:00 | Fri 09:00-17:00"
	tests := []struct {
		in, want string
	}{
		{"Mon-Fri 09:00-17:00", weekdays},
		{"  mon-fri 9:00-17:00  ", weekdays},
		{"Monday-Friday 09:00-17:00", weekdays},
		{"Mon–Fri 09:00–17:00", weekdays}, // en dashes, as pasted from documents
		{"Mon-Thu 08:30-12:00, 13:00-17:30; Fri 08:30-12:00",
			"Mon 08:30-12:00 | Mon 13:00-17:30 | Tue 08:30-12:00 | Tue 13:00-17:30 | Wed 08:30-12:00 | Wed 13:00-17:30 | Thu 08:30-12:00 | Thu 13:00-17:30 | Fri 08:30-12:00"},
		{"Mon,Wed 10:00-11:00", "Mon 10:00-11:00 | Wed 10:00-11:00"},
		{"Fri-Mon 10:00-11:00", "Mon 10:00-11:00 | Fri 10:00-11:00 | Sat 10:00-11:00 | Sun 10:00-11:00"}, // wraps the week
		{"Sun-Thu 22:00-02:00", "Mon 22:00-02:00 | Tue 22:00-02:00 | Wed 22:00-02:00 | Thu 22:00-02:00 | Sun 22:00-02:00"},
		{"Sat 22:00-24:00; Sun 00:00-06:00", "Sat 22:00-24:00 | Sun 00:00-06:00"}, // touching spans are fine
		{"Mon-Fri 09:00-17:00;", weekdays},                                        // a trailing ";" is tolerated
		{"always", "Mon 00:00-24:00 | Tue 00:00-24:00 | Wed 00:00-24:00 | Thu 00:00-24:00 | Fri 00:00-24:00 | Sat 00:00-24:00 | Sun 00:00-24:00"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			h, err := ParseHours(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, describe(h))
			require.Equal(t, strings.TrimSpace(tt.in), h.String())
		})
	}

	t.Run("straddling span ends the next day", func(t *testing.T) {
		t.Parallel()
		h, err := ParseHours("Sun-Thu 22:00-02:00")
		require.NoError(t, err)
		require.Equal(t, []span{{day: time.Thursday, start: 22 * 60, end: 26 * 60}}, h.days[time.Thursday])
		require.Empty(t, h.days[time.Friday])
	})
}

func TestParseHoursErrors(t *testing.T) {
	t.Parallel()
	const eg = `(e.g. "Mon-Thu 09:00-17:00; Fri 09:00-12:00")`
	tests := []struct {
		in, want string
		window   bool
	}{
		{in: "Mon-Fry 09:00-17:00", want: `business hours "Mon-Fry 09:00-17:00": unknown day "Fry" (want Mon…Sun)`},
		{in: "", want: `business hours "": empty (want e.g. "Mon-Fri 09:00-17:00")`},
		{in: "Mon-Fri", want: `business hours "Mon-Fri": Mon-Fri has no time span (want e.g. "Mon-Fri 09:00-17:00")`},
		{in: "09:00-17:00", want: `business hours "09:00-17:00": expected a day (Mon…Sun) before "09:00"`},
		{in: "Mon- 09:00-17:00", want: `business hours "Mon- 09:00-17:00": day range "Mon-" needs an end day (Mon…Sun)`},
		{in: "Mon-Fri 9-17", want: `business hours "Mon-Fri 9-17": time "9" is not HH:MM`},
		{in: "Mon-Fri 09:00-25:00", want: `business hours "Mon-Fri 09:00-25:00": time "25:00" is out of range (want 00:00…24:00)`},
		{in: "Mon-Fri 24:00-02:00", want: `business hours "Mon-Fri 24:00-02:00": time "24:00": a span cannot start at 24:00`},
		{in: "Mon 09:00-09:00", want: `business hours "Mon 09:00-09:00": time span 09:00-09:00 is empty (for a whole day write 00:00-24:00)`},
		{in: "Mon 09:00", want: `business hours "Mon 09:00": time span "09:00": want HH:MM-HH:MM`},
		{in: "Mon-Fri 09:00-12:00, Sat 10:00-12:00", want: `business hours "Mon-Fri 09:00-12:00, Sat 10:00-12:00": day "Sat" after a time span: separate day groups with ";" ` + eg},
		{in: "Mon-Fri 09:00-12:00 Sat 10:00-12:00", want: `business hours "Mon-Fri 09:00-12:00 Sat 10:00-12:00": day "Sat" after a time span: separate day groups with ";" ` + eg},
		{in: "Mon 09:00-12:00, 11:00-13:00", want: `business hours "Mon 09:00-12:00, 11:00-13:00": Mon 11:00-13:00 overlaps Mon 09:00-12:00`},
		{in: "Sun 22:00-02:00; Mon 01:00-03:00", want: `business hours "Sun 22:00-02:00; Mon 01:00-03:00": Sun 22:00-02:00 overlaps Mon 01:00-03:00`},
		{in: "Mon-Fri 09:00-17:00 @", want: `business hours "Mon-Fri 09:00-17:00 @": unexpected "@"`},
		{in: "Tue-Thu 09:00-11:3", window: true, want: `email window "Tue-Thu 09:00-11:3": time "11:3" is not HH:MM`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			parse := ParseHours
			if tt.window {
				parse = ParseWindow
			}
			_, err := parse(tt.in)
			require.EqualError(t, err, tt.want)
		})
	}
}

func TestHoursOverlap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want bool
	}{
		{"Mon-Fri 09:00-17:00", "Tue-Thu 09:00-11:30", true},
		{"Mon-Fri 09:00-17:00", "Sat-Sun 10:00-12:00", false},
		{"Mon-Fri 09:00-17:00", "Mon-Fri 17:00-18:00", false}, // touching is not overlapping
		{"Sun-Thu 20:00-04:00", "Mon 01:00-02:00", true},      // Sunday's span runs into Monday
		{"Sun 22:00-02:00", "Mon 00:00-00:30", true},          // across the end of the week
	}
	for _, tt := range tests {
		t.Run(tt.a+" & "+tt.b, func(t *testing.T) {
			t.Parallel()
			a, err := ParseHours(tt.a)
			require.NoError(t, err)
			b, err := ParseHours(tt.b)
			require.NoError(t, err)
			require.Equal(t, tt.want, a.overlaps(b))
			require.Equal(t, tt.want, b.overlaps(a))
		})
	}
}
