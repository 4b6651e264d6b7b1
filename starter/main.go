// Command starter is the engine's front door: it migrates the database; creates, moves,
// pauses, reopens and shows deals; reports engagements, closes and snoozes tasks; pauses
// owners and pipelines; holds and releases all sends; re-signals inbound events stuck in
// received; and serves the same as a JSON HTTP API.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata"

	"github.com/followup-engine/followup/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(exitCode(run(ctx, os.Args[1:], config.OS, os.Stdout, os.Stderr), os.Stderr))
}

const usage = `usage: starter <command>

commands:
  migrate                         apply database migrations and publish the built-in cadence
  deal create  [flags]            create a deal (or converge on the one its external id names)
  deal stage   DEAL STAGE [flags] move a deal to a stage
  deal engage  DEAL KIND [flags]  report what the prospect did: reply, meeting_booked, click,
                                  bounce, unsubscribe, out_of_office [--return-at TIME|DATE]
  deal reopen  DEAL [flags]       reopen a closed deal
  deal pause   DEAL [--until T]   hold a deal's cadence (until resumed, or until T)
  deal resume  DEAL               lift a deal's own pause; each step gets the time it had left
  deal show    DEAL [--json]      show a deal: stage, deadline, next actions and why, tasks, history
  task done    DEAL TASK-ID       the owner completed a task (ids as deal show lists them)
  task skip    DEAL TASK-ID       the owner skipped a task
  task snooze  DEAL TASK-ID --until T
                                  move an open task's due date (into the owner's business hours)
  owner pause  EMAIL [--until T] [--reason TEXT]
                                  pause every open deal of an owner (a holiday); new ones start paused
  owner resume EMAIL              lift the owner's pause
  pipeline pause ID [--until T]   pause every open deal of a pipeline; new ones start paused
  pipeline resume ID              lift the pipeline's pause
  sends hold [--reason TEXT]      hold every email, whatever the deal (the global send switch)
  sends release                   let emails go again
  sends status                    is the send switch held?
  cadence validate FILE...         check cadence files: every problem as file:line:col with the source
  cadence preview FILE [flags]    the exact timeline a sample deal would get, local and UTC, with reasons
  cadence publish FILE            store a cadence file as a new immutable version
  cadence migrate --from V --to W [--deal DEAL] [--dry-run]
                                  move in-flight deals to another cadence version
  events sweep [--older-than 1m]  re-signal inbound events stuck in received (a request whose signal
                                  failed and was never retried); starter serve does it every SWEEP_INTERVAL
  serve                           serve the JSON HTTP API (HTTP_ADDR, API_TOKEN, SWEEP_INTERVAL)

DEAL is a deal id or source:external-id. Run "starter deal create -h" for flags. T is RFC 3339
(2026-12-01T09:00:00+01:00) or a date (2026-12-01: the start of that day in the owner's zone).
Configuration comes from the environment: DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE.`

// verbFunc runs one verb of a command group with the arguments after it:
// starter deal create ARGS.
type verbFunc func(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error

// groupFunc runs a command group, given its verb: starter GROUP VERB ARGS.
type groupFunc func(ctx context.Context, verb string, args []string, env config.Env, stdout, stderr io.Writer) error

// groups are the commands that take a verb.
var groups = map[string]groupFunc{
	"cadence":  runCadence,
	"deal":     runDeal,
	"task":     runTask,
	"owner":    scopeGroup("owner"),
	"pipeline": scopeGroup("pipeline"),
	"sends":    runSends,
	"events":   runEvents,
}

func run(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError(usage)
	}
	switch args[0] {
	case "migrate":
		return runMigrate(ctx, args[1:], env, stdout)
	case "serve":
		return runServe(ctx, args[1:], env, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	group, ok := groups[args[0]]
	if !ok {
		return usageError(fmt.Sprintf("unknown command %q\n\n%s", args[0], usage))
	}
	if len(args) < 2 {
		return usageError(usage)
	}
	return group(ctx, args[1], args[2:], env, stdout, stderr)
}

// errUsage marks command-line mistakes: exit code 2, message as is.
type errUsage struct{ msg string }

func (e errUsage) Error() string { return e.msg }

func usageError(msg string) error { return errUsage{msg: msg} }

// exitCode maps errors to exit codes in one place: 2 for bad input (nothing was written),
// 1 for everything else.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var u errUsage
	if errors.As(err, &u) {
		fmt.Fprintln(stderr, u.msg)
		return 2
	}
	fmt.Fprintln(stderr, "starter:", describe(err))
	if isInputError(err) {
		return 2
	}
	return 1
}
