package deals

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/calendar"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/workflows"
)

// MigrateRequest moves in-flight deals from one cadence version to another.
type MigrateRequest struct {
	From   int64  `json:"from"`
	To     int64  `json:"to"`
	Deal   string `json:"deal,omitempty"` // one deal only; default every open deal on From
	DryRun bool   `json:"dry_run"`
}

// DealMigration is what a migration does (or would do) to one deal.
type DealMigration struct {
	DealID  string   `json:"deal_id"`
	Stage   string   `json:"stage"`
	Changes []string `json:"changes"`
	// State: would-migrate, signalled, duplicate, received (recorded; Temporal did not answer,
	// so the sweeper delivers it), cannot-migrate, or "error: …".
	State string `json:"state"`
}

// Migrate lists, per open deal on From, how its pending agenda changes under To; unless
// DryRun it then signals each deal, which applies the version at its next step boundary.
func (s *Service) Migrate(ctx context.Context, r MigrateRequest) ([]DealMigration, error) {
	if r.From == r.To {
		return nil, &ValidationError{Problems: []string{"from and to are the same version"}}
	}
	from, err := s.Store.Cadence(ctx, r.From)
	if err != nil {
		return nil, err
	}
	to, err := s.Store.Cadence(ctx, r.To)
	if err != nil {
		return nil, err
	}
	if from.Pipeline.ID != to.Pipeline.ID {
		return nil, &ValidationError{Problems: []string{fmt.Sprintf("version %d is pipeline %s and version %d is pipeline %s: migrate within one pipeline",
			r.From, from.Pipeline.ID, r.To, to.Pipeline.ID)}}
	}
	if r.To < r.From {
		return nil, &ValidationError{Problems: []string{fmt.Sprintf("version %d is older than %d: publish the model again to get a newer version", r.To, r.From)}}
	}
	var ds []store.Deal
	if r.Deal != "" {
		d, err := s.Resolve(ctx, r.Deal)
		if err != nil {
			return nil, err
		}
		if d.CadenceVersion != r.From || d.Closed() {
			return nil, &ValidationError{Problems: []string{fmt.Sprintf("deal %s is not an open deal on version %d", d.ID, r.From)}}
		}
		ds = []store.Deal{d}
	} else if ds, err = s.Store.OpenDealsOnVersion(ctx, r.From); err != nil {
		return nil, err
	}
	now := s.now()
	var down outage
	out := make([]DealMigration, 0, len(ds))
	for _, d := range ds {
		m := DealMigration{DealID: d.ID, Stage: d.Stage, State: "would-migrate"}
		m.Changes, err = s.planDiff(ctx, d, from.Pipeline, to.Pipeline)
		if err != nil {
			m.State, m.Changes = "cannot-migrate", []string{err.Error()}
			out = append(out, m)
			continue
		}
		if !r.DryRun {
			// One deal that cannot be signalled (closed meanwhile, say) does not stop the rest.
			m.State, err = s.signalMigration(ctx, d, to, now, &down)
			switch {
			case errors.Is(err, ErrDeliveryPending):
				m.State = "received"
			case err != nil:
				m.State = "error: " + err.Error()
			}
		}
		out = append(out, m)
	}
	return out, nil
}

func (s *Service) planDiff(ctx context.Context, d store.Deal, from, to cadence.Pipeline) ([]string, error) {
	if _, ok := to.Stage(d.Stage); !ok {
		return nil, fmt.Errorf("the new version has no stage %q", d.Stage)
	}
	if d.StageEnteredAt == nil {
		return nil, fmt.Errorf("deal has not entered a stage yet")
	}
	done, err := s.Store.VisitDone(ctx, d.ID, d.Visit)
	if err != nil {
		return nil, err
	}
	parties, err := s.Store.DealParties(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	owner := calendar.Party{Zone: parties.Owner.Zone, Country: parties.Owner.Country, BusinessHours: parties.Owner.BusinessHours}
	contact := calendar.Party{Zone: parties.Contact.Zone, Country: parties.Contact.Country}
	fromCals, err := calendar.ForDeal(from.Calendar, owner, contact).Calendars()
	if err != nil {
		return nil, err
	}
	toCals, err := calendar.ForDeal(to.Calendar, owner, contact).Calendars()
	if err != nil {
		return nil, fmt.Errorf("the new version's calendars: %w", err)
	}
	visit := cadence.Visit{Stage: d.Stage, Number: d.Visit, EnteredAt: d.StageEnteredAt.UTC(), Done: done}
	current := visit
	if d.Deadline != nil {
		current.Deadline = d.Deadline.UTC() // fixed when the visit began
	}
	before, err := cadence.Plan(from, current, fromCals)
	if err != nil {
		return nil, err
	}
	oldStage, _ := from.Stage(d.Stage)
	newStage, _ := to.Stage(d.Stage)
	if oldStage.TimeLimit == newStage.TimeLimit {
		visit.Deadline = current.Deadline // the workflow keeps it too
	}
	after, err := cadence.Plan(to, visit, toCals)
	if err != nil {
		return nil, err
	}
	old := map[string]cadence.Item{}
	for _, it := range before {
		old[it.ID] = it
	}
	var changes []string
	seen := map[string]bool{}
	for _, it := range after {
		seen[it.ID] = true
		prev, ok := old[it.ID]
		switch {
		case !ok:
			changes = append(changes, fmt.Sprintf("adds %s at %s", it.ID, stamp(it.At)))
		case !prev.At.Equal(it.At):
			changes = append(changes, fmt.Sprintf("moves %s from %s to %s", it.ID, stamp(prev.At), stamp(it.At)))
		}
	}
	for _, it := range before {
		if !seen[it.ID] {
			changes = append(changes, fmt.Sprintf("drops %s (was at %s)", it.ID, stamp(it.At)))
		}
	}
	if len(changes) == 0 {
		changes = []string{"no change to the pending agenda"}
	}
	return changes, nil
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }

func (s *Service) signalMigration(ctx context.Context, d store.Deal, to store.CadenceVersion, at time.Time, o *outage) (string, error) {
	// One id per deal and per migration of it: a retry of one not yet applied maps to the
	// same row, a later migration along the same versions gets a new one.
	applied, err := s.Store.AppliedMigrations(ctx, d.ID)
	if err != nil {
		return "", err
	}
	eventID := fmt.Sprintf("migrate:%s:%d:%d:%d", d.ID, d.CadenceVersion, to.Version, applied+1)
	return s.sendMigration(ctx, d, to, eventID, at, o)
}

// sendMigration records the migration event of a deal on its current version (or finds it,
// recorded earlier under eventID) and signals it unless it was signalled or decided already;
// o as for intake.
func (s *Service) sendMigration(ctx context.Context, d store.Deal, to store.CadenceVersion, eventID string, at time.Time, o *outage) (string, error) {
	_, told, err := s.intake(ctx, d, []byte(fmt.Sprintf(`{"from":%d,"to":%d}`, d.CadenceVersion, to.Version)), workflows.Event{
		Version: workflows.EventVersion, Kind: workflows.EventMigrate, Source: "migration", SourceEventID: eventID, SourceTime: at,
		Cadence: &workflows.CadenceRef{Version: to.Version, Hash: to.Hash}, MigrateFrom: d.CadenceVersion}, o, nil)
	switch {
	case err != nil:
		return "", err
	case !told:
		return "duplicate", nil
	}
	return "signalled", nil
}
