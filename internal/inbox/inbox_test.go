package inbox

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

var testNow = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// message builds a raw message from header lines and a body, with CRLF line ends.
func message(body string, header ...string) []byte {
	return []byte(strings.Join(header, "\r\n") + "\r\n\r\n" + body)
}

func TestKinds(t *testing.T) {
	t.Parallel()
	dsn := func(blocks string) []byte {
		return message("--b\r\nContent-Type: message/delivery-status\r\n\r\n"+blocks+"\r\n--b--\r\n",
			"From: MAILER-DAEMON@mx.example", "Subject: Delivery report",
			`Content-Type: multipart/report; report-type="delivery-status"; boundary=b`)
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		kind Kind
		rule string
	}{
		{"X-Auto-Response-Suppress alone is a reply", message("Hi", "From: a@b.example", "Subject: Re: hello", "X-Auto-Response-Suppress: All"), Reply, "no rule matched: a person's reply"},
		{"Auto-Submitted: no is a reply", message("Hi", "From: a@b.example", "Subject: Re: hello", "Auto-Submitted: no"), Reply, "no rule matched: a person's reply"},
		{"Auto-Submitted: auto-notified", message("Hi", "From: a@b.example", "Auto-Submitted: Auto-Notified (note)"), AutoReply, "Auto-Submitted: auto-notified"},
		{"X-Autoreply: false is not a sign", message("Hi", "From: a@b.example", "X-Autoreply: false"), Reply, "no rule matched: a person's reply"},
		{"Precedence: junk", message("Hi", "From: a@b.example", "Precedence: junk"), List, "Precedence: junk"},
		{"List-Post", message("Hi", "From: a@b.example", "List-Post: <mailto:l@b.example>"), List, "List-Post header"},
		{"auto-reply wins over list", message("Hi", "From: a@b.example", "List-Id: <l.b.example>", "Subject: Out of the office"), AutoReply, `subject matches "Out of the Office"`},
		{"accent-free subject", message("Hi", "From: a@b.example", "Subject: Reponse automatique: devis"), AutoReply, `subject matches "Réponse automatique"`},
		{"Nicht im Büro", message("Hi", "From: a@b.example", "Subject: =?utf-8?q?NICHT_IM_B=C3=9CRO?="), AutoReply, `subject matches "Nicht im Büro"`},
		{"Dutch", message("Hi", "From: a@b.example", "Subject: Automatisch antwoord: offerte"), AutoReply, `subject matches "Automatisch antwoord"`},
		{"a word inside another is not a phrase", message("Hi", "From: a@b.example", "Subject: Re: Ausentes"), Reply, "no rule matched: a person's reply"},
		{"postmaster sender is a notice", message("Hi", "From: Postmaster <POSTMASTER@b.example>", "Auto-Submitted: auto-replied"), Notice, "sender is postmaster, no delivery-status part"},
		{"bounce subject is a notice", message("Hi", "From: system@b.example", "Subject: Unzustellbar: Angebot"), Notice, `subject matches "Unzustellbar", no delivery-status part`},
		{"mixed DSN is a bounce", dsn("Reporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; a@x.example\r\nAction: delayed\r\nStatus: 4.4.1\r\n\r\nFinal-Recipient: rfc822; b@x.example\r\nAction: failed\r\nStatus: 5.2.2 (mailbox full)\r\n"), Bounce, "multipart/report; report-type=delivery-status, Action: failed 5.2.2"},
		{"failed with a 4.x.x status is not permanent", dsn("Final-Recipient: rfc822; a@x.example\r\nAction: failed\r\nStatus: 4.4.7\r\n"), Delayed, "multipart/report; report-type=delivery-status, no permanent failure"},
		{"DSN without recipient blocks is a notice", dsn("Reporting-MTA: dns; mx.example\r\n"), Notice, "multipart/report; report-type=delivery-status without a readable delivery-status part"},
		{"report type without its part is a notice", message("plain", "From: a@b.example", "Content-Type: multipart/report; report-type=feedback-report; boundary=b"), Notice, "multipart/report; report-type=feedback-report without a readable feedback-report part"},
		{"mbox separator line", []byte("From sender@b.example Mon Dec  7 10:00:00 2026\nFrom: a@b.example\nSubject: hi\n\nHello\n"), Reply, "no rule matched: a person's reply"},
		{"header without body", []byte("From: a@b.example\r\nSubject: hi\r\n"), Reply, "no rule matched: a person's reply"},
		{"body without header", []byte("\r\n\r\nHello"), Unreadable, "unreadable: no header fields before the body"},
		{"space before the colon is tolerated", message("Hi", "From : a@b.example"), Reply, "no rule matched: a person's reply"},
		{"garbage line", message("Hi", "From: a@b.example", "not a field"), Unreadable, `unreadable: bad header syntax: malformed MIME header: missing colon: "not a field"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := Read(tc.raw, testNow)
			require.Equal(t, tc.kind, m.Kind, m.Problem)
			require.Equal(t, tc.rule, m.Rule)
		})
	}
}

func TestRecipients(t *testing.T) {
	t.Parallel()
	raw := message("--b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: Abuse\r\nOriginal-Rcpt-To: <One@x.example>\r\nOriginal-Rcpt-To: two@x.example\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nTo: other@x.example\r\nMessage-ID: <orig-1@followup.local>\r\n\r\nbody\r\n--b--\r\n",
		"From: fbl@isp.example", "Content-Type: multipart/report; boundary=b; report-type=feedback-report")
	m := Read(raw, testNow)
	require.Equal(t, Complaint, m.Kind)
	require.Equal(t, []Recipient{{Address: "one@x.example"}, {Address: "two@x.example"}}, m.Recipients)
	require.Equal(t, "orig-1@followup.local", m.Original)

	raw = message("--b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: RFC822; <Ann@X.example>\r\nAction: Failed\r\nStatus: 5.7.1\r\nDiagnostic-Code: smtp; 550 5.7.1\r\n  blocked\r\n\r\nOriginal-Recipient: rfc822;bob@x.example\r\nAction: delivered\r\nStatus: 2.0.0\r\n\r\n--b--\r\n",
		"From: mx@x.example", "Content-Type: multipart/report; report-type=delivery-status; boundary=b")
	m = Read(raw, testNow)
	require.Equal(t, Bounce, m.Kind)
	require.Equal(t, []Recipient{
		{Address: "ann@x.example", Action: "failed", Status: "5.7.1", Diagnostic: "550 5.7.1 blocked"},
		{Address: "bob@x.example", Action: "delivered", Status: "2.0.0"},
	}, m.Recipients)
	require.Equal(t, "", m.Original)
}

func TestPermanent(t *testing.T) {
	t.Parallel()
	require.True(t, Recipient{Action: "failed", Status: "5.1.1"}.Permanent())
	require.False(t, Recipient{Action: "failed", Status: "4.4.7"}.Permanent())
	require.False(t, Recipient{Action: "delayed", Status: "5.1.1"}.Permanent())
	require.False(t, Recipient{Action: "failed"}.Permanent())
}

func TestHeaders(t *testing.T) {
	t.Parallel()

	t.Run("message IDs", func(t *testing.T) {
		t.Parallel()
		var refs []string
		for i := 0; i < 60; i++ {
			refs = append(refs, fmt.Sprintf("<r%d@x.example>", i))
		}
		m := Read(message("Hi", "From: a@b.example", "Message-ID:  <  abc@x.example >  ",
			"In-Reply-To: junk <p1@x.example> (comment) <bad id@x> <p2@x.example>",
			"References: "+strings.Join(refs, "\r\n ")), testNow)
		require.Equal(t, "abc@x.example", m.MessageID)
		require.Equal(t, "mid:abc@x.example", m.Key)
		require.Equal(t, []string{"p1@x.example", "p2@x.example"}, m.InReplyTo)
		require.Len(t, m.References, 50)
		require.Equal(t, "r10@x.example", m.References[0])
		require.Equal(t, "r59@x.example", m.References[49])
	})

	t.Run("unusable message IDs fall back to a hash", func(t *testing.T) {
		t.Parallel()
		for _, id := range []string{"", "<a b@x.example>", "<" + strings.Repeat("a", 251) + ">", "<unclosed@x.example"} {
			raw := message("Hi", "From: a@b.example", "Message-ID: "+id)
			m := Read(raw, testNow)
			require.Equal(t, "", m.MessageID, id)
			require.True(t, strings.HasPrefix(m.Key, "sha256:"), m.Key)
			require.Len(t, m.Key, len("sha256:")+64)
			require.Equal(t, m.Key, Read(raw, testNow).Key, "the key is stable")
		}
	})

	t.Run("sender falls back to Sender then Return-Path", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, "s@x.example", Read(message("Hi", "From: undisclosed", "Sender: S <S@X.example>"), testNow).From)
		require.Equal(t, "r@x.example", Read(message("Hi", "Return-Path: <R@x.example>"), testNow).From)
		require.Equal(t, "", Read(message("Hi", "Return-Path: <>"), testNow).From)
		require.Equal(t, "ana@x.example", Read(message("Hi", `From: "=?x-nope?q?Ana?=" broken <Ana@x.example>`), testNow).From)
	})

	t.Run("subject is one bounded line", func(t *testing.T) {
		t.Parallel()
		m := Read(message("Hi", "From: a@b.example", "Subject: =?utf-8?q?a=00b=0Dc=0Ad=E2=80=A8e?= "+strings.Repeat("é", 400)), testNow)
		require.True(t, strings.HasPrefix(m.Subject, "a b c d e éé"), m.Subject)
		require.Equal(t, maxLineRunes, utf8.RuneCountInString(m.Subject))
	})

	t.Run("date", func(t *testing.T) {
		t.Parallel()
		m := Read(message("Hi", "From: a@b.example", "Date: Mon, 7 Dec 2026 10:15:00 -0800"), testNow)
		require.True(t, m.Date.Equal(time.Date(2026, 12, 7, 18, 15, 0, 0, time.UTC)))
		require.True(t, Read(message("Hi", "From: a@b.example", "Date: someday"), testNow).Date.IsZero())
	})
}

func TestReturnOnAnchorsToNowWithoutDate(t *testing.T) {
	t.Parallel()
	raw := message("I am back on January 5.", "From: a@b.example", "Subject: Out of office")
	require.Equal(t, "2027-01-05", Read(raw, time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)).ReturnOn)
	require.Equal(t, "2026-01-05", Read(raw, time.Date(2025, 12, 20, 0, 0, 0, 0, time.UTC)).ReturnOn)
}

func TestBounds(t *testing.T) {
	t.Parallel()

	t.Run("header block larger than 256 KiB (MaxHeaderBytes)", func(t *testing.T) {
		t.Parallel()
		long := "X-Filler: " + strings.Repeat("a", 1000)
		var header []string
		for i := 0; i*len(long) <= MaxHeaderBytes; i++ {
			header = append(header, long)
		}
		m := Read(message("Hi", append(header, "From: a@b.example")...), testNow)
		require.Equal(t, Unreadable, m.Kind)
		require.Equal(t, "header block larger than 256 KiB (MaxHeaderBytes)", m.Problem)
		// Without a blank line at all it is no better.
		m = Read([]byte(strings.Repeat(long+"\r\n", MaxHeaderBytes/len(long)+2)), testNow)
		require.Equal(t, Unreadable, m.Kind)
	})

	t.Run("MaxParts", func(t *testing.T) {
		t.Parallel()
		var body strings.Builder
		for i := 0; i < MaxParts+50; i++ {
			body.WriteString("--b\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n")
		}
		body.WriteString("--b\r\nContent-Type: text/plain\r\n\r\nback on 2026-12-15\r\n--b--\r\n")
		m := Read(message(body.String(), "From: a@b.example", "Subject: Out of office", "Content-Type: multipart/mixed; boundary=b"), testNow)
		require.Equal(t, AutoReply, m.Kind)
		require.Equal(t, "", m.ReturnOn, "the text part lies beyond MaxParts")
		require.Contains(t, m.Problem, "MaxParts")
	})

	t.Run("MaxDepth", func(t *testing.T) {
		t.Parallel()
		body := "back on 2026-12-15\r\n"
		contentType := "text/plain"
		for depth := 12; depth > 0; depth-- {
			boundary := fmt.Sprintf("b%d", depth)
			body = fmt.Sprintf("--%s\r\nContent-Type: %s\r\n\r\n%s\r\n--%s--\r\n", boundary, contentType, body, boundary)
			contentType = "multipart/mixed; boundary=" + boundary
		}
		m := Read(message(body, "From: a@b.example", "Subject: Out of office", "Content-Type: "+contentType), testNow)
		require.Equal(t, AutoReply, m.Kind)
		require.Equal(t, "", m.ReturnOn)
		require.Contains(t, m.Problem, "MaxDepth")
	})

	t.Run("text beyond MaxTextScan is not searched", func(t *testing.T) {
		t.Parallel()
		body := strings.Repeat("blah ", MaxTextScan/5+10) + "back on 2026-12-15"
		m := Read(message(body, "From: a@b.example", "Subject: Out of office"), testNow)
		require.Equal(t, "", m.ReturnOn)
	})
}

// A poller that fetches only the first MiB of a big message still gets it classified, with
// the truncation noted, and quickly.
func TestTruncatedLargeAttachment(t *testing.T) {
	t.Parallel()
	attachment := make([]byte, 3<<20)
	_, err := rand.Read(attachment)
	require.NoError(t, err)
	var encoded bytes.Buffer
	line := make([]byte, 76)
	all := base64.StdEncoding.EncodeToString(attachment)
	for len(all) > 0 {
		n := copy(line, all)
		encoded.Write(line[:n])
		encoded.WriteString("\r\n")
		all = all[n:]
	}
	raw := message("--mix\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n"+
		"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHere is the signed contract.\r\n"+
		"--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Here is the signed contract.</p>\r\n--alt--\r\n"+
		"--mix\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=contract.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"+
		encoded.String()+"--mix--\r\n",
		"From: Ana <ana@acme.example>", "Subject: Re: contract", "Message-ID: <big@acme.example>",
		"In-Reply-To: <x@followup.local>", "Content-Type: multipart/mixed; boundary=mix")
	require.Greater(t, len(raw), 4<<20)

	whole := Read(raw, testNow)
	require.Equal(t, Reply, whole.Kind)
	require.Equal(t, "", whole.Problem)

	start := time.Now()
	m := Read(raw[:1<<20], testNow)
	require.Less(t, time.Since(start), 2*time.Second)
	require.Equal(t, Reply, m.Kind)
	require.Equal(t, "mid:big@acme.example", m.Key)
	require.Equal(t, []string{"x@followup.local"}, m.InReplyTo)
	require.Contains(t, m.Problem, "message truncated")
}
