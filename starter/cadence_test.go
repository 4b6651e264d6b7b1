package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/preview"
)

// Previewing a file needs no database: every email line shows the subject the prospect sees
// (threaded steps as replies), and --emails adds each email as it would be received.
func TestCadencePreviewShowsTheEmails(t *testing.T) {
	t.Parallel()
	env := config.MapEnv{"TEMPORAL_ADDRESS": "127.0.0.1:1"} // nothing is dialled
	args := []string{"cadence", "preview", "../cadences/b2b.yaml", "--start", "2026-11-23T09:00", "--days", "20"}

	r := runCLI(t, env, args...)
	require.Equal(t, 0, r.code, r.stderr)
	for _, want := range []string{"SUBJECT", "email intro#1            Grace from Followup GmbH: a quick idea for Analytical Engines Ltd",
		"email value-followup#1   Re: Grace from Followup GmbH: a quick idea for Analytical Engines Ltd"} {
		require.Contains(t, r.stdout, want)
	}
	require.NotContains(t, r.stdout, "EMAILS", "the emails themselves only with --emails")
	require.NotContains(t, r.stdout, "Re: Re:")

	r = runCLI(t, env, append(args, "--emails")...)
	require.Equal(t, 0, r.code, r.stderr)
	for _, want := range []string{
		"EMAILS to Ada Lovelace <ada@example.com>",
		"prospecting/value-followup#1  Tue 2026-12-01 09:06 CET  template value-followup, text and HTML parts\n" +
			"  From:          the owner's identity or MAIL_FROM\n" +
			"  Reply-To:      the owner's reply-to or address\n" +
			"  Subject:       Re: Grace from Followup GmbH: a quick idea for Analytical Engines Ltd\n" +
			"  In-Reply-To:   reply to prospecting/intro#1\n" +
			"  Blank contact: subject \"Re: Grace from Followup GmbH: a quick idea for your team\", greeting \"Hi there,\"\n" +
			"\n" +
			"    Hi Ada,\n" +
			"\n" +
			"    Following up on my note:",
		"In-Reply-To:   none: a new thread",
		"In-Reply-To:   reply to prospecting/value-followup#1",
	} {
		require.Contains(t, r.stdout, want)
	}

	r = runCLI(t, env, append(args, "--emails", "--json")...)
	require.Equal(t, 0, r.code, r.stderr)
	var touches []preview.Touch
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &touches))
	require.Equal(t, "intro#1", touches[0].Item)
	require.NotNil(t, touches[0].Email)
	require.Contains(t, touches[0].Email.Text, "Hi Ada,\n")
	require.Equal(t, "Hi there,", touches[0].Email.BlankGreeting)

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"cadence", "preview", "../cadences/b2b.yaml", "--emails=maybe"}, `invalid boolean value "maybe" for -emails`},
		{[]string{"cadence", "preview", "--emails"}, "usage: starter cadence preview (FILE | --version N)"},
		{[]string{"cadence", "preview", "../internal/cadencefile/testdata/invalid/template-render.yaml", "--emails"}, "template-render.yaml is invalid"},
	} {
		r := runCLI(t, env, c.args...)
		require.Equal(t, 2, r.code, "%v: stderr %s", c.args, r.stderr)
		require.Contains(t, r.stderr, c.want, "%v", c.args)
		require.Empty(t, r.stdout, "%v", c.args)
	}
}
