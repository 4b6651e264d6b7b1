package mailsink

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBusinessDaysAfter(t *testing.T) {
	t.Parallel()
	day := func(s string) time.Time {
		d, err := time.Parse(time.DateOnly, s)
		require.NoError(t, err)
		return d
	}
	for from, want := range map[string]string{
		"2026-12-07": "2026-12-10", // Monday → Thursday
		"2026-12-10": "2026-12-15", // Thursday → Tuesday
		"2026-12-11": "2026-12-16", // Friday → Wednesday
		"2026-12-12": "2026-12-16", // Saturday → Wednesday
	} {
		require.Equal(t, want, businessDaysAfter(day(from), 3).Format(time.DateOnly), from)
	}
	require.Equal(t, "Monday, 14 December 2026", longDate(day("2026-12-14")))
}
