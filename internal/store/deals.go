package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Errors the front door maps to answers.
var (
	ErrDealClosed    = errors.New("deal is closed")
	ErrDealNotClosed = errors.New("deal is not closed")
)

// OwnerInput identifies the rep who owns a deal; upserted by email.
type OwnerInput struct {
	Email         string `json:"email"`
	Name          string `json:"name,omitempty"`
	Company       string `json:"company,omitempty"`
	Zone          string `json:"zone,omitempty"`    // IANA time zone
	Country       string `json:"country,omitempty"` // ISO 3166 alpha-2
	SenderFrom    string `json:"sender_from,omitempty"`
	SenderReplyTo string `json:"sender_reply_to,omitempty"`
}

// ContactInput identifies the prospect; upserted by email.
type ContactInput struct {
	Email     string `json:"email"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	Company   string `json:"company,omitempty"`
	Zone      string `json:"zone,omitempty"`
	Country   string `json:"country,omitempty"`
}

// NewDeal is a create (or upsert) of a deal by its external id.
type NewDeal struct {
	Source, ExternalID string
	Title              string
	Owner              OwnerInput
	Contact            ContactInput
	CadenceVersion     int64
	EventID            string // the source's id of this create, for the inbound event
	SourceTime         time.Time
	Payload            []byte // the request as received, JSON
	Value              DealValue
}

// Deal is a deal's row.
type Deal struct {
	ID             string     `json:"id"`
	OwnerID        string     `json:"owner_id"`
	ContactID      string     `json:"contact_id"`
	Title          string     `json:"title"`
	CadenceVersion int64      `json:"cadence_version"`
	CadenceHash    string     `json:"cadence_hash"`
	Stage          string     `json:"stage"`
	Visit          int        `json:"visit"`
	StageEnteredAt *time.Time `json:"stage_entered_at,omitempty"`
	Deadline       *time.Time `json:"deadline,omitempty"`
	NextActionAt   *time.Time `json:"next_action_at,omitempty"`
	State          string     `json:"state"`
	ClosedAt       *time.Time `json:"closed_at,omitempty"`
	Revision       int64      `json:"revision"`
	CreatedAt      time.Time  `json:"created_at"`
	// StartError says why the deal's workflow could not start (its cadence version cannot
	// be loaded); empty once the deal runs.
	StartError string `json:"start_error,omitempty"`
	// DealValue: amount, currency, expected close date (value.go writes them).
	DealValue
}

// Closed reports whether PostgreSQL says the deal is closed.
func (d Deal) Closed() bool { return d.State == "closed" }

// CreatedDeal is the result of CreateDeal.
type CreatedDeal struct {
	Deal    Deal
	Created bool // false when the external id already named a deal
	Event   InboundEvent
}

const dealColumns = `d.id, d.owner_id, d.contact_id, d.title, d.cadence_version, cv.hash, d.stage, d.stage_visit,
	d.stage_entered_at, d.stage_deadline, d.next_action_at, d.state, d.closed_at, d.revision, d.created_at, d.start_error,
	coalesce(d.amount::text, ''), d.currency, coalesce(d.expected_close_on::text, '')`

func scanDeal(row pgx.Row) (Deal, error) {
	var d Deal
	err := row.Scan(&d.ID, &d.OwnerID, &d.ContactID, &d.Title, &d.CadenceVersion, &d.CadenceHash, &d.Stage, &d.Visit,
		&d.StageEnteredAt, &d.Deadline, &d.NextActionAt, &d.State, &d.ClosedAt, &d.Revision, &d.CreatedAt, &d.StartError,
		&d.Amount, &d.Currency, &d.ExpectedCloseOn)
	return d, err
}

// CreateDeal records a deal under its external id, with its owner, contact and the inbound
// event, in one transaction. A second create for the same external id returns the existing
// deal: creates converge.
func (s *Store) CreateDeal(ctx context.Context, nd NewDeal) (CreatedDeal, error) {
	var out CreatedDeal
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		out = CreatedDeal{}
		var dealID string
		err := tx.QueryRow(ctx, `SELECT deal_id FROM deal_external_ids WHERE source = $1 AND external_id = $2`,
			nd.Source, nd.ExternalID).Scan(&dealID)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			dealID, err = insertDeal(ctx, tx, nd)
			if err != nil {
				return err
			}
			out.Created = true
		case err != nil:
			return fmt.Errorf("look up external id: %w", err)
		}
		if !nd.Value.IsZero() {
			// A create that names a value sets it, on a new deal or one it converges on (a
			// CRM's later create carries the amount as it is now).
			if _, err := setDealValue(ctx, tx, dealID, ValueChange{DealValue: nd.Value, Source: nd.Source}); err != nil {
				return err
			}
		}
		out.Deal, err = scanDeal(tx.QueryRow(ctx, `SELECT `+dealColumns+`
			FROM deals d JOIN cadence_versions cv ON cv.version = d.cadence_version WHERE d.id = $1`, dealID))
		if err != nil {
			return fmt.Errorf("read deal: %w", err)
		}
		out.Event, err = recordEvent(ctx, tx, nd.Source, nd.EventID, KindCreated, dealID, nd.SourceTime, nd.Payload)
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "deal_external_ids_pkey" {
		// A concurrent create for the same external id won the race: converge on its deal.
		return s.CreateDeal(ctx, nd)
	}
	return out, err
}

func insertDeal(ctx context.Context, tx pgx.Tx, nd NewDeal) (string, error) {
	var initial string
	err := tx.QueryRow(ctx, `SELECT model->>'initial' FROM cadence_versions WHERE version = $1`, nd.CadenceVersion).Scan(&initial)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("cadence version %d: %w", nd.CadenceVersion, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("read cadence: %w", err)
	}
	var ownerID, contactID, dealID string
	o := nd.Owner
	err = tx.QueryRow(ctx, `
		INSERT INTO owners (email, name, company, zone, country, sender_from, sender_reply_to)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT ((lower(email))) DO UPDATE SET
			name = coalesce(nullif(excluded.name, ''), owners.name),
			company = coalesce(nullif(excluded.company, ''), owners.company),
			zone = CASE WHEN $4 = '' THEN owners.zone ELSE excluded.zone END,
			country = coalesce(nullif(excluded.country, ''), owners.country),
			sender_from = coalesce(nullif(excluded.sender_from, ''), owners.sender_from),
			sender_reply_to = coalesce(nullif(excluded.sender_reply_to, ''), owners.sender_reply_to)
		RETURNING id`, o.Email, o.Name, o.Company, o.Zone, o.Country, o.SenderFrom, o.SenderReplyTo).Scan(&ownerID)
	if err != nil {
		return "", fmt.Errorf("upsert owner: %w", err)
	}
	c := nd.Contact
	err = tx.QueryRow(ctx, `
		INSERT INTO contacts (email, first_name, last_name, company, zone, country)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT ((lower(email))) DO UPDATE SET
			first_name = coalesce(nullif(excluded.first_name, ''), contacts.first_name),
			last_name = coalesce(nullif(excluded.last_name, ''), contacts.last_name),
			company = coalesce(nullif(excluded.company, ''), contacts.company),
			zone = CASE WHEN $5 = '' THEN contacts.zone ELSE excluded.zone END,
			country = coalesce(nullif(excluded.country, ''), contacts.country)
		RETURNING id`, c.Email, c.FirstName, c.LastName, c.Company, c.Zone, c.Country).Scan(&contactID)
	if err != nil {
		return "", fmt.Errorf("upsert contact: %w", err)
	}
	err = tx.QueryRow(ctx, `
		INSERT INTO deals (owner_id, contact_id, title, cadence_version, stage)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		ownerID, contactID, nd.Title, nd.CadenceVersion, initial).Scan(&dealID)
	if err != nil {
		return "", fmt.Errorf("insert deal: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO deal_external_ids (source, external_id, deal_id) VALUES ($1, $2, $3)`,
		nd.Source, nd.ExternalID, dealID)
	if err != nil {
		return "", fmt.Errorf("map external id: %w", err)
	}
	return dealID, nil
}

