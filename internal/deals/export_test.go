package deals

import "fmt"

// FanOutConcurrency is fanOutConcurrency, for tests that observe the bound.
const FanOutConcurrency = fanOutConcurrency

// IntakeKinds lists the kinds of the intake's per-kind table, each with the type of the
// request its rows decode into, for tests that prove the sweeper runs the verbs' own code.
func IntakeKinds() map[string]string {
	out := map[string]string{}
	for k, newRequest := range intakeKinds {
		out[string(k)] = fmt.Sprintf("%T", newRequest())
	}
	return out
}
