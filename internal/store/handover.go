package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// An owner handover moves a departing rep's open deals (all, or one pipeline's) to another
// owner: deals.owner_id, and the open tasks of those deals (tasks.owner_id), and the open
// tasks the owner holds on closed deals of the same scope (a reply's task outlives the
// close; the closed deal itself stays theirs, as history). Each moved deal gets one
// owner_changed inbound event, recorded in the same transaction as the move, so the deal's
// workflow hears of it (it reloads its calendars) even if the process stops before
// signalling: the sweeper sends it then. The event's payload names the handover (from, to,
// pipeline), which is how a repeat of the same handover finds the deals it moved earlier.

// Handover is one request to move an owner's open deals.
type Handover struct {
	From     string // owner ids
	To       string
	Pipeline string // "": every pipeline
	Source   string // the source its events are recorded under (ops)
	At       time.Time
}

// HandedDeal is one deal of a handover, moved by this call or an earlier one of the same
// handover, with its owner_changed event.
type HandedDeal struct {
	DealID        string
	EventRow      int64
	SourceEventID string
	State         EventState // of the event
	Moved         bool       // moved by this call
	Open          bool       // the deal is open
}

// OwnerChangedEventID is the source event id of a deal's n-th owner change.
func OwnerChangedEventID(dealID string, n int) string {
	return fmt.Sprintf("owner-handover/%s/%d", dealID, n)
}

// HandOver moves the open deals of h.From (on h.Pipeline, if given) to h.To with their open
// tasks, records one owner_changed event per moved deal (payload builds its payload), and
// lists every deal this handover (from, to, pipeline) moved, now or in an earlier call, that
// h.To still holds, with the state of its latest owner_changed event. A repeat moves nothing
// and records nothing; it finds the events an earlier call left in received. Handovers of one
// owner run one at a time.
func (s *Store) HandOver(ctx context.Context, h Handover, payload func(dealID, eventID string) []byte) ([]HandedDeal, error) {
	var out []HandedDeal
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('owner-handover:' || $1, 0))`, h.From); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT d.id, (SELECT count(*) FROM inbound_events e WHERE e.deal_id = d.id AND e.kind = $3)
			FROM deals d JOIN cadence_versions cv ON cv.version = d.cadence_version
			WHERE d.owner_id = $1 AND d.state = 'open' AND ($2 = '' OR cv.pipeline_id = $2)
			ORDER BY d.created_at, d.id
			FOR UPDATE OF d`, h.From, h.Pipeline, KindOwnerChanged)
		if err != nil {
			return fmt.Errorf("list the deals to hand over: %w", err)
		}
		type move struct {
			id    string
			prior int
		}
		moves, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (move, error) {
			var m move
			return m, r.Scan(&m.id, &m.prior)
		})
		if err != nil {
			return fmt.Errorf("list the deals to hand over: %w", err)
		}
		ids := make([]string, len(moves))
		for i, m := range moves {
			ids[i] = m.id
		}
		moved := map[string]bool{}
		if len(ids) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE deals SET owner_id = $2 WHERE id = ANY($1::uuid[])`, ids, h.To); err != nil {
				return fmt.Errorf("move deals: %w", err)
			}
			for _, m := range moves {
				eventID := OwnerChangedEventID(m.id, m.prior+1)
				if _, err := recordEvent(ctx, tx, h.Source, eventID, KindOwnerChanged, m.id, h.At, payload(m.id, eventID)); err != nil {
					return err
				}
				moved[m.id] = true
			}
		}
		// Open tasks go with their deal. A task created beside an earlier call (its insert
		// read the old owner) is moved by the next.
		if _, err := tx.Exec(ctx, `
			UPDATE tasks t SET owner_id = d.owner_id FROM deals d
			WHERE t.deal_id = d.id AND t.owner_id = $1 AND t.state = 'open' AND d.owner_id <> $1`, h.From); err != nil {
			return fmt.Errorf("move open tasks: %w", err)
		}
		// A closed deal stays with the departed owner, but a task left open on it goes to the
		// new owner, so that no open task stays with someone who left. A repeat finds none.
		if _, err := tx.Exec(ctx, `
			UPDATE tasks t SET owner_id = $2 FROM deals d JOIN cadence_versions cv ON cv.version = d.cadence_version
			WHERE t.deal_id = d.id AND t.owner_id = $1 AND t.state = 'open' AND d.state <> 'open'
				AND ($3 = '' OR cv.pipeline_id = $3)`, h.From, h.To, h.Pipeline); err != nil {
			return fmt.Errorf("move the open tasks of closed deals: %w", err)
		}
		rows, err = tx.Query(ctx, `
			SELECT DISTINCT ON (e.deal_id) e.deal_id, e.id, e.source_event_id, e.state, d.state = 'open'
			FROM inbound_events e JOIN deals d ON d.id = e.deal_id
			WHERE e.kind = $1 AND e.source = $2 AND d.owner_id::text = $4
				AND e.payload->>'from' = $3 AND e.payload->>'to' = $4 AND coalesce(e.payload->>'pipeline', '') = $5
			ORDER BY e.deal_id, e.id DESC`, KindOwnerChanged, h.Source, h.From, h.To, h.Pipeline)
		if err != nil {
			return fmt.Errorf("list the handover's deals: %w", err)
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (HandedDeal, error) {
			var d HandedDeal
			err := r.Scan(&d.DealID, &d.EventRow, &d.SourceEventID, &d.State, &d.Open)
			d.Moved = moved[d.DealID]
			return d, err
		})
		return err
	})
	return out, err
}

// EnsureOwner finds the owner with this email, or creates it with only the email (the
// defaults a create that names only the owner's email gives: the pipeline's calendar, the
// default sender). created says whether it did.
func (s *Store) EnsureOwner(ctx context.Context, email string) (o Owner, created bool, err error) {
	err = s.pool.QueryRow(ctx, `
		WITH ins AS (
			INSERT INTO owners (email) VALUES ($1)
			ON CONFLICT ((lower(email))) DO NOTHING RETURNING id)
		SELECT id, true FROM ins
		UNION ALL SELECT id, false FROM owners WHERE lower(email) = lower($1)
		LIMIT 1`, email).Scan(&o.ID, &created)
	if err != nil {
		return Owner{}, false, fmt.Errorf("owner %s: %w", email, err)
	}
	o, err = s.OwnerByID(ctx, o.ID)
	return o, created, err
}
