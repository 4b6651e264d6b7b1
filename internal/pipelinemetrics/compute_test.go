package pipelinemetrics_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/money"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/pipelinemetrics"
	"github.com/followup-engine/followup/internal/store"
)

var update = flag.Bool("update", false, "rewrite testdata/metrics.golden.json from the computed report")

const goldenFile = "testdata/metrics.golden.json"

// The fixture's clock: Now is 2026-06-15 12:00 UTC, the period April to June 2026.
var (
	fixtureNow  = at(6, 15, 12)
	fixtureFrom = at(4, 1, 0)
	fixtureTo   = at(7, 1, 0)
)

func at(month, day, hour int) time.Time {
	return time.Date(2026, time.Month(month), day, hour, 0, 0, 0, time.UTC)
}

func prob(p int) *int { return &p }

// metricsPipeline: prospecting (10%) → qualification (30%) → proposal (60%) → won (100%),
// lost (0%); nurturing is the holding stage every funnel stage's on_stale moves deals to.
func metricsPipeline() cadence.Pipeline {
	days := func(n int) cadence.Duration { return cadence.Of(n, cadence.Days) }
	stale := func(limit int) (cadence.Duration, *cadence.Move) {
		return days(limit), &cadence.Move{MoveTo: "nurturing", Reason: "no progress"}
	}
	p := cadence.Pipeline{ID: "metrics-test", Initial: "prospecting",
		Templates: map[string]cadence.Template{"nurture": {Subject: "Still interested?", Text: "Hi"}}}
	add := func(s cadence.Stage) { p.Stages = append(p.Stages, s) }
	limit, move := stale(10)
	add(cadence.Stage{ID: "prospecting", Probability: prob(10), TimeLimit: limit, OnStale: move})
	limit, move = stale(10)
	add(cadence.Stage{ID: "qualification", Probability: prob(30), TimeLimit: limit, OnStale: move})
	limit, move = stale(14)
	add(cadence.Stage{ID: "proposal", Probability: prob(60), TimeLimit: limit, OnStale: move})
	add(cadence.Stage{ID: "nurturing",
		Steps:       []cadence.Step{{ID: "nurture", Kind: cadence.StepEmail, After: days(21), Times: 2, Template: "nurture"}},
		OnExhausted: &cadence.Move{After: days(14), MoveTo: "lost", Reason: "unresponsive"}})
	add(cadence.Stage{ID: "won", Terminal: true, Probability: prob(100)})
	add(cadence.Stage{ID: "lost", Terminal: true, Probability: prob(0)})
	return p
}

// move is one stage transition of a fixture deal; source "engine" is the engine's own.
type move struct {
	to     string
	at     time.Time
	source string
}

func crm(to string, t time.Time) move    { return move{to, t, "crm"} }
func engine(to string, t time.Time) move { return move{to, t, "engine"} }

// fixtureDeal is written through the store as the engine writes a deal: its transitions,
// the deal closed (MarkClosed) after each move into a terminal stage, the projection of
// where an open deal stands.
type fixtureDeal struct {
	title, owner string
	value        store.DealValue
	moves        []move
	deadline     *time.Time // of the open deal's current stage visit
}

func eur(amount, closeOn string) store.DealValue {
	return store.DealValue{Amount: money.Amount(amount), Currency: "EUR", ExpectedCloseOn: closeOn}
}

func usd(amount, closeOn string) store.DealValue {
	return store.DealValue{Amount: money.Amount(amount), Currency: "USD", ExpectedCloseOn: closeOn}
}

func deadline(t time.Time) *time.Time { return &t }

const (
	ana  = "ana@vendor.test"
	ben  = "ben@vendor.test"
	cleo = "cleo@vendor.test"
)

