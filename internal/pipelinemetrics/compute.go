package pipelinemetrics

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/store"
)

// ForecastMonths is how many months, from Now's, the forecast and coverage list by month.
const ForecastMonths = 12

// Timeout bounds one report's queries.
const Timeout = 30 * time.Second

// ErrBadQuery: the query cannot be answered as asked (the HTTP API answers 400).
var ErrBadQuery = errors.New("bad metrics query")

// Check validates q (Now set) and says what is wrong.
func (q Query) Check() error {
	var problems []string
	if q.Pipeline == "" {
		problems = append(problems, "a pipeline is required")
	}
	if len(q.Owner) > 254 {
		problems = append(problems, "owner: at most 254 characters")
	}
	switch {
	case q.From.IsZero() || q.To.IsZero():
		problems = append(problems, "from and to are required")
	case !q.From.Before(q.To):
		problems = append(problems, fmt.Sprintf("from (%s) must be before to (%s)", q.From.Format(time.DateOnly), q.To.Format(time.DateOnly)))
	case q.To.After(q.From.AddDate(2, 0, 0)):
		problems = append(problems, "the period is at most 2 years")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrBadQuery, strings.Join(problems, "; "))
	}
	return nil
}

// Compute measures the pipeline as q asks. An unknown pipeline (no published cadence) is an
// error wrapping store.ErrNotFound; a bad query one wrapping ErrBadQuery.
func Compute(ctx context.Context, st *store.Store, q Query) (Report, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	q, version, m, sc, err := prepare(ctx, st, q)
	if err != nil {
		return Report{}, err
	}
	r := Report{Query: q, CadenceVersion: version}

	if r.Stages, err = stages(ctx, st, sc, m); err != nil {
		return Report{}, err
	}
	if r.Closed, err = closed(ctx, st, sc, m); err != nil {
		return Report{}, err
	}
	var openWithAmount map[string]int
	if r.Open, openWithAmount, err = open(ctx, st, sc); err != nil {
		return Report{}, err
	}
	r.Velocity = velocity(r.Closed, openWithAmount)
	first := time.Date(q.Now.Year(), q.Now.Month(), 1, 0, 0, 0, 0, time.UTC)
	end := first.AddDate(0, ForecastMonths, 0)
	if r.Forecast, err = forecast(ctx, st, sc, first, end); err != nil {
		return Report{}, err
	}
	cov, err := st.MetricsCoverage(ctx, sc, first, end)
	if err != nil {
		return Report{}, err
	}
	r.Coverage = make([]Coverage, len(cov))
	for i, c := range cov {
		r.Coverage[i] = Coverage{Month: c.Month, Currency: c.Currency, Target: c.Target, Pipeline: c.Pipeline, Weighted: c.Weighted, Ratio: c.Ratio}
	}
	if r.Owners, r.OwnersMore, err = owners(ctx, st, sc, m); err != nil {
		return Report{}, err
	}
	return r, nil
}

// prepare checks q (Now defaults to now; all in UTC) and reads the pipeline's latest cadence:
// its version, how it classifies stages, and the store's scope of q.
func prepare(ctx context.Context, st *store.Store, q Query) (Query, int64, model, store.MetricsScope, error) {
	if q.Now.IsZero() {
		q.Now = time.Now()
	}
	q.From, q.To, q.Now = q.From.UTC(), q.To.UTC(), q.Now.UTC()
	if err := q.Check(); err != nil {
		return Query{}, 0, model{}, store.MetricsScope{}, err
	}
	cv, err := st.LatestCadenceOf(ctx, q.Pipeline)
	if err != nil {
		return Query{}, 0, model{}, store.MetricsScope{}, err
	}
	m := newModel(cv.Pipeline)
	sc := store.MetricsScope{Pipeline: q.Pipeline, Owner: q.Owner, From: q.From, To: q.To, Now: q.Now,
		Terminal: m.terminal, ProbabilityStages: m.probStages, Probabilities: m.probValues}
	return q, cv.Version, m, sc, nil
}

// Window is one period of a velocity series: [From, To).
type Window struct{ From, To time.Time }

