package pipelinemetrics

import (
	"fmt"
	"github.com/followup-engine/followup/internal/render"
	"time"
)

// DefaultDays is the default period's length: the last 90 days, up to the end of today.
const DefaultDays = 90

// ParseQuery reads a query as the API and the CLI take it: from and to are dates
// (YYYY-MM-DD, UTC); the period runs from the start of from to the start of to (to is
// exclusive). Empty to is tomorrow (so today counts), empty from DefaultDays before today.
// Bad input wraps ErrBadQuery.
func ParseQuery(pipeline, from, to, owner string, now time.Time) (Query, error) {
	q := Query{Pipeline: pipeline, Owner: owner, Now: now.UTC()}
	today := time.Date(q.Now.Year(), q.Now.Month(), q.Now.Day(), 0, 0, 0, 0, time.UTC)
	var err error
	if q.From, err = parseDay("from", from, today.AddDate(0, 0, -DefaultDays)); err != nil {
		return Query{}, err
	}
	if q.To, err = parseDay("to", to, today.AddDate(0, 0, 1)); err != nil {
		return Query{}, err
	}
	return q, q.Check()
}

func parseDay(name, v string, def time.Time) (time.Time, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.Parse(time.DateOnly, v)
	if err != nil || d.Year() < 2000 || d.Year() > 9999 {
		return time.Time{}, fmt.Errorf("%w: %s %q: want a date YYYY-MM-DD (UTC)", ErrBadQuery, name, render.Echo(v))
	}
	return d, nil
}
