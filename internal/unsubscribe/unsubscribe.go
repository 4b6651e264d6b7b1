// Package unsubscribe makes and checks the signed links of RFC 8058 one-click unsubscribe.
//
// A token is the capability to unsubscribe one contact: RFC 8058 §3.2 forbids cookies and
// authorization on the one-click POST, so the URL itself must identify the recipient and be
// hard to forge. A token is the unpadded base64url of
//
//	version (1 byte) ‖ contact id (16) ‖ deal id (16) ‖ issued-at (8, Unix seconds, big endian) ‖ MAC (16)
//
// where MAC is HMAC-SHA256 over a context label and the preceding bytes, truncated to 128
// bits. It names ids only, never an email address, and does not expire: CAN-SPAM requires an
// opt-out to work for at least 30 days after the send, and an opt-out that stops working helps
// nobody. The issued-at is kept for the record (which email the prospect used).
package unsubscribe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/followup-engine/followup/internal/mail"
)

// MinSecretBytes is the shortest secret a Signer accepts.
const MinSecretBytes = 32

const (
	version     = 1
	idBytes     = 16
	macBytes    = 16
	payloadLen  = 1 + 2*idBytes + 8
	tokenBytes  = payloadLen + macBytes
	tokenLength = (tokenBytes*8 + 5) / 6 // unpadded base64url characters
)

// macContext separates these MACs from any other use of the same secret.
const macContext = "followup/unsubscribe/v1\x00"

var encoding = base64.RawURLEncoding

// ErrInvalid is the one error of every token that does not verify: tampered, truncated,
// signed with another secret, or not a token at all. It says nothing more on purpose.
var ErrInvalid = errors.New("unsubscribe: invalid link")

// Claims is what a token names.
type Claims struct {
	ContactID string    // the contact who unsubscribes (a UUID)
	DealID    string    // the deal whose email carried the link, for the record (a UUID)
	IssuedAt  time.Time // when the link was made, to the second
}

// Signer signs tokens with its current secret and verifies them with the current or a
// previous one, so links in emails already sent keep working across a rotation.
type Signer struct {
	keys [][]byte // keys[0] signs
}

// NewSigner returns a Signer that signs with secret and also accepts tokens signed with any
// of previous. Every secret must be at least MinSecretBytes long.
func NewSigner(secret []byte, previous ...[]byte) (*Signer, error) {
	s := &Signer{}
	for i, k := range append([][]byte{secret}, previous...) {
		if len(k) < MinSecretBytes {
			if i == 0 {
				return nil, fmt.Errorf("unsubscribe secret: want at least %d bytes, got %d", MinSecretBytes, len(k))
			}
			return nil, fmt.Errorf("previous unsubscribe secret %d: want at least %d bytes, got %d", i, MinSecretBytes, len(k))
		}
		s.keys = append(s.keys, append([]byte(nil), k...))
	}
	return s, nil
}

// ParseSecret reads a secret from configuration: an even number of hex digits (at least
// 2×MinSecretBytes of them) is decoded; anything else is taken as raw bytes (at least
// MinSecretBytes).
func ParseSecret(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil {
		if len(b) < MinSecretBytes {
			return nil, fmt.Errorf("want at least %d hex characters (%d bytes), got %d", 2*MinSecretBytes, MinSecretBytes, len(s))
		}
		return b, nil
	}
	if len(s) < MinSecretBytes {
		return nil, fmt.Errorf("want at least %d hex characters or %d raw bytes, got %d characters", 2*MinSecretBytes, MinSecretBytes, len(s))
	}
	return []byte(s), nil
}

// Sign makes the token for c. The ids must be UUIDs (the database's ids).
func (s *Signer) Sign(c Claims) (string, error) {
	contact, err := parseUUID(c.ContactID)
	if err != nil {
		return "", fmt.Errorf("unsubscribe token: contact id: %w", err)
	}
	deal, err := parseUUID(c.DealID)
	if err != nil {
		return "", fmt.Errorf("unsubscribe token: deal id: %w", err)
	}
	if c.IssuedAt.Unix() < 0 {
		return "", fmt.Errorf("unsubscribe token: issued-at %s is before 1970", c.IssuedAt)
	}
	b := make([]byte, 0, tokenBytes)
	b = append(b, version)
	b = append(b, contact[:]...)
	b = append(b, deal[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.IssuedAt.Unix()))
	b = append(b, mac(s.keys[0], b)...)
	return encoding.EncodeToString(b), nil
}

