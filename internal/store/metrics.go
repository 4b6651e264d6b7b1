package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The pipeline's measures (internal/pipelinemetrics defines them): read-only aggregates over
// deals, stage_transitions, owners and pipeline_targets. Amounts are summed and averaged in
// numeric and come back as text, so they stay exact; rounding is PostgreSQL's round (halves
// away from zero). This file writes nothing.

// MetricsScope is what every metrics query covers: a pipeline's deals (any cadence version),
// optionally one owner's, and how the pipeline's latest cadence classifies its stages.
type MetricsScope struct {
	Pipeline string
	Owner    string // an owner's email, "" for all
	From, To time.Time
	Now      time.Time
	Terminal []string // the terminal stages
	// ProbabilityStages and Probabilities: the stages that declare a probability, and it.
	ProbabilityStages []string
	Probabilities     []int32
}

// MetricsListLimit bounds the stale and near-limit deal lists.
const MetricsListLimit = 50

// MetricsOwnerLimit bounds the owners a report lists.
const MetricsOwnerLimit = 200

// The shared parts of the queries. $1 pipeline, $2 owner email or ”, $3 from, $4 to, $5 now,
// $6 terminal stages, $7 probability stages, $8 probabilities.
const (
	// metricsParamsCTE names every shared parameter's type, so a query need not use them all.
	metricsParamsCTE = `params AS (
		SELECT $1::text, $2::text, $3::timestamptz, $4::timestamptz, $5::timestamptz, $6::text[], $7::text[], $8::int[]
	)`
	metricsScopeCTE = `scope AS (
		SELECT d.id FROM deals d
		JOIN cadence_versions cv ON cv.version = d.cadence_version
		JOIN owners o ON o.id = d.owner_id
		WHERE cv.pipeline_id = $1 AND ($2 = '' OR lower(o.email) = lower($2))
	)`
	// openDealsCTE: the open deals at now (not closed, not in a terminal stage), with their
	// stage's probability and whether they are stale or near the limit.
	metricsOpenCTE = `open_deals AS (
		SELECT d.id, d.title, d.stage, d.stage_deadline, d.amount, d.currency, d.expected_close_on,
			o.email, o.name, p.probability,
			(d.stage_deadline IS NOT NULL AND d.stage_deadline < $5) AS stale,
			(d.stage_deadline IS NOT NULL AND d.stage_deadline >= $5 AND d.stage_entered_at IS NOT NULL
				AND extract(epoch FROM $5 - d.stage_entered_at) * 4 >= extract(epoch FROM d.stage_deadline - d.stage_entered_at) * 3) AS near_limit,
			extract(epoch FROM $5 - coalesce(
				(SELECT f.at FROM stage_transitions f WHERE f.deal_id = d.id ORDER BY f.visit LIMIT 1), d.created_at)) AS age_seconds
		FROM deals d
		JOIN scope s ON s.id = d.id
		JOIN owners o ON o.id = d.owner_id
		LEFT JOIN unnest($7::text[], $8::int[]) AS p(stage, probability) ON p.stage = d.stage
		WHERE d.state = 'open' AND NOT (d.stage = ANY ($6::text[]))
	)`
	// closesCTE: each deal closed in the period once, by its last transition into a terminal
	// stage in the period, with its first transition (the start of its cycle).
	metricsClosesCTE = `closes AS (
		SELECT DISTINCT ON (t.deal_id) t.deal_id, t.to_stage, t.at,
			(SELECT f.at FROM stage_transitions f WHERE f.deal_id = t.deal_id ORDER BY f.visit LIMIT 1) AS first_at
		FROM stage_transitions t JOIN scope s ON s.id = t.deal_id
		WHERE t.to_stage = ANY ($6::text[]) AND t.at >= $3 AND t.at < $4
		ORDER BY t.deal_id, t.visit DESC
	), closed AS (
		SELECT c.*, c.to_stage = ANY ($9::text[]) AS won, d.amount, d.currency, o.email
		FROM closes c JOIN deals d ON d.id = c.deal_id JOIN owners o ON o.id = d.owner_id
	)`
)

