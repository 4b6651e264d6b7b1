// Package pipelinemetrics defines the sales pipeline's measures once, for the API
// (GET /api/pipelines/{id}/metrics), the CLI (starter pipeline metrics) and the ops
// dashboard. Every measure's exact definition is here and in the README's "Pipeline
// metrics" section; keep the two the same.
//
// Words used below:
//   - A visit is one stay of a deal in a stage: a stage_transitions row into the stage
//     (entered at its at) until the deal's next transition (left at its at), or still open.
//   - The funnel is the pipeline's stages in file order without the terminal stages and
//     without the holding stages (cadence.Pipeline.HoldingStages: the non-terminal stages
//     its own on_stale / on_exhausted rules move deals to, such as nurturing). The won stage
//     (cadence.Stage.Won) comes after the last funnel stage.
//   - A move is by the engine when its transition's source is "engine" (stale, exhausted,
//     re-engaged); else by a person or the CRM.
//   - Amounts are exact decimals as strings, per currency; amounts in different currencies
//     are never added together (no exchange rates).
//   - The period is [From, To); Now is the instant open deals are measured at. A visit has
//     ended by Now when its next transition is at or before Now.
//   - The stages' order, kinds and probabilities are those of the pipeline's latest cadence
//     version, for deals on any of its versions.
//   - The open deals are the deals not closed and not in a terminal stage (a won deal still
//     running its post-sale steps counts as closed, not open), as they stand (stage, stage
//     deadline, value, owner), measured at Now.
//   - Stale: past the stage's deadline at Now. Near limit: 75% or more of the time from
//     stage entry to the deadline gone at Now, and not past it.
//   - Rates (conversion, win) are ratios rounded to 4 decimals.
package pipelinemetrics

import "time"

// Query selects what a report covers.
type Query struct {
	Pipeline string    `json:"pipeline"`
	From     time.Time `json:"from"`            // inclusive
	To       time.Time `json:"to"`              // exclusive
	Owner    string    `json:"owner,omitempty"` // an owner's email: only their deals
	Now      time.Time `json:"now"`
}

// Report is every measure of one query.
type Report struct {
	Query          Query           `json:"query"`
	CadenceVersion int64           `json:"cadence_version"` // the pipeline's latest: its stage order, probabilities and holding stages
	Stages         []StageReport   `json:"stages"`          // the funnel stages, in order, then the holding stages
	Closed         Closed          `json:"closed"`
	Open           Open            `json:"open"`
	Velocity       []Velocity      `json:"velocity"` // per currency
	Forecast       []ForecastMonth `json:"forecast"`
	Coverage       []Coverage      `json:"coverage"`
	Owners         []OwnerReport   `json:"owners"`                // per owner, by email; at most 200
	OwnersMore     bool            `json:"owners_more,omitempty"` // more owners than listed
}

// StageReport is one stage's visits that began in the period.
type StageReport struct {
	Stage       string `json:"stage"`
	Holding     bool   `json:"holding,omitempty"`     // a holding stage: no conversion rate
	Probability *int   `json:"probability,omitempty"` // as the cadence declares it
	Entered     int    `json:"entered"`               // visits that began in the period
	// How those visits ended, each counted once:
	Advanced    int `json:"advanced"`     // by a person or the CRM to a later funnel stage or to won
	Direct      int `json:"direct"`       // of Advanced: to the next funnel stage (or won, from the last)
	Skipped     int `json:"skipped"`      // of Advanced: past the next funnel stage (or to won from earlier)
	Lost        int `json:"lost"`         // by a person or the CRM to a terminal stage that is not won
	EngineMoved int `json:"engine_moved"` // by the engine (stale, exhausted, re-engaged), wherever to
	// Back: by a person or the CRM to an earlier (or the same) funnel stage, a holding stage or
	// a stage the latest cadence no longer has.
	Back int `json:"back"`
	// From a holding stage, which has no place in the funnel, a move by a person or the CRM to
	// any funnel stage or to won is Advanced, counted neither Direct nor Skipped.
	StillOpen int `json:"still_open"` // not ended at Now
	// ConversionRate is Advanced ÷ (Entered − StillOpen): of the visits that ended, the share
	// that moved forward; nil when none ended (and for holding stages).
	ConversionRate *float64 `json:"conversion_rate"`
	// Time in stage over the visits that began in the period and ended by Now, in seconds:
	// the median and the 90th percentile (nearest rank); nil when none ended.
	MedianSeconds *float64 `json:"median_seconds"`
	P90Seconds    *float64 `json:"p90_seconds"`
	OpenNow       int      `json:"open_now"`       // open deals in the stage at Now
	StaleNow      int      `json:"stale_now"`      // of OpenNow: past the stage's deadline
	NearLimitNow  int      `json:"near_limit_now"` // of OpenNow: 75% or more of the time to the deadline gone, not past it
}

