package main

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/devstack/mailsink"
)

// TestWorkerEnvHasOneMailDomain: the worker loads the environment make run gives it, and
// its From address, its Message-ID domain and its DKIM signing domain are one domain (a
// signature for another domain than From's would not align under DMARC).
func TestWorkerEnvHasOneMailDomain(t *testing.T) {
	dir := t.TempDir()
	key, err := ensureDKIMKey(dir, mailDomain)
	require.NoError(t, err)
	secrets, err := loadSecrets(filepath.Join(dir, "secrets.env"))
	require.NoError(t, err)
	env := stackEnv(ports{Temporal: 7233, TemporalUI: 8233, SMTP: 1025, MailUI: 8025, API: 8088, IMAP: 1143},
		"postgres://postgres@127.0.0.1:5432/followup", secrets, key)
	w, err := config.LoadWorker(config.MapEnv(env))
	require.NoError(t, err)

	from, err := mail.ParseAddress(w.Mail.DefaultFrom)
	require.NoError(t, err)
	_, fromDomain, ok := strings.Cut(from.Address, "@")
	require.True(t, ok, from.Address)
	require.Equal(t, "followup.local", fromDomain)
	require.Equal(t, fromDomain, w.Mail.MessageIDDomain)
	require.NotNil(t, w.SMTP.DKIM, "the worker signs")
	require.Equal(t, fromDomain, w.SMTP.DKIM.Domain)
	require.Equal(t, "devstack", w.SMTP.DKIM.Selector)
}

// TestDKIMKeyIsGeneratedOnceAndReused: the first run writes an RSA-2048 PKCS#8 key (0600),
// and no other file; the next run reuses the key; a message signed with it verifies against
// the public key the mail sink derives from the same file.
func TestDKIMKeyIsGeneratedOnceAndReused(t *testing.T) {
	dir := t.TempDir()
	first, err := ensureDKIMKey(dir, "followup.local")
	require.NoError(t, err)
	require.True(t, first.Generated)
	require.Equal(t, "followup.local", first.Domain)
	require.Equal(t, "devstack", first.Selector)
	require.True(t, filepath.IsAbs(first.Private))
	st, err := os.Stat(first.Private)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the private key is readable by its owner only")
	privPEM, err := os.ReadFile(first.Private)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(privPEM, []byte("-----BEGIN PRIVATE KEY-----")))
	files, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, files, 1, "the key file only: no public key file beside it")

	second, err := ensureDKIMKey(dir, "followup.local")
	require.NoError(t, err)
	require.False(t, second.Generated)
	again, err := os.ReadFile(second.Private)
	require.NoError(t, err)
	require.Equal(t, privPEM, again, "the key is reused")

	// The sink, given the same file, derives the public half of the worker's key.
	block, _ := pem.Decode(privPEM)
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	pubFromPrivate := mustParseKey(t, second.Private)
	require.True(t, priv.(*rsa.PrivateKey).PublicKey.Equal(pubFromPrivate))
	require.Equal(t, 2048, pubFromPrivate.(*rsa.PublicKey).N.BitLen())

	// Sign with the private key the worker gets; verify against the record of the sink's key.
	msg := "From: Followup Demo <sales@followup.local>\r\nTo: bob@prospect.example\r\nSubject: hi\r\n\r\nHello\r\n"
	var signed bytes.Buffer
	require.NoError(t, dkim.Sign(&signed, strings.NewReader(msg), &dkim.SignOptions{
		Domain: "followup.local", Selector: "devstack", Signer: priv.(crypto.Signer)}))
	der, err := x509.MarshalPKIXPublicKey(pubFromPrivate)
	require.NoError(t, err)
	verifs, err := dkim.VerifyWithOptions(&signed, &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		require.Equal(t, "devstack._domainkey.followup.local", name)
		return []string{"v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)}, nil
	}})
	require.NoError(t, err)
	require.Len(t, verifs, 1)
	require.NoError(t, verifs[0].Err)

	// A broken key file is reported, not replaced.
	require.NoError(t, os.WriteFile(first.Private, []byte("garbage"), 0o600))
	_, err = ensureDKIMKey(dir, "followup.local")
	require.ErrorContains(t, err, "delete it")
}

func mustParseKey(t *testing.T, path string) any {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	k, err := mailsink.ParseDKIMKey(b)
	require.NoError(t, err)
	return k
}
