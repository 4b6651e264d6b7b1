package deals

import (
	"context"
	"time"

	"github.com/followup-engine/followup/internal/store"
)

// DefaultStepStatsDays is the period of a step statistics request that gives no from.
const DefaultStepStatsDays = 90

// StepStatsRequest asks for a pipeline's per-step statistics. From and To are dates
// (YYYY-MM-DD, UTC: the start of that day) or RFC 3339 instants; the period runs from From to
// To, To excluded, as the pipeline metrics' (--from 2026-11-01 --to 2026-12-01 is November).
// Default: To is tomorrow (so today counts), From DefaultStepStatsDays days before today.
type StepStatsRequest struct {
	Pipeline string
	From, To string
}

// StepStats answers the per-step statistics of a pipeline (store.StepStats has the
// definitions); ErrNotFound when the pipeline has no published version.
func (s *Service) StepStats(ctx context.Context, r StepStatsRequest) (store.StepStatsReport, error) {
	var p problems
	checkToken(&p, "pipeline", r.Pipeline)
	now := s.now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	to, toOK := parseBound(&p, "to", r.To, today.AddDate(0, 0, 1))
	from, fromOK := parseBound(&p, "from", r.From, today.AddDate(0, 0, -DefaultStepStatsDays))
	if fromOK && toOK && len(p) == 0 {
		q := store.StepStatsQuery{Pipeline: r.Pipeline, From: from, To: to}
		for _, problem := range q.Check() {
			p.add("%s", problem)
		}
	}
	if err := p.err(); err != nil {
		return store.StepStatsReport{}, err
	}
	return s.Store.StepStats(ctx, store.StepStatsQuery{Pipeline: r.Pipeline, From: from, To: to})
}

// parseBound reads a period bound: def when v is empty, an RFC 3339 instant, or the start of
// a date (UTC).
func parseBound(p *problems, name, v string, def time.Time) (time.Time, bool) {
	if v == "" {
		return def, true
	}
	if len(v) > 64 {
		p.add("%s: want an RFC 3339 time or a date like 2026-12-01", name)
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, true
	}
	if d, err := time.Parse(time.DateOnly, v); err == nil {
		return d, true
	}
	p.add("%s %q: want an RFC 3339 time or a date like 2026-12-01", name, v)
	return time.Time{}, false
}