// The fixture, and the hand-computed figures the test asserts (days are 86 400 s; Now is
// day 166.5 of 2026, so an open deal's age is 166.5 − the day of year of its first move).
//
//	deal owner value (close on)          moves (crm unless engine)                                   at Now
//	D01  ana  EUR 10000 (06-20)          prospecting 04-01, qualification 04-03, proposal 04-10, won 05-01   won (cycle 30 d)
//	D02  ana  EUR 20000.50               prospecting 04-02, proposal 04-04 (skip), won 04-24                 won (cycle 22 d)
//	D03  ben  USD 5000                   prospecting 04-05, qualification 04-06, lost 04-20                  lost
//	D04  ben  USD 7000                   prospecting 04-01, qualification 04-02, won 04-12 (skip), reopened
//	                                     into qualification 04-15 (api), lost 05-05                         lost (last close)
//	D05  ana  EUR 3000                   prospecting 04-10, engine: nurturing 04-20                          open, nurturing, age 66.5
//	D06  ana  EUR 8000                   prospecting 04-12, qualification 04-14, proposal 04-20,
//	                                     back to qualification 04-22; deadline 05-02                         open, stale, age 64.5
//	D07  ben  USD 12000 (07-10)          prospecting 05-01, qualification 05-03, proposal 06-01;
//	                                     deadline 06-15 18:00 (98% gone)                                     open, near limit, age 45.5
//	D08  ana  EUR 4000.25 (06-30)        prospecting 06-10; deadline 06-20 (55% gone)                        open, age 5.5
//	D09  ben  no amount                  prospecting 03-20 (before the period), qualification 04-05;
//	                                     deadline 04-15                                                      open, stale, age 87.5
//	D10  ana  EUR 15000 (05-31)          prospecting 04-20, qualification 04-21, proposal 04-25;
//	                                     deadline 06-20 12:00 (91% gone)                                     open, near limit, age 56.5
//	D11  ben  USD 9000                   prospecting 04-03, engine: nurturing 04-13, engine: lost 05-20      lost
//	D12  ana  EUR 6000 (06-25)           prospecting 04-04, engine: nurturing 04-14, qualification 05-02
//	                                     (re-engaged by the rep), proposal 05-04; deadline 05-18             open, stale, age 72.5
//	D13  ben  USD 30000 (08-15)          prospecting 04-08, qualification 04-09, proposal 04-16, won 05-16   won (cycle 38 d)
//	D14  ben  no amount                  prospecting 04-06, proposal 04-07 (skip), won 04-27                 won (cycle 21 d)
//	D15  ana  EUR 5000 (09-10)           prospecting 06-14; deadline 06-24                                   open, age 1.5
//	D16  ben  USD 2500.75 (2027-09-01)   prospecting 05-20, qualification 05-25; deadline 06-15 11:00        open, stale, age 26.5
//	D17  cleo EUR 7000                   prospecting 02-01, won 03-15 (before the period)                    not counted
//	D18  ana  EUR 1000                   prospecting 04-25, lost 04-28                                       lost
//	D19  ben  USD 4000 (06-05)           prospecting 05-28; deadline 06-18 (88% gone)                        open, near limit, age 18.5
//	D20  ana  EUR 2000 (07-15)           prospecting 05-10, qualification 05-12, back to prospecting 05-14;
//	                                     deadline 06-30 (69% gone)                                           open, age 36.5
//	D21  ana  EUR 99999, on another pipeline (b2b-default): counted nowhere.
//
// Funnel (visits begun in the period; durations of the ended ones, nearest rank):
//
//	stage          entered adv direct skip lost engine back open  conv          median  p90
//	prospecting    19      11  9      2    1    3      0    4     11/15=0.7333  2 d     10 d   (1×5, 2×5, 3, 5, 10×3)
//	qualification  13      7   6      1    2    0      1    3     7/10=0.7      7 d     20 d   (2,2,4,6,7,7,10,14,20,29)
//	proposal       8       4   4      0    0    0      1    3     4/5=0.8       20 d    30 d   (2,20,20,21,30)
//	nurturing      3       1   0      0    0    1      0    1     nil           18 d    37 d   (18, 37)
//
// Open now: prospecting 4 (near 1), qualification 3 (stale 3), proposal 3 (stale 1, near 2),
// nurturing 1: 11 deals, stale 4, near limit 3; age mean 481.5/11 = 43.8, median 45.5, p90 72.5.
// Pipeline EUR 43000.25 (7 deals), USD 18500.75 (3); weighted EUR 2400 + 400.025 + 9000 + 3600
// + 500 + 200 = 16100.025 → 16100.03, USD 7200 + 750.225 + 400 = 8350.225 → 8350.23.
// Closed: won D01 D02 D13 D14 (4), lost D03 D04 D11 D18 (4): win rate 0.5; average won EUR
// (10000 + 20000.50)/2 = 15000.25, USD 30000.00; 1 won without amount; cycle (30+22+38+21)/4
// = 27.75 → 27.8 days.
// Velocity: EUR 7 × 0.5 × 15000.25 ÷ 27.8 = 1888.52; USD 3 × 0.5 × 30000 ÷ 27.8 = 1618.71.
// Forecast: overdue EUR 1 15000 (9000.00); none EUR 2 11000 (2400.00); 2026-06 EUR 2 10000.25
// (4000.03), USD 1 4000 (400.00); 2026-07 EUR 1 2000 (200.00), USD 1 12000 (7200.00); 2026-09
// EUR 1 5000 (500.00); later USD 1 2500.75 (750.23).
// Coverage (targets 2026-05 EUR and 2027-06 EUR fall outside June 2026 – May 2027):
// 2026-06 EUR 10000.25 of 20000 → 0.50; 2026-07 EUR 2000 of 0 → nil; 2026-07 USD 12000 of 10000 → 1.2.
// Owners: ana open 7, stale 2, won 2, lost 1 (0.6667); ben open 4, stale 2, won 2, lost 3 (0.4);
// cleo closed only before the period: not listed.
var fixture = []fixtureDeal{
	{"D01", ana, eur("10000", "2026-06-20"), []move{crm("prospecting", at(4, 1, 0)), crm("qualification", at(4, 3, 0)), crm("proposal", at(4, 10, 0)), crm("won", at(5, 1, 0))}, nil},
	{"D02", ana, eur("20000.50", ""), []move{crm("prospecting", at(4, 2, 0)), crm("proposal", at(4, 4, 0)), crm("won", at(4, 24, 0))}, nil},
	{"D03", ben, usd("5000", ""), []move{crm("prospecting", at(4, 5, 0)), crm("qualification", at(4, 6, 0)), crm("lost", at(4, 20, 0))}, nil},
	{"D04", ben, usd("7000", ""), []move{crm("prospecting", at(4, 1, 0)), crm("qualification", at(4, 2, 0)), crm("won", at(4, 12, 0)),
		{"qualification", at(4, 15, 0), "api"}, crm("lost", at(5, 5, 0))}, nil},
	{"D05", ana, eur("3000", ""), []move{crm("prospecting", at(4, 10, 0)), engine("nurturing", at(4, 20, 0))}, nil},
	{"D06", ana, eur("8000", ""), []move{crm("prospecting", at(4, 12, 0)), crm("qualification", at(4, 14, 0)), crm("proposal", at(4, 20, 0)),
		crm("qualification", at(4, 22, 0))}, deadline(at(5, 2, 0))},
	{"D07", ben, usd("12000", "2026-07-10"), []move{crm("prospecting", at(5, 1, 0)), crm("qualification", at(5, 3, 0)), crm("proposal", at(6, 1, 0))}, deadline(at(6, 15, 18))},
	{"D08", ana, eur("4000.25", "2026-06-30"), []move{crm("prospecting", at(6, 10, 0))}, deadline(at(6, 20, 0))},
	{"D09", ben, store.DealValue{}, []move{crm("prospecting", time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC)), crm("qualification", at(4, 5, 0))}, deadline(at(4, 15, 0))},
	{"D10", ana, eur("15000", "2026-05-31"), []move{crm("prospecting", at(4, 20, 0)), crm("qualification", at(4, 21, 0)), crm("proposal", at(4, 25, 0))}, deadline(at(6, 20, 12))},
	{"D11", ben, usd("9000", ""), []move{crm("prospecting", at(4, 3, 0)), engine("nurturing", at(4, 13, 0)), engine("lost", at(5, 20, 0))}, nil},
	{"D12", ana, eur("6000", "2026-06-25"), []move{crm("prospecting", at(4, 4, 0)), engine("nurturing", at(4, 14, 0)), crm("qualification", at(5, 2, 0)),
		crm("proposal", at(5, 4, 0))}, deadline(at(5, 18, 0))},
	{"D13", ben, usd("30000", "2026-08-15"), []move{crm("prospecting", at(4, 8, 0)), crm("qualification", at(4, 9, 0)), crm("proposal", at(4, 16, 0)), crm("won", at(5, 16, 0))}, nil},
	{"D14", ben, store.DealValue{}, []move{crm("prospecting", at(4, 6, 0)), crm("proposal", at(4, 7, 0)), crm("won", at(4, 27, 0))}, nil},
	{"D15", ana, eur("5000", "2026-09-10"), []move{crm("prospecting", at(6, 14, 0))}, deadline(at(6, 24, 0))},
	{"D16", ben, usd("2500.75", "2027-09-01"), []move{crm("prospecting", at(5, 20, 0)), crm("qualification", at(5, 25, 0))}, deadline(at(6, 15, 11))},
	{"D17", cleo, eur("7000", ""), []move{crm("prospecting", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)), crm("won", time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC))}, nil},
	{"D18", ana, eur("1000", ""), []move{crm("prospecting", at(4, 25, 0)), crm("lost", at(4, 28, 0))}, nil},
	{"D19", ben, usd("4000", "2026-06-05"), []move{crm("prospecting", at(5, 28, 0))}, deadline(at(6, 18, 0))},
	{"D20", ana, eur("2000", "2026-07-15"), []move{crm("prospecting", at(5, 10, 0)), crm("qualification", at(5, 12, 0)), crm("prospecting", at(5, 14, 0))}, deadline(at(6, 30, 0))},
}