// Velocities is Compute's Velocity for each window as the period (its closings; the open
// deals at q.Now, the same for every window), with the cadence and the open deals read once
// rather than a whole report per window. q's own period is checked, not used.
func Velocities(ctx context.Context, st *store.Store, q Query, windows []Window) ([][]Velocity, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	q, _, m, sc, err := prepare(ctx, st, q)
	if err != nil {
		return nil, err
	}
	amounts, err := st.MetricsOpenAmounts(ctx, sc, false)
	if err != nil {
		return nil, err
	}
	_, _, openWithAmount := splitAmounts(amounts)
	out := make([][]Velocity, len(windows))
	for i, w := range windows {
		wq := q
		wq.From, wq.To = w.From.UTC(), w.To.UTC()
		if err := wq.Check(); err != nil {
			return nil, err
		}
		sc.From, sc.To = wq.From, wq.To
		c, err := closed(ctx, st, sc, m)
		if err != nil {
			return nil, err
		}
		out[i] = velocity(c, openWithAmount)
	}
	return out, nil
}

// model is how the pipeline's latest cadence classifies stages.
type model struct {
	funnel     []string       // in file order
	position   map[string]int // funnel stage → index
	holding    []string       // in file order
	isHolding  map[string]bool
	terminal   []string
	won        []string
	isWon      map[string]bool
	probStages []string
	probValues []int32
	prob       map[string]*int
}

func newModel(p cadence.Pipeline) model {
	m := model{position: map[string]int{}, isWon: map[string]bool{}, prob: map[string]*int{}}
	m.isHolding = p.HoldingStages()
	for _, s := range p.Stages {
		if s.Probability != nil {
			v := *s.Probability
			m.prob[s.ID] = &v
			m.probStages = append(m.probStages, s.ID)
			m.probValues = append(m.probValues, int32(v))
		}
		switch {
		case s.Terminal:
			m.terminal = append(m.terminal, s.ID)
			if s.Won() {
				m.won = append(m.won, s.ID)
				m.isWon[s.ID] = true
			}
		case m.isHolding[s.ID]:
			m.holding = append(m.holding, s.ID)
		default:
			m.position[s.ID] = len(m.funnel)
			m.funnel = append(m.funnel, s.ID)
		}
	}
	return m
}

// ending classifies how a visit to stage from ended with a move to stage to.
func (m model) ending(sr *StageReport, to string, byEngine bool, n int) {
	if to == "" {
		sr.StillOpen += n
		return
	}
	if byEngine {
		sr.EngineMoved += n
		return
	}
	fromPos, fromFunnel := m.position[sr.Stage]
	toPos, toFunnel := m.position[to]
	last := len(m.funnel) - 1
	switch {
	case m.isWon[to]:
		sr.Advanced += n
		switch {
		case !fromFunnel: // from a holding stage: no place in the funnel
		case fromPos == last:
			sr.Direct += n
		default:
			sr.Skipped += n
		}
	case slices.Contains(m.terminal, to):
		sr.Lost += n
	case toFunnel && (!fromFunnel || toPos > fromPos):
		sr.Advanced += n
		switch {
		case !fromFunnel:
		case toPos == fromPos+1:
			sr.Direct += n
		default:
			sr.Skipped += n
		}
	default: // an earlier or the same funnel stage, a holding stage, a stage no longer in the cadence
		sr.Back += n
	}
}

