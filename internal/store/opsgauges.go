package store

import (
	"context"
	"fmt"

	"github.com/followup-engine/followup/internal/opsmetrics"
)

// This file only reads: the gauges a metrics scrape shows (internal/opsmetrics). Both counts
// use partial indexes (tasks_owner_open_idx, inbound_events_received_idx).

const opsGaugesSQL = `
	SELECT
		(SELECT count(*) FROM tasks WHERE state = 'open'),
		(SELECT count(*) FROM tasks WHERE state = 'open' AND due_at < now()),
		(SELECT count(*) FROM inbound_events WHERE state = 'received'),
		(SELECT coalesce(extract(epoch FROM now() - min(received_at)), 0)::float8 FROM inbound_events WHERE state = 'received')`

// OpsGauges reads the tasks open and overdue and the sweeper's backlog, for a scrape.
func (s *Store) OpsGauges(ctx context.Context) (opsmetrics.Gauges, error) {
	var g opsmetrics.Gauges
	if err := s.pool.QueryRow(ctx, opsGaugesSQL).Scan(&g.TasksOpen, &g.TasksOverdue, &g.SweeperBacklog, &g.OldestReceived); err != nil {
		return opsmetrics.Gauges{}, fmt.Errorf("read the metrics gauges: %w", err)
	}
	return g, nil
}

// InboundEventKind is the kind of the inbound event id, for the cause of a stage transition
// in the metrics.
func (s *Store) InboundEventKind(ctx context.Context, id int64) (EventKind, error) {
	var kind EventKind
	if err := s.pool.QueryRow(ctx, `SELECT kind FROM inbound_events WHERE id = $1`, id).Scan(&kind); err != nil {
		return "", fmt.Errorf("inbound event %d: %w", id, err)
	}
	return kind, nil
}
