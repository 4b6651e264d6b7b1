package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
)

// A target is one row per pipeline, month and currency: setting it again replaces the
// amount and records who set it; the list is by month and currency, one pipeline's only.
func TestTargetsAreOnePerPipelineMonthAndCurrency(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ops := store.WithActor(context.Background(), "user:ops@vendor.test")
	june := time.Date(2026, 6, 17, 15, 0, 0, 0, time.UTC) // any day names its month
	_, err := st.SetTarget(ops, "b2b", june, "EUR", "100000")
	require.NoError(t, err)
	_, err = st.SetTarget(ops, "b2b", june.AddDate(0, -1, 0), "USD", "5")
	require.NoError(t, err)
	_, err = st.SetTarget(ops, "other", june, "EUR", "1")
	require.NoError(t, err)
	got, err := st.SetTarget(store.WithActor(context.Background(), "cli:ana"), "b2b", june, "EUR", "120000.50")
	require.NoError(t, err)
	require.Equal(t, "2026-06", got.Month)
	require.Equal(t, "cli:ana", got.SetBy)

	list, err := st.Targets(context.Background(), "b2b")
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, []string{"2026-05 USD 5 user:ops@vendor.test", "2026-06 EUR 120000.50 cli:ana"},
		[]string{list[0].Month + " " + list[0].Currency + " " + string(list[0].Amount) + " " + list[0].SetBy,
			list[1].Month + " " + list[1].Currency + " " + string(list[1].Amount) + " " + list[1].SetBy})
}
