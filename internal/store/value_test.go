package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
)

// A deal's value is set at create and changed later, field by field, exactly as written;
// each change that changes something is kept with its actor, a repeat records nothing, and an
// amount never stands without a currency.
func TestDealValueIsExactAndItsChangesAreKept(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	st := store.New(pool)
	ctx := store.WithActor(context.Background(), "user:ops@vendor.test")
	c, err := st.CreateDeal(ctx, store.NewDeal{
		Source: "crm", ExternalID: "v-1",
		Owner:          store.OwnerInput{Email: "ana@vendor.test"},
		Contact:        store.ContactInput{Email: "bob@prospect.test"},
		CadenceVersion: cadence.DefaultVersion, EventID: "create:v-1", SourceTime: time.Now(),
		Value: store.DealValue{Amount: "12000.50", Currency: "EUR"},
	})
	require.NoError(t, err)
	require.Equal(t, store.DealValue{Amount: "12000.50", Currency: "EUR"}, c.Deal.DealValue)

	v, err := st.SetDealValue(ctx, c.Deal.ID, store.ValueChange{DealValue: store.DealValue{ExpectedCloseOn: "2027-03-31"}, Source: "cli"})
	require.NoError(t, err)
	require.Equal(t, store.DealValue{Amount: "12000.50", Currency: "EUR", ExpectedCloseOn: "2027-03-31"}, v)
	_, err = st.SetDealValue(ctx, c.Deal.ID, store.ValueChange{DealValue: store.DealValue{Amount: "12000.50"}, Source: "cli"})
	require.NoError(t, err)
	v, err = st.SetDealValue(ctx, c.Deal.ID, store.ValueChange{DealValue: store.DealValue{Amount: "0.1", Currency: "USD"}, Source: "hubspot"})
	require.NoError(t, err)
	require.Equal(t, store.DealValue{Amount: "0.1", Currency: "USD", ExpectedCloseOn: "2027-03-31"}, v)

	d, err := st.DealByID(ctx, c.Deal.ID)
	require.NoError(t, err)
	require.Equal(t, v, d.DealValue)

	var n int
	var actor string
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), min(actor) FROM deal_value_changes WHERE deal_id = $1`, c.Deal.ID).Scan(&n, &actor))
	require.Equal(t, 3, n, "create, close date, amount and currency; the repeat recorded nothing")
	require.Equal(t, "user:ops@vendor.test", actor)

	other := newDeal(t, st, "v-2")
	_, err = st.SetDealValue(ctx, other.Deal.ID, store.ValueChange{DealValue: store.DealValue{Amount: "5"}, Source: "cli"})
	require.ErrorIs(t, err, store.ErrAmountWithoutCurrency)
	_, err = st.SetDealValue(ctx, "00000000-0000-0000-0000-000000000000", store.ValueChange{DealValue: store.DealValue{Amount: "5", Currency: "EUR"}})
	require.ErrorIs(t, err, store.ErrNotFound)
}
