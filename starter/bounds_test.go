package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/workflows"
)

// copyExample copies cadences/b2b.yaml and its templates into a new directory and returns
// the copy's path.
func copyExample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS("../cadences")))
	return filepath.Join(dir, "b2b.yaml")
}

// A version over the bound is refused by validate and by publish, at its position; publish
// writes nothing.
func TestCadenceOverTheBoundIsRefusedAtValidateAndPublish(t *testing.T) {
	t.Parallel()
	file := copyExample(t)
	templates := filepath.Join(filepath.Dir(file), "templates")
	for _, name := range []string{"intro", "value-followup", "qualification-followup", "proposal-followup"} {
		text := "Hi {{.Contact.FirstName}},\n" + strings.Repeat("A long paragraph nobody reads to the end. ", 2900) + "\n"
		require.NoError(t, os.WriteFile(filepath.Join(templates, name+".txt"), []byte(text), 0o644))
	}
	dbURL := pgtest.NewDatabase(t)
	env := config.MapEnv{"DATABASE_URL": dbURL, "TEMPORAL_ADDRESS": "127.0.0.1:1"}
	const want = "b2b.yaml:45:16: the cadence is 487.1 KiB in its canonical form (model and templates, as published and loaded into each deal), over the 384 KiB bound of a version; the largest parts are template \"intro\" 119.4 KiB (here)"

	r := runCLI(t, env, "cadence", "validate", file)
	require.Equal(t, 2, r.code, r.stdout)
	require.Contains(t, r.stderr, want)
	require.Contains(t, r.stderr, "> 45 |       - email: intro\n")

	r = runCLI(t, env, "cadence", "publish", file)
	require.Equal(t, 2, r.code, r.stdout)
	require.Contains(t, r.stderr, want)
	require.Contains(t, r.stderr, "is invalid; nothing was published")
	var n int
	require.NoError(t, pgtestPool(t, dbURL).QueryRow(context.Background(), `SELECT count(*) FROM cadence_versions WHERE pipeline_id = 'b2b'`).Scan(&n))
	require.Zero(t, n)

	r = runCLI(t, env, "cadence", "validate", "../cadences/b2b.yaml")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "11.8 KiB of the 384 KiB a version may take")
}

// A deal whose workflow could not load its cadence says why where its stage would be.
func TestDealShowSaysWhyADealDidNotStart(t *testing.T) {
	t.Parallel()
	const why = "cadence b2b version 3 cannot load: it is 6.1 MiB in its canonical form, over the 1.9 MiB a deal can load"
	var out bytes.Buffer
	printDetails(&out, deals.Details{Timeline: store.Timeline{Deal: store.Deal{ID: "d1", Stage: "prospecting", StartError: why}}})
	require.Contains(t, out.String(), "\nStage     (not started: "+why+")")
	require.NotContains(t, out.String(), "entered")

	// The failed workflow still answers the query: with no stage.
	out.Reset()
	printDetails(&out, deals.Details{Timeline: store.Timeline{Deal: store.Deal{ID: "d1", Stage: "prospecting", StartError: why}},
		Live: &workflows.View{}})
	require.Contains(t, out.String(), "\nStage     (not started: "+why+")")

	// A reopened deal whose new run could not start keeps its stage, and says so.
	entered := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	out.Reset()
	printDetails(&out, deals.Details{Timeline: store.Timeline{Deal: store.Deal{ID: "d1", Stage: "lost", Visit: 3, StageEnteredAt: &entered, StartError: why}}})
	require.Contains(t, out.String(), "\nStage     lost")
	require.Contains(t, out.String(), "\nRun       not started: "+why)
}