// StageEvent is a stage change received from outside.
type StageEvent struct {
	Kind       EventKind // default KindStageChanged
	DealID     string
	Source     string
	EventID    string
	SourceTime time.Time
	Payload    []byte
}

// RecordStageEvent stores a stage change (or another event for an existing deal) before it
// is signalled. A closed deal's event is
// stored as refused and ErrDealClosed returned: PostgreSQL is the authority on closed deals.
func (s *Store) RecordStageEvent(ctx context.Context, ev StageEvent) (InboundEvent, error) {
	var out InboundEvent
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var state string
		err := tx.QueryRow(ctx, `SELECT state FROM deals WHERE id = $1 FOR SHARE`, ev.DealID).Scan(&state)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("deal %s: %w", ev.DealID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		kind := ev.Kind
		if kind == "" {
			kind = KindStageChanged
		}
		out, err = recordEvent(ctx, tx, ev.Source, ev.EventID, kind, ev.DealID, ev.SourceTime, ev.Payload)
		if err != nil {
			return err
		}
		if state == "closed" && out.State.Pending() {
			// Refused whether new or a retry of one never applied: only reopen restarts a deal.
			out.State, out.Reason = EventRefused, ReasonClosed
			err = setEventState(ctx, tx, out.ID, out.State, out.Reason)
		}
		return err
	})
	if err == nil && out.State == EventRefused {
		return out, fmt.Errorf("deal %s: %w", ev.DealID, ErrDealClosed)
	}
	return out, err
}

