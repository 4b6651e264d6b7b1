package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/followup-engine/followup/internal/cadencefile"
	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
)

func runCadence(ctx context.Context, verb string, args []string, env config.Env, stdout, stderr io.Writer) error {
	switch verb {
	case "migrate":
		return cadenceMigrate(ctx, args, env, stdout, stderr)
	case "validate":
		return cadenceValidate(args, stdout, stderr)
	case "publish":
		return cadencePublish(ctx, args, env, stdout, stderr)
	default:
		return usageError(fmt.Sprintf("unknown cadence command %q\n\n%s", verb, usage))
	}
}

// cadenceValidate checks cadence files without touching any database; every problem of every
// file is printed as file:line:col with an excerpt, and the exit status is 2 if any.
func cadenceValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("cadence validate", stderr)
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usageError("usage: starter cadence validate FILE...")
	}
	var failed []string
	for _, f := range files {
		p, err := cadencefile.Load(f)
		if err != nil {
			fmt.Fprintf(stderr, "%s\n\n", err)
			failed = append(failed, f)
			continue
		}
		hash, _ := p.Hash()
		fmt.Fprintf(stdout, "%s: ok (pipeline %s, %d stages, %d templates, hash %.12s)\n", f, p.ID, len(p.Stages), len(p.Templates), hash)
	}
	if len(failed) > 0 {
		return usageError(fmt.Sprintf("%d of %d cadence file(s) invalid: %s", len(failed), len(files), strings.Join(failed, ", ")))
	}
	return nil
}

// cadencePublish stores a cadence file as a new immutable version (or names the version that
// already holds the same model and templates).
func cadencePublish(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("cadence publish", stderr)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return usageError("usage: starter cadence publish FILE")
	}
	p, err := cadencefile.Load(files[0])
	if err != nil {
		fmt.Fprintf(stderr, "%s\n\n", err)
		return usageError(files[0] + " is invalid; nothing was published")
	}
	svc, closeAll, err := connect(ctx, env, false)
	if err != nil {
		return err
	}
	defer closeAll()
	cv, err := svc.Store.PublishNext(ctx, p)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(stdout, map[string]any{"version": cv.Version, "pipeline": cv.Pipeline.ID, "hash": cv.Hash})
	}
	fmt.Fprintf(stdout, "pipeline %s is cadence version %d (hash %.12s)\nnew deals on pipeline %s now pin it; move in-flight deals with: starter cadence migrate --from OLD --to %d --dry-run\n",
		cv.Pipeline.ID, cv.Version, cv.Hash, cv.Pipeline.ID, cv.Version)
	return nil
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
