package mail_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/mail"
	"github.com/followup-engine/followup/internal/smtptest"
)

const (
	dkimDomain   = "seller.example"
	dkimSelector = "fu2026"
)

// testKey is a DKIM key pair: the PEM for mail.DKIMConfig and the DNS TXT record.
type testKey struct {
	name string
	pem  []byte
	txt  string
}

// rsaKey is generated once: RSA generation is slow enough to matter across tests.
var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func rsaPKCS1Key(t *testing.T) testKey {
	t.Helper()
	k := rsaKey()
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	require.NoError(t, err)
	return testKey{
		name: "RSA PKCS#1",
		pem:  pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}),
		txt:  "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(pub),
	}
}

func rsaPKCS8Key(t *testing.T) testKey {
	t.Helper()
	k := rsaKey()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	require.NoError(t, err)
	return testKey{
		name: "RSA PKCS#8",
		pem:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		txt:  "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(pub),
	}
}

func ed25519Key(t *testing.T) testKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	return testKey{
		name: "Ed25519",
		pem:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		txt:  "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub),
	}
}

// verify runs go-msgauth's verifier over raw with the test key as the only DNS record.
func verify(t *testing.T, raw []byte, key testKey) []*dkim.Verification {
	t.Helper()
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{
		LookupTXT: func(domain string) ([]string, error) {
			if domain != dkimSelector+"._domainkey."+dkimDomain {
				return nil, fmt.Errorf("no TXT record for %s", domain)
			}
			return []string{key.txt}, nil
		},
	})
	require.NoError(t, err)
	return vs
}

// requireVerified asserts one valid signature by dkimDomain whose h= covers what RFC 8058
// and this package promise.
func requireVerified(t *testing.T, raw []byte, key testKey) {
	t.Helper()
	vs := verify(t, raw, key)
	require.Len(t, vs, 1)
	require.NoError(t, vs[0].Err)
	require.Equal(t, dkimDomain, vs[0].Domain)
	signed := map[string]bool{}
	for _, h := range vs[0].HeaderKeys {
		signed[strings.ToLower(h)] = true
	}
	for _, h := range []string{"From", "To", "Subject", "Date", "Message-ID", "Reply-To", "In-Reply-To",
		"References", "List-Unsubscribe", "List-Unsubscribe-Post"} {
		require.True(t, signed[strings.ToLower(h)], "h= lacks %s: %v", h, vs[0].HeaderKeys)
	}
}

func dkimSender(t *testing.T, srv *smtptest.Server, key testKey) *mail.Sender {
	t.Helper()
	s, err := mail.NewSender(mail.Config{
		Host: srv.Host(), Port: srv.Port(), TLS: mail.TLSNone, Timeout: 5 * time.Second, HeloName: "test.local",
		DKIM: &mail.DKIMConfig{Domain: dkimDomain, Selector: dkimSelector, PrivateKeyPEM: key.pem},
	})
	require.NoError(t, err)
	return s
}

// longToken makes the List-Unsubscribe line far longer than the 78 characters at which
// header writers like to fold.
var longToken = strings.Repeat("AbCd-_09", 10)

func signedMessage(id, unsubscribeURL string) mail.Message {
	m := testMessage(id)
	m.InReplyTo, m.ThreadRoot = "prev-2@seller.example", "root-1@seller.example"
	m.ListUnsubscribeURL = unsubscribeURL
	m.Headers = map[string]string{"X-Followup-Step": "step-2"}
	return m
}

func TestSendDKIMSignatureVerifies(t *testing.T) {
	t.Parallel()
	for _, key := range []testKey{rsaPKCS1Key(t), rsaPKCS8Key(t), ed25519Key(t)} {
		t.Run(key.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t)
			url := "https://followup.seller.example/u/" + longToken
			_, err := dkimSender(t, srv, key).Send(t.Context(), signedMessage("dkim@seller.example", url))
			require.NoError(t, err)
			got := srv.WaitForMessages(t, 1, time.Second)[0]

			requireVerified(t, got.Data, key)
			// The header pair is there, List-Unsubscribe unfolded on one line.
			require.Contains(t, string(got.Data), "\r\nList-Unsubscribe: <"+url+">\r\n")
			require.Equal(t, "List-Unsubscribe=One-Click", got.Header.Get("List-Unsubscribe-Post"))
			sig := got.Header.Get("DKIM-Signature")
			require.Contains(t, sig, "c=relaxed/relaxed")
			require.Contains(t, sig, "s="+dkimSelector)
		})
	}
}