// LastVisit is the highest stage-visit number recorded for a deal: the counter a new run
// continues from, so ledger and task keys never collide.
func (s *Store) LastVisit(ctx context.Context, dealID string) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(visit), 0) FROM stage_transitions WHERE deal_id = $1`, dealID).Scan(&v)
	return v, err
}

// DealByID reads one deal.
func (s *Store) DealByID(ctx context.Context, id string) (Deal, error) {
	d, err := scanDeal(s.pool.QueryRow(ctx, `SELECT `+dealColumns+`
		FROM deals d JOIN cadence_versions cv ON cv.version = d.cadence_version WHERE d.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Deal{}, fmt.Errorf("deal %s: %w", id, ErrNotFound)
	}
	return d, err
}

// DealByExternalID reads the deal an external id maps to.
func (s *Store) DealByExternalID(ctx context.Context, source, externalID string) (Deal, error) {
	d, err := scanDeal(s.pool.QueryRow(ctx, `SELECT `+dealColumns+`
		FROM deal_external_ids x JOIN deals d ON d.id = x.deal_id
		JOIN cadence_versions cv ON cv.version = d.cadence_version
		WHERE x.source = $1 AND x.external_id = $2`, source, externalID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Deal{}, fmt.Errorf("deal %s:%s: %w", source, externalID, ErrNotFound)
	}
	return d, err
}

// ReopenClaim is a reopen recorded by BeginReopen: the closed deal, the stage-visit counter
// its new run continues from, and the reopen's inbound event (still received).
type ReopenClaim struct {
	Deal      Deal
	PrevVisit int
	EventID   int64
}

// BeginReopen is the first half of the one way back for a closed deal: under the deal's lock
// it checks the deal is closed, reads the stage-visit counter from PostgreSQL and records
// the reopen event (received), then commits. The caller starts the run, outside any
// transaction, then calls FinishReopen. The same reopen sent again (same event id, still
// received: its start failed, or its process stopped) continues it; while one is under
// way, a reopen with another event id is refused, so two reopens never start two runs.
func (s *Store) BeginReopen(ctx context.Context, dealID, source, eventID string, at time.Time, payload []byte) (ReopenClaim, error) {
	var out ReopenClaim
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		d, err := scanDeal(tx.QueryRow(ctx, `SELECT `+dealColumns+`
			FROM deals d JOIN cadence_versions cv ON cv.version = d.cadence_version WHERE d.id = $1 FOR UPDATE OF d`, dealID))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("deal %s: %w", dealID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if !d.Closed() {
			return fmt.Errorf("deal %s is in %s: %w", dealID, d.Stage, ErrDealNotClosed)
		}
		var prevVisit int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(visit), 0) FROM stage_transitions WHERE deal_id = $1`, dealID).Scan(&prevVisit); err != nil {
			return err
		}
		under, found, err := reopenUnderWay(ctx, tx, dealID)
		if err != nil {
			return err
		}
		ev, err := recordEvent(ctx, tx, source, eventID, KindReopen, dealID, at, payload)
		if err != nil {
			return err
		}
		switch {
		case !ev.Inserted && ev.State != EventReceived:
			return fmt.Errorf("reopen event %s/%s was already used (event %d, %s)", source, eventID, ev.ID, ev.State)
		case found && under != ev.ID:
			return fmt.Errorf("deal %s: another reopen (event %d) is under way: %w", dealID, under, ErrDealNotClosed)
		}
		out = ReopenClaim{Deal: d, PrevVisit: prevVisit, EventID: ev.ID}
		return nil
	})
	return out, err
}

// DropReopen removes the claim of a reopen whose run did not start (its event, still
// received), so a failed reopen writes nothing, as before the run started outside the
// transaction.
func (s *Store) DropReopen(ctx context.Context, eventID int64) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return dropReceived(ctx, s.pool, eventID, KindReopen)
}

// FinishReopen marks the deal open and its reopen event signalled, once its run started.
func (s *Store) FinishReopen(ctx context.Context, dealID string, eventID int64) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE deals SET state = 'open', closed_at = NULL, updated_at = now() WHERE id = $1 AND state = 'closed'`,
			dealID); err != nil {
			return err
		}
		return markSignalled(ctx, tx, eventID)
	})
}
