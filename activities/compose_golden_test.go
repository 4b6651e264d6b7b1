package activities

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"fmt"
	"mime"
	netmail "net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/mail"
	"github.com/followup-engine/followup/internal/smtptest"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/unsubscribe"
)

var update = flag.Bool("update", false, "rewrite the rendered-message golden files")

// goldenPipeline is a pipeline whose templates use every kind of value, fallbacks included.
func goldenPipeline() cadence.Pipeline {
	return cadence.Pipeline{ID: "golden", Templates: map[string]cadence.Template{
		"intro": {
			Subject: `{{.Owner.FirstName}} from {{.Owner.Company}}: an idea for {{.Contact.Company | default "your team"}}`,
			Text:    "Hi {{.Contact.FirstName | default \"there\"}},\n\nAbout {{.Deal.Title}}: would a call help?\n\n{{.Owner.Name}}\n",
			HTML:    `<p>Hi {{.Contact.FirstName | default "there"}},</p><p>About <b>{{.Deal.Title}}</b>: would a <a href="https://vendor.test/call?c={{.Contact.Company}}">call</a> help?</p><p>{{.Owner.Name}}</p>`,
		},
		"followup": {
			Subject: "Following up",
			Text:    "Hi {{.Contact.FirstName | default \"there\"}},\n\nJust bumping this up.\n\n{{.Owner.FirstName}}\n",
		},
	}}
}

// goldenActivities renders like the worker does, with a fixed key and base URL, signing
// with a fresh Ed25519 DKIM key whose public half it returns.
func goldenActivities(t *testing.T) (*Activities, ed25519.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	sender, err := mail.NewSender(mail.Config{Host: "127.0.0.1", Port: 2525, TLS: mail.TLSNone,
		DKIM: &mail.DKIMConfig{Domain: "vendor.test", Selector: "golden", PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})}})
	require.NoError(t, err)
	signer, err := unsubscribe.NewSigner([]byte("golden-unsubscribe-secret-0123456789"))
	require.NoError(t, err)
	links, err := unsubscribe.NewLinks("https://followup.vendor.test", signer)
	require.NoError(t, err)
	return &Activities{Sender: sender, Mail: MailSettings{
		MessageIDSecret: []byte("golden-message-id-secret"), MessageIDDomain: "vendor.test",
		DefaultFrom: "Vendor Sales <sales@vendor.test>", PostalAddress: "Vendor & Co GmbH, Hauptstr. 1, 10115 Berlin",
		Unsubscribe: links,
	}}, pub
}

func goldenParties() store.SendContext {
	return store.SendContext{
		DealID: "7d9f6c1e-0000-4000-8000-000000000001", ContactID: "7d9f6c1e-0000-4000-8000-0000000000c1", Title: "Pilot for 50 seats",
		Owner:   store.Party{Email: "ana@vendor.test", Name: "Ana Rep", FirstName: "Ana", Company: "Vendor", SenderFrom: "Ana Rep <ana@vendor.test>"},
		Contact: store.Party{Email: "bob@prospect.test", FirstName: "Bob", LastName: "Buyer", Name: "Bob Buyer", Company: "Prospect Inc"},
	}
}

var goldenNow = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

// TestRenderedMessagesGolden renders emails exactly as the send activity does (compose, then
// the sender's encoding with its DKIM signature), verifies the signature with go-msgauth,
// and compares the message, with what changes per call blanked, to testdata/messages.
func TestRenderedMessagesGolden(t *testing.T) {
	t.Parallel()
	acts, pub := goldenActivities(t)
	key := func(step string) string {
		return mail.MessageID(acts.Mail.MessageIDSecret, store.LedgerKey{DealID: goldenParties().DealID, Visit: 1, StepID: step, Occurrence: 1}.String(), "vendor.test")
	}
	blank := goldenParties()
	blank.Contact = store.Party{Email: "someone@prospect.test"}
	teamSender := goldenPipeline()
	teamSender.Sender = &cadence.Sender{From: "Vendor Team <team@vendor.test>"}

	cases := []struct {
		name     string
		pipeline cadence.Pipeline
		parties  store.SendContext
		step     string
		template string
		parent   *store.SentEmail
	}{
		{name: "intro", pipeline: goldenPipeline(), parties: goldenParties(), step: "intro", template: "intro"},
		{name: "threaded-followup", pipeline: goldenPipeline(), parties: goldenParties(), step: "followup", template: "followup",
			parent: &store.SentEmail{MessageID: key("intro"), Subject: "Ana from Vendor: an idea for Prospect Inc"}},
		{name: "third-in-thread", pipeline: goldenPipeline(), parties: goldenParties(), step: "followup-2", template: "followup",
			parent: &store.SentEmail{MessageID: key("followup"), Subject: "Re: Ana from Vendor: an idea for Prospect Inc", ThreadRoot: key("intro")}},
		{name: "blank-contact", pipeline: goldenPipeline(), parties: blank, step: "intro", template: "intro"},
		{name: "pipeline-sender", pipeline: teamSender, parties: goldenParties(), step: "intro", template: "intro"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in := SendInput{DealID: c.parties.DealID, CadenceVersion: 1, Visit: 1, StepID: c.step, Occurrence: 1, Template: c.template, Thread: c.parent != nil}
			msg, err := acts.compose(in, publishedOf(1, c.pipeline), c.parties, key(c.step), threading{Parent: c.parent}, goldenNow)
			require.NoError(t, err)
			raw, err := acts.Sender.Encode(msg)
			require.NoError(t, err)
			requireDKIMPass(t, raw, pub)
			compareGolden(t, c.name, normalize(t, raw))
		})
	}
}

