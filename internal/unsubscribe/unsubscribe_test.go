package unsubscribe_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/mail"
	"github.com/followup-engine/followup/internal/unsubscribe"
)

const (
	contactID = "0b8f3c52-7d1e-4a6b-9f00-1234567890ab"
	dealID    = "F1E2D3C4-B5A6-4978-8a9b-0c1d2e3f4a5b"
)

var (
	secret = bytes.Repeat([]byte("k"), 32)
	issued = time.Date(2026, 11, 23, 10, 0, 7, 999, time.UTC)
)

func signer(t *testing.T, key []byte, previous ...[]byte) *unsubscribe.Signer {
	t.Helper()
	s, err := unsubscribe.NewSigner(key, previous...)
	require.NoError(t, err)
	return s
}

func TestTokenRoundTrip(t *testing.T) {
	t.Parallel()
	s := signer(t, secret)
	token, err := s.Sign(unsubscribe.Claims{ContactID: contactID, DealID: dealID, IssuedAt: issued})
	require.NoError(t, err)
	require.Len(t, token, 76, "short enough for a List-Unsubscribe header")
	require.Regexp(t, `^[A-Za-z0-9_-]+$`, token, "URL-safe without escaping")

	c, err := s.Verify(token)
	require.NoError(t, err)
	require.Equal(t, contactID, c.ContactID)
	require.Equal(t, strings.ToLower(dealID), c.DealID, "ids come back in canonical form")
	require.Equal(t, issued.Truncate(time.Second), c.IssuedAt)

	again, err := s.Sign(unsubscribe.Claims{ContactID: contactID, DealID: dealID, IssuedAt: issued})
	require.NoError(t, err)
	require.Equal(t, token, again, "signing is deterministic")
}

func TestTokenRevealsNoAddressOrIDInClear(t *testing.T) {
	t.Parallel()
	token, err := signer(t, secret).Sign(unsubscribe.Claims{ContactID: contactID, DealID: dealID, IssuedAt: issued})
	require.NoError(t, err)
	require.NotContains(t, token, "@")
	require.NotContains(t, strings.ToLower(token), "0b8f3c52")
	// The payload is ids and a time only: no field for an address exists.
	raw, err := base64.RawURLEncoding.DecodeString(token)
	require.NoError(t, err)
	require.Len(t, raw, 57)
}

func TestBadTokensFailWithOneGenericError(t *testing.T) {
	t.Parallel()
	s := signer(t, secret)
	token, err := s.Sign(unsubscribe.Claims{ContactID: contactID, DealID: dealID, IssuedAt: issued})
	require.NoError(t, err)
	other, err := signer(t, bytes.Repeat([]byte("x"), 32)).Sign(unsubscribe.Claims{ContactID: contactID, DealID: dealID, IssuedAt: issued})
	require.NoError(t, err)

	flip := func(i int) string {
		b := []byte(token)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	bad := map[string]string{
		"empty":           "",
		"truncated":       token[:len(token)-1],
		"truncated MAC":   token[:len(token)-8],
		"extended":        token + "A",
		"padded":          token + "==",
		"other secret":    other,
		"not base64":      strings.Repeat("*", len(token)),
		"with a newline":  token[:40] + "\n" + token[41:],
		"with a space":    token[:40] + " " + token[41:],
		"standard base64": strings.NewReplacer("-", "+", "_", "/").Replace(token) + "+/",
		"garbage of size": strings.Repeat("A", len(token)),
		"another version": versioned(t, token, 2),
		"lower-cased":     strings.ToLower(token),
	}
	for i := range len(token) {
		bad[fmt.Sprintf("char %d changed", i)] = flip(i)
	}
	for name, tok := range bad {
		if tok == token {
			continue // lower-casing may leave a token without upper-case letters unchanged
		}
		c, err := s.Verify(tok)
		require.ErrorIs(t, err, unsubscribe.ErrInvalid, name)
		require.Equal(t, unsubscribe.ErrInvalid, err, "%s: the same error, no detail", name)
		require.Zero(t, c, name)
	}
	var none *unsubscribe.Signer
	_, err = none.Verify(token)
	require.ErrorIs(t, err, unsubscribe.ErrInvalid, "a nil signer verifies nothing")
}

// versioned re-encodes token with another version byte (its MAC no longer matters: the
// version is checked first).
func versioned(t *testing.T, token string, v byte) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(token)
	require.NoError(t, err)
	raw[0] = v
	return base64.RawURLEncoding.EncodeToString(raw)
}