// Closed is the deals closed in the period: each deal once, by its last transition into a
// terminal stage in the period (a deal reopened and closed again counts by its last close).
type Closed struct {
	Won     int      `json:"won"`
	Lost    int      `json:"lost"`
	WinRate *float64 `json:"win_rate"` // Won ÷ (Won + Lost); nil when none closed
	// AverageWon is the mean amount of the won deals that have one, per currency, rounded to
	// 2 decimals; WonWithoutAmount counts the others.
	AverageWon       []Amount `json:"average_won"`
	WonTotal         []Amount `json:"won_total"`
	WonWithoutAmount int      `json:"won_without_amount"`
	// AverageCycleDays: the mean of (won at − the deal's first transition) over the won deals,
	// in days (86400 s), rounded to 0.1; nil when none won.
	AverageCycleDays *float64 `json:"average_cycle_days"`
}

// Open is the open deals at Now.
type Open struct {
	Deals int `json:"deals"`
	// Age is Now − the deal's first transition (its creation when it has none), in days
	// rounded to 0.1: mean, median, p90 (nearest rank).
	AgeMeanDays   *float64 `json:"age_mean_days"`
	AgeMedianDays *float64 `json:"age_median_days"`
	AgeP90Days    *float64 `json:"age_p90_days"`
	Stale         int      `json:"stale"`      // past their stage's deadline
	NearLimit     int      `json:"near_limit"` // 75% or more of the time to the deadline gone
	// Pipeline is Σ amount per currency; Weighted is Σ amount × probability ÷ 100 over the
	// deals whose stage declares a probability (rounded to 2 decimals), for the currencies that
	// have such a deal.
	Pipeline []Amount `json:"pipeline"`
	Weighted []Amount `json:"weighted"`
	// StaleDeals and NearLimitDeals list up to 50 of each, earliest deadline first (the most
	// overdue, the nearest to its limit).
	StaleDeals     []DealRef `json:"stale_deals"`
	NearLimitDeals []DealRef `json:"near_limit_deals"`
}

// Velocity is pipeline velocity in one currency: OpenDeals (open deals with an amount in the
// currency) × WinRate (Closed.WinRate) × AverageWon (in the currency) ÷ AverageCycleDays:
// the amount the pipeline is expected to earn per day, computed exactly from Won ÷ (Won +
// Lost) (not the rounded WinRate), AverageWon and AverageCycleDays as reported. Nil PerDay
// when a factor is missing. One row per currency with open deals with an amount or won deals.
type Velocity struct {
	Currency         string   `json:"currency"`
	OpenDeals        int      `json:"open_deals"`
	WinRate          *float64 `json:"win_rate"`
	AverageWon       string   `json:"average_won"`
	AverageCycleDays *float64 `json:"average_cycle_days"`
	PerDay           *string  `json:"per_day"` // rounded to 2 decimals
}

// ForecastMonth is the open deals with an amount expected to close in one month (YYYY-MM),
// per currency: count, Σ amount and Σ weighted amount (Σ amount × probability ÷ 100 over the
// deals whose stage declares one, rounded to 2 decimals; "0.00" when none does). Month
// "overdue" holds dates before Now's month, "none" the deals without a date; then Now's
// month and the next 11 (UTC), then "later" for dates after them. Only non-empty rows.
type ForecastMonth struct {
	Month    string `json:"month"`
	Currency string `json:"currency"`
	Deals    int    `json:"deals"`
	Amount   string `json:"amount"`
	Weighted string `json:"weighted"`
}

// Coverage compares the open pipeline expected to close in a month with the target ops set
// for that month (starter pipeline target): Ratio = Pipeline ÷ Target, rounded to 0.01 (nil
// when the target is 0). One row per target set for Now's month and the next 11. Targets are
// the team's: coverage counts the whole pipeline's open deals, whatever the owner filter.
type Coverage struct {
	Month    string   `json:"month"` // YYYY-MM
	Currency string   `json:"currency"`
	Target   string   `json:"target"`
	Pipeline string   `json:"pipeline"`
	Weighted string   `json:"weighted"`
	Ratio    *float64 `json:"ratio"`
}

// OwnerReport is one owner's share: open deals at Now and closings in the period (as in
// Closed). Owners with neither are not listed.
type OwnerReport struct {
	Owner    string   `json:"owner"` // email
	Name     string   `json:"name,omitempty"`
	Open     int      `json:"open"`
	Won      int      `json:"won"`
	Lost     int      `json:"lost"`
	WinRate  *float64 `json:"win_rate"`
	Stale    int      `json:"stale"`
	Pipeline []Amount `json:"pipeline"`
	Weighted []Amount `json:"weighted"`
}

// Amount is an exact decimal in one currency.
type Amount struct {
	Currency string `json:"currency"`
	Amount   string `json:"amount"`
}

// DealRef names one deal in a list.
type DealRef struct {
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	Owner    string    `json:"owner"`
	Stage    string    `json:"stage"`
	Deadline time.Time `json:"deadline"`
}
