package cadence

// DemoPipelineID names the demo pipeline `make demo` uses.
const DemoPipelineID = "demo"

// Demo is the built-in demo pipeline: the default pipeline's shape on a clock of seconds and
// minutes, so that within a minute of `make demo` mail arrives, a stage times out and its
// task appears. It is a separate pipeline, never the default for real deals.
func Demo() Pipeline {
	sec := func(n int) Duration { return Of(n, Seconds) }
	min := func(n int) Duration { return Of(n, Minutes) }
	p := Default()
	p.ID = DemoPipelineID
	p.Stages = []Stage{
		{
			ID: "prospecting", TimeLimit: sec(40),
			Steps: []Step{
				{ID: "intro", Kind: StepEmail, After: Zero, Template: "intro"},
				{ID: "intro-call", Kind: StepTask, After: sec(10), Task: task("call", "Call {{.Contact.FirstName}} about the intro email", min(30))},
				{ID: "value-followup", Kind: StepEmail, After: sec(15), Template: "value-followup"},
			},
			OnStale: &Move{MoveTo: "nurturing", Reason: "no response in prospecting within 40 seconds",
				Task: task("todo", "Deal moved to nurturing: check whether anything was missed", min(30))},
		},
		{
			ID: "qualification", TimeLimit: min(2),
			Steps: []Step{
				{ID: "qualify-call", Kind: StepTask, After: Zero, Task: task("call", "Qualify {{.Contact.FirstName}} (budget, authority, need, timeline)", min(30))},
				{ID: "qualification-followup", Kind: StepEmail, After: sec(30), Template: "qualification-followup"},
			},
			OnStale: &Move{MoveTo: "nurturing", Reason: "no progress in qualification within 2 minutes",
				Task: task("todo", "Deal went stale in qualification: decide the next step", min(30))},
		},
		{
			ID: "meeting", TimeLimit: min(3),
			Steps:   []Step{{ID: "prepare-meeting", Kind: StepTask, After: Zero, Task: task("todo", "Prepare the discovery meeting with {{.Contact.FirstName}}", min(30))}},
			OnStale: &Move{MoveTo: "nurturing", Reason: "no discovery meeting held within 3 minutes"},
		},
		{
			ID: "proposal", TimeLimit: min(3),
			Steps:   []Step{{ID: "proposal-followup", Kind: StepEmail, After: sec(45), Template: "proposal-followup"}},
			OnStale: &Move{MoveTo: "nurturing", Reason: "proposal unanswered for 3 minutes"},
		},
		{
			ID: "negotiation", TimeLimit: min(3),
			Steps:   []Step{{ID: "decision-call", Kind: StepTask, After: sec(30), Task: task("call", "Ask {{.Contact.FirstName}} for a decision", min(30))}},
			OnStale: &Move{MoveTo: "lost", Reason: "negotiation stalled for 3 minutes"},
		},
		{
			ID:          "nurturing",
			Steps:       []Step{{ID: "nurture", Kind: StepEmail, After: min(1), Times: 3, Template: "nurture"}},
			OnExhausted: &Move{After: min(1), MoveTo: "lost", Reason: "unresponsive after three nurture emails"},
		},
		{
			ID: "won", Terminal: true,
			Steps: []Step{{ID: "checkin", Kind: StepTask, After: min(1), Task: task("call", "Post-sale check-in with {{.Contact.FirstName}}", min(30))}},
		},
		{ID: "lost", Terminal: true},
	}
	return p
}