var ownerNames = map[string]string{ana: "Ana Alves", ben: "Ben Brown", cleo: "Cleo Chen"}

// seed publishes the pipelines, writes the deals and targets, and returns deal id → title.
func seed(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	ctx := store.WithActor(context.Background(), "user:ops@vendor.test")
	cv, err := st.PublishCadence(ctx, 1, metricsPipeline())
	require.NoError(t, err)
	other, err := st.PublishCadence(ctx, cadence.DefaultVersion, cadence.Default())
	require.NoError(t, err)
	titles := map[string]string{}
	write := func(d fixtureDeal, version int64) {
		c, err := st.CreateDeal(ctx, store.NewDeal{
			Source: "crm", ExternalID: d.title, Title: d.title,
			Owner:          store.OwnerInput{Email: d.owner, Name: ownerNames[d.owner]},
			Contact:        store.ContactInput{Email: strings.ToLower(d.title) + "@prospect.test"},
			CadenceVersion: version, EventID: "create:" + d.title, SourceTime: d.moves[0].at, Value: d.value,
		})
		require.NoError(t, err)
		id := c.Deal.ID
		titles[id] = d.title
		pipeline := metricsPipeline()
		from := ""
		for i, m := range d.moves {
			visit := i + 1
			require.NoError(t, st.RecordTransition(ctx, store.Transition{DealID: id, Visit: visit, From: from, To: m.to, At: m.at,
				Source: m.source, SourceEventID: fmt.Sprintf("%s/%d", d.title, visit), Reason: "fixture"}))
			if s, ok := pipeline.Stage(m.to); ok && s.Terminal {
				require.NoError(t, st.MarkClosed(ctx, id, m.to, visit, m.at))
			}
			from = m.to
		}
		last := d.moves[len(d.moves)-1]
		if s, _ := pipeline.Stage(last.to); !s.Terminal {
			_, err := st.Project(ctx, store.Projection{DealID: id, Revision: 1, Stage: last.to, Visit: len(d.moves),
				EnteredAt: last.at, Deadline: d.deadline})
			require.NoError(t, err)
		}
	}
	for _, d := range fixture {
		write(d, cv.Version)
	}
	write(fixtureDeal{"D21", ana, eur("99999", "2026-06-20"), []move{crm("prospecting", at(4, 5, 0))}, deadline(at(6, 16, 0))}, other.Version)

	for _, tg := range []struct {
		pipeline, month, currency string
		amount                    money.Amount
	}{
		{"metrics-test", "2026-05", "EUR", "5000"},
		{"metrics-test", "2026-06", "EUR", "20000"},
		{"metrics-test", "2026-07", "USD", "10000"},
		{"metrics-test", "2026-07", "EUR", "0"},
		{"metrics-test", "2027-06", "EUR", "1000"},
		{"b2b-default", "2026-06", "EUR", "1"},
	} {
		month, err := time.Parse("2006-01", tg.month)
		require.NoError(t, err)
		_, err = st.SetTarget(ctx, tg.pipeline, month, tg.currency, tg.amount)
		require.NoError(t, err)
	}
	return titles
}

