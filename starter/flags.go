package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// newFlags is the flag set of the command name ("deal create"); its usage, which --help
// prints, is the command's line and summary from commands, then its flags.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { writeUsage(fs.Output(), fs) }
	return fs
}

// writeUsage writes a command's usage: starter deal stage --help.
func writeUsage(w io.Writer, fs *flag.FlagSet) {
	c, _ := commandNamed(fs.Name())
	fmt.Fprintf(w, "usage: starter %s\n\n", strings.TrimSpace(c.name+" "+c.args))
	fmt.Fprintln(w, strings.ReplaceAll(c.summary, "\n", " "))
	if strings.Contains(c.args, "DEAL") {
		fmt.Fprintln(w, "DEAL is a deal id or source:external-id.")
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nflags:")
		fs.PrintDefaults()
	}
}

// parse parses flags that may follow positional arguments ("deal stage D S --reason x").
// -h or --help answers the command's usage (errHelp: to stdout, exit 0); a flag it does not
// know, the flag package's complaint and the usage (exit 2).
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	out := fs.Output()
	var said strings.Builder // what the flag package prints: the usage, and a complaint first
	fs.SetOutput(&said)
	defer fs.SetOutput(out)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp{strings.TrimRight(said.String(), "\n")}
			}
			return nil, usageError(strings.TrimRight(said.String(), "\n"))
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// parseExactly is parse for a verb that takes n positional arguments: any other number is
// answered with the verb's usage line.
func parseExactly(fs *flag.FlagSet, args []string, n int, usage string) ([]string, error) {
	rest, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	if len(rest) != n {
		return nil, usageError(usage)
	}
	return rest, nil
}

// parseFlagsOnly is parse for a verb that takes no positional argument; the refusal names
// the verb by its flag set's name ("deal create takes flags only; …").
func parseFlagsOnly(fs *flag.FlagSet, args []string) error {
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError(fmt.Sprintf("%s takes flags only; unexpected %s", fs.Name(), strings.Join(rest, " ")))
	}
	return nil
}

// sourceFlag registers --source: who tells the engine, kept with what it records. People at
// the command line are "cli" unless they say otherwise.
func sourceFlag(fs *flag.FlagSet, source *string, usage string) {
	fs.StringVar(source, "source", "cli", usage)
}

// eventFlags registers the flags of a verb that records an event for a deal: --source, and
// --event-id, the source's id of the event, which makes sending the same event again a no-op.
// Each verb words the help for its own event.
func eventFlags(fs *flag.FlagSet, source, eventID *string, sourceUsage, eventIDUsage string) {
	sourceFlag(fs, source, sourceUsage)
	fs.StringVar(eventID, "event-id", "", eventIDUsage)
}

// reasonFlag registers --reason: why, kept with what the verb records.
func reasonFlag(fs *flag.FlagSet, reason *string, usage string) {
	fs.StringVar(reason, "reason", "", usage)
}

// parseSourceTime reads --at, when an event happened at its source; without it the zero
// time, which the service reads as now.
func parseSourceTime(at string) (time.Time, error) {
	if at == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, at)
	if err != nil {
		return time.Time{}, usageError(fmt.Sprintf("--at %q: want RFC 3339, like 2026-11-23T10:00:00Z", at))
	}
	return t, nil
}

// parseTaskID reads a task id as deal show lists it: 12 or #12.
func parseTaskID(arg string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(arg, "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, usageError(fmt.Sprintf("task id %q: want a positive number, as deal show lists it (#12)", arg))
	}
	return id, nil
}

// parseWhen reads a time flag that takes RFC 3339 (an instant) or a date YYYY-MM-DD (which
// the front door reads as the start of that day in the zone the verb names).
func parseWhen(flag, v string) (at time.Time, date string, err error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, "", nil
	}
	if _, err := time.Parse(time.DateOnly, v); err == nil {
		return time.Time{}, v, nil
	}
	return time.Time{}, "", usageError(fmt.Sprintf("%s %q: want RFC 3339 (2026-12-01T09:00:00+01:00) or a date (2026-12-01)", flag, v))
}
