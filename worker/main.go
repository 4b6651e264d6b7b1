// Command worker runs deal workflows and their activities. Several can run at once;
// Temporal spreads the work.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // zone data for hosts without it; recorded plans pin behaviour, not this

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/engine"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := exitCode(run(ctx, os.Args[1:], config.OS, os.Stdout, os.Stderr), os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: worker

Runs deal workflows and their activities until SIGINT or SIGTERM. Run as many as you like:
Temporal spreads the work. It takes no flags and no arguments; configuration comes from the
environment: DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, MESSAGE_ID_SECRET, SMTP_*,
MAIL_FROM, METRICS_ADDR (Prometheus /metrics), LOG_FORMAT (text or json) and more (README.md,
section Configuration, lists them all).`

// run parses the command line, then runs the worker until ctx ends; logs go to logOut.
func run(ctx context.Context, args []string, env config.Env, stdout, logOut io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	var said strings.Builder // the flag package's complaint, then the usage
	fs.SetOutput(&said)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), usage) }
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintln(stdout, usage)
		return nil
	case err != nil:
		return errUsage{strings.TrimRight(said.String(), "\n")}
	case fs.NArg() > 0:
		return errUsage{fmt.Sprintf("unexpected argument %q\n\n%s", fs.Arg(0), usage)}
	}
	ops, opsErr := config.LoadOps(env)
	cfg, err := config.LoadWorker(env)
	if err := errors.Join(err, opsErr); err != nil { // every problem at once
		return err
	}
	logger := ops.Logger(logOut) // LOG_FORMAT: text or json
	return engine.RunWorker(ctx, cfg, logger)
}

// errUsage is a command-line mistake: its text as is, exit code 2.
type errUsage struct{ msg string }

func (e errUsage) Error() string { return e.msg }

// exitCode maps run's error to the exit code: 0, 2 for a command-line mistake, 1 otherwise.
func exitCode(err error, stderr io.Writer) int {
	var u errUsage
	switch {
	case err == nil:
		return 0
	case errors.As(err, &u):
		fmt.Fprintln(stderr, u.msg)
		return 2
	default:
		fmt.Fprintln(stderr, "worker:", err)
		return 1
	}
}