func (sc MetricsScope) args(extra ...any) []any {
	stages, probs := sc.ProbabilityStages, sc.Probabilities
	if stages == nil {
		stages, probs = []string{}, []int32{}
	}
	terminal := sc.Terminal
	if terminal == nil {
		terminal = []string{}
	}
	return append([]any{sc.Pipeline, sc.Owner, sc.From, sc.To, sc.Now, terminal, stages, probs}, extra...)
}

// VisitEnding counts the visits into a stage that began in the period by how they ended: the
// next transition's stage and whether the engine made it; NextStage "" is still open at now.
type VisitEnding struct {
	Stage, NextStage string
	ByEngine         bool
	Visits           int
}

const visitEndingsSQL = `WITH ` + metricsParamsCTE + `, ` + metricsScopeCTE + `
	SELECT t.to_stage, coalesce(n.to_stage, ''), coalesce(n.source = 'engine', false), count(*)
	FROM stage_transitions t JOIN scope s ON s.id = t.deal_id
	LEFT JOIN LATERAL (
		SELECT x.to_stage, x.source, x.at FROM stage_transitions x
		WHERE x.deal_id = t.deal_id AND x.visit > t.visit ORDER BY x.visit LIMIT 1
	) n ON n.at <= $5
	WHERE t.at >= $3 AND t.at < $4
	GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`

// MetricsVisitEndings counts the period's stage visits by stage, next stage and mover.
func (s *Store) MetricsVisitEndings(ctx context.Context, sc MetricsScope) ([]VisitEnding, error) {
	rows, err := s.pool.Query(ctx, visitEndingsSQL, sc.args()...)
	if err != nil {
		return nil, fmt.Errorf("metrics: visit endings: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (VisitEnding, error) {
		var v VisitEnding
		err := r.Scan(&v.Stage, &v.NextStage, &v.ByEngine, &v.Visits)
		return v, err
	})
}

// StageDurations is the time in a stage of the period's visits that ended by now, in seconds.
type StageDurations struct {
	Stage       string
	Median, P90 float64
}

const stageDurationsSQL = `WITH ` + metricsParamsCTE + `, ` + metricsScopeCTE + `
	SELECT t.to_stage,
		percentile_disc(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM n.at - t.at))::float8,
		percentile_disc(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM n.at - t.at))::float8
	FROM stage_transitions t JOIN scope s ON s.id = t.deal_id
	JOIN LATERAL (
		SELECT x.at FROM stage_transitions x
		WHERE x.deal_id = t.deal_id AND x.visit > t.visit ORDER BY x.visit LIMIT 1
	) n ON n.at <= $5
	WHERE t.at >= $3 AND t.at < $4
	GROUP BY 1 ORDER BY 1`

// MetricsStageDurations: median and 90th percentile (nearest rank) time in stage per stage.
func (s *Store) MetricsStageDurations(ctx context.Context, sc MetricsScope) ([]StageDurations, error) {
	rows, err := s.pool.Query(ctx, stageDurationsSQL, sc.args()...)
	if err != nil {
		return nil, fmt.Errorf("metrics: stage durations: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StageDurations, error) {
		var v StageDurations
		err := r.Scan(&v.Stage, &v.Median, &v.P90)
		return v, err
	})
}

// OpenStage is the open deals in one stage at now.
type OpenStage struct {
	Stage                  string
	Open, Stale, NearLimit int
}

const openStagesSQL = `WITH ` + metricsParamsCTE + `, ` + metricsScopeCTE + `, ` + metricsOpenCTE + `
	SELECT stage, count(*), count(*) FILTER (WHERE stale), count(*) FILTER (WHERE near_limit)
	FROM open_deals GROUP BY 1 ORDER BY 1`

// MetricsOpenStages counts the open deals per stage at now.
func (s *Store) MetricsOpenStages(ctx context.Context, sc MetricsScope) ([]OpenStage, error) {
	rows, err := s.pool.Query(ctx, openStagesSQL, sc.args()...)
	if err != nil {
		return nil, fmt.Errorf("metrics: open stages: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (OpenStage, error) {
		var v OpenStage
		err := r.Scan(&v.Stage, &v.Open, &v.Stale, &v.NearLimit)
		return v, err
	})
}