func stages(ctx context.Context, st *store.Store, sc store.MetricsScope, m model) ([]StageReport, error) {
	endings, err := st.MetricsVisitEndings(ctx, sc)
	if err != nil {
		return nil, err
	}
	durations, err := st.MetricsStageDurations(ctx, sc)
	if err != nil {
		return nil, err
	}
	openStages, err := st.MetricsOpenStages(ctx, sc)
	if err != nil {
		return nil, err
	}
	ids := append(append([]string{}, m.funnel...), m.holding...)
	out := make([]StageReport, len(ids))
	index := map[string]int{}
	for i, id := range ids {
		out[i] = StageReport{Stage: id, Holding: m.isHolding[id], Probability: m.prob[id]}
		index[id] = i
	}
	for _, e := range endings {
		if i, ok := index[e.Stage]; ok {
			out[i].Entered += e.Visits
			m.ending(&out[i], e.NextStage, e.ByEngine, e.Visits)
		}
	}
	for _, d := range durations {
		if i, ok := index[d.Stage]; ok {
			med, p90 := d.Median, d.P90
			out[i].MedianSeconds, out[i].P90Seconds = &med, &p90
		}
	}
	for _, o := range openStages {
		if i, ok := index[o.Stage]; ok {
			out[i].OpenNow, out[i].StaleNow, out[i].NearLimitNow = o.Open, o.Stale, o.NearLimit
		}
	}
	for i := range out {
		if ended := out[i].Entered - out[i].StillOpen; !out[i].Holding && ended > 0 {
			out[i].ConversionRate = ratio(out[i].Advanced, ended)
		}
	}
	return out, nil
}

func closed(ctx context.Context, st *store.Store, sc store.MetricsScope, m model) (Closed, error) {
	t, err := st.MetricsClosedTotals(ctx, sc, m.won)
	if err != nil {
		return Closed{}, err
	}
	amounts, err := st.MetricsWonAmounts(ctx, sc, m.won)
	if err != nil {
		return Closed{}, err
	}
	c := Closed{Won: t.Won, Lost: t.Lost, WonWithoutAmount: t.WonWithoutAmount, AverageCycleDays: t.AverageCycleDays,
		AverageWon: []Amount{}, WonTotal: []Amount{}}
	if t.Won+t.Lost > 0 {
		c.WinRate = ratio(t.Won, t.Won+t.Lost)
	}
	for _, a := range amounts {
		c.AverageWon = append(c.AverageWon, Amount{Currency: a.Currency, Amount: a.Average})
		c.WonTotal = append(c.WonTotal, Amount{Currency: a.Currency, Amount: a.Total})
	}
	return c, nil
}

// open also returns the open deals with an amount per currency.
func open(ctx context.Context, st *store.Store, sc store.MetricsScope) (Open, map[string]int, error) {
	t, err := st.MetricsOpenTotals(ctx, sc)
	if err != nil {
		return Open{}, nil, err
	}
	o := Open{Deals: t.Deals, AgeMeanDays: t.AgeMeanDays, AgeMedianDays: t.AgeMedianDays, AgeP90Days: t.P90,
		Stale: t.Stale, NearLimit: t.NearLimit, Pipeline: []Amount{}, Weighted: []Amount{}}
	amounts, err := st.MetricsOpenAmounts(ctx, sc, false)
	if err != nil {
		return Open{}, nil, err
	}
	var withAmount map[string]int
	o.Pipeline, o.Weighted, withAmount = splitAmounts(amounts)
	if o.StaleDeals, err = dealList(ctx, st, sc, true); err != nil {
		return Open{}, nil, err
	}
	if o.NearLimitDeals, err = dealList(ctx, st, sc, false); err != nil {
		return Open{}, nil, err
	}
	return o, withAmount, nil
}

// splitAmounts turns per-currency sums into the pipeline and weighted lists (a currency is
// in the weighted list when one of its deals' stages declares a probability) and counts the
// deals with an amount per currency.
func splitAmounts(rows []store.CurrencyAmounts) (pipeline, weighted []Amount, deals map[string]int) {
	pipeline, weighted, deals = []Amount{}, []Amount{}, map[string]int{}
	for _, a := range rows {
		pipeline = append(pipeline, Amount{Currency: a.Currency, Amount: a.Amount})
		if a.WeighedDeal > 0 {
			weighted = append(weighted, Amount{Currency: a.Currency, Amount: a.Weighted})
		}
		deals[a.Currency] = a.Deals
	}
	return pipeline, weighted, deals
}

func dealList(ctx context.Context, st *store.Store, sc store.MetricsScope, stale bool) ([]DealRef, error) {
	rows, err := st.MetricsStaleDeals(ctx, sc, stale)
	if err != nil {
		return nil, err
	}
	out := make([]DealRef, len(rows))
	for i, d := range rows {
		out[i] = DealRef{ID: d.ID, Title: d.Title, Owner: d.Owner, Stage: d.Stage, Deadline: d.Deadline.UTC()}
	}
	return out, nil
}

