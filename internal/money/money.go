// Package money reads a deal's value as people and CRMs write it: an exact decimal amount
// (never a float), an ISO 4217 currency code and an expected close date.
package money

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/followup-engine/followup/internal/render"
	"regexp"
	"strings"
	"time"

	"golang.org/x/text/currency"
)

// amountPattern: at most 18 digits before the point (more than any deal) and 4 after it
// (every ISO 4217 currency has at most 4 minor-unit digits: most 2, a few 0 or 3, CLF 4).
var amountPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,17})(\.[0-9]{1,4})?$`)

// Amount is a non-negative decimal amount as exact text ("12000.50"); "" is no amount.
// JSON takes a string of decimal digits or a JSON number written the same way (no exponent,
// no sign); either becomes the string.
type Amount string

// ErrAmount: what is wrong with an amount.
var ErrAmount = errors.New("amount: want decimal digits with at most 4 after the point, such as \"12000.50\" (no sign, exponent or thousands separator)")

// ParseAmount checks s as an amount; "" is no amount.
func ParseAmount(s string) (Amount, error) {
	if s == "" {
		return "", nil
	}
	if !amountPattern.MatchString(s) {
		return "", fmt.Errorf("%q: %w", render.Echo(s), ErrAmount)
	}
	return Amount(s), nil
}

// UnmarshalJSON takes "12000.50", 12000.50 or null (no amount).
func (a *Amount) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	var s string
	switch {
	case bytes.Equal(b, []byte("null")):
		*a = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	default:
		s = string(b)
	}
	v, err := ParseAmount(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// ParseCurrency checks an ISO 4217 code, case-insensitively, and returns it upper-cased;
// "" is no currency.
func ParseCurrency(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	up := strings.ToUpper(s)
	if len(up) != 3 {
		return "", fmt.Errorf("currency %q: want a three-letter ISO 4217 code such as EUR or USD", render.Echo(s))
	}
	if _, err := currency.ParseISO(up); err != nil {
		return "", fmt.Errorf("currency %q: not an ISO 4217 code", render.Echo(s))
	}
	return up, nil
}

// ParseDate checks a calendar date YYYY-MM-DD (an expected close date); "" is none.
func ParseDate(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil || d.Year() < 1970 || d.Year() > 9999 {
		return "", fmt.Errorf("date %q: want YYYY-MM-DD", render.Echo(s))
	}
	return d.Format(time.DateOnly), nil
}
