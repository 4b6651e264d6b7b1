package mailsink

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// The sink checks DKIM signatures the way a receiving mail server does, with
// go-msgauth's verifier, except that the key lookup does not use DNS: it
// answers the TXT record of the keys given to AddDKIMKey
// (<selector>._domainkey.<domain>) and "no key" for any other name.

// DKIM results shown for a message.
const (
	DKIMPass = "pass" // at least one signature verifies
	DKIMFail = "fail" // signed, but no signature verifies
	DKIMNone = "none" // no DKIM-Signature header
)

// maxDKIMSignatures bounds the signatures checked per message.
const maxDKIMSignatures = 5

// dkimResult is the DKIM check of one message.
type dkimResult struct {
	Status     string // DKIMPass, DKIMFail or DKIMNone
	Signatures []dkimSignature
	Problem    string // the message could not be checked at all
}

// dkimSignature is the verification of one DKIM-Signature header.
type dkimSignature struct {
	Domain   string   // d=
	Selector string   // s=
	Headers  []string // h=, as signed
	Err      string   // empty when the signature verifies
}

// domain is the d= of the first passing signature, else of the first one.
func (r *dkimResult) domain() string {
	for _, s := range r.Signatures {
		if s.Pass() {
			return s.Domain
		}
	}
	if len(r.Signatures) > 0 {
		return r.Signatures[0].Domain
	}
	return ""
}

// Pass reports whether this signature verifies.
func (d dkimSignature) Pass() bool { return d.Err == "" }

// signs reports whether the signature covers the header field name.
func (d dkimSignature) signs(name string) bool {
	for _, h := range d.Headers {
		if strings.EqualFold(strings.TrimSpace(h), name) {
			return true
		}
	}
	return false
}

// passingSignatureCovers reports whether a verified signature covers every one
// of the header field names.
func (r *dkimResult) passingSignatureCovers(names ...string) bool {
	if r == nil {
		return false
	}
	for _, s := range r.Signatures {
		if !s.Pass() {
			continue
		}
		all := true
		for _, n := range names {
			all = all && s.signs(n)
		}
		if all {
			return true
		}
	}
	return false
}

// AddDKIMKey makes the sink's DKIM check find pub as the key of selector at
// domain (the TXT record selector._domainkey.domain). pub is an
// *rsa.PublicKey or an ed25519.PublicKey (see ParseDKIMKey).
func (s *Sink) AddDKIMKey(domain, selector string, pub crypto.PublicKey) error {
	domain, selector = strings.TrimSpace(domain), strings.TrimSpace(selector)
	if domain == "" || selector == "" {
		return errors.New("mailsink: a DKIM key needs a domain and a selector")
	}
	record, err := dkimTXTRecord(pub)
	if err != nil {
		return fmt.Errorf("mailsink: DKIM key for %s: %w", domain, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dkimKeys == nil {
		s.dkimKeys = map[string]string{}
	}
	s.dkimKeys[dkimKeyName(selector+"._domainkey."+domain)] = record
	s.dkimGen++ // results cached so far are checked again with the new key
	return nil
}

// dkimOf returns the DKIM check of e: cached, or computed from raw (read
// from e's file when raw is nil). nil when the file is gone.
func (s *Sink) dkimOf(e *entry, raw []byte) *dkimResult {
	s.mu.RLock()
	cached, cachedGen, gen := e.dkim, e.dkimGen, s.dkimGen
	s.mu.RUnlock()
	if cached != nil && cachedGen == gen {
		return cached
	}
	if raw == nil {
		b, err := s.readRaw(e)
		if err != nil {
			return nil
		}
		raw = b
	}
	r := s.checkDKIM(raw)
	s.mu.Lock()
	if s.dkimGen == gen {
		e.dkim, e.dkimGen = r, gen
	}
	s.mu.Unlock()
	return r
}

// ParseDKIMKey reads a PEM key and returns its public half: a public key
// (PKIX "PUBLIC KEY" or PKCS#1 "RSA PUBLIC KEY") or a private key (PKCS#8
// "PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY"), RSA or Ed25519.
func ParseDKIMKey(pemBytes []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("mailsink: no PEM block in the DKIM key")
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("mailsink: DKIM key: unsupported PEM block %q", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("mailsink: DKIM key: %w", err)
	}
	if priv, ok := key.(crypto.Signer); ok {
		key = priv.Public()
	}
	if _, err := dkimTXTRecord(key); err != nil {
		return nil, fmt.Errorf("mailsink: DKIM key: %w", err)
	}
	return key, nil
}

// dkimTXTRecord is the DNS TXT record publishing pub (RFC 6376 §3.6.1,
// RFC 8463 for Ed25519).
func dkimTXTRecord(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k), nil
	}
	return "", fmt.Errorf("want an RSA or Ed25519 public key, not %T", pub)
}

func dkimKeyName(name string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
}

// errNoKey is what the lookup answers for a name without a key.
var errNoKey = errors.New("no key")

// lookupTXT answers the TXT records of the keys added to the sink.
func (s *Sink) lookupTXT(name string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if r, ok := s.dkimKeys[dkimKeyName(name)]; ok {
		return []string{r}, nil
	}
	return nil, errNoKey
}

// checkDKIM verifies every DKIM signature of a stored message.
func (s *Sink) checkDKIM(raw []byte) *dkimResult {
	res := &dkimResult{Status: DKIMNone}
	fields, _ := parseHeader(raw)
	var tags []map[string]string
	for _, f := range fields {
		if strings.EqualFold(f.Name, "DKIM-Signature") {
			tags = append(tags, dkimTags(f.Raw))
		}
	}
	if len(tags) == 0 {
		return res
	}
	res.Status = DKIMFail
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{
		LookupTXT:        s.lookupTXT,
		MaxVerifications: maxDKIMSignatures,
	})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		res.Problem = err.Error()
	}
	for i, v := range verifs {
		sig := dkimSignature{Domain: v.Domain, Headers: v.HeaderKeys}
		if i < len(tags) {
			sig.Selector = tags[i]["s"]
			if sig.Domain == "" {
				sig.Domain = tags[i]["d"]
			}
			if sig.Headers == nil && tags[i]["h"] != "" {
				for h := range strings.SplitSeq(tags[i]["h"], ":") {
					sig.Headers = append(sig.Headers, strings.TrimSpace(h))
				}
			}
		}
		if v.Err != nil {
			sig.Err = v.Err.Error()
		} else {
			res.Status = DKIMPass
		}
		res.Signatures = append(res.Signatures, sig)
	}
	return res
}

// dkimTags splits a DKIM-Signature value into its tags, whitespace removed
// (for display only; the verifier parses the header itself).
func dkimTags(v string) map[string]string {
	tags := map[string]string{}
	for part := range strings.SplitSeq(v, ";") {
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		tags[strings.TrimSpace(k)] = strings.Join(strings.Fields(val), "")
	}
	return tags
}