// OpenTotals is the open deals at now: how many, their age in days, stale and near-limit.
type OpenTotals struct {
	Deals                           int
	AgeMeanDays, AgeMedianDays, P90 *float64
	Stale, NearLimit                int
}

const openTotalsSQL = `WITH ` + metricsParamsCTE + `, ` + metricsScopeCTE + `, ` + metricsOpenCTE + `
	SELECT count(*),
		round(avg(age_seconds) / 86400, 1)::float8,
		round(percentile_disc(0.5) WITHIN GROUP (ORDER BY age_seconds) / 86400, 1)::float8,
		round(percentile_disc(0.9) WITHIN GROUP (ORDER BY age_seconds) / 86400, 1)::float8,
		count(*) FILTER (WHERE stale), count(*) FILTER (WHERE near_limit)
	FROM open_deals`

// MetricsOpenTotals measures the open deals at now.
func (s *Store) MetricsOpenTotals(ctx context.Context, sc MetricsScope) (OpenTotals, error) {
	var v OpenTotals
	err := s.pool.QueryRow(ctx, openTotalsSQL, sc.args()...).Scan(&v.Deals, &v.AgeMeanDays, &v.AgeMedianDays, &v.P90, &v.Stale, &v.NearLimit)
	if err != nil {
		return OpenTotals{}, fmt.Errorf("metrics: open deals: %w", err)
	}
	return v, nil
}

// CurrencyAmounts is a sum per currency: Amount exact, Weighted (Σ amount × probability ÷
// 100 over the deals whose stage declares one, rounded to 2 decimals) with how many weighed.
type CurrencyAmounts struct {
	Owner       string // for per-owner sums
	Currency    string
	Deals       int
	Amount      string
	Weighted    string
	WeighedDeal int
}

const openAmountsSQL = `WITH ` + metricsParamsCTE + `, ` + metricsScopeCTE + `, ` + metricsOpenCTE + `
	SELECT CASE WHEN $9 THEN lower(email) ELSE '' END, currency, count(*), sum(amount)::text,
		round(coalesce(sum(amount * probability / 100) FILTER (WHERE probability IS NOT NULL), 0), 2)::text,
		count(*) FILTER (WHERE probability IS NOT NULL)
	FROM open_deals WHERE amount IS NOT NULL
	GROUP BY 1, 2 ORDER BY 1, 2`

// MetricsOpenAmounts sums the open deals' amounts per currency, per owner when byOwner.
func (s *Store) MetricsOpenAmounts(ctx context.Context, sc MetricsScope, byOwner bool) ([]CurrencyAmounts, error) {
	rows, err := s.pool.Query(ctx, openAmountsSQL, sc.args(byOwner)...)
	if err != nil {
		return nil, fmt.Errorf("metrics: open amounts: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (CurrencyAmounts, error) {
		var v CurrencyAmounts
		err := r.Scan(&v.Owner, &v.Currency, &v.Deals, &v.Amount, &v.Weighted, &v.WeighedDeal)
		return v, err
	})
}

// MetricsDealRef is one deal of a stale or near-limit list.
type MetricsDealRef struct {
	ID, Title, Owner, Stage string
	Deadline                time.Time
}

const openListSQL = `WITH ` + metricsParamsCTE + `, ` + metricsScopeCTE + `, ` + metricsOpenCTE + `
	SELECT id::text, title, email, stage, stage_deadline FROM open_deals
	WHERE CASE WHEN $9 THEN stale ELSE near_limit END
	ORDER BY stage_deadline, id LIMIT $10`

