package cadence

// DefaultVersion is the version number under which the built-in pipeline is stored.
const DefaultVersion int64 = 0

func task(kind, title string, due Duration) *TaskSpec {
	return &TaskSpec{Kind: kind, Title: title, DueIn: due}
}

// Default is the built-in B2B pipeline, stored as cadence version 0: prospecting →
// qualification → meeting → proposal → negotiation → won/lost, plus nurturing for deals
// that stall. Every stage has a time limit that acts instead of painting the deal red.
func Default() Pipeline {
	bd := func(n int) Duration { return Of(n, BusinessDays) }
	return Pipeline{
		ID:      "b2b-default",
		Initial: "prospecting",
		Stages: []Stage{
			{
				ID: "prospecting", TimeLimit: bd(15),
				Steps: []Step{
					{ID: "intro", Kind: StepEmail, After: Zero, Template: "intro"},
					{ID: "intro-call", Kind: StepTask, After: bd(2), Task: task("call", "Call {{.Contact.FirstName}} about the intro email", bd(1))},
					{ID: "value-followup", Kind: StepEmail, After: bd(3), Template: "value-followup"},
				},
				OnStale: &Move{MoveTo: "nurturing", Reason: "no response in prospecting within 15 business days",
					Task: task("todo", "Deal moved to nurturing: check whether anything was missed", bd(2))},
			},
			{
				ID: "qualification", TimeLimit: bd(10),
				Steps: []Step{
					{ID: "qualify-call", Kind: StepTask, After: Zero, Task: task("call", "Qualify {{.Contact.FirstName}} (budget, authority, need, timeline)", bd(2))},
					{ID: "qualification-followup", Kind: StepEmail, After: bd(4), Template: "qualification-followup"},
				},
				OnStale: &Move{MoveTo: "nurturing", Reason: "no progress in qualification within 10 business days",
					Task: task("todo", "Deal went stale in qualification: decide the next step", bd(2))},
			},
			{
				ID: "meeting", TimeLimit: bd(10),
				Steps: []Step{
					{ID: "prepare-meeting", Kind: StepTask, After: Zero, Task: task("todo", "Prepare the discovery meeting with {{.Contact.FirstName}}", bd(2))},
					{ID: "meeting-followup", Kind: StepEmail, After: bd(5), Template: "meeting-followup"},
				},
				OnStale: &Move{MoveTo: "nurturing", Reason: "no discovery meeting held within 10 business days",
					Task: task("todo", "Meeting never happened: re-engage or close", bd(2))},
			},
			{
				ID: "proposal", TimeLimit: bd(14),
				Steps: []Step{
					{ID: "proposal-followup", Kind: StepEmail, After: bd(3), Template: "proposal-followup"},
					{ID: "proposal-call", Kind: StepTask, After: bd(2), Task: task("call", "Walk {{.Contact.FirstName}} through the proposal", bd(1))},
				},
				OnStale: &Move{MoveTo: "nurturing", Reason: "proposal unanswered for 14 business days",
					Task: task("todo", "Proposal went stale: decide whether to revise or close", bd(2))},
			},
			{
				ID: "negotiation", TimeLimit: bd(21),
				Steps: []Step{
					{ID: "decision-call", Kind: StepTask, After: bd(5), Task: task("call", "Ask {{.Contact.FirstName}} for a decision", bd(1))},
				},
				OnStale: &Move{MoveTo: "lost", Reason: "negotiation stalled for 21 business days",
					Task: task("todo", "Record why the negotiation stalled", bd(3))},
			},
			{
				ID: "nurturing",
				Steps: []Step{
					{ID: "nurture", Kind: StepEmail, After: Of(21, Days), Times: 6, Template: "nurture"},
				},
				OnExhausted: &Move{After: Of(14, Days), MoveTo: "lost", Reason: "unresponsive after six nurture emails"},
			},
			{
				ID: "won", Terminal: true,
				Steps: []Step{
					{ID: "checkin-7", Kind: StepTask, After: Of(7, Days), Task: task("call", "Post-sale check-in with {{.Contact.FirstName}}", bd(2))},
					{ID: "checkin-30", Kind: StepTask, After: Of(23, Days), Task: task("call", "30-day check-in with {{.Contact.FirstName}}", bd(2))},
				},
			},
			{ID: "lost", Terminal: true},
		},
		Templates: map[string]Template{
			"intro": {
				Subject: "{{.Owner.FirstName}} from {{.Owner.Company}}: a quick idea for {{.Contact.Company}}",
				Text:    "Hi {{.Contact.FirstName}},\n\nI work with teams like {{.Contact.Company}} on their sales follow-up. Would a 20-minute call next week be useful?\n\nBest,\n{{.Owner.Name}}\n",
				HTML:    "<p>Hi {{.Contact.FirstName}},</p><p>I work with teams like {{.Contact.Company}} on their sales follow-up. Would a 20-minute call next week be useful?</p><p>Best,<br>{{.Owner.Name}}</p>",
			},
			"value-followup": {
				Subject: "Re: a quick idea for {{.Contact.Company}}",
				Text:    "Hi {{.Contact.FirstName}},\n\nFollowing up on my note: teams like yours usually cut stale deals by half in the first quarter. Worth a look?\n\n{{.Owner.Name}}\n",
				HTML:    "<p>Hi {{.Contact.FirstName}},</p><p>Following up on my note: teams like yours usually cut stale deals by half in the first quarter. Worth a look?</p><p>{{.Owner.Name}}</p>",
			},
			"qualification-followup": {
				Subject: "Next steps for {{.Contact.Company}}",
				Text:    "Hi {{.Contact.FirstName}},\n\nThanks for the conversation. Could you share who else should join the next call?\n\n{{.Owner.Name}}\n",
				HTML:    "<p>Hi {{.Contact.FirstName}},</p><p>Thanks for the conversation. Could you share who else should join the next call?</p><p>{{.Owner.Name}}</p>",
			},
			"meeting-followup": {
				Subject: "Our discovery meeting",
				Text:    "Hi {{.Contact.FirstName}},\n\nWhen would suit you for the discovery meeting? Any 30 minutes this week or next works for me.\n\n{{.Owner.Name}}\n",
				HTML:    "<p>Hi {{.Contact.FirstName}},</p><p>When would suit you for the discovery meeting? Any 30 minutes this week or next works for me.</p><p>{{.Owner.Name}}</p>",
			},
			"proposal-followup": {
				Subject: "Questions on the proposal?",
				Text:    "Hi {{.Contact.FirstName}},\n\nDid the proposal arrive safely? Happy to go through it together.\n\n{{.Owner.Name}}\n",
				HTML:    "<p>Hi {{.Contact.FirstName}},</p><p>Did the proposal arrive safely? Happy to go through it together.</p><p>{{.Owner.Name}}</p>",
			},
			"nurture": {
				Subject: "Something useful for {{.Contact.Company}}",
				Text:    "Hi {{.Contact.FirstName}},\n\nNo ask today, just a short read our customers found useful. Reply any time if the timing is better now.\n\n{{.Owner.Name}}\n",
				HTML:    "<p>Hi {{.Contact.FirstName}},</p><p>No ask today, just a short read our customers found useful. Reply any time if the timing is better now.</p><p>{{.Owner.Name}}</p>",
			},
		},
	}
}
