package activities_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/internal/mail"
	"github.com/followup-engine/followup/internal/smtptest"
	"github.com/followup-engine/followup/internal/unsubscribe"
)

// Every attempt of one key carries the same unsubscribe link, issued when the key was first
// claimed: a retry after an ambiguous attempt re-sends the same Message-ID, so it must be the
// same message, List-Unsubscribe and footer link included.
func TestAttemptsOfOneKeyCarryTheSameUnsubscribeLink(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	signer, err := unsubscribe.NewSigner([]byte("activities-unsubscribe-secret-0123456789"))
	require.NoError(t, err)
	f.acts.Mail.Unsubscribe, err = unsubscribe.NewLinks("https://followup.vendor.test", signer)
	require.NoError(t, err)
	// A short timeout: the server takes the whole first message but answers only after the
	// client gave up, so the first attempt is ambiguous and yet its copy can be read here.
	f.acts.Sender, err = mail.NewSender(mail.Config{Host: f.smtp.Host(), Port: f.smtp.Port(), TLS: mail.TLSNone, Timeout: time.Second})
	require.NoError(t, err)
	f.smtp.Enqueue(smtptest.Fault{Stage: smtptest.AfterData, Stall: 2 * time.Second})

	in := f.input("intro", 1)
	_, err = f.send(in)
	require.Equal(t, activities.ErrTypeSMTPAmbiguous, errType(t, err))
	res, err := f.send(in) // at least a second after the first attempt composed its link
	require.NoError(t, err)
	require.Equal(t, activities.SendSent, res.Outcome)
	require.True(t, res.Ambiguous)

	msgs := f.smtp.WaitForMessages(t, 2, 10*time.Second)
	var links []string
	for _, m := range msgs {
		require.Equal(t, res.MessageID, m.MessageID)
		header := strings.Trim(m.Header.Get("List-Unsubscribe"), "<>")
		text, _ := smtptest.Bodies(t, m.Data)
		require.Contains(t, text, "Unsubscribe: "+header+"\n", "the footer carries the header's link")
		links = append(links, header)
	}
	require.Equal(t, links[0], links[1], "both attempts carry the same link")

	claims, err := signer.Verify(strings.TrimPrefix(links[0], "https://followup.vendor.test/u/"))
	require.NoError(t, err)
	require.Equal(t, f.ledger().ClaimedAt.Truncate(time.Second).UTC(), claims.IssuedAt, "issued when the key was claimed")
}
