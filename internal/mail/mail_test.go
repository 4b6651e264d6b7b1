package mail_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/textproto"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	gomail "github.com/wneessen/go-mail"

	"github.com/followup-engine/followup/internal/mail"
	"github.com/followup-engine/followup/internal/smtptest"
)

func newSender(t *testing.T, host string, port int, timeout time.Duration) *mail.Sender {
	t.Helper()
	s, err := mail.NewSender(mail.Config{Host: host, Port: port, TLS: mail.TLSNone, Timeout: timeout, HeloName: "test.local"})
	require.NoError(t, err)
	return s
}

func senderFor(t *testing.T, srv *smtptest.Server) *mail.Sender {
	return newSender(t, srv.Host(), srv.Port(), 5*time.Second)
}

func testMessage(id string) mail.Message {
	return mail.Message{
		MessageID: id,
		From:      "Ana Rep <ana@seller.example>",
		ReplyTo:   "ana.replies@seller.example",
		To:        "Bo Buyer <bo@buyer.example>",
		Subject:   "Quick follow-up – pricing",
		Text:      "Hi Bo,\nplain part",
		HTML:      "<p>Hi Bo,<br>html part</p>",
	}
}

func TestSendDeliversFullMessage(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	m := testMessage("abc123@seller.example")
	m.InReplyTo = "prev-42@seller.example"
	m.ListUnsubscribeURL = "https://seller.example/u/opaque-token"
	m.Headers = map[string]string{"X-Deal-Step": "step-2"}

	resp, err := senderFor(t, srv).Send(t.Context(), m)
	require.NoError(t, err)
	require.Contains(t, resp, "queued")

	msgs := srv.WaitForMessages(t, 1, time.Second)
	require.Len(t, msgs, 1)
	got := msgs[0]
	require.Equal(t, "ana@seller.example", got.From)
	require.Equal(t, []string{"bo@buyer.example"}, got.To)
	require.Equal(t, "abc123@seller.example", got.MessageID)
	require.Equal(t, m.Subject, got.Subject)
	require.Equal(t, `"Ana Rep" <ana@seller.example>`, got.Header.Get("From"))
	require.Equal(t, `"Bo Buyer" <bo@buyer.example>`, got.Header.Get("To"))
	require.Equal(t, "<ana.replies@seller.example>", got.Header.Get("Reply-To"))
	require.Equal(t, "<prev-42@seller.example>", got.Header.Get("In-Reply-To"))
	require.Equal(t, "<prev-42@seller.example>", got.Header.Get("References"))
	require.Equal(t, "<https://seller.example/u/opaque-token>", got.Header.Get("List-Unsubscribe"))
	require.Equal(t, "List-Unsubscribe=One-Click", got.Header.Get("List-Unsubscribe-Post"))
	require.Equal(t, "step-2", got.Header.Get("X-Deal-Step"))
	require.Empty(t, got.Header.Get("X-Mailer"))

	mediaType, params, err := mime.ParseMediaType(got.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mediaType)
	body := string(got.Data[strings.Index(string(got.Data), "\r\n\r\n")+4:])
	mr := multipart.NewReader(strings.NewReader(body), params["boundary"])
	parts := map[string]string{}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		ct, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		require.NoError(t, err)
		b, err := io.ReadAll(p) // multipart decodes quoted-printable
		require.NoError(t, err)
		parts[ct] = string(b)
	}
	require.Equal(t, map[string]string{
		"text/plain": "Hi Bo,\r\nplain part",
		"text/html":  "<p>Hi Bo,<br>html part</p>",
	}, parts)
}

func TestSendSinglePartAndOptionalHeadersAbsent(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	m := testMessage("single@seller.example")
	m.HTML, m.ReplyTo = "", ""

	_, err := senderFor(t, srv).Send(t.Context(), m)
	require.NoError(t, err)
	got := srv.WaitForMessages(t, 1, time.Second)[0]
	mediaType, _, err := mime.ParseMediaType(got.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "text/plain", mediaType)
	for _, h := range []string{"In-Reply-To", "References", "List-Unsubscribe", "List-Unsubscribe-Post", "Reply-To"} {
		require.Empty(t, got.Header.Get(h), h)
	}
}

