package engine

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/mail"
)

func TestAligned(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"acme.com", "acme.com", true},
		{"mail.acme.com", "acme.com", true},
		{"acme.com", "mail.acme.com", true},
		{"ACME.com", "acme.COM", true},
		{"notacme.com", "acme.com", false},
		{"acme.com.evil.test", "acme.com", false},
	} {
		require.Equal(t, c.want, aligned(c.a, c.b), "%s ~ %s", c.a, c.b)
	}
}

func TestDKIMAlignmentWarnsAboutForeignSenders(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&out, nil))
	logDKIMAlignment(logger, mail.Config{
		DKIM:      &mail.DKIMConfig{Domain: "acme.com", Selector: "s1"},
		Mailboxes: map[string]mail.Relay{"ana@acme.com": {}, "bob@other.test": {}},
	}, "Acme Sales <sales@mail.acme.com>")
	require.Contains(t, out.String(), "address=bob@other.test")
	require.NotContains(t, out.String(), "address=ana@acme.com")
	require.Equal(t, 1, bytes.Count(out.Bytes(), []byte("outside the DKIM domain")), "the subdomain MAIL_FROM and ana@acme.com are aligned")
	require.Contains(t, out.String(), "emails are DKIM-signed")

	out.Reset()
	logDKIMAlignment(logger, mail.Config{}, "")
	require.Contains(t, out.String(), "emails go out unsigned")
}
