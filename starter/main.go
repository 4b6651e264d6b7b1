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
	"strings"
	"syscall"
	_ "time/tzdata"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(exitCode(run(ctx, os.Args[1:], config.OS, os.Stdout, os.Stderr), os.Stderr))
}

// command is one command of starter: a verb of a group ("deal create") or a verb alone
// ("migrate"). The dispatcher, the usage text and every --help come from commands.
type command struct {
	name    string // "deal create", "migrate"
	args    string // what follows the name: "DEAL STAGE [flags]"
	summary string // what it does; more lines continue it
	run     verbFunc
}

// group is the command's group ("deal"), or "" for a verb alone.
func (c command) group() string {
	g, _, ok := strings.Cut(c.name, " ")
	if !ok {
		return ""
	}
	return g
}

// verbFunc runs a command with the arguments after its name: starter deal create ARGS.
type verbFunc func(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error

// groupFunc runs a verb of a group that serves several alike: starter GROUP VERB ARGS.
type groupFunc func(ctx context.Context, verb string, args []string, env config.Env, stdout, stderr io.Writer) error

// verbOf runs g for one verb.
func verbOf(g groupFunc, verb string) verbFunc {
	return func(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
		return g(ctx, verb, args, env, stdout, stderr)
	}
}

// commands are starter's commands, in the order the usage lists them. They are set in init:
// the verbs' flag sets read them for their --help, which a package-level initialiser could not.
var commands []command

func init() {
	commands = []command{
		{"migrate", "", "apply database migrations and publish the built-in cadence", runMigrate},
		{"deal create", "[flags]", "create a deal (or converge on the one its external id names)", dealCreate},
		{"deal stage", "DEAL STAGE [flags]", "move a deal to a stage", dealStage},
		{"deal engage", "DEAL KIND [flags]", "report what the prospect did: reply, meeting_booked, click,\n" +
			"bounce, unsubscribe, out_of_office [--return-at TIME|DATE]", dealEngage},
		{"deal reopen", "DEAL [flags]", "reopen a closed deal", dealReopen},
		{"deal pause", "DEAL [--until T]", "hold a deal's cadence (until resumed, or until T)", dealPause},
		{"deal resume", "DEAL", "lift a deal's own pause; each step gets the time it had left", dealResume},
		{"deal value", "DEAL [--amount A --currency C] [--close-on YYYY-MM-DD]", "set a deal's amount (exact decimal), currency and expected close date", dealValue},
		{"deal show", "DEAL [--json]", "show a deal: stage, deadline, next actions and why, tasks, history", dealShow},
		{"task done", "DEAL TASK-ID", "the owner completed a task (ids as deal show lists them)", verbOf(runTask, "done")},
		{"task skip", "DEAL TASK-ID", "the owner skipped a task", verbOf(runTask, "skip")},
		{"task snooze", "DEAL TASK-ID --until T", "move an open task's due date (into the owner's business hours)", taskSnooze},
		{"task list", "--owner EMAIL [--due overdue|today|upcoming]", "an owner's open tasks in due order, in the owner's zone", taskList},
		{"owner pause", "EMAIL [--until T] [--reason TEXT]", "pause every open deal of an owner (a holiday); new ones start paused",
			verbOf(scopeGroup("owner"), "pause")},
		{"owner resume", "EMAIL", "lift the owner's pause", verbOf(scopeGroup("owner"), "resume")},
		{"owner handover", "FROM TO [--pipeline P]", "move a departing owner's open deals and open tasks to another owner\n" +
			"(created from the email if new); repeating it is safe", ownerHandover},
		{"pipeline pause", "ID [--until T]", "pause every open deal of a pipeline; new ones start paused", verbOf(scopeGroup("pipeline"), "pause")},
		{"pipeline resume", "ID", "lift the pipeline's pause", verbOf(scopeGroup("pipeline"), "resume")},
		{"pipeline metrics", "PIPELINE [--from D] [--to D] [--owner EMAIL] [--json]", "the pipeline's funnel, closings, open deals, velocity, forecast,\n" +
			"coverage and owners (README: Pipeline metrics)", pipelineMetrics},
		{"pipeline target", "PIPELINE --month YYYY-MM --amount A --currency C", "set a month's target, which the metrics' coverage compares with", pipelineTarget},
		{"pipeline targets", "PIPELINE [--json]", "the pipeline's monthly targets", pipelineTargets},
		{"sends hold", "[--reason TEXT]", "hold every email, whatever the deal (the global send switch)", verbOf(runSends, "hold")},
		{"sends release", "", "let emails go again", verbOf(runSends, "release")},
		{"sends status", "", "is the send switch held?", verbOf(runSends, "status")},
		{"sends forecast", "[--days N] [--cap N]", "planned emails per sending mailbox and day against the daily cap:\n" +
			"run it before a publish, a migration or a resume", sendsForecast},
		{"cadence validate", "FILE...", "check cadence files: every problem as file:line:col with the source",
			func(_ context.Context, args []string, _ config.Env, stdout, stderr io.Writer) error {
				return cadenceValidate(args, stdout, stderr)
			}},
		{"cadence preview", "FILE [flags]", "the exact timeline a sample deal would get, local and UTC, with reasons", cadencePreview},
		{"cadence publish", "FILE", "store a cadence file as a new immutable version", cadencePublish},
		{"cadence migrate", "--from V --to W [--deal DEAL] [--dry-run]", "move in-flight deals to another cadence version", cadenceMigrate},
		{"cadence steps", "PIPELINE [--from D] [--to D] [--json]", "what each step of each version earned: emails sent, replies,\n" +
			"meetings, unsubscribes, tasks, median time to reply", cadenceSteps},
		{"events sweep", "[--older-than 1m]", "re-signal inbound events stuck in received (a request whose signal\n" +
			"failed and was never retried); starter serve does it every SWEEP_INTERVAL", verbOf(runEvents, "sweep")},
		{"inbound take", "FILE|-", "take one raw email (a reply, an out-of-office, a bounce) through the\n" +
			"mailbox intake, as the IMAP poller does", inboundTake},
		{"inbound list", "[--deal DEAL] [--outcome O]", "the emails the mailbox intake read and what became of each;\n" +
			"where each polled mailbox stands", inboundList},
		{"user add", "EMAIL --role ops|rep|integration", "add a user of the API: ops do everything, a rep works their own deals\n" +
			"and tasks, an integration posts events", userAdd},
		{"user list", "", "the users and their roles", userList},
		{"user disable", "EMAIL", "disable a user: their tokens stop working at once", userDisable},
		{"user enable", "EMAIL", "enable a disabled user again: their tokens that were not revoked work again", userEnable},
		{"user digest", "EMAIL on|off|now", "the rep's morning digest email (first business hour of each business day);\n" +
			"now sends today's at once (once per day all the same)", userDigest},
		{"user password", "EMAIL", "set the password a user logs in to the pages with (read from stdin)", userPassword},
		{"token create", "EMAIL --name NAME", "a new API token for a user, shown once (stored as a hash)", tokenCreate},
		{"token list", "", "the API tokens: user, name, last use; never their values", tokenList},
		{"token revoke", "ID", "revoke an API token", tokenRevoke},
		{"serve", "", "serve the JSON HTTP API and read the mailboxes (HTTP_ADDR, API_TOKEN, IMAP_*)", runServe},
	}
}

// commandNamed finds a command by its name.
func commandNamed(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// isGroup says whether some command's group is g.
func isGroup(g string) bool {
	for _, c := range commands {
		if c.group() == g {
			return true
		}
	}
	return false
}

const usageNotes = `DEAL is a deal id or source:external-id. Run "starter deal create -h" for flags. T is RFC 3339
(2026-12-01T09:00:00+01:00) or a date (2026-12-01: the start of that day in the owner's zone).
Configuration comes from the environment: DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE.`

// usage is starter's usage: every command.
func usage() string {
	var b strings.Builder
	b.WriteString("usage: starter <command>\n\ncommands:\n")
	writeCommands(&b, commands)
	b.WriteString("\n" + usageNotes)
	return b.String()
}

// groupUsage is the usage of one group's commands.
func groupUsage(group string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: starter %s <command> [flags]\n\ncommands:\n", group)
	var cs []command
	for _, c := range commands {
		if c.group() == group {
			cs = append(cs, c)
		}
	}
	writeCommands(&b, cs)
	fmt.Fprintf(&b, "\nRun \"starter %s <command> --help\" for a command's flags.", group)
	return b.String()
}

// writeCommands writes one line per command (more when its summary has more), the names of a
// group's verbs padded alike and the summaries in one column.
func writeCommands(w io.Writer, cs []command) {
	const column = 32
	width := map[string]int{}
	for _, c := range cs {
		width[c.group()] = max(width[c.group()], len(c.name))
	}
	for _, c := range cs {
		left := c.name
		if c.args != "" {
			left = fmt.Sprintf("%-*s %s", width[c.group()], c.name, c.args)
		}
		lines := strings.Split(c.summary, "\n")
		if len(left) >= column {
			fmt.Fprintf(w, "  %s\n", left)
			left = ""
		}
		fmt.Fprintf(w, "  %-*s%s\n", column, left, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(w, "  %-*s%s\n", column, "", l)
		}
	}
}

// run dispatches a command line; --help anywhere a verb is expected prints the usage of what
// came before it to stdout.
func run(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	// serve records each request's authenticated actor instead.
	err := dispatch(store.WithActor(ctx, cliActor()), args, env, stdout, stderr)
	var help errHelp
	if errors.As(err, &help) {
		fmt.Fprintln(stdout, help.text)
		return nil
	}
	return err
}

func dispatch(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError(usage())
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 { // starter help deal create: starter deal create --help
			return dispatch(ctx, append(args[1:], "--help"), env, stdout, stderr)
		}
		return errHelp{usage()}
	}
	if c, ok := commandNamed(args[0]); ok {
		return c.run(ctx, args[1:], env, stdout, stderr)
	}
	group := args[0]
	if !isGroup(group) {
		return usageError(fmt.Sprintf("unknown command %q\n\n%s", group, usage()))
	}
	if len(args) < 2 {
		return usageError(groupUsage(group))
	}
	switch args[1] {
	case "help", "-h", "-help", "--help":
		return errHelp{groupUsage(group)}
	}
	c, ok := commandNamed(group + " " + args[1])
	if !ok {
		return usageError(fmt.Sprintf("unknown %s command %q\n\n%s", group, args[1], groupUsage(group)))
	}
	return c.run(ctx, args[2:], env, stdout, stderr)
}

// errHelp is a request for help: its text goes to stdout and starter exits 0.
type errHelp struct{ text string }

func (e errHelp) Error() string { return e.text }

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