func f(v float64) *float64 { return &v }
func s(v string) *string   { return &v }

// The whole report of the fixture matches the golden file, and its key figures match the
// values computed by hand above (so the golden file cannot absorb a bug).
func TestComputeMatchesTheHandComputedFixture(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	titles := seed(t, st)
	ctx := context.Background()

	r, err := pipelinemetrics.Compute(ctx, st, pipelinemetrics.Query{Pipeline: "metrics-test", From: fixtureFrom, To: fixtureTo, Now: fixtureNow})
	require.NoError(t, err)
	require.Equal(t, int64(1), r.CadenceVersion)

	type funnel struct {
		stage                                                             string
		entered, advanced, direct, skipped, lost, engine, back, stillOpen int
		conversion                                                        *float64
		medianDays, p90Days                                               float64
		openNow, staleNow, nearNow                                        int
	}
	want := []funnel{
		{"prospecting", 19, 11, 9, 2, 1, 3, 0, 4, f(0.7333), 2, 10, 4, 0, 1},
		{"qualification", 13, 7, 6, 1, 2, 0, 1, 3, f(0.7), 7, 20, 3, 3, 0},
		{"proposal", 8, 4, 4, 0, 0, 0, 1, 3, f(0.8), 20, 30, 3, 1, 2},
		{"nurturing", 3, 1, 0, 0, 0, 1, 0, 1, nil, 18, 37, 1, 0, 0},
	}
	require.Len(t, r.Stages, len(want))
	for i, w := range want {
		g := r.Stages[i]
		require.Equal(t, w, funnel{g.Stage, g.Entered, g.Advanced, g.Direct, g.Skipped, g.Lost, g.EngineMoved, g.Back, g.StillOpen,
			g.ConversionRate, *g.MedianSeconds / 86400, *g.P90Seconds / 86400, g.OpenNow, g.StaleNow, g.NearLimitNow}, w.stage)
	}
	require.True(t, r.Stages[3].Holding)
	require.Equal(t, 60, *r.Stages[2].Probability)

	require.Equal(t, 4, r.Closed.Won)
	require.Equal(t, 4, r.Closed.Lost)
	require.Equal(t, f(0.5), r.Closed.WinRate)
	require.Equal(t, []pipelinemetrics.Amount{{Currency: "EUR", Amount: "15000.25"}, {Currency: "USD", Amount: "30000.00"}}, r.Closed.AverageWon)
	require.Equal(t, []pipelinemetrics.Amount{{Currency: "EUR", Amount: "30000.50"}, {Currency: "USD", Amount: "30000"}}, r.Closed.WonTotal)
	require.Equal(t, 1, r.Closed.WonWithoutAmount)
	require.Equal(t, f(27.8), r.Closed.AverageCycleDays)

	require.Equal(t, 11, r.Open.Deals)
	require.Equal(t, []*float64{f(43.8), f(45.5), f(72.5)}, []*float64{r.Open.AgeMeanDays, r.Open.AgeMedianDays, r.Open.AgeP90Days})
	require.Equal(t, 4, r.Open.Stale)
	require.Equal(t, 3, r.Open.NearLimit)
	require.Equal(t, []pipelinemetrics.Amount{{Currency: "EUR", Amount: "43000.25"}, {Currency: "USD", Amount: "18500.75"}}, r.Open.Pipeline)
	require.Equal(t, []pipelinemetrics.Amount{{Currency: "EUR", Amount: "16100.03"}, {Currency: "USD", Amount: "8350.23"}}, r.Open.Weighted)
	listed := func(refs []pipelinemetrics.DealRef) []string {
		var out []string
		for _, d := range refs {
			out = append(out, titles[d.ID])
		}
		return out
	}
	require.Equal(t, []string{"D09", "D06", "D12", "D16"}, listed(r.Open.StaleDeals))
	require.Equal(t, []string{"D07", "D19", "D10"}, listed(r.Open.NearLimitDeals))

	require.Equal(t, []pipelinemetrics.Velocity{
		{Currency: "EUR", OpenDeals: 7, WinRate: f(0.5), AverageWon: "15000.25", AverageCycleDays: f(27.8), PerDay: s("1888.52")},
		{Currency: "USD", OpenDeals: 3, WinRate: f(0.5), AverageWon: "30000.00", AverageCycleDays: f(27.8), PerDay: s("1618.71")},
	}, r.Velocity)

	require.Equal(t, []pipelinemetrics.ForecastMonth{
		{Month: "overdue", Currency: "EUR", Deals: 1, Amount: "15000", Weighted: "9000.00"},
		{Month: "none", Currency: "EUR", Deals: 2, Amount: "11000", Weighted: "2400.00"},
		{Month: "2026-06", Currency: "EUR", Deals: 2, Amount: "10000.25", Weighted: "4000.03"},
		{Month: "2026-06", Currency: "USD", Deals: 1, Amount: "4000", Weighted: "400.00"},
		{Month: "2026-07", Currency: "EUR", Deals: 1, Amount: "2000", Weighted: "200.00"},
		{Month: "2026-07", Currency: "USD", Deals: 1, Amount: "12000", Weighted: "7200.00"},
		{Month: "2026-09", Currency: "EUR", Deals: 1, Amount: "5000", Weighted: "500.00"},
		{Month: "later", Currency: "USD", Deals: 1, Amount: "2500.75", Weighted: "750.23"},
	}, r.Forecast)

	require.Equal(t, []pipelinemetrics.Coverage{
		{Month: "2026-06", Currency: "EUR", Target: "20000", Pipeline: "10000.25", Weighted: "4000.03", Ratio: f(0.5)},
		{Month: "2026-07", Currency: "EUR", Target: "0", Pipeline: "2000", Weighted: "200.00", Ratio: nil},
		{Month: "2026-07", Currency: "USD", Target: "10000", Pipeline: "12000", Weighted: "7200.00", Ratio: f(1.2)},
	}, r.Coverage)

	require.Equal(t, []pipelinemetrics.OwnerReport{
		{Owner: ana, Name: "Ana Alves", Open: 7, Won: 2, Lost: 1, WinRate: f(0.6667), Stale: 2,
			Pipeline: []pipelinemetrics.Amount{{Currency: "EUR", Amount: "43000.25"}}, Weighted: []pipelinemetrics.Amount{{Currency: "EUR", Amount: "16100.03"}}},
		{Owner: ben, Name: "Ben Brown", Open: 4, Won: 2, Lost: 3, WinRate: f(0.4), Stale: 2,
			Pipeline: []pipelinemetrics.Amount{{Currency: "USD", Amount: "18500.75"}}, Weighted: []pipelinemetrics.Amount{{Currency: "USD", Amount: "8350.23"}}},
	}, r.Owners)
	require.False(t, r.OwnersMore)

	// The whole report, deal ids replaced by the fixture's titles (ids are random).
	got, err := json.MarshalIndent(r, "", "  ")
	require.NoError(t, err)
	text := string(got)
	for id, title := range titles {
		text = strings.ReplaceAll(text, id, "id-of-"+title)
	}
	text += "\n"
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(goldenFile), 0o755))
		require.NoError(t, os.WriteFile(goldenFile, []byte(text), 0o644))
	}
	golden, err := os.ReadFile(goldenFile)
	require.NoError(t, err, "run go test -run TestComputeMatchesTheHandComputedFixture -update to write it")
	require.Equal(t, string(golden), text)

	// One owner's report: only ben's deals; coverage stays the whole pipeline's.
	byBen, err := pipelinemetrics.Compute(ctx, st, pipelinemetrics.Query{Pipeline: "metrics-test", From: fixtureFrom, To: fixtureTo, Now: fixtureNow, Owner: "BEN@vendor.test"})
	require.NoError(t, err)
	require.Equal(t, 2, byBen.Closed.Won)
	require.Equal(t, 3, byBen.Closed.Lost)
	require.Equal(t, 4, byBen.Open.Deals)
	require.Equal(t, []pipelinemetrics.Amount{{Currency: "USD", Amount: "18500.75"}}, byBen.Open.Pipeline)
	require.Len(t, byBen.Owners, 1)
	require.Equal(t, ben, byBen.Owners[0].Owner)
	require.Equal(t, r.Coverage, byBen.Coverage)
	// ben's prospecting visits: D03 D04 D07 D11 D13 D14 D16 D19 (D09's began before the period).
	require.Equal(t, 8, byBen.Stages[0].Entered)
}

