package main

import (
	"context"
	"fmt"
	"io"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/store"
)

// userDigest handles `starter user digest EMAIL on|off`: the rep's morning digest (one
// email in the first business hour of each business day) is on by default.
func userDigest(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	const usage = "usage: starter user digest EMAIL on|off"
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
	default:
		return usageError(fmt.Sprintf("user digest: %q: want on or off\n%s", rest[1], usage))
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
