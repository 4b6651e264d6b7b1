package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/config"
)

// Every command the dispatcher knows (the commands table it dispatches from) answers --help,
// -h and `starter help NAME` with its usage on stdout and exit 0, and refuses a flag it does
// not know with exit 2 and the usage on stderr. No database or Temporal is needed: both are
// answered before the command reads its configuration.
func TestHelpOnEveryCommand(t *testing.T) {
	t.Parallel()
	env := config.MapEnv{} // a command that got past its flags would fail on this (exit 1)
	seen := map[string]bool{}
	for _, c := range commands {
		require.False(t, seen[c.name], "%s is in the table twice", c.name)
		seen[c.name] = true
		name := strings.Fields(c.name)
		summary, _, _ := strings.Cut(c.summary, "\n")
		var first string
		for _, args := range [][]string{append(name, "--help"), append(name, "-h"), append([]string{"help"}, name...)} {
			r := runCLI(t, env, args...)
			require.Equal(t, 0, r.code, "%v: stderr %s", args, r.stderr)
			require.True(t, strings.HasPrefix(r.stdout, "usage: starter "+c.name), "%v: stdout %q", args, r.stdout)
			require.Contains(t, r.stdout, summary, "%v", args)
			require.Empty(t, r.stderr, "%v", args)
			if first == "" {
				first = r.stdout
			}
			require.Equal(t, first, r.stdout, "%v: the same usage however help is asked", args)
		}
		r := runCLI(t, env, append(name, "--bogus")...)
		require.Equal(t, 2, r.code, "%s --bogus: stdout %s", c.name, r.stdout)
		require.True(t, strings.HasPrefix(r.stderr, "flag provided but not defined: -bogus\nusage: starter "+c.name), "%s --bogus: stderr %q", c.name, r.stderr)
		require.Empty(t, r.stdout, "%s --bogus", c.name)
	}
}

// starter --help lists every command; starter GROUP --help lists the group's.
func TestHelpListsTheCommands(t *testing.T) {
	t.Parallel()
	env := config.MapEnv{}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		r := runCLI(t, env, args...)
		require.Equal(t, 0, r.code, "%v: stderr %s", args, r.stderr)
		require.True(t, strings.HasPrefix(r.stdout, "usage: starter <command>"), "%v", args)
		for _, c := range commands {
			require.Contains(t, r.stdout, "  "+strings.Fields(c.name)[0], "%v", args)
			require.Contains(t, r.stdout, strings.TrimSpace(strings.Split(c.summary, "\n")[0]), "%v lacks %s", args, c.name)
		}
	}
	groups := map[string][]string{}
	for _, c := range commands {
		if g := c.group(); g != "" {
			groups[g] = append(groups[g], c.name)
		}
	}
	require.Len(t, groups, 10, "deal, task, owner, pipeline, sends, cadence, events, inbound, user, token")
	for g, names := range groups {
		for _, args := range [][]string{{g, "--help"}, {g, "-h"}, {g, "help"}, {"help", g}} {
			r := runCLI(t, env, args...)
			require.Equal(t, 0, r.code, "%v: stderr %s", args, r.stderr)
			require.True(t, strings.HasPrefix(r.stdout, "usage: starter "+g+" <command>"), "%v", args)
			for _, name := range names {
				require.Contains(t, r.stdout, name, "%v", args)
			}
			require.Empty(t, r.stderr)
		}
		r := runCLI(t, env, g) // a group without its verb is a mistake, answered with the group's usage
		require.Equal(t, 2, r.code)
		require.True(t, strings.HasPrefix(r.stderr, "usage: starter "+g+" <command>"), "%s: %q", g, r.stderr)
	}
	r := runCLI(t, env, "help", "fly")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, `unknown command "fly"`)
}
