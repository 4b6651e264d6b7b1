package smtptest_test

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/smtptest"
)

const rawMsg = "From: a@example.com\r\n" +
	"To: b@example.com\r\n" +
	"Subject: =?UTF-8?q?Hall=C3=B6?=\r\n" +
	"Message-ID: <id-1@example.com>\r\n" +
	"\r\n" +
	"body\r\n"

// send runs one transaction with go-smtp's client, independent of the
// package under test in internal/mail.
func send(t *testing.T, s *smtptest.Server) error {
	t.Helper()
	c, err := smtp.Dial(s.Addr())
	require.NoError(t, err)
	defer c.Close()
	return c.SendMail("a@example.com", []string{"b@example.com"}, strings.NewReader(rawMsg))
}

func TestAcceptsAndParses(t *testing.T) {
	t.Parallel()
	s := smtptest.Start(t)
	require.Equal(t, s.Addr(), net.JoinHostPort(s.Host(), strconv.Itoa(s.Port())))

	require.NoError(t, send(t, s))

	msgs := s.WaitForMessages(t, 1, time.Second)
	require.Len(t, msgs, 1)
	m := msgs[0]
	require.Equal(t, "a@example.com", m.From)
	require.Equal(t, []string{"b@example.com"}, m.To)
	require.Equal(t, "id-1@example.com", m.MessageID)
	require.Equal(t, "Hallö", m.Subject)
	require.Equal(t, "b@example.com", m.Header.Get("To"))
	require.Contains(t, string(m.Data), "body")
	require.False(t, m.ReceivedAt.IsZero())
	require.Equal(t, 1, s.Attempts())
}

func TestAdvertisesEnhancedStatusCodes(t *testing.T) {
	t.Parallel()
	s := smtptest.Start(t)
	c, err := smtp.Dial(s.Addr())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Hello("localhost"))
	ok, _ := c.Extension("ENHANCEDSTATUSCODES")
	require.True(t, ok)
}

func TestFaultsAreFIFOOnePerTransaction(t *testing.T) {
	t.Parallel()
	s := smtptest.Start(t)
	s.Enqueue(
		smtptest.Fault{Stage: smtptest.AtRcpt, Code: 550, Enhanced: "5.1.1", Message: "no such user"},
		smtptest.Fault{Stage: smtptest.AfterData, Code: 451, Enhanced: "4.3.0", Message: "try again later"},
	)

	var se *smtp.SMTPError
	require.ErrorAs(t, send(t, s), &se)
	require.Equal(t, 550, se.Code)
	require.Equal(t, smtp.EnhancedCode{5, 1, 1}, se.EnhancedCode)

	require.ErrorAs(t, send(t, s), &se)
	require.Equal(t, 451, se.Code)
	require.Equal(t, smtp.EnhancedCode{4, 3, 0}, se.EnhancedCode)
	require.Equal(t, "try again later", se.Message)

	require.NoError(t, send(t, s)) // queue empty: accept
	require.Len(t, s.Messages(), 1, "only the 250-accepted message is recorded")
	require.Equal(t, 3, s.Attempts())
}

func TestFaultWithoutEnhancedCode(t *testing.T) {
	t.Parallel()
	s := smtptest.Start(t)
	s.Enqueue(smtptest.Fault{Stage: smtptest.AtRcpt, Code: 550, Message: "nope"})
	var se *smtp.SMTPError
	require.ErrorAs(t, send(t, s), &se)
	require.Equal(t, 550, se.Code)
	// go-smtp's client leaves EnhancedCode zero when the reply has none.
	require.Equal(t, smtp.EnhancedCode{}, se.EnhancedCode)
	require.Equal(t, "nope", se.Message)
}

func TestDropAfterDataClosesWithoutReply(t *testing.T) {
	t.Parallel()
	s := smtptest.Start(t)
	s.Enqueue(smtptest.Fault{Drop: true})
	err := send(t, s)
	require.Error(t, err)
	var se *smtp.SMTPError
	require.False(t, errors.As(err, &se), "no SMTP reply expected, got %v", err)
	require.Empty(t, s.Messages())
	require.Equal(t, 1, s.Attempts())
}

func TestStallDelaysReply(t *testing.T) {
	t.Parallel()
	s := smtptest.Start(t)
	s.Enqueue(smtptest.Fault{Stall: 150 * time.Millisecond}) // no code: accept after stall
	start := time.Now()
	require.NoError(t, send(t, s))
	require.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
	require.Len(t, s.Messages(), 1)
}

func TestNeverGreet(t *testing.T) {
	t.Parallel()
	host, port := smtptest.NeverGreet(t)
	conn, err := net.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())
}
