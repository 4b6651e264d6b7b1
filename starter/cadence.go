package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
)

func runCadence(ctx context.Context, verb string, args []string, env config.Env, stdout, stderr io.Writer) error {
	switch verb {
	case "migrate":
		return cadenceMigrate(ctx, args, env, stdout, stderr)
	default:
		return usageError(fmt.Sprintf("unknown cadence command %q\n\n%s", verb, usage))
	}
}

func cadenceMigrate(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("cadence migrate", stderr)
	var r deals.MigrateRequest
	var asJSON bool
	fs.Int64Var(&r.From, "from", -1, "cadence version the deals run now (required)")
	fs.Int64Var(&r.To, "to", -1, "cadence version to move them to (required)")
	fs.StringVar(&r.Deal, "deal", "", "migrate one deal only (id or source:external-id)")
	fs.BoolVar(&r.DryRun, "dry-run", false, "list what would change per deal; change nothing")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 || r.From < 0 || r.To < 0 {
		return usageError("usage: starter cadence migrate --from VERSION --to VERSION [--deal DEAL] [--dry-run]")
	}
	svc, closeAll, err := connect(ctx, env, !r.DryRun)
	if err != nil {
		return err
	}
	defer closeAll()
	result, err := svc.Migrate(ctx, r)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(stdout, result)
	}
	if len(result) == 0 {
		fmt.Fprintf(stdout, "no open deal runs cadence version %d\n", r.From)
		return nil
	}
	for _, m := range result {
		fmt.Fprintf(stdout, "deal %s (%s): %s\n", m.DealID, m.Stage, m.State)
		fmt.Fprintf(stdout, "  %s\n", strings.Join(m.Changes, "\n  "))
	}
	if r.DryRun {
		fmt.Fprintf(stdout, "dry run: nothing changed; run again without --dry-run to migrate %d deal(s)\n", len(result))
	} else {
		fmt.Fprintln(stdout, "each deal applies the new version at its next step boundary; steps already run are not repeated")
	}
	return nil
}
