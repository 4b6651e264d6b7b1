// Package demohistory gives a pipeline a made-up past: deals with amounts in two currencies
// and expected close dates, moved through the stages over the last weeks (advances, skips,
// rep corrections, engine moves to the holding stage and back, won and lost), written
// through the store as the engine records them, back-dated. `make demo` seeds it so that
// the ops dashboard has something to show, and the dashboard's tests seed it at scale.
//
// A seeded deal never runs a workflow: a closed one is marked closed (as the engine marks
// its deals), and its create event is settled as ignored, so neither the sweeper nor a
// later create starts one. Only tests leave seeded deals open (Options.Open), projected
// into their stage with a deadline, as a running deal's workflow would have left them.
// Deals are keyed by external id under Options.Source: seeding again adds nothing.
package demohistory

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/money"
	"github.com/followup-engine/followup/internal/store"
)

// MaxDeals bounds one seeding.
const MaxDeals = 1000

// Options says what to seed.
type Options struct {
	Cadence store.CadenceVersion // the pipeline and version the deals run on
	Source  string               // the external ids' source, such as "demo-history"
	Deals   int
	Owners  []store.OwnerInput // deals go to them in turn
	Now     time.Time
	Weeks   int    // how far back the first deals start
	Seed    uint64 // the same seed gives the same history
	// Open leaves the deals whose history reaches Now open in their stage (a projection with
	// a deadline, no workflow): for tests only, as nothing would ever move them on.
	Open bool
	// Quiet is how long before Now the closed deals' last move is at least (the demo keeps
	// the last day free, so that the owners' morning digest does not report made-up moves).
	Quiet time.Duration
}

// Result counts what a seeding did.
type Result struct {
	Created, Existing int
	Won, Lost, Open   int
}

// ReasonSeeded is the seeded deals' create events' outcome reason.
const ReasonSeeded = "history seeded for the demo: recorded without a workflow"

