package cadence_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
)

// A limit that defers the same email again and again keeps one entry per item; a later
// deferral of another item, or an earlier one of the same item, leaves the rest alone.
func TestDeferKeepsOneEntryPerItemThatCanStillWin(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	var v cadence.Visit
	v.Defer(cadence.Deferral{ItemID: "ooo", Until: t0.Add(48 * time.Hour), Why: "out of office"})
	for i := 1; i <= 400; i++ {
		v.Defer(cadence.Deferral{ItemID: "intro#1", Until: t0.Add(time.Duration(i) * 15 * time.Minute), Why: "held"})
	}
	require.Len(t, v.Deferrals, 2)
	require.Equal(t, t0.Add(100*time.Hour), v.Deferrals[1].Until)

	// An earlier deferral of the same item cannot win: kept beside, not instead.
	v.Defer(cadence.Deferral{ItemID: "intro#1", Until: t0, Why: "earlier"})
	require.Len(t, v.Deferrals, 3)

	// A copy deferred further leaves the original as it was.
	c := v
	c.Defer(cadence.Deferral{ItemID: "ooo", Until: t0.Add(200 * time.Hour), Why: "longer"})
	require.Len(t, v.Deferrals, 3)
	require.Equal(t, "out of office", v.Deferrals[0].Why)
	require.Len(t, c.Deferrals, 3)
	require.Equal(t, "longer", c.Deferrals[2].Why)
}
