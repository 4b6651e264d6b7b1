package money_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/money"
)

func TestParseAmount(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"0", "12000", "12000.50", "0.5", "999999999999999999.9999"} {
		got, err := money.ParseAmount(ok)
		require.NoError(t, err, ok)
		require.Equal(t, money.Amount(ok), got)
	}
	for _, bad := range []string{"-1", "1e5", "1,000", "01", "1.", ".5", "1.23456", "1 000", "NaN", "1234567890123456789"} {
		_, err := money.ParseAmount(bad)
		require.ErrorIs(t, err, money.ErrAmount, bad)
	}
}

// A JSON amount may be a string or a number written as decimal digits; both stay exact.
func TestAmountFromJSON(t *testing.T) {
	t.Parallel()
	var v struct {
		Amount money.Amount `json:"amount"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"amount":"12000.50"}`), &v))
	require.Equal(t, money.Amount("12000.50"), v.Amount)
	require.NoError(t, json.Unmarshal([]byte(`{"amount":12000.50}`), &v))
	require.Equal(t, money.Amount("12000.50"), v.Amount, "the number's text, not a float's")
	require.NoError(t, json.Unmarshal([]byte(`{"amount":0.1}`), &v))
	require.Equal(t, money.Amount("0.1"), v.Amount)
	require.NoError(t, json.Unmarshal([]byte(`{"amount":null}`), &v))
	require.Equal(t, money.Amount(""), v.Amount)
	require.ErrorIs(t, json.Unmarshal([]byte(`{"amount":1e3}`), &v), money.ErrAmount)
	require.ErrorIs(t, json.Unmarshal([]byte(`{"amount":"-5"}`), &v), money.ErrAmount)
	require.Error(t, json.Unmarshal([]byte(`{"amount":true}`), &v))
}

func TestParseCurrencyAndDate(t *testing.T) {
	t.Parallel()
	c, err := money.ParseCurrency("eur")
	require.NoError(t, err)
	require.Equal(t, "EUR", c)
	for _, bad := range []string{"EURO", "XYZ", "€", "E1R"} {
		_, err := money.ParseCurrency(bad)
		require.Error(t, err, bad)
	}
	d, err := money.ParseDate("2027-03-31")
	require.NoError(t, err)
	require.Equal(t, "2027-03-31", d)
	for _, bad := range []string{"2027-02-30", "31/03/2027", "2027-3-1"} {
		_, err := money.ParseDate(bad)
		require.Error(t, err, bad)
	}
}
