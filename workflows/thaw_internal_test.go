package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/calendar"
)

// freeze and thaw are what a pause records in history: each pending item keeps the business
// time it had left, in its own calendar (the contact's for emails, the owner's for the rest),
// the stale item travels as the deadline, and escalations come back apart from deferrals.
func TestFreezeThenThawGivesEachItemTheTimeItHadLeft(t *testing.T) {
	t.Parallel()
	// Owner in Berlin, contact in New York, both Mon-Fri 09:00-17:00.
	specs := calendar.ForDeal(&cadence.CalendarSpec{Zone: "Europe/Berlin", BusinessHours: "Mon-Fri 09:00-17:00"},
		calendar.Party{}, calendar.Party{Zone: "America/New_York"})
	cals, err := specs.Calendars()
	require.NoError(t, err)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	newYork, _ := time.LoadLocation("America/New_York")

	pausedAt := time.Date(2026, 11, 23, 16, 0, 0, 0, berlin) // Mon 16:00 Berlin = 10:00 New York
	items := []cadence.Item{
		{ID: "intro#1", Kind: cadence.ItemEmail, At: time.Date(2026, 11, 23, 12, 0, 0, 0, newYork)}, // 2 open hours left
		{ID: "call#1", Kind: cadence.ItemTask, At: time.Date(2026, 11, 24, 10, 0, 0, 0, berlin)},    // 1 + 1 open hours left
		{ID: "late#1", Kind: cadence.ItemTask, At: pausedAt.Add(-time.Hour)},                        // due already: nothing left
		{ID: escalateItemID(7), Kind: cadence.ItemEscalate, At: time.Date(2026, 11, 24, 9, 30, 0, 0, berlin)},
		{ID: cadence.StaleItemID, Kind: cadence.ItemStale, At: time.Date(2026, 11, 25, 17, 0, 0, 0, berlin)},
	}
	deadline := time.Date(2026, 11, 25, 17, 0, 0, 0, berlin) // 1 + 8 + 8 open hours left
	fr := freeze(3, pausedAt, items, deadline, cals)
	require.Equal(t, 3, fr.Visit)
	require.True(t, fr.Items[0].Contact, "an email counts in the contact's calendar")
	require.False(t, fr.Items[1].Contact)
	require.Equal(t, 17*time.Hour, *fr.Deadline)

	resumedAt := time.Date(2026, 11, 27, 15, 0, 0, 0, berlin) // Fri 15:00 Berlin = 09:00 New York
	th := thaw(fr, resumedAt, cals)
	at := map[string]time.Time{}
	for _, d := range th.Deferrals {
		at[d.ItemID] = d.Until
		require.Contains(t, d.Why, "re-planned with the time it had left")
	}
	require.NotContains(t, at, cadence.StaleItemID, "the deadline carries the stale item")
	require.Equal(t, time.Date(2026, 11, 27, 11, 0, 0, 0, newYork), at["intro#1"].In(newYork))
	require.Equal(t, time.Date(2026, 11, 27, 17, 0, 0, 0, berlin), at["call#1"].In(berlin))
	require.Equal(t, resumedAt, at["late#1"].In(berlin), "nothing left: due at the resume, no catch-up before it")
	require.Len(t, th.Escalations, 1)
	require.Equal(t, escalateItemID(7), th.Escalations[0].ItemID)
	require.Equal(t, time.Date(2026, 11, 27, 16, 30, 0, 0, berlin), th.Escalations[0].Until.In(berlin), "1.5 open hours left")
	// 17 open hours from Fri 15:00: 2 on Friday, 8 on Monday, 7 on Tuesday.
	require.Equal(t, time.Date(2026, 12, 1, 16, 0, 0, 0, berlin), th.Deadline.In(berlin))
}