func TestDKIMTamperingFailsVerification(t *testing.T) {
	t.Parallel()
	key := ed25519Key(t)
	srv := smtptest.Start(t)
	_, err := dkimSender(t, srv, key).Send(t.Context(), signedMessage("tamper@seller.example", "https://s.example/u/"+longToken))
	require.NoError(t, err)
	raw := string(srv.WaitForMessages(t, 1, time.Second)[0].Data)
	requireVerified(t, []byte(raw), key)

	head, body, ok := strings.Cut(raw, "\r\n\r\n")
	require.True(t, ok)
	tampered := map[string]string{
		"body":                   head + "\r\n\r\n" + strings.Replace(body, "plain part", "plain parT", 1),
		"subject":                strings.Replace(raw, "Subject: ", "Subject: Re: ", 1),
		"List-Unsubscribe":       strings.Replace(raw, "List-Unsubscribe: <https://s.example/", "List-Unsubscribe: <https://evil.example/", 1),
		"List-Unsubscribe-Post":  strings.Replace(raw, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n", "", 1),
		"added Cc (signed null)": "Cc: <attacker@evil.example>\r\n" + raw,
		"second From prepended":  "From: <ceo@seller.example>\r\n" + raw,
	}
	for name, msg := range tampered {
		require.NotEqual(t, raw, msg, name)
		vs := verify(t, []byte(msg), key)
		require.Len(t, vs, 1, name)
		require.Error(t, vs[0].Err, name)
	}
}

// normalize blanks what differs between two renderings of one message: the Date, the
// multipart boundary and the DKIM-Signature.
func normalize(t *testing.T, raw []byte) string {
	t.Helper()
	s := string(raw)
	b := regexp.MustCompile(`boundary=([0-9a-f]+)`).FindStringSubmatch(s)
	require.NotNil(t, b, "multipart message")
	s = strings.ReplaceAll(s, b[1], "BOUNDARY")
	s = regexp.MustCompile(`(?m)^Date: .*\r\n`).ReplaceAllString(s, "Date: DATE\r\n")
	return regexp.MustCompile(`(?m)^DKIM-Signature: .*\r\n( .*\r\n)*`).ReplaceAllString(s, "DKIM-Signature: SIG\r\n")
}

func TestEncodeIsWhatSendSends(t *testing.T) {
	t.Parallel()
	for _, withDKIM := range []bool{true, false} {
		t.Run(fmt.Sprintf("dkim=%v", withDKIM), func(t *testing.T) {
			t.Parallel()
			key := ed25519Key(t)
			srv := smtptest.Start(t)
			s := senderFor(t, srv)
			if withDKIM {
				s = dkimSender(t, srv, key)
			}
			m := signedMessage("encode@seller.example", "http://127.0.0.1:8088/u/"+longToken)

			encoded, err := s.Encode(m)
			require.NoError(t, err)
			_, err = s.Send(t.Context(), m)
			require.NoError(t, err)
			sent := srv.WaitForMessages(t, 1, time.Second)[0].Data

			require.Equal(t, normalize(t, sent), normalize(t, encoded))
			require.Regexp(t, `(?m)^Date: \w{3}, \d{1,2} \w{3} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}\r$`, string(encoded))
			if withDKIM {
				require.True(t, strings.HasPrefix(string(encoded), "DKIM-Signature: "), "the signature heads the message")
				requireVerified(t, encoded, key)
				requireVerified(t, sent, key)
			} else {
				require.NotContains(t, string(encoded), "DKIM-Signature")
			}
		})
	}
}

func TestSendDKIMConcurrent(t *testing.T) {
	t.Parallel()
	key := rsaPKCS1Key(t)
	srv := smtptest.Start(t)
	s := dkimSender(t, srv, key)
	const n = 6
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := s.Send(t.Context(), signedMessage(fmt.Sprintf("c%d@seller.example", i), "https://s.example/u/"+longToken))
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	for _, m := range srv.WaitForMessages(t, n, 2*time.Second) {
		requireVerified(t, m.Data, key)
	}
}

func TestNewSenderValidatesDKIM(t *testing.T) {
	t.Parallel()
	good := ed25519Key(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	require.NoError(t, err)
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})
	truncated := append([]byte(nil), good.pem[:len(good.pem)/2]...)
	garbledDER := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("not a key at all, but secret-ish bytes")})

	tests := map[string]struct {
		cfg  mail.DKIMConfig
		want string
	}{
		"empty key":        {mail.DKIMConfig{Domain: dkimDomain, Selector: dkimSelector}, "private key is empty"},
		"not PEM":          {mail.DKIMConfig{Domain: dkimDomain, Selector: dkimSelector, PrivateKeyPEM: []byte("hunter2")}, "no valid PEM data"},
		"truncated PEM":    {mail.DKIMConfig{Domain: dkimDomain, Selector: dkimSelector, PrivateKeyPEM: truncated}, "no valid PEM data"},
		"garbled key":      {mail.DKIMConfig{Domain: dkimDomain, Selector: dkimSelector, PrivateKeyPEM: garbledDER}, "private key"},
		"ECDSA key":        {mail.DKIMConfig{Domain: dkimDomain, Selector: dkimSelector, PrivateKeyPEM: ecPEM}, "unsupported key type"},
		"bad domain":       {mail.DKIMConfig{Domain: "seller example", Selector: dkimSelector, PrivateKeyPEM: good.pem}, "is not a domain name"},
		"empty selector":   {mail.DKIMConfig{Domain: dkimDomain, PrivateKeyPEM: good.pem}, "selector"},
		"selector with ;":  {mail.DKIMConfig{Domain: dkimDomain, Selector: "a;b", PrivateKeyPEM: good.pem}, "selector"},
		"public key block": {mail.DKIMConfig{Domain: dkimDomain, Selector: dkimSelector, PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}})}, `unsupported PEM block type "PUBLIC KEY"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := mail.NewSender(mail.Config{Host: "127.0.0.1", Port: 1025, TLS: mail.TLSNone, DKIM: &tc.cfg})
			require.ErrorIs(t, err, mail.ErrInvalidDKIMConfig)
			require.ErrorContains(t, err, tc.want)
			require.False(t, errors.Is(err, mail.ErrInvalidMailboxConfig))
			// No key material in the message: no line of any PEM body appears.
			for _, p := range [][]byte{good.pem, ecPEM, garbledDER, truncated} {
				for _, line := range strings.Split(string(p), "\n") {
					if len(line) > 8 && !strings.HasPrefix(line, "-----") {
						require.NotContains(t, err.Error(), line)
					}
				}
			}
			require.NotContains(t, err.Error(), "secret-ish")
			require.NotContains(t, err.Error(), "hunter2")
		})
	}
	require.Equal(t, "DKIM(d=seller.example, s=fu2026, key redacted)",
		fmt.Sprintf("%v", mail.DKIMConfig{Domain: dkimDomain, Selector: dkimSelector, PrivateKeyPEM: good.pem}))
	require.NotContains(t, fmt.Sprintf("%+v %#v", mail.Config{DKIM: &mail.DKIMConfig{PrivateKeyPEM: good.pem}},
		mail.DKIMConfig{PrivateKeyPEM: good.pem}), strings.Split(string(good.pem), "\n")[1])
}

func TestCheckOneClickURL(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{
		"https://followup.example.com/u/" + longToken, "https://x.example/u?t=1",
		"http://127.0.0.1:8088/u/t", "http://[::1]:8088/u/t", "http://localhost:8088/u/t", "http://127.0.0.2/u/t",
	} {
		require.NoError(t, mail.CheckOneClickURL(ok), ok)
		m := testMessage("ok@seller.example")
		m.ListUnsubscribeURL = ok
		_, err := mail.Build(m)
		require.NoError(t, err, ok)
	}
	for _, bad := range []string{
		"http://followup.example.com/u/t", "http://10.0.0.1/u/t", "http://localhost.evil.example/u/t",
		"ftp://x.example/u", "mailto:u@x.example", "https:///u", "/u/t", "https://u:p@x.example/u",
		"https://x.example/a b", "https://x.example/<u>", "https://x.example/u,t", `https://x.example/"u"`,
		"https://x.example/\tu", "https://x.example/ü", "https://x.example/" + strings.Repeat("a", 900),
	} {
		err := mail.CheckOneClickURL(bad)
		require.Error(t, err, bad)
		m := testMessage("bad@seller.example")
		m.ListUnsubscribeURL = bad
		_, err = mail.Build(m)
		require.ErrorIs(t, err, mail.ErrInvalidMessage, bad)
		require.NotContains(t, err.Error(), bad, "the URL is a capability: errors do not quote it")
	}
}