func TestSendClassifiesServerReplies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault smtptest.Fault
		want  mail.Failure // Detail not compared
	}{
		{"451 after data", smtptest.Fault{Stage: smtptest.AfterData, Code: 451, Enhanced: "4.3.0", Message: "try again later"},
			mail.Failure{Class: mail.FailTransient, Code: 451, Enhanced: "4.3.0"}},
		{"452 at rcpt", smtptest.Fault{Stage: smtptest.AtRcpt, Code: 452, Enhanced: "4.2.2", Message: "mailbox full"},
			mail.Failure{Class: mail.FailTransient, Code: 452, Enhanced: "4.2.2"}},
		{"550 5.1.1 at rcpt", smtptest.Fault{Stage: smtptest.AtRcpt, Code: 550, Enhanced: "5.1.1", Message: "no such user"},
			mail.Failure{Class: mail.FailPermanentAddress, Code: 550, Enhanced: "5.1.1"}},
		{"550 without enhanced at rcpt", smtptest.Fault{Stage: smtptest.AtRcpt, Code: 550, Message: "no such user"},
			mail.Failure{Class: mail.FailPermanentAddress, Code: 550}},
		{"554 5.7.1 after data", smtptest.Fault{Stage: smtptest.AfterData, Code: 554, Enhanced: "5.7.1", Message: "rejected by policy"},
			mail.Failure{Class: mail.FailPermanentPolicy, Code: 554, Enhanced: "5.7.1"}},
		{"552 5.3.4 too big", smtptest.Fault{Stage: smtptest.AfterData, Code: 552, Enhanced: "5.3.4", Message: "message too big"},
			mail.Failure{Class: mail.FailPermanent, Code: 552, Enhanced: "5.3.4"}},
		{"552 too many recipients", smtptest.Fault{Stage: smtptest.AtRcpt, Code: 552, Enhanced: "5.5.3", Message: "too many recipients"},
			mail.Failure{Class: mail.FailTransient, Code: 552, Enhanced: "5.5.3"}},
		{"drop after final dot", smtptest.Fault{Stage: smtptest.AfterData, Drop: true},
			mail.Failure{Class: mail.FailAmbiguous}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t)
			srv.Enqueue(tc.fault)
			s := senderFor(t, srv)
			m := testMessage("fault@seller.example")

			resp, err := s.Send(t.Context(), m)
			require.Error(t, err)
			require.Empty(t, resp)
			f := mail.Classify(err)
			require.Equal(t, err.Error(), f.Detail)
			f.Detail = ""
			require.Equal(t, tc.want, f)
			require.Empty(t, srv.Messages())

			// A retry reuses the Message-ID and goes through once the fault is consumed.
			_, err = s.Send(t.Context(), m)
			require.NoError(t, err)
			require.Equal(t, "fault@seller.example", srv.WaitForMessages(t, 1, time.Second)[0].MessageID)
			require.Equal(t, 2, srv.Attempts())
		})
	}
}

func TestSendConnectionRefusedIsTransient(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())

	_, err = newSender(t, "127.0.0.1", port, time.Second).Send(t.Context(), testMessage("x@seller.example"))
	require.Error(t, err)
	var se *gomail.SendError
	require.False(t, errors.As(err, &se), "dial errors are not SendErrors")
	require.Equal(t, mail.FailTransient, mail.Classify(err).Class)
}

func TestSendNeverGreetTimesOut(t *testing.T) {
	t.Parallel()
	host, port := smtptest.NeverGreet(t)
	const timeout = 300 * time.Millisecond
	s := newSender(t, host, port, timeout)

	start := time.Now()
	_, err := s.Send(t.Context(), testMessage("x@seller.example"))
	elapsed := time.Since(start)
	require.Error(t, err)
	require.Equal(t, mail.FailTransient, mail.Classify(err).Class)
	require.GreaterOrEqual(t, elapsed, timeout)
	require.Less(t, elapsed, 2*timeout+500*time.Millisecond)
}

