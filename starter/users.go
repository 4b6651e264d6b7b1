package main

import (
	"context"
	"fmt"
	"io"
	"net/mail"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/store"
)

// userAdd handles `starter user add EMAIL --role ops|rep|integration [--name NAME]`.
func userAdd(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("user add", stderr)
	role := fs.String("role", "", "ops (everything), rep (their own deals and tasks) or integration (posts events; reads no personal data)")
	name := fs.String("name", "", "the user's name")
	out := jsonOrText(fs, stdout)
	rest, err := parseExactly(fs, args, 1, "usage: starter user add EMAIL --role ops|rep|integration [--name NAME]")
	if err != nil {
		return err
	}
	email := rest[0]
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		return usageError(fmt.Sprintf("user add: %q is not a plain email address", email))
	}
	if r := store.Role(*role); !r.Valid() {
		return usageError(fmt.Sprintf("user add: --role %q: want ops, rep or integration", *role))
	}
	if len(*name) > 200 || strings.ContainsAny(*name, "\r\n\x00") {
		return usageError("user add: --name must be one line of at most 200 characters")
	}
	st, closeAll, err := openStore(ctx, env)
	if err != nil {
		return err
	}
	defer closeAll()
	u, err := st.AddUser(ctx, email, *name, store.Role(*role))
	if err != nil {
		return err
	}
	return printAnswer(out, u, func(w io.Writer, u store.User) {
		fmt.Fprintf(w, "user %s added with role %s\nnext: starter token create %s --name laptop\n", u.Email, u.Role, u.Email)
	})
}

// userList handles `starter user list`.
func userList(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("user list", stderr)
	out := jsonOrText(fs, stdout)
	if _, err := parseExactly(fs, args, 0, "usage: starter user list [--json]"); err != nil {
		return err
	}
	st, closeAll, err := openStore(ctx, env)
	if err != nil {
		return err
	}
	defer closeAll()
	users, err := st.Users(ctx)
	if err != nil {
		return err
	}
	return printAnswer(out, users, func(w io.Writer, users []store.User) {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "EMAIL\tROLE\tNAME\tSTATE")
		for _, u := range users {
			state := "active"
			if u.DisabledAt != nil {
				state = "disabled " + u.DisabledAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Email, u.Role, u.Name, state)
		}
		tw.Flush()
	})
}

// userDisable handles `starter user disable EMAIL`: the user's tokens stop working at once.
func userDisable(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	return userSwitch(ctx, "disable", args, env, stdout, stderr)
}

// userEnable handles `starter user enable EMAIL`, the inverse of user disable: the user's
// tokens that were not revoked work again.
func userEnable(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	return userSwitch(ctx, "enable", args, env, stdout, stderr)
}

// userSwitch disables or enables a user (verb "disable" or "enable").
func userSwitch(ctx context.Context, verb string, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("user "+verb, stderr)
	out := jsonOrText(fs, stdout)
	rest, err := parseExactly(fs, args, 1, "usage: starter user "+verb+" EMAIL")
	if err != nil {
		return err
	}
	st, closeAll, err := openStore(ctx, env)
	if err != nil {
		return err
	}
	defer closeAll()
	set, say := st.EnableUser, func(u store.User) string { return "enabled: their tokens that were not revoked work again" }
	if verb == "disable" {
		set, say = st.DisableUser, func(u store.User) string {
			return "disabled since " + u.DisabledAt.UTC().Format(time.RFC3339) + ": their tokens no longer work"
		}
	}
	u, err := set(ctx, rest[0])
	if err != nil {
		return err
	}
	return printAnswer(out, u, func(w io.Writer, u store.User) {
		fmt.Fprintf(w, "user %s %s\n", u.Email, say(u))
	})
}

// tokenCreate handles `starter token create EMAIL --name NAME`: the token is printed once.
func tokenCreate(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("token create", stderr)
	name := fs.String("name", "", "what the token is for (a laptop, the HubSpot connection), to recognise it when revoking")
	out := jsonOrText(fs, stdout)
	rest, err := parseExactly(fs, args, 1, "usage: starter token create EMAIL --name NAME")
	if err != nil {
		return err
	}
	if *name == "" || len(*name) > 100 || strings.ContainsAny(*name, "\r\n\x00") {
		return usageError("token create: --name is required: one line of at most 100 characters")
	}
	st, closeAll, err := openStore(ctx, env)
	if err != nil {
		return err
	}
	defer closeAll()
	token, t, err := st.CreateToken(ctx, rest[0], *name)
	if err != nil {
		return err
	}
	type answer struct {
		store.APIToken
		Token string `json:"token"`
	}
	return printAnswer(out, answer{t, token}, func(w io.Writer, a answer) {
		fmt.Fprintf(w, "token %d for %s (%s); it is shown this once, store it now:\n%s\n", a.ID, a.UserEmail, a.Name, a.Token)
	})
}

// tokenRevoke handles `starter token revoke ID`.
func tokenRevoke(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("token revoke", stderr)
	out := jsonOrText(fs, stdout)
	rest, err := parseExactly(fs, args, 1, "usage: starter token revoke ID   (starter token list shows the ids)")
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(rest[0], 10, 64)
	if err != nil || id < 1 {
		return usageError(fmt.Sprintf("token revoke: %q is not a token id (starter token list shows them)", rest[0]))
	}
	st, closeAll, err := openStore(ctx, env)
	if err != nil {
		return err
	}
	defer closeAll()
	t, err := st.RevokeToken(ctx, id)
	if err != nil {
		return err
	}
	return printAnswer(out, t, func(w io.Writer, t store.APIToken) {
		fmt.Fprintf(w, "token %d of %s (%s) revoked\n", t.ID, t.UserEmail, t.Name)
	})
}

// tokenList handles `starter token list`: the tokens, never their values.
func tokenList(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("token list", stderr)
	out := jsonOrText(fs, stdout)
	if _, err := parseExactly(fs, args, 0, "usage: starter token list [--json]"); err != nil {
		return err
	}
	st, closeAll, err := openStore(ctx, env)
	if err != nil {
		return err
	}
	defer closeAll()
	tokens, err := st.Tokens(ctx)
	if err != nil {
		return err
	}
	return printAnswer(out, tokens, func(w io.Writer, ts []store.APIToken) {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSER\tNAME\tCREATED\tLAST USED\tSTATE")
		for _, t := range ts {
			used, state := "never", "live"
			if t.LastUsedAt != nil {
				used = t.LastUsedAt.UTC().Format(time.RFC3339)
			}
			switch {
			case t.RevokedAt != nil:
				state = "revoked " + t.RevokedAt.UTC().Format(time.RFC3339)
			case t.UserDisabled:
				state = "dead: the user is disabled"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.UserEmail, t.Name, t.CreatedAt.UTC().Format(time.RFC3339), used, state)
		}
		tw.Flush()
	})
}
