package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/pages"
	"github.com/followup-engine/followup/internal/store"
)

// passwordInput is where `user password` reads the new password: stdin, a pipe in scripts
// (printf '%s\n' "$PW" | starter user password EMAIL). Tests replace it.
var passwordInput io.Reader = os.Stdin

// userPassword handles `starter user password EMAIL`: it sets the password a user logs in to
// the pages with (stored as a bcrypt hash) and ends the user's sessions.
func userPassword(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("user password", stderr)
	out := jsonOrText(fs, stdout)
	rest, err := parseExactly(fs, args, 1, "usage: starter user password EMAIL   (reads the new password from stdin, one line)")
	if err != nil {
		return err
	}
	if f, ok := passwordInput.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprintf(stderr, "new password for %s (it is echoed; pipe it in to avoid that): ", rest[0])
		}
	}
	line, err := bufio.NewReader(io.LimitReader(passwordInput, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("user password: read the password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return usageError("user password: no password on stdin (one line, at least 10 characters)")
	}
	hash, err := pages.HashPassword(pw)
	if err != nil {
		return usageError("user password: " + err.Error())
	}
	st, closeAll, err := openStore(ctx, env)
	if err != nil {
		return err
	}
	defer closeAll()
	u, err := st.SetPassword(ctx, rest[0], hash)
	if err != nil {
		return err
	}
	return printAnswer(out, u, func(w io.Writer, u store.User) {
		fmt.Fprintf(w, "password set for %s (%s); their other sessions are ended\n", u.Email, u.Role)
		if u.Role == store.RoleIntegration {
			fmt.Fprintln(w, "note: an integration user cannot log in to the pages")
		}
	})
}