// MetricsStaleDeals lists up to MetricsListLimit stale deals (stale) or near-limit ones,
// earliest deadline first.
func (s *Store) MetricsStaleDeals(ctx context.Context, sc MetricsScope, stale bool) ([]MetricsDealRef, error) {
	rows, err := s.pool.Query(ctx, openListSQL, sc.args(stale, MetricsListLimit)...)
	if err != nil {
		return nil, fmt.Errorf("metrics: deal list: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (MetricsDealRef, error) {
		var v MetricsDealRef
		err := r.Scan(&v.ID, &v.Title, &v.Owner, &v.Stage, &v.Deadline)
		return v, err
	})
}

// ClosedTotals is the deals closed in the period.
type ClosedTotals struct {
	Won, Lost, WonWithoutAmount int
	AverageCycleDays            *float64
}

const closedTotalsSQL = `WITH ` + metricsParamsCTE + `, ` + metricsScopeCTE + `, ` + metricsClosesCTE + `
	SELECT count(*) FILTER (WHERE won), count(*) FILTER (WHERE NOT won),
		count(*) FILTER (WHERE won AND amount IS NULL),
		round(avg(extract(epoch FROM at - first_at)) FILTER (WHERE won) / 86400, 1)::float8
	FROM closed`

// MetricsClosedTotals counts the deals closed in the period; won are those whose last
// close is into one of the won stages.
func (s *Store) MetricsClosedTotals(ctx context.Context, sc MetricsScope, won []string) (ClosedTotals, error) {
	var v ClosedTotals
	err := s.pool.QueryRow(ctx, closedTotalsSQL, sc.args(nonNil(won))...).Scan(&v.Won, &v.Lost, &v.WonWithoutAmount, &v.AverageCycleDays)
	if err != nil {
		return ClosedTotals{}, fmt.Errorf("metrics: closed deals: %w", err)
	}
	return v, nil
}

// WonAmounts is the won deals' amounts in one currency: their mean (2 decimals) and total.
type WonAmounts struct {
	Currency       string
	Deals          int
	Average, Total string
}

const wonAmountsSQL = `WITH ` + metricsParamsCTE + `, ` + metricsScopeCTE + `, ` + metricsClosesCTE + `
	SELECT currency, count(*), round(avg(amount), 2)::text, sum(amount)::text
	FROM closed WHERE won AND amount IS NOT NULL
	GROUP BY 1 ORDER BY 1`

// MetricsWonAmounts sums and averages the won deals' amounts per currency.
func (s *Store) MetricsWonAmounts(ctx context.Context, sc MetricsScope, won []string) ([]WonAmounts, error) {
	rows, err := s.pool.Query(ctx, wonAmountsSQL, sc.args(nonNil(won))...)
	if err != nil {
		return nil, fmt.Errorf("metrics: won amounts: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (WonAmounts, error) {
		var v WonAmounts
		err := r.Scan(&v.Currency, &v.Deals, &v.Average, &v.Total)
		return v, err
	})
}

// ForecastRow is the open deals with an amount expected to close in one month bucket
// ("overdue", "none", "later" or YYYY-MM) in one currency.
type ForecastRow struct {
	Month, Currency  string
	Deals            int
	Amount, Weighted string
}

const forecastSQL = `WITH ` + metricsParamsCTE + `, ` + metricsScopeCTE + `, ` + metricsOpenCTE + `
	SELECT CASE WHEN expected_close_on IS NULL THEN 'none'
			WHEN expected_close_on < $9::date THEN 'overdue'
			WHEN expected_close_on >= $10::date THEN 'later'
			ELSE to_char(expected_close_on, 'YYYY-MM') END,
		currency, count(*), sum(amount)::text,
		round(coalesce(sum(amount * probability / 100) FILTER (WHERE probability IS NOT NULL), 0), 2)::text
	FROM open_deals WHERE amount IS NOT NULL
	GROUP BY 1, 2 ORDER BY 1, 2`

// MetricsForecast buckets the open deals with an amount by expected close month: before
// first (overdue), from first to before end by month, from end on (later), no date (none).
func (s *Store) MetricsForecast(ctx context.Context, sc MetricsScope, first, end time.Time) ([]ForecastRow, error) {
	rows, err := s.pool.Query(ctx, forecastSQL, sc.args(first.Format(time.DateOnly), end.Format(time.DateOnly))...)
	if err != nil {
		return nil, fmt.Errorf("metrics: forecast: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ForecastRow, error) {
		var v ForecastRow
		err := r.Scan(&v.Month, &v.Currency, &v.Deals, &v.Amount, &v.Weighted)
		return v, err
	})
}