func TestComputeRefusesABadQuery(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	_, err := st.PublishCadence(ctx, 1, metricsPipeline())
	require.NoError(t, err)

	_, err = pipelinemetrics.Compute(ctx, st, pipelinemetrics.Query{Pipeline: "nope", From: fixtureFrom, To: fixtureTo})
	require.ErrorIs(t, err, store.ErrNotFound)
	for name, q := range map[string]pipelinemetrics.Query{
		"to before from": {Pipeline: "metrics-test", From: fixtureTo, To: fixtureFrom},
		"empty period":   {Pipeline: "metrics-test", From: fixtureFrom, To: fixtureFrom},
		"over two years": {Pipeline: "metrics-test", From: fixtureFrom, To: fixtureFrom.AddDate(2, 0, 1)},
		"no period":      {Pipeline: "metrics-test"},
		"no pipeline":    {From: fixtureFrom, To: fixtureTo},
	} {
		_, err := pipelinemetrics.Compute(ctx, st, q)
		require.ErrorIs(t, err, pipelinemetrics.ErrBadQuery, name)
	}
	r, err := pipelinemetrics.Compute(ctx, st, pipelinemetrics.Query{Pipeline: "metrics-test", From: fixtureFrom, To: fixtureFrom.AddDate(2, 0, 0)})
	require.NoError(t, err, "two years exactly is allowed")
	require.False(t, r.Query.Now.IsZero(), "Now defaults to the present")
	require.Zero(t, r.Open.Deals)
	require.Nil(t, r.Closed.WinRate)
}