func TestSendHonoursContextMidData(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	// Server reads the whole message, then sits on the reply far longer
	// than the test is willing to wait; only ctx can end the Send.
	srv.Enqueue(smtptest.Fault{Stage: smtptest.AfterData, Stall: 10 * time.Second})
	s := senderFor(t, srv) // go-mail timeout 5s: must not be what ends it

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := s.Send(ctx, testMessage("x@seller.example"))
	require.Less(t, time.Since(start), time.Second)
	require.ErrorIs(t, err, context.Canceled)
	// The final dot was already written, so the outcome is unknown.
	require.Equal(t, mail.FailAmbiguous, mail.Classify(err).Class)
	require.Empty(t, srv.Messages())
}

func TestSendRejectsInvalidMessageWithoutDialling(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	m := testMessage("x@seller.example")
	m.Subject = "hi\r\nBcc: victim@example.com"
	_, err := senderFor(t, srv).Send(t.Context(), m)
	require.ErrorIs(t, err, mail.ErrInvalidMessage)
	require.Equal(t, mail.FailPermanent, mail.Classify(err).Class)
	require.Zero(t, srv.Attempts())
}

func TestSendConcurrent(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := senderFor(t, srv)
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := s.Send(t.Context(), testMessage(fmt.Sprintf("c%d@seller.example", i)))
			assert.NoError(t, err) // not require: FailNow must not run off the test goroutine
		})
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, m := range srv.WaitForMessages(t, n, time.Second) {
		ids[m.MessageID] = true
	}
	require.Len(t, ids, n)
}

func TestBuildRejectsBadHeaders(t *testing.T) {
	t.Parallel()
	tests := map[string]func(*mail.Message){
		"CRLF in subject":        func(m *mail.Message) { m.Subject = "Hello\r\nBcc: victim@example.com" },
		"LF in subject":          func(m *mail.Message) { m.Subject = "Hello\nX-Evil: 1" },
		"LF in From name":        func(m *mail.Message) { m.From = "Ana\nBcc: x@y.z <ana@seller.example>" },
		"CR in To name":          func(m *mail.Message) { m.To = "Bo\r <bo@buyer.example>" },
		"CRLF in Reply-To":       func(m *mail.Message) { m.ReplyTo = "a@b.c\r\nBcc: x@y.z" },
		"LF in Message-ID":       func(m *mail.Message) { m.MessageID = "abc\n@seller.example" },
		"LF in In-Reply-To":      func(m *mail.Message) { m.InReplyTo = "prev@seller.example\nBcc: x" },
		"CRLF in unsubscribe":    func(m *mail.Message) { m.ListUnsubscribeURL = "https://s.example/u\r\nBcc: x@y.z" },
		"CRLF in X- header":      func(m *mail.Message) { m.Headers = map[string]string{"X-Deal": "1\r\nX-Injected: 1"} },
		"non X- header":          func(m *mail.Message) { m.Headers = map[string]string{"Bcc": "x@y.z"} },
		"header name with colon": func(m *mail.Message) { m.Headers = map[string]string{"X-A:B": "1"} },
		"http unsubscribe":       func(m *mail.Message) { m.ListUnsubscribeURL = "http://s.example/u" },
		"missing Message-ID":     func(m *mail.Message) { m.MessageID = "" },
		"bracketed Message-ID":   func(m *mail.Message) { m.MessageID = "<abc@seller.example>" },
		"Message-ID without @":   func(m *mail.Message) { m.MessageID = "abc" },
		"bad To address":         func(m *mail.Message) { m.To = "not an address" },
		"two To addresses":       func(m *mail.Message) { m.To = "a@b.example, c@d.example" },
		"missing From":           func(m *mail.Message) { m.From = "" },
		"no body":                func(m *mail.Message) { m.Text, m.HTML = "", "" },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := testMessage("ok@seller.example")
			mutate(&m)
			msg, err := mail.Build(m)
			require.ErrorIs(t, err, mail.ErrInvalidMessage)
			require.Nil(t, msg)
		})
	}
}

func TestBuildSetsStableMessageID(t *testing.T) {
	t.Parallel()
	msg, err := mail.Build(testMessage("abc123@seller.example"))
	require.NoError(t, err)
	require.Equal(t, "<abc123@seller.example>", msg.GetMessageID())
}