// CoverageRow is a month's target in one currency beside the open pipeline expected to
// close that month; Ratio nil when the target is 0.
type CoverageRow struct {
	Month, Currency            string
	Target, Pipeline, Weighted string
	Ratio                      *float64
}

// The coverage compares the whole pipeline with its targets: the owner filter does not apply
// (targets are the team's), so $2 is ignored here.
const coverageSQL = `WITH ` + metricsParamsCTE + `, scope AS (
		SELECT d.id FROM deals d JOIN cadence_versions cv ON cv.version = d.cadence_version
		WHERE cv.pipeline_id = $1
	), ` + metricsOpenCTE + `
	SELECT to_char(pt.month, 'YYYY-MM'), pt.currency, pt.amount::text,
		coalesce(sum(od.amount), 0)::text,
		round(coalesce(sum(od.amount * od.probability / 100) FILTER (WHERE od.probability IS NOT NULL), 0), 2)::text,
		CASE WHEN pt.amount > 0 THEN round(coalesce(sum(od.amount), 0) / pt.amount, 2)::float8 END
	FROM pipeline_targets pt
	LEFT JOIN open_deals od ON od.amount IS NOT NULL AND od.currency = pt.currency
		AND od.expected_close_on >= pt.month AND od.expected_close_on < pt.month + interval '1 month'
	WHERE pt.pipeline_id = $1 AND pt.month >= $9::date AND pt.month < $10::date
	GROUP BY pt.month, pt.currency, pt.amount ORDER BY 1, 2`

// MetricsCoverage lists the pipeline's targets for the months from first to before end with
// the whole pipeline's open amounts expected to close in each.
func (s *Store) MetricsCoverage(ctx context.Context, sc MetricsScope, first, end time.Time) ([]CoverageRow, error) {
	rows, err := s.pool.Query(ctx, coverageSQL, sc.args(first.Format(time.DateOnly), end.Format(time.DateOnly))...)
	if err != nil {
		return nil, fmt.Errorf("metrics: coverage: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (CoverageRow, error) {
		var v CoverageRow
		err := r.Scan(&v.Month, &v.Currency, &v.Target, &v.Pipeline, &v.Weighted, &v.Ratio)
		return v, err
	})
}

// OwnerCounts is one owner's open deals at now and closings in the period.
type OwnerCounts struct {
	Email, Name            string
	Open, Stale, Won, Lost int
}

// The owners with open deals or closings, by lower-cased email, at most $10 of them.
const ownerCountsSQL = `WITH ` + metricsParamsCTE + `, ` + metricsScopeCTE + `, ` + metricsOpenCTE + `, ` + metricsClosesCTE + `,
	per_owner AS (
		SELECT lower(email) AS email, 1 AS open, stale::int AS stale, 0 AS won, 0 AS lost FROM open_deals
		UNION ALL
		SELECT lower(email), 0, 0, won::int, (NOT won)::int FROM closed
	)
	SELECT p.email, coalesce((SELECT o.name FROM owners o WHERE lower(o.email) = p.email), ''),
		sum(open)::int, sum(stale)::int, sum(won)::int, sum(lost)::int
	FROM per_owner p GROUP BY p.email ORDER BY p.email LIMIT $10`

// MetricsOwners counts per owner, up to limit owners by email.
func (s *Store) MetricsOwners(ctx context.Context, sc MetricsScope, won []string, limit int) ([]OwnerCounts, error) {
	rows, err := s.pool.Query(ctx, ownerCountsSQL, sc.args(nonNil(won), limit)...)
	if err != nil {
		return nil, fmt.Errorf("metrics: owners: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (OwnerCounts, error) {
		var v OwnerCounts
		err := r.Scan(&v.Email, &v.Name, &v.Open, &v.Stale, &v.Won, &v.Lost)
		return v, err
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
