package deals

import (
	"context"
	"time"

	"github.com/followup-engine/followup/internal/store"
)

// DefaultStepStatsDays is the period of a step statistics request that gives no from.
const DefaultStepStatsDays = 90

// StepStatsRequest asks for a pipeline's per-step statistics. From and To are RFC 3339
// instants or dates (YYYY-MM-DD, UTC): a from date is the start of that day, a to date the
// end of it, so --from 2026-11-01 --to 2026-11-30 is all of November. Default: the
// DefaultStepStatsDays days up to now.
type StepStatsRequest struct {
	Pipeline string
	From, To string
}

// StepStats answers the per-step statistics of a pipeline (store.StepStats has the
// definitions); ErrNotFound when the pipeline has no published version.
func (s *Service) StepStats(ctx context.Context, r StepStatsRequest) (store.StepStatsReport, error) {
	var p problems
	checkToken(&p, "pipeline", r.Pipeline)
	to, toOK := parseBound(&p, "to", r.To, s.now(), 24*time.Hour)
	from, fromOK := parseBound(&p, "from", r.From, to.Add(-DefaultStepStatsDays*24*time.Hour), 0)
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

// parseBound reads a period bound: def when v is empty, an RFC 3339 instant, or a date's
// start (plus dateEnd: a to date counts its whole day).
func parseBound(p *problems, name, v string, def time.Time, dateEnd time.Duration) (time.Time, bool) {
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
		return d.Add(dateEnd), true
	}
	p.add("%s %q: want an RFC 3339 time or a date like 2026-12-01", name, v)
	return time.Time{}, false
}