func TestMessageID(t *testing.T) {
	t.Parallel()
	secret := []byte("server-secret-0123456789")
	key := "deal-981/step-2/v3"
	id := mail.MessageID(secret, key, "seller.example")

	require.Regexp(t, regexp.MustCompile(`^[a-z2-7]{32}@seller\.example$`), id)
	require.Equal(t, id, mail.MessageID(secret, key, "seller.example"), "stable")
	require.NotEqual(t, id, mail.MessageID(secret, "deal-981/step-3/v3", "seller.example"), "per key")
	require.NotEqual(t, id, mail.MessageID([]byte("other-secret"), key, "seller.example"), "per secret")
	for _, frag := range []string{key, "deal", "981", "step"} {
		require.NotContains(t, id, frag)
	}
	_, err := mail.Build(testMessage(id))
	require.NoError(t, err, "derived ids are valid Message-IDs")
}

func TestNewSenderValidatesConfig(t *testing.T) {
	t.Parallel()
	ok := mail.Config{Host: "smtp.example.com", Port: 587, TLS: mail.TLSMandatory, Username: "u", Password: "p"}
	_, err := mail.NewSender(ok)
	require.NoError(t, err)

	bad := map[string]func(*mail.Config){
		"empty host":            func(c *mail.Config) { c.Host = "" },
		"port 0":                func(c *mail.Config) { c.Port = 0 },
		"port 65536":            func(c *mail.Config) { c.Port = 65536 },
		"unknown TLS":           func(c *mail.Config) { c.TLS = "starttls" },
		"empty TLS":             func(c *mail.Config) { c.TLS = "" },
		"negative timeout":      func(c *mail.Config) { c.Timeout = -time.Second },
		"HELO with space":       func(c *mail.Config) { c.HeloName = "a b" },
		"password without user": func(c *mail.Config) { c.Username = "" },
		"auth in clear":         func(c *mail.Config) { c.TLS = mail.TLSNone },
	}
	for name, mutate := range bad {
		c := ok
		mutate(&c)
		_, err := mail.NewSender(c)
		require.ErrorContains(t, err, "invalid SMTP config", name)
	}

	local := mail.Config{Host: "127.0.0.1", Port: 1025, TLS: mail.TLSNone, Username: "u", Password: "p"}
	_, err = mail.NewSender(local)
	require.NoError(t, err, "plain auth to loopback is allowed, as go-mail allows it")
}

func TestSendTimeoutBudget(t *testing.T) {
	t.Parallel()
	require.Equal(t, 35*time.Second, mail.Config{}.SendTimeoutBudget())
	require.Equal(t, 7*time.Second, mail.Config{Timeout: time.Second}.SendTimeoutBudget())
}

func TestClassifySessionStageAndNetworkErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want mail.Failure
	}{
		{"auth failed", fmt.Errorf("dial failed: %w", &textproto.Error{Code: 535, Msg: "5.7.8 Authentication failed"}),
			mail.Failure{Class: mail.FailPermanentPolicy, Code: 535, Enhanced: "5.7.8"}},
		{"421 at greeting", fmt.Errorf("dial failed: %w", &textproto.Error{Code: 421, Msg: "4.3.2 shutting down"}),
			mail.Failure{Class: mail.FailTransient, Code: 421, Enhanced: "4.3.2"}},
		{"554 at greeting", fmt.Errorf("dial failed: %w", &textproto.Error{Code: 554, Msg: "no SMTP service here"}),
			mail.Failure{Class: mail.FailPermanent, Code: 554}},
		{"network", fmt.Errorf("dial failed: %w", &net.OpError{Op: "dial", Err: errors.New("connection reset")}),
			mail.Failure{Class: mail.FailTransient}},
		{"context", fmt.Errorf("mail: send aborted: %w", context.DeadlineExceeded),
			mail.Failure{Class: mail.FailTransient}},
	}
	for _, tc := range tests {
		got := mail.Classify(tc.err)
		require.Equal(t, tc.err.Error(), got.Detail, tc.name)
		got.Detail = ""
		require.Equal(t, tc.want, got, tc.name)
	}
	require.Equal(t, mail.Failure{}, mail.Classify(nil))
}
