package store

import (
	"context"
	"fmt"
	"time"
)

// PlannedSends counts the open deals' planned emails (planned_actions of kind email) per
// sender and UTC day in [from, to). The sender is the one the send will use: the pipeline's
// sender, else the owner's identity, else defaultFrom (MAIL_FROM), else the owner's address
// (as activities.senderOf picks it). Read-only.
type PlannedSends struct {
	From  string `json:"from"`
	Day   string `json:"day"` // YYYY-MM-DD, UTC
	Count int    `json:"count"`
}

// MaxForecastDays bounds a send forecast.
const MaxForecastDays = 90

const plannedSendsQuery = `
SELECT coalesce(nullif(cv.model->'sender'->>'from', ''), nullif(o.sender_from, ''), nullif($3, ''), o.email),
       to_char(pa.at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), count(*)
FROM planned_actions pa
JOIN deals d ON d.id = pa.deal_id AND d.state = 'open'
JOIN owners o ON o.id = d.owner_id
JOIN cadence_versions cv ON cv.version = d.cadence_version
WHERE pa.kind = 'email' AND pa.at >= $1 AND pa.at < $2
GROUP BY 1, 2
ORDER BY 2, 1`

// PlannedSendsByDay lists the planned emails per sender and UTC day in [from, to).
func (s *Store) PlannedSendsByDay(ctx context.Context, from, to time.Time, defaultFrom string) ([]PlannedSends, error) {
	if !to.After(from) || to.Sub(from) > MaxForecastDays*24*time.Hour {
		return nil, fmt.Errorf("send forecast: the span must be positive and at most %d days", MaxForecastDays)
	}
	rows, err := s.pool.Query(ctx, plannedSendsQuery, from, to, defaultFrom)
	if err != nil {
		return nil, fmt.Errorf("planned sends: %w", err)
	}
	defer rows.Close()
	var out []PlannedSends
	for rows.Next() {
		var p PlannedSends
		if err := rows.Scan(&p.From, &p.Day, &p.Count); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