// velocity is computed exactly (rationals) from the reported factors: OpenDeals × WinRate
// (won ÷ closed, unrounded) × AverageWon ÷ AverageCycleDays, rounded to 2 decimals.
func velocity(c Closed, openWithAmount map[string]int) []Velocity {
	avg := map[string]string{}
	for _, a := range c.AverageWon {
		avg[a.Currency] = a.Amount
	}
	currencies := map[string]bool{}
	for cur := range avg {
		currencies[cur] = true
	}
	for cur := range openWithAmount {
		currencies[cur] = true
	}
	out := []Velocity{}
	for _, cur := range slices.Sorted(maps.Keys(currencies)) {
		v := Velocity{Currency: cur, OpenDeals: openWithAmount[cur], WinRate: c.WinRate, AverageWon: avg[cur],
			AverageCycleDays: c.AverageCycleDays}
		if v.WinRate != nil && v.AverageWon != "" && v.AverageCycleDays != nil && *v.AverageCycleDays > 0 {
			perDay := new(big.Rat).SetInt64(int64(v.OpenDeals))
			perDay.Mul(perDay, big.NewRat(int64(c.Won), int64(c.Won+c.Lost)))
			amount, _ := new(big.Rat).SetString(v.AverageWon)
			cycle, _ := new(big.Rat).SetString(strconv.FormatFloat(*v.AverageCycleDays, 'f', 1, 64))
			perDay.Mul(perDay, amount).Quo(perDay, cycle)
			s := perDay.FloatString(2) // halves away from zero, as PostgreSQL's round
			v.PerDay = &s
		}
		out = append(out, v)
	}
	return out
}

func forecast(ctx context.Context, st *store.Store, sc store.MetricsScope, first, end time.Time) ([]ForecastMonth, error) {
	rows, err := st.MetricsForecast(ctx, sc, first, end)
	if err != nil {
		return nil, err
	}
	out := make([]ForecastMonth, len(rows))
	for i, r := range rows {
		out[i] = ForecastMonth{Month: r.Month, Currency: r.Currency, Deals: r.Deals, Amount: r.Amount, Weighted: r.Weighted}
	}
	// overdue, none, the months in order, later; currencies in order within each.
	rank := func(month string) string {
		switch month {
		case "overdue":
			return "0"
		case "none":
			return "1"
		case "later":
			return "3"
		}
		return "2" + month
	}
	sort.SliceStable(out, func(i, j int) bool {
		if a, b := rank(out[i].Month), rank(out[j].Month); a != b {
			return a < b
		}
		return out[i].Currency < out[j].Currency
	})
	return out, nil
}

func owners(ctx context.Context, st *store.Store, sc store.MetricsScope, m model) ([]OwnerReport, bool, error) {
	counts, err := st.MetricsOwners(ctx, sc, m.won, store.MetricsOwnerLimit+1)
	if err != nil {
		return nil, false, err
	}
	more := len(counts) > store.MetricsOwnerLimit
	if more {
		counts = counts[:store.MetricsOwnerLimit]
	}
	amounts, err := st.MetricsOpenAmounts(ctx, sc, true)
	if err != nil {
		return nil, false, err
	}
	byOwner := map[string][]store.CurrencyAmounts{}
	for _, a := range amounts {
		byOwner[a.Owner] = append(byOwner[a.Owner], a)
	}
	out := make([]OwnerReport, len(counts))
	for i, c := range counts {
		o := OwnerReport{Owner: c.Email, Name: c.Name, Open: c.Open, Won: c.Won, Lost: c.Lost, Stale: c.Stale}
		if c.Won+c.Lost > 0 {
			o.WinRate = ratio(c.Won, c.Won+c.Lost)
		}
		o.Pipeline, o.Weighted, _ = splitAmounts(byOwner[c.Email])
		out[i] = o
	}
	return out, more, nil
}

// ratio is a ÷ b rounded to 4 decimals.
func ratio(a, b int) *float64 {
	v := math.Round(float64(a)/float64(b)*10000) / 10000
	return &v
}