// Verify checks token and returns what it names, or ErrInvalid. MACs are compared in
// constant time; the shape checks before them depend only on the token's length and version,
// which an attacker knows anyway.
func (s *Signer) Verify(token string) (Claims, error) {
	if s == nil || len(token) != tokenLength {
		return Claims{}, ErrInvalid
	}
	b, err := encoding.Strict().DecodeString(token)
	if err != nil || len(b) != tokenBytes || b[0] != version {
		return Claims{}, ErrInvalid
	}
	payload, got := b[:payloadLen], b[payloadLen:]
	ok := 0
	for _, k := range s.keys {
		// Every key is tried, so the time taken does not say which one matched.
		if hmac.Equal(got, mac(k, payload)) {
			ok = 1
		}
	}
	if ok != 1 {
		return Claims{}, ErrInvalid
	}
	issued := int64(binary.BigEndian.Uint64(payload[1+2*idBytes:])) // Sign wrote a non-negative int64
	return Claims{
		ContactID: formatUUID(payload[1 : 1+idBytes]),
		DealID:    formatUUID(payload[1+idBytes : 1+2*idBytes]),
		IssuedAt:  time.Unix(issued, 0).UTC(),
	}, nil
}

func mac(key, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(macContext))
	m.Write(payload)
	return m.Sum(nil)[:macBytes]
}

// parseUUID reads the canonical 8-4-4-4-12 hex form (any case).
func parseUUID(s string) ([idBytes]byte, error) {
	var out [idBytes]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return out, fmt.Errorf("%q is not a UUID", s)
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	if _, err := hex.Decode(out[:], []byte(h)); err != nil {
		return out, fmt.Errorf("%q is not a UUID", s)
	}
	return out, nil
}

func formatUUID(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// PathPrefix is where the API serves the links: PathPrefix + token.
const PathPrefix = "/u/"

// Links builds the public unsubscribe URLs of nurture emails.
type Links struct {
	base     string // without a trailing slash
	signer   *Signer
	oneClick bool // see OneClick
}

// CheckBaseURL validates PUBLIC_BASE_URL: a URL an email can carry (mail.ParseLinkURL: an
// absolute URL with a host, no user info, no spaces, quotes or angle brackets), http or
// https, with no query or fragment. It returns the URL without a trailing slash.
func CheckBaseURL(raw string) (string, error) {
	u, err := mail.ParseLinkURL(raw)
	switch {
	case err != nil:
		return "", err
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errors.New("want an http or https URL, like https://followup.example.com")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(raw, "?#"):
		return "", errors.New("must not hold a query or a fragment")
	}
	return strings.TrimRight(raw, "/"), nil
}

// NewLinks returns the link builder for the public base URL; a base CheckBaseURL refuses
// fails with CheckBaseURL's error.
func NewLinks(baseURL string, signer *Signer) (*Links, error) {
	if signer == nil {
		return nil, errors.New("unsubscribe links need a signer")
	}
	base, err := CheckBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	// Every link has this shape (the token is base64url of a fixed length), so one check
	// answers for all of them.
	oneClick := mail.CheckOneClickURL(base+PathPrefix+strings.Repeat("A", tokenLength)) == nil
	return &Links{base: base, signer: signer, oneClick: oneClick}, nil
}

// Base is the public base URL, without a trailing slash ("" for nil Links).
func (l *Links) Base() string {
	if l == nil {
		return ""
	}
	return l.base
}

// OneClick reports whether the links can go into a List-Unsubscribe header with
// List-Unsubscribe-Post, by the rule mail.Build applies (mail.CheckOneClickURL): RFC 8058
// requires https, and an http base whose host is loopback (a local stack, as `make run`
// starts) is allowed too. Any other http base still gets links in the email's footer.
func (l *Links) OneClick() bool {
	return l != nil && l.oneClick
}

// URL is the unsubscribe link of an email of deal to contact: base + "/u/" + token. Nil Links
// (no PUBLIC_BASE_URL configured) give "" and no error.
func (l *Links) URL(contactID, dealID string, issuedAt time.Time) (string, error) {
	if l == nil {
		return "", nil
	}
	token, err := l.signer.Sign(Claims{ContactID: contactID, DealID: dealID, IssuedAt: issuedAt})
	if err != nil {
		return "", err
	}
	return l.base + PathPrefix + token, nil
}