func TestRotationAcceptsPreviousSecrets(t *testing.T) {
	t.Parallel()
	old := bytes.Repeat([]byte("o"), 40)
	oldToken, err := signer(t, old).Sign(unsubscribe.Claims{ContactID: contactID, DealID: dealID, IssuedAt: issued})
	require.NoError(t, err)
	rotated := signer(t, secret, old)
	c, err := rotated.Verify(oldToken)
	require.NoError(t, err, "links in emails sent before the rotation keep working")
	require.Equal(t, contactID, c.ContactID)
	newToken, err := rotated.Sign(unsubscribe.Claims{ContactID: contactID, DealID: dealID, IssuedAt: issued})
	require.NoError(t, err)
	require.NotEqual(t, oldToken, newToken, "the current secret signs")
	_, err = signer(t, secret).Verify(oldToken)
	require.ErrorIs(t, err, unsubscribe.ErrInvalid, "once the old secret is dropped, its links fail")
}

func TestSignRefusesWhatIsNotAnID(t *testing.T) {
	t.Parallel()
	s := signer(t, secret)
	for _, c := range []unsubscribe.Claims{
		{ContactID: "bob@prospect.test", DealID: dealID, IssuedAt: issued},
		{ContactID: contactID, DealID: "", IssuedAt: issued},
		{ContactID: contactID, DealID: "0b8f3c52-7d1e-4a6b-9f00-1234567890zz", IssuedAt: issued},
		{ContactID: contactID, DealID: dealID, IssuedAt: time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		_, err := s.Sign(c)
		require.Error(t, err, "%+v", c)
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	_, err := unsubscribe.NewSigner([]byte("short"))
	require.ErrorContains(t, err, "at least 32 bytes")
	_, err = unsubscribe.NewSigner(secret, []byte("short"))
	require.ErrorContains(t, err, "previous unsubscribe secret 1")

	hex64 := strings.Repeat("ab", 32)
	b, err := unsubscribe.ParseSecret(hex64)
	require.NoError(t, err)
	require.Equal(t, bytes.Repeat([]byte{0xab}, 32), b, "hex is decoded")
	raw := "correct horse battery staple, 32+"
	b, err = unsubscribe.ParseSecret(raw)
	require.NoError(t, err)
	require.Equal(t, []byte(raw), b, "anything else is raw bytes")
	_, err = unsubscribe.ParseSecret(strings.Repeat("ab", 16))
	require.ErrorContains(t, err, "want at least 64 hex characters", "32 hex digits are 16 bytes: too short")
	_, err = unsubscribe.ParseSecret("not hex, too short")
	require.ErrorContains(t, err, "or 32 raw bytes")
}

func TestLinks(t *testing.T) {
	t.Parallel()
	s := signer(t, secret)
	l, err := unsubscribe.NewLinks("https://followup.example.com/", s)
	require.NoError(t, err)
	require.True(t, l.OneClick())
	u, err := l.URL(contactID, dealID, issued)
	require.NoError(t, err)
	token, ok := strings.CutPrefix(u, "https://followup.example.com/u/")
	require.True(t, ok, u)
	c, err := s.Verify(token)
	require.NoError(t, err)
	require.Equal(t, contactID, c.ContactID)

	l, err = unsubscribe.NewLinks("http://127.0.0.1:8088", s)
	require.NoError(t, err)
	require.True(t, l.OneClick(), "a local stack's loopback http base gets the header too")
	u, err = l.URL(contactID, dealID, issued)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(u, "http://127.0.0.1:8088/u/"), u)
	require.NoError(t, mail.CheckOneClickURL(u), "OneClick and mail.Build agree")

	for base, want := range map[string]bool{
		"http://localhost:8088": true, "http://LOCALHOST": true, "http://[::1]:8088": true,
		"http://followup.example.com": false, "http://10.0.0.5:8088": false, "http://localhost.example.com": false,
	} {
		l, err := unsubscribe.NewLinks(base, s)
		require.NoError(t, err)
		require.Equal(t, want, l.OneClick(), "%s: RFC 8058 wants https for the header, loopback http aside", base)
	}

	l, err = unsubscribe.NewLinks("https://example.com/followup", s)
	require.NoError(t, err)
	require.Equal(t, "https://example.com/followup", l.Base())

	var none *unsubscribe.Links
	u, err = none.URL(contactID, dealID, issued)
	require.NoError(t, err)
	require.Empty(t, u, "no base URL configured: no link")
	require.False(t, none.OneClick())

	for _, bad := range []string{"", "followup.example.com", "ftp://x.test", "https://", "https://u:p@x.test",
		"https://x.test/?a=1", "https://x.test/#f", "https://x.test/a b", "https://x.test/\r\nBcc: a@b.c", "https:x.test", "https://x.test/\"<>"} {
		_, err := unsubscribe.NewLinks(bad, s)
		require.Error(t, err, bad)
	}
	_, err = unsubscribe.NewLinks("https://x.test", nil)
	require.Error(t, err)
}
