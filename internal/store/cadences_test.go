package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
)

// withHTML is the built-in pipeline with an intro HTML part of n bytes.
func withHTML(n int) cadence.Pipeline {
	p := cadence.Default()
	p.ID = "big"
	intro := p.Templates["intro"]
	intro.HTML = "<p>" + strings.Repeat("x", n) + "</p>"
	p.Templates["intro"] = intro
	return p
}

// Publishing refuses what no deal could run, whatever the caller: a template or a version
// over its bound, measured on the canonical form that is stored and loaded. Nothing is
// stored.
func TestPublishRefusesAVersionOverTheBounds(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	st := store.New(pool)
	ctx := context.Background()

	_, err := st.PublishNext(ctx, withHTML(cadence.MaxTemplateBytes))
	require.ErrorContains(t, err, `template "intro" is 128.3 KiB in its canonical form, over the 128 KiB bound`)

	p := cadence.Default()
	p.ID = "many"
	for _, name := range []string{"a", "b", "c", "d"} {
		p.Templates[name] = cadence.Template{Subject: name, Text: strings.Repeat(name, 100_000)}
	}
	_, err = st.PublishNext(ctx, p)
	require.ErrorContains(t, err, "cadence many is 397.5 KiB in its canonical form, over the 384 KiB bound")
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM cadence_versions WHERE pipeline_id IN ('big', 'many')`).Scan(&n))
	require.Zero(t, n)

	_, err = st.PublishNext(ctx, withHTML(100_000))
	require.NoError(t, err, "under the bounds")
}

// A stored model that does not decode is ErrUndecodable, which asking again cannot cure.
func TestUndecodableCadence(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	st := store.New(pool)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `INSERT INTO cadence_versions (version, pipeline_id, hash, model) VALUES (5, 'x', 'h', '{"stages": "none"}')`)
	require.NoError(t, err)
	_, err = st.Cadence(ctx, 5)
	require.ErrorIs(t, err, store.ErrUndecodable)
	require.ErrorContains(t, err, "cadence version 5: its stored model does not decode")
}

// Why a deal could not start is on its row, for deal show and the API, only while the deal
// is on the version that failed; the deal's first projection clears it.
func TestStartError(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d := newDeal(t, st, "start-1").Deal

	require.NoError(t, st.SetStartError(ctx, d.ID, cadence.DefaultVersion+1, "a migration's load"))
	got, err := st.DealByID(ctx, d.ID)
	require.NoError(t, err)
	require.Empty(t, got.StartError, "another version than the deal's: a migration, not a start")

	const why = "cadence b2b-default version 0 cannot load: it is 6.1 MiB in its canonical form"
	require.NoError(t, st.SetStartError(ctx, d.ID, cadence.DefaultVersion, why))
	tl, err := st.DealTimeline(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, why, tl.Deal.StartError)
	require.Nil(t, tl.Deal.StageEnteredAt, "the deal never entered its first stage")

	_, err = st.Project(ctx, store.Projection{DealID: d.ID, Revision: 1, Stage: "prospecting", Visit: 1, EnteredAt: time.Now()})
	require.NoError(t, err)
	got, err = st.DealByID(ctx, d.ID)
	require.NoError(t, err)
	require.Empty(t, got.StartError)
	require.Equal(t, "prospecting", got.Stage)
}