// Seed writes the history. It is safe to run again: deals already there are left alone.
func Seed(ctx context.Context, st *store.Store, o Options) (Result, error) {
	if o.Deals < 1 || o.Deals > MaxDeals {
		return Result{}, fmt.Errorf("demo history: %d deals (want 1 to %d)", o.Deals, MaxDeals)
	}
	if len(o.Owners) == 0 || o.Source == "" || o.Weeks < 1 {
		return Result{}, errors.New("demo history: needs owners, a source and weeks")
	}
	p := o.Cadence.Pipeline
	shape, err := shapeOf(p)
	if err != nil {
		return Result{}, err
	}
	var res Result
	for i := range o.Deals {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		rng := rand.New(rand.NewPCG(o.Seed, uint64(i)))
		h := shape.walk(rng, o, i)
		created, err := st.CreateDeal(ctx, store.NewDeal{
			Source: o.Source, ExternalID: fmt.Sprintf("history-%04d", i), Title: h.title,
			Owner:          o.Owners[i%len(o.Owners)],
			Contact:        store.ContactInput{Email: fmt.Sprintf("buyer%04d@history.example", i), FirstName: h.first, LastName: "Buyer", Company: h.company},
			CadenceVersion: o.Cadence.Version, EventID: fmt.Sprintf("history-%04d-create", i), SourceTime: h.moves[0].at,
			Value: h.value,
		})
		if err != nil {
			return res, fmt.Errorf("demo history: deal %d: %w", i, err)
		}
		if !created.Created {
			res.Existing++
			continue
		}
		res.Created++
		d := created.Deal
		if err := st.SetEventOutcome(ctx, created.Event.ID, store.EventIgnored, ReasonSeeded); err != nil {
			return res, err
		}
		from := ""
		for v, m := range h.moves {
			if err := st.RecordTransition(ctx, store.Transition{DealID: d.ID, Visit: v + 1, From: from, To: m.to, At: m.at,
				Source: m.source, SourceEventID: fmt.Sprintf("history-%04d-%d", i, v+1), Reason: m.reason}); err != nil {
				return res, fmt.Errorf("demo history: deal %d: %w", i, err)
			}
			from = m.to
		}
		last := h.moves[len(h.moves)-1]
		switch {
		case h.closed:
			if shape.won[last.to] {
				res.Won++
			} else {
				res.Lost++
			}
			if err := st.MarkClosed(ctx, d.ID, last.to, len(h.moves), last.at); err != nil {
				return res, err
			}
		default:
			res.Open++
			deadline := h.deadline
			if _, err := st.Project(ctx, store.Projection{DealID: d.ID, Revision: 1, Stage: last.to, Visit: len(h.moves),
				EnteredAt: last.at, Deadline: &deadline}); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// shape is what the walk needs of the pipeline: its funnel, its holding stage, its won and
// lost stages.
type shape struct {
	initial string
	funnel  []string
	holding string // "" when the pipeline has none
	wonID   string
	lostID  string
	won     map[string]bool
}

func shapeOf(p cadence.Pipeline) (shape, error) {
	s := shape{initial: p.Initial, won: map[string]bool{}}
	hold := p.HoldingStages()
	for _, st := range p.Stages {
		switch {
		case st.Terminal && st.Won():
			s.won[st.ID] = true
			if s.wonID == "" {
				s.wonID = st.ID
			}
		case st.Terminal:
			if s.lostID == "" {
				s.lostID = st.ID
			}
		case hold[st.ID]:
			if s.holding == "" {
				s.holding = st.ID
			}
		default:
			s.funnel = append(s.funnel, st.ID)
		}
	}
	if len(s.funnel) < 2 || s.wonID == "" || s.lostID == "" {
		return shape{}, fmt.Errorf("demo history: pipeline %s needs two funnel stages, a won and a lost stage", p.ID)
	}
	return s, nil
}

type move struct {
	to, source, reason string
	at                 time.Time
}

type history struct {
	title, first, company string
	value                 store.DealValue
	moves                 []move
	closed                bool
	deadline              time.Time
}

var (
	firstNames = []string{"Alex", "Sam", "Noor", "Kai", "Lena", "Marco", "Ines", "Tomas", "Yuki", "Zoe", "Omar", "Priya"}
	companies  = []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Tyrell", "Soylent", "Cyberdyne", "Aperture"}
)

// walk makes one deal's history: it starts within the weeks before Now and moves on every
// few days, by the odds below, until it closes or reaches Now.
func (s shape) walk(rng *rand.Rand, o Options, i int) history {
	h := history{first: firstNames[rng.IntN(len(firstNames))], company: companies[rng.IntN(len(companies))] + fmt.Sprintf(" %d", i)}
	h.title = "Deal with " + h.company
	h.value.Currency = "EUR"
	if rng.IntN(3) == 0 {
		h.value.Currency = "USD"
	}
	span := time.Duration(o.Weeks) * 7 * 24 * time.Hour
	at := o.Now.Add(-span + time.Duration(rng.Int64N(int64(span))))
	at = at.Truncate(time.Minute)
	h.moves = append(h.moves, move{to: s.initial, source: "crm", reason: "deal created", at: at})
	stage := s.initial
	reengaged := false
	dwell := func() time.Duration { // 6 hours to 9 days
		return 6*time.Hour + time.Duration(rng.Int64N(int64(9*24*time.Hour)))
	}
	for {
		next := at.Add(dwell())
		if o.Open && next.After(o.Now) {
			// Still in the stage at Now: a deadline a little before or after Now, so that some
			// are stale and some near their limit.
			age := o.Now.Sub(at)
			h.deadline = at.Add(time.Duration(float64(age) * (0.6 + rng.Float64()*1.4))).Truncate(time.Minute)
			break
		}
		at = next
		to, source, reason := s.step(rng, stage, &reengaged)
		h.moves = append(h.moves, move{to: to, source: source, reason: reason, at: at})
		stage = to
		if to == s.wonID || to == s.lostID {
			h.closed = true
			break
		}
	}
	if h.closed && !o.Open {
		// The demo's history ends Quiet before Now: shift the whole walk back if need be.
		if late := h.moves[len(h.moves)-1].at.Sub(o.Now.Add(-o.Quiet)); late > 0 {
			shift := late + time.Duration(rng.Int64N(int64(3*24*time.Hour)))
			for k := range h.moves {
				h.moves[k].at = h.moves[k].at.Add(-shift)
			}
		}
	}
	// An amount for most deals (some have none), cents on a few.
	if rng.IntN(10) > 0 {
		cents := "00"
		if rng.IntN(4) == 0 {
			cents = fmt.Sprintf("%02d", rng.IntN(100))
		}
		h.value.Amount = money.Amount(fmt.Sprintf("%d.%s", 2000+50*rng.IntN(1000), cents))
	} else {
		h.value.Currency = ""
	}
	// Expected close: a closed deal's when it closed; an open one's within the coming
	// months, some already overdue, a few without a date.
	last := h.moves[len(h.moves)-1].at
	switch {
	case h.closed:
		h.value.ExpectedCloseOn = last.Format(time.DateOnly)
	case rng.IntN(8) == 0:
	default:
		h.value.ExpectedCloseOn = o.Now.AddDate(0, 0, rng.IntN(150)-20).Format(time.DateOnly)
	}
	return h
}

// step picks a deal's next move from a stage.
func (s shape) step(rng *rand.Rand, stage string, reengaged *bool) (to, source, reason string) {
	if stage == s.holding {
		if !*reengaged && rng.IntN(5) < 2 {
			*reengaged = true
			return s.funnel[1], "engine", "the prospect answered a nurture email"
		}
		return s.lostID, "engine", "unresponsive after the nurture emails"
	}
	idx := 0
	for k, f := range s.funnel {
		if f == stage {
			idx = k
		}
	}
	last := idx == len(s.funnel)-1
	r := rng.IntN(100)
	switch {
	case last && r < 55:
		return s.wonID, "crm", "contract signed"
	case last && r < 75:
		return s.lostID, "crm", "went with a competitor"
	case last && r < 85:
		return s.lostID, "engine", "negotiation stalled past its time limit"
	case last:
		return s.funnel[idx-1], "pages", "back to rework the proposal"
	case r < 68:
		return s.funnel[idx+1], "crm", "moved on"
	case r < 75 && idx+2 < len(s.funnel):
		return s.funnel[idx+2], "crm", "moved on, skipping a stage"
	case r < 79 && idx > 0:
		return s.funnel[idx-1], "pages", "corrected by the rep"
	case r < 88:
		return s.lostID, "crm", "no budget"
	case s.holding != "":
		return s.holding, "engine", "no progress within the stage's time limit"
	}
	return s.lostID, "engine", "no progress within the stage's time limit"
}
