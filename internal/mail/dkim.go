package mail

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"regexp"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// DKIMConfig signs every message (RFC 6376) with go-mail's signer, relaxed/relaxed
// canonicalisation, covering the headers in dkimSignedHeaders (RFC 8058 requires the
// signature to cover List-Unsubscribe and List-Unsubscribe-Post).
type DKIMConfig struct {
	Domain   string // d=, e.g. "acme.com"; should match the From addresses' domain (DMARC)
	Selector string // s=: the public key is the TXT record <Selector>._domainkey.<Domain>
	// PrivateKeyPEM is an RSA (at least 1024 bits; use 2048) or Ed25519 key, PKCS#1
	// ("RSA PRIVATE KEY") or PKCS#8 ("PRIVATE KEY"), unencrypted.
	PrivateKeyPEM []byte
}

// String describes d without its key, so a logged config leaks nothing.
func (d DKIMConfig) String() string {
	return fmt.Sprintf("DKIM(d=%s, s=%s, key redacted)", d.Domain, d.Selector)
}

// GoString is String, for %#v.
func (d DKIMConfig) GoString() string { return d.String() }

const headerDKIMSignature gomail.Header = "DKIM-Signature"

// dkimSignedHeaders go into h= whether or not the message has them: a header that is
// signed while absent cannot be added later (RFC 6376 §5.4), so a replayed message cannot
// gain a Reply-To or a List-Unsubscribe.
var dkimSignedHeaders = []string{
	"From", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID",
	"In-Reply-To", "References", "List-Unsubscribe", "List-Unsubscribe-Post",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding",
}

// dkimOversignedHeaders are listed once more in h=, so a second instance prepended to the
// message (a forged From above the signed one) breaks the signature (RFC 6376 §8.15).
var dkimOversignedHeaders = []string{
	"From", "Reply-To", "To", "Cc", "Subject", "List-Unsubscribe", "List-Unsubscribe-Post",
}

// dnsLabels is a domain or selector: dot-separated letter-digit-hyphen labels.
var dnsLabels = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

// dkimKey is a validated DKIMConfig.
type dkimKey struct {
	domain, selector string
	key              crypto.Signer
}

// newDKIMKey parses and checks c, then has go-mail's signer check its configuration (the
// key's type, the header list), so a key go-mail cannot use fails here rather than on the
// first send. Errors never quote the key.
func newDKIMKey(c DKIMConfig) (*dkimKey, error) {
	var errs []error
	if !dnsLabels.MatchString(c.Domain) {
		errs = append(errs, fmt.Errorf("domain %q is not a domain name", c.Domain))
	}
	if !dnsLabels.MatchString(c.Selector) {
		errs = append(errs, fmt.Errorf("selector %q is not a DNS label (letters, digits, hyphens; dots between labels)", c.Selector))
	}
	key, err := parseDKIMKey(c.PrivateKeyPEM)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	k := &dkimKey{domain: c.Domain, selector: c.Selector, key: key}
	if err := k.signer().ValidateConfig(); err != nil {
		return nil, fmt.Errorf("go-mail's DKIM signer refuses the configuration: %w", err)
	}
	return k, nil
}

func parseDKIMKey(pemBytes []byte) (crypto.Signer, error) {
	if len(bytes.TrimSpace(pemBytes)) == 0 {
		return nil, errors.New("private key is empty")
	}
	key, err := gomail.PrivKeyFromPEM(pemBytes)
	if err != nil {
		// go-mail's and x509's messages name the PEM block type or the ASN.1 problem,
		// never key bytes.
		return nil, fmt.Errorf("private key: %w (want an unencrypted RSA or Ed25519 key in PEM, PKCS#1 or PKCS#8)", err)
	}
	if k, ok := key.(*rsa.PrivateKey); ok && k.N.BitLen() < 1024 {
		return nil, fmt.Errorf("private key: RSA key of %d bits; RFC 8301 requires at least 1024 (use 2048)", k.N.BitLen())
	}
	return key, nil
}

// sign returns the DKIM-Signature value for rendered, a whole message as go-mail writes it.
//
// The signature comes from go-mail's signer, but not through Msg.SetDKIM: go-mail v0.8.1
// folds the header at a fixed width, even inside a tag value, so a long h= list gets a
// line break in the middle of a header name. With relaxed canonicalisation verifiers
// hash the space that unfolding leaves there while go-mail hashed none, and every
// signature fails. sign undoes go-mail's folding; the caller adds the value with
// SetGenHeader, whose writer folds at spaces only, which relaxed canonicalisation ignores.
//
// A fresh go-mail signer per message: go-mail's caches the algorithm on first use, a data
// race when one signer serves concurrent sends.
func (k *dkimKey) sign(rendered []byte) (string, error) {
	signer := k.signer()
	headers, body := rendered, []byte(nil)
	if i := bytes.Index(rendered, []byte("\r\n\r\n")); i >= 0 {
		headers, body = rendered[:i+2], rendered[i+4:]
	}
	line, err := signer.Sign(headers, body)
	if err != nil {
		return "", fmt.Errorf("mail: DKIM sign: %w", err)
	}
	value, ok := strings.CutPrefix(line, string(headerDKIMSignature)+": ")
	if !ok {
		return "", errors.New("mail: DKIM sign: unexpected signature header from go-mail")
	}
	// go-mail only ever folds by inserting CRLF SP; its tag values contain no line breaks.
	value = strings.ReplaceAll(strings.TrimSuffix(value, "\r\n"), "\r\n ", "")
	if strings.ContainsAny(value, "\r\n") {
		return "", errors.New("mail: DKIM sign: unexpected line break in signature")
	}
	return value, nil
}

// signer is a go-mail signer for k: relaxed/relaxed, signing dkimSignedHeaders and
// oversigning dkimOversignedHeaders.
func (k *dkimKey) signer() *gomail.DKIMSigner {
	signer := gomail.NewDKIMSigner(k.domain, k.selector, k.key)
	signer.HeaderCanonicalization(gomail.CanonicalizationRelaxed)
	signer.BodyCanonicalization(gomail.CanonicalizationRelaxed)
	signer.SignHeaders(dkimSignedHeaders...)
	signer.OversignHeaders(dkimOversignedHeaders...)
	return signer
}