// Velocities gives, for each window, the velocity a whole report over that window gives.
func TestVelocitiesMatchAReportPerWindow(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	seed(t, st)
	q := pipelinemetrics.Query{Pipeline: "metrics-test", From: fixtureFrom, To: fixtureTo, Now: fixtureNow}
	var windows []pipelinemetrics.Window
	for start := fixtureFrom; start.Before(fixtureTo); start = start.AddDate(0, 0, 7) {
		windows = append(windows, pipelinemetrics.Window{From: start, To: start.AddDate(0, 0, 7)})
	}
	windows = append(windows, pipelinemetrics.Window{From: fixtureFrom, To: fixtureTo})
	got, err := pipelinemetrics.Velocities(ctx, st, q, windows)
	require.NoError(t, err)
	require.Len(t, got, len(windows))
	nonEmpty := 0
	for i, w := range windows {
		wq := q
		wq.From, wq.To = w.From, w.To
		r, err := pipelinemetrics.Compute(ctx, st, wq)
		require.NoError(t, err)
		require.Equal(t, r.Velocity, got[i], "window %s", w.From.Format(time.DateOnly))
		for _, v := range got[i] {
			if v.PerDay != nil {
				nonEmpty++
			}
		}
	}
	require.Positive(t, nonEmpty, "some window has a velocity: the comparison compares something")
	_, err = pipelinemetrics.Velocities(ctx, st, q, []pipelinemetrics.Window{{From: fixtureTo, To: fixtureFrom}})
	require.ErrorIs(t, err, pipelinemetrics.ErrBadQuery)
}