// TestHostileDataNeitherBreaksAHeaderNorExecutes feeds data a hostile or broken CRM could
// send through the same path: every header stays one well-formed field, the HTML part
// carries markup only escaped, template syntax in data stays text, and the signature holds.
func TestHostileDataNeitherBreaksAHeaderNorExecutes(t *testing.T) {
	t.Parallel()
	acts, pub := goldenActivities(t)
	parties := goldenParties()
	parties.Title = "Pilot \xff\xfe{{.Owner.Email}}"
	parties.Contact = store.Party{Email: "bob@prospect.test", FirstName: "<script>alert(1)</script>",
		LastName: "Buyer\r\nBcc: victim@evil.test", Company: "Evil\r\nX-Injected: yes {{template \"x\"}}"}
	parties.Contact.Name = parties.Contact.FirstName + " " + parties.Contact.LastName
	in := SendInput{DealID: parties.DealID, CadenceVersion: 1, Visit: 1, StepID: "intro", Occurrence: 1, Template: "intro"}
	msg, err := acts.compose(in, publishedOf(1, goldenPipeline()), parties, "hostile@vendor.test", threading{}, goldenNow)
	require.NoError(t, err)
	raw, err := acts.Sender.Encode(msg)
	require.NoError(t, err)
	requireDKIMPass(t, raw, pub)

	parsed, err := netmail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err)
	require.Empty(t, parsed.Header["Bcc"], "no header injected")
	require.Empty(t, parsed.Header["X-Injected"], "no header injected")
	require.Len(t, parsed.Header["To"], 1)
	require.Len(t, parsed.Header["Subject"], 1)
	for name, values := range parsed.Header {
		for _, v := range values {
			require.NotContains(t, v, "\r", name)
			require.NotContains(t, v, "\n", name)
		}
	}
	to, err := netmail.ParseAddress(parsed.Header.Get("To"))
	require.NoError(t, err, "the To header parses as one address")
	require.Equal(t, "bob@prospect.test", to.Address)
	require.Equal(t, "<script>alert(1)</script> Buyer Bcc: victim@evil.test", to.Name, "the display name is folded onto one line and quoted")
	subject, err := new(mime.WordDecoder).DecodeHeader(parsed.Header.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, `Ana from Vendor: an idea for Evil X-Injected: yes {{template "x"}}`, subject)

	text, htmlPart := smtptest.Bodies(t, raw)
	require.NotEmpty(t, text, "a text part")
	require.NotEmpty(t, htmlPart, "an HTML part")
	require.Contains(t, text, "Hi <script>alert(1)</script>,", "the text part is plain text: data as written")
	require.Contains(t, text, "About Pilot \uFFFD{{.Owner.Email}}:", "invalid UTF-8 replaced, template syntax in data printed, not run")
	require.NotContains(t, text, "ana@vendor.test")
	require.NotContains(t, htmlPart, "<script>")
	require.Contains(t, htmlPart, "Hi &lt;script&gt;alert(1)&lt;/script&gt;,")
	require.Contains(t, htmlPart, "<b>Pilot \uFFFD{{.Owner.Email}}</b>")
	require.Contains(t, htmlPart, `href="https://vendor.test/call?c=Evil%0d%0aX-Injected%3a%20yes%20%7b%7btemplate%20%22x%22%7d%7d"`, "a value in a URL is URL-escaped")
	compareGolden(t, "hostile", normalize(t, raw))
}

func requireDKIMPass(t *testing.T, raw []byte, pub ed25519.PublicKey) {
	t.Helper()
	verifications, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{
		LookupTXT: func(domain string) ([]string, error) {
			if domain != "golden._domainkey.vendor.test" {
				return nil, fmt.Errorf("no TXT record for %s", domain)
			}
			return []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}, nil
		},
	})
	require.NoError(t, err)
	require.Len(t, verifications, 1)
	require.NoError(t, verifications[0].Err, "the DKIM signature verifies")
	require.Equal(t, "vendor.test", verifications[0].Domain)
	signed := strings.ToLower(strings.Join(verifications[0].HeaderKeys, ":"))
	for _, h := range []string{"from", "to", "subject", "message-id", "reply-to", "in-reply-to", "references", "list-unsubscribe", "list-unsubscribe-post"} {
		require.Contains(t, ":"+signed+":", ":"+h+":", "the signature covers %s", h)
	}
}

var (
	dateLine     = regexp.MustCompile(`(?m)^Date: .*\r\n`)
	boundaryAttr = regexp.MustCompile(`boundary="?([^";\r\n]+)"?`)
	dkimHeader   = regexp.MustCompile(`(?m)^DKIM-Signature: .*\r\n(?:[ \t].*\r\n)*`)
	dkimVolatile = regexp.MustCompile(`\b(b|bh|t)=[^;]*`)
)

// normalize blanks what changes from one call to the next: Date, the multipart boundary
// and the signature's time and hashes (verified before this runs).
func normalize(t *testing.T, raw []byte) string {
	t.Helper()
	s := dateLine.ReplaceAllString(string(raw), "Date: <DATE>\r\n")
	for i, m := range boundaryAttr.FindAllStringSubmatch(s, -1) {
		s = strings.ReplaceAll(s, m[1], fmt.Sprintf("BOUNDARY-%d", i+1))
	}
	s = dkimHeader.ReplaceAllStringFunc(s, func(h string) string {
		unfolded := strings.Join(strings.Fields(strings.TrimPrefix(h, "DKIM-Signature:")), " ")
		return "DKIM-Signature: " + dkimVolatile.ReplaceAllString(unfolded, "$1=<...>") + "\r\n"
	})
	return strings.ReplaceAll(s, "\r\n", "\n")
}

func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "messages", name+".eml")
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./activities -run Golden -update to create it")
	require.Equal(t, string(want), got)
}
