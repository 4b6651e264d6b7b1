package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
)

// starter deal value sets an amount exactly as written, with its currency upper-cased and
// the close date; a float-looking, negative or currency-less amount exits 2 and writes
// nothing.
func TestDealValue(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	env := config.MapEnv{"DATABASE_URL": dbURL, "TEMPORAL_ADDRESS": "127.0.0.1:1"}
	require.Equal(t, 0, runCLI(t, env, "migrate").code)
	st := store.New(pgtestPool(t, dbURL))
	c, err := st.CreateDeal(context.Background(), store.NewDeal{
		Source: "crm", ExternalID: "val-1", Owner: store.OwnerInput{Email: "ana@vendor.test"},
		Contact: store.ContactInput{Email: "bob@prospect.test"}, CadenceVersion: cadence.DefaultVersion,
		EventID: "create:val-1", SourceTime: time.Now(),
	})
	require.NoError(t, err)

	r := runCLI(t, env, "deal", "value", "crm:val-1", "--amount", "12000.50", "--currency", "eur", "--close-on", "2027-03-31")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "deal "+c.Deal.ID+": 12000.50 EUR, expected to close 2027-03-31\n", r.stdout)

	for _, bad := range [][]string{
		{"--amount", "1e4", "--currency", "EUR"}, {"--amount", "-5", "--currency", "EUR"},
		{"--currency", "EURO"}, {"--close-on", "31/03/2027"}, {},
	} {
		r := runCLI(t, env, append([]string{"deal", "value", c.Deal.ID}, bad...)...)
		require.Equal(t, 2, r.code, "%v: %s", bad, r.stderr)
	}
	d, err := st.DealByID(context.Background(), c.Deal.ID)
	require.NoError(t, err)
	require.Equal(t, store.DealValue{Amount: "12000.50", Currency: "EUR", ExpectedCloseOn: "2027-03-31"}, d.DealValue)
	r = runCLI(t, env, "deal", "show", "crm:val-1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `Value +12000.50 EUR, expected to close 2027-03-31`, r.stdout)

	other, err := st.CreateDeal(context.Background(), store.NewDeal{
		Source: "crm", ExternalID: "val-2", Owner: store.OwnerInput{Email: "ana@vendor.test"},
		Contact: store.ContactInput{Email: "eve@prospect.test"}, CadenceVersion: cadence.DefaultVersion,
		EventID: "create:val-2", SourceTime: time.Now(),
	})
	require.NoError(t, err)
	r = runCLI(t, env, "deal", "value", other.Deal.ID, "--amount", "300")
	require.Equal(t, 2, r.code, r.stderr)
	require.Contains(t, r.stderr, "needs a currency")
}
