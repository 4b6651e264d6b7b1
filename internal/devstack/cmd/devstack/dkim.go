package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// The local stack signs its mail with DKIM like a real sender: make run generates an
// RSA-2048 key once into the state folder (beside secrets.env, never printed) and reuses
// it. The worker signs with it, and the mail page is given the same file and checks
// against its public half, as if that were published at devstack._domainkey.<mailDomain>
// (the domain of MAIL_FROM). No public key file is written.

// dkimSelector is the selector (s=) of the stack's key.
const dkimSelector = "devstack"

// dkimKey names the key file of the stack.
type dkimKey struct {
	Domain, Selector string
	Private          string // PEM file: PKCS#8 private key (0600)
	Generated        bool   // made by this run
}

// ensureDKIMKey returns the stack's DKIM key for domain, generating the private key into
// dir on the first run; a key file there already must be an RSA key in PKCS#8 PEM.
func ensureDKIMKey(dir, domain string) (dkimKey, error) {
	dir, err := filepath.Abs(dir) // the worker and the sink get the path
	if err != nil {
		return dkimKey{}, err
	}
	k := dkimKey{Domain: domain, Selector: dkimSelector, Private: filepath.Join(dir, "dkim-"+dkimSelector+".pem")}
	b, err := os.ReadFile(k.Private)
	switch {
	case err == nil:
		block, _ := pem.Decode(b)
		if block == nil || block.Type != "PRIVATE KEY" {
			return k, fmt.Errorf("%s is not a PKCS#8 PEM private key; delete it and a new one is generated", k.Private)
		}
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return k, fmt.Errorf("%s: %w; delete it and a new one is generated", k.Private, err)
		}
		if _, ok := key.(*rsa.PrivateKey); !ok {
			return k, fmt.Errorf("%s holds a %T, not an RSA key; delete it and a new one is generated", k.Private, key)
		}
	case errors.Is(err, os.ErrNotExist):
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return k, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return k, err
		}
		// Written under a temporary name and renamed: a half-written key is never reused.
		tmp := k.Private + ".tmp"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return k, err
		}
		if err := os.Rename(tmp, k.Private); err != nil {
			_ = os.Remove(tmp)
			return k, err
		}
		k.Generated = true
	default:
		return k, err
	}
	return k, nil
}
