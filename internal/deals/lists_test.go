package deals

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/store"
)

// "today" ends at the owner's local midnight: the same instant is today for one owner and
// upcoming for another, and a day that loses an hour to DST still ends at midnight.
func TestDueWindowIsTheOwnersDay(t *testing.T) {
	t.Parallel()
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	now := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC) // 23:00 in Tokyo, 15:00 in Berlin

	from, before := DueWindow(DueToday, now, tokyo)
	require.True(t, from.Equal(now))
	require.True(t, before.Equal(time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)), "Tokyo's day ends in an hour: %v", before)
	_, before = DueWindow(DueToday, now, berlin)
	require.True(t, before.Equal(time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)), "%v", before)

	from, before = DueWindow(DueOverdue, now, berlin)
	require.Nil(t, from)
	require.True(t, before.Equal(now))
	from, before = DueWindow(DueUpcoming, now, berlin)
	require.True(t, from.Equal(time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)))
	require.Nil(t, before)
	from, before = DueWindow(DueAll, now, berlin)
	require.Nil(t, from)
	require.Nil(t, before)

	// 2026-03-29 in Berlin has 23 hours: its end is 22:00 UTC.
	_, before = DueWindow(DueToday, time.Date(2026, 3, 29, 8, 0, 0, 0, time.UTC), berlin)
	require.True(t, before.Equal(time.Date(2026, 3, 29, 22, 0, 0, 0, time.UTC)), "%v", before)
}

func TestMarkDealStaleAndNearLimit(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(h int) *time.Time { t := now.Add(time.Duration(h) * time.Hour); return &t }
	for _, c := range []struct {
		name              string
		state             string
		entered, deadline *time.Time
		stale, near       bool
	}{
		{"deadline passed", "open", at(-100), at(-1), true, false},
		{"deadline now", "open", at(-100), at(0), true, false},
		{"10% left", "open", at(-90), at(10), false, true},
		{"exactly 20% left", "open", at(-80), at(20), false, false},
		{"half left", "open", at(-50), at(50), false, false},
		{"no deadline", "open", at(-50), nil, false, false},
		{"no entry time", "open", nil, at(1), false, false},
		{"closed", "closed", at(-100), at(-1), false, false},
	} {
		d := markDeal(store.ListedDeal{ID: "x", State: c.state, StageEnteredAt: c.entered, StageDeadline: c.deadline}, now)
		require.Equal(t, c.stale, d.Stale, c.name)
		require.Equal(t, c.near, d.NearLimit, c.name)
		require.Equal(t, "/api/deals/x", d.Link)
	}
}

func TestCursorsRoundTrip(t *testing.T) {
	t.Parallel()
	due := time.Date(2026, 12, 7, 9, 0, 0, 123456000, time.UTC)
	k, err := parseTaskCursor(taskCursor(store.TaskKey{DueAt: due, ID: 42}))
	require.NoError(t, err)
	require.True(t, k.DueAt.Equal(due))
	require.Equal(t, int64(42), k.ID)
	id := "0b8a3a4e-8f4c-4b7e-9d7a-2f1e5c6d7e8f"
	dk, err := parseDealCursor(dealCursor(store.DealKey{NextActionAt: &due, ID: id}))
	require.NoError(t, err)
	require.True(t, dk.NextActionAt.Equal(due))
	require.Equal(t, id, dk.ID)
	dk, err = parseDealCursor(dealCursor(store.DealKey{ID: id}))
	require.NoError(t, err)
	require.Nil(t, dk.NextActionAt)
	for _, bad := range []string{"", "x", "2026-12-07T09:00:00Z_", "2026-12-07T09:00:00Z_0", "nope_1"} {
		_, err := parseTaskCursor(bad)
		require.Error(t, err, bad)
	}
	for _, bad := range []string{"none_x", "yesterday_" + id, id} {
		_, err := parseDealCursor(bad)
		require.Error(t, err, bad)
	}
}
