package preview_test

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadencefile"
	"github.com/followup-engine/followup/internal/calendar"
	"github.com/followup-engine/followup/internal/preview"
)

func example(t *testing.T, name string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "cadences", name)
}

// A deal that starts on the Friday before Whit Monday: every email lands on a working day,
// inside the contact's Tue-Thu 09:00-11:30 window, and every task in the owner's hours.
func TestFridayBeforeAPublicHolidayLandsOnWorkingDaysInTheWindow(t *testing.T) {
	t.Parallel()
	p, err := cadencefile.Load(example(t, "b2b.yaml"))
	require.NoError(t, err)
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	start := time.Date(2026, 5, 22, 16, 30, 0, 0, berlin) // Friday; Monday 25 May is Whit Monday
	touches, err := preview.Timeline(p, preview.Request{Start: start, Days: 90})
	require.NoError(t, err)
	require.NotEmpty(t, touches)
	contact := calendar.MustNew(calendar.Spec{Zone: "Europe/Berlin", Country: "de", Window: p.Calendar.EmailWindow})
	owner := calendar.MustNew(calendar.Spec{Zone: "Europe/Berlin", Country: "de"})
	emails := 0
	for _, tc := range touches {
		local := tc.At.In(berlin)
		_, holiday := contact.Holiday(tc.At)
		require.False(t, holiday, "%s on a holiday: %s", tc.Item, tc.Local)
		switch tc.Kind {
		case "email":
			emails++
			require.True(t, contact.InWindow(tc.At), "%s outside the email window: %s", tc.Item, tc.Local)
			require.Contains(t, []time.Weekday{time.Tuesday, time.Wednesday, time.Thursday}, local.Weekday(), tc.Item)
		case "task", "stale", "exhausted":
			require.True(t, owner.IsOpen(tc.At) || tc.Kind != "task", "%s outside business hours: %s", tc.Item, tc.Local)
		}
		require.True(t, strings.HasSuffix(tc.Local, "CEST") || strings.HasSuffix(tc.Local, "CET"), tc.Local)
	}
	require.Positive(t, emails)
	first := touches[0]
	require.Equal(t, "email", first.Kind)
	// The window opens at 09:00; the deal's jitter spreads its emails a few minutes into it.
	require.True(t, strings.HasPrefix(first.Local, "Tue 2026-05-26 09:"), "not Friday evening, not the weekend, not Whit Monday: %s", first.Local)
	require.Contains(t, first.Reason, "moved:")
}

func TestContactZoneOverridesThePipelines(t *testing.T) {
	t.Parallel()
	p, err := cadencefile.Load(example(t, "b2b.yaml"))
	require.NoError(t, err)
	start := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	touches, err := preview.Timeline(p, preview.Request{Start: start, Days: 30,
		Contact: calendar.Party{Zone: "Pacific/Honolulu", Country: "us"}})
	require.NoError(t, err)
	tongatapu := false
	for _, tc := range touches {
		if tc.Kind == "email" {
			require.True(t, strings.HasSuffix(tc.Local, "HST"), "emails in the contact's zone: %s", tc.Local)
			h := tc.At.In(mustLoc(t, "Pacific/Honolulu")).Hour()
			require.True(t, h >= 9 && h < 12, tc.Local)
		}
		tongatapu = tongatapu || strings.Contains(tc.Local, "+13")
	}
	require.False(t, tongatapu)
	_, err = preview.Timeline(p, preview.Request{Start: start, Contact: calendar.Party{Zone: "Mars/Base"}})
	require.ErrorContains(t, err, "Mars/Base")
	_, err = preview.Timeline(p, preview.Request{Start: start, Days: 5000})
	require.ErrorContains(t, err, "horizon")
}

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}
