package main

import (
	"context"
	"fmt"
	"io"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/store"
)

// userDigest handles `starter user digest EMAIL on|off|now`: the rep's morning digest (one
// email in the first business hour of each business day) is on by default; now sends today's
// at once (still once per local date).
func userDigest(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	const usage = "usage: starter user digest EMAIL on|off|now"
	fs := newFlags("user digest", stderr)
	out := jsonOrText(fs, stdout)
	rest, err := parseExactly(fs, args, 2, usage)
	if err != nil {
		return err
	}
	var off bool
	switch rest[1] {
	case "on":
	case "off":
		off = true
	case "now":
		return digestNow(ctx, rest[0], env, out)
	default:
		return usageError(fmt.Sprintf("user digest: %q: want on, off or now\n%s", rest[1], usage))
	}
	st, closeAll, err := openStore(ctx, env)
	if err != nil {
		return err
	}
	defer closeAll()
	u, err := st.SetDigestOff(ctx, rest[0], off)
	if err != nil {
		return err
	}
	type answer struct {
		store.User
		Digest string `json:"digest"`
	}
	return printAnswer(out, answer{User: u, Digest: rest[1]}, func(w io.Writer, a answer) {
		fmt.Fprintf(w, "morning digest of %s: %s\n", a.Email, a.Digest)
		if a.Role != store.RoleRep && !off {
			fmt.Fprintf(w, "note: only reps get a digest; %s is %s\n", a.Email, a.Role)
		}
	})
}

// digestNow sends the rep today's digest through the worker and says what became of it.
func digestNow(ctx context.Context, email string, env config.Env, out *output) error {
	svc, closeAll, err := connect(ctx, env, true)
	if err != nil {
		return err
	}
	defer closeAll()
	res, err := svc.DigestNow(ctx, email)
	if err != nil {
		return err
	}
	return printAnswer(out, res, func(w io.Writer, r activities.DigestResult) {
		switch {
		case r.Sent:
			fmt.Fprintf(w, "digest sent to %s (Message-ID <%s>)\n", email, r.MessageID)
		default:
			fmt.Fprintf(w, "digest of %s not sent: %s\n", email, r.Skipped)
		}
	})
}
