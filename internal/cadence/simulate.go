package cadence

import (
	"fmt"
	"time"
)

// Entry is one touch of a simulated deal: the stage visit it belongs to and the item.
type Entry struct {
	Stage string `json:"stage"`
	Visit int    `json:"visit"`
	Item  Item   `json:"item"`
}

// Simulate runs the planner forward from a deal entering p's initial stage at start, as if
// nobody answered: every step runs at its planned instant, every time limit fires. It is the
// preview's timeline, computed by the same planner the workflow uses. The owner completes a
// blocking task when it falls due (the steps after it count from then). It stops when the
// deal closes, at the horizon, or after max entries.
func Simulate(p Pipeline, cals Calendars, start time.Time, horizon time.Duration, max int) ([]Entry, error) {
	visit := Visit{Stage: p.Initial, Number: 1, EnteredAt: start}
	var out []Entry
	end := start.Add(horizon)
	for len(out) < max {
		items, err := Plan(p, visit, cals)
		if err != nil {
			return out, err
		}
		if len(items) == 0 {
			return out, nil // a terminal stage with nothing left: the deal closes
		}
		it := items[0]
		if it.At.After(end) {
			return out, nil
		}
		out = append(out, Entry{Stage: visit.Stage, Visit: visit.Number, Item: it})
		stage, _ := p.Stage(visit.Stage)
		switch it.Kind {
		case ItemEmail, ItemTask, ItemStaleTask, ItemWait:
			done := Done{StepID: it.StepID, Occurrence: it.Occurrence, At: it.At, Outcome: "created"}
			switch {
			case it.Kind == ItemEmail:
				done.Outcome = "sent"
			case it.Kind == ItemWait:
				done.Outcome = "waited"
			case it.Kind == ItemTask && stepBlocks(stage, it.StepID):
				done.Outcome = "done"
				if it.DueAt.After(it.At) {
					done.At = it.DueAt
				}
			}
			visit.Done = append(visit.Done, done)
		case ItemStale, ItemExhausted:
			m := stage.OnStale
			if it.Kind == ItemExhausted {
				m = stage.OnExhausted
			}
			visit = Visit{Stage: m.MoveTo, Number: visit.Number + 1, EnteredAt: it.At}
		default:
			return out, fmt.Errorf("simulate: unknown item kind %q", it.Kind)
		}
	}
	return out, nil
}

func stepBlocks(stage Stage, stepID string) bool {
	for _, st := range stage.Steps {
		if st.ID == stepID {
			return st.Blocking
		}
	}
	return false
}
