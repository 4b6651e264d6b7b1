package preview_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/cadencefile"
	"github.com/followup-engine/followup/internal/calendar"
	"github.com/followup-engine/followup/internal/preview"
)

func TestLabelsSayWhatHappens(t *testing.T) {
	t.Parallel()
	for kind, want := range map[cadence.ItemKind]string{
		cadence.ItemEmail:     "email",
		cadence.ItemTask:      "task",
		cadence.ItemStale:     "stale move",
		cadence.ItemExhausted: "exhausted move",
		cadence.ItemStaleTask: "stale warning task",
		cadence.ItemWait:      "wait ends",
		"some_new_kind":       "some new kind",
	} {
		require.Equal(t, want, preview.Label(kind), kind)
	}

	// Every kind the planner puts on the example cadences' timelines, whichever stage a deal
	// enters, is on them under its label, and no two kinds read the same.
	labels := map[string]string{} // kind → label
	for _, name := range []string{"b2b.yaml", "demo.yaml", "short-cycle.yaml"} {
		p, err := cadencefile.Load(example(t, name))
		require.NoError(t, err)
		for _, stage := range p.StageIDs() {
			p.Initial = stage
			touches, err := preview.Timeline(p, preview.Request{Start: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), Days: 200})
			require.NoError(t, err, "%s from %s", name, stage)
			for _, tc := range touches {
				require.Equal(t, preview.Label(cadence.ItemKind(tc.Kind)), tc.What, "%s from %s: %s", name, stage, tc.Item)
				labels[tc.Kind] = tc.What
			}
		}
	}
	planned := []cadence.ItemKind{cadence.ItemEmail, cadence.ItemTask, cadence.ItemStale, cadence.ItemExhausted, cadence.ItemStaleTask, cadence.ItemWait}
	require.Len(t, labels, len(planned), "kinds on the timelines: %v", labels)
	seen := map[string]string{} // label → kind
	for _, kind := range planned {
		label, ok := labels[string(kind)]
		require.True(t, ok, "no example timeline has a %s item", kind)
		require.NotEmpty(t, label, kind)
		require.NotContains(t, seen, label, "%s and %s both read %q", seen[label], kind, label)
		seen[label] = string(kind)
	}
}

// A deal entering b2b's qualification gets the ladder's warning task at 80% of the time limit,
// in the owner's business hours, before the move at 100%; one entering negotiation gets the
// end of its wait step. Text and JSON both say so in words.
func TestPreviewLabelsStaleWarningsAndWaits(t *testing.T) {
	t.Parallel()
	p, err := cadencefile.Load(example(t, "b2b.yaml"))
	require.NoError(t, err)
	berlin := mustLoc(t, "Europe/Berlin")
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, berlin) // a Monday
	owner := calendar.MustNew(calendar.Spec{Zone: "Europe/Berlin", Country: "de"})

	p.Initial = "qualification"
	touches, err := preview.Timeline(p, preview.Request{Start: start, Days: 30})
	require.NoError(t, err)
	warning, move := find(touches, "qualification", "stale-80#1"), find(touches, "qualification", "stale")
	require.NotNil(t, warning)
	require.NotNil(t, move)
	require.Equal(t, "stale_task", warning.Kind)
	require.Equal(t, "stale warning task", warning.What)
	require.Equal(t, "stale move", move.What)
	require.True(t, warning.At.Before(move.At))
	require.True(t, owner.IsOpen(warning.At), warning.Local)
	require.Equal(t, "Thu 2026-12-03 10:00 CET", warning.Local, "8 of 10 business days from Mon 23 Nov 10:00")
	require.False(t, warning.DueAt.IsZero(), "a warning task has a due date")

	var table bytes.Buffer
	require.NoError(t, preview.WriteTable(&table, touches))
	require.Contains(t, table.String(), "stale warning task stale-80#1")
	js, err := json.Marshal(warning)
	require.NoError(t, err)
	require.Contains(t, string(js), `"kind":"stale_task","what":"stale warning task"`)

	p.Initial = "negotiation"
	touches, err = preview.Timeline(p, preview.Request{Start: start, Days: 30})
	require.NoError(t, err)
	call, wait, next := find(touches, "negotiation", "decision-call#1"), find(touches, "negotiation", "time-to-decide#1"), find(touches, "negotiation", "open-points#1")
	require.NotNil(t, call)
	require.NotNil(t, wait)
	require.NotNil(t, next)
	require.Equal(t, "wait", wait.Kind)
	require.Equal(t, "wait ends", wait.What)
	require.Equal(t, "Mon 2026-12-07 10:00 CET", wait.Local, "5 business days after the decision call of Mon 30 Nov")
	require.Equal(t, wait.At, next.At, "the next step counts from the end of the wait")
	table.Reset()
	require.NoError(t, preview.WriteTable(&table, touches))
	require.Contains(t, table.String(), "wait ends time-to-decide#1")

	// discovery's blocking task holds the follow-up email until the owner closes it; the
	// preview's owner closes tasks when they fall due.
	p.Initial = "discovery"
	touches, err = preview.Timeline(p, preview.Request{Start: start, Days: 30})
	require.NoError(t, err)
	notes, mail := find(touches, "discovery", "send-notes#1"), find(touches, "discovery", "meeting-followup#1")
	require.NotNil(t, notes)
	require.NotNil(t, mail)
	require.True(t, mail.At.After(owner.Add(notes.DueAt, cadence.Of(2, cadence.BusinessDays)).Add(-time.Second)),
		"the email comes 2 business days after the notes are due (%s), not after they were created: %s", notes.DueAt, mail.Local)
}

func find(touches []preview.Touch, stage, item string) *preview.Touch {
	for i := range touches {
		if touches[i].Stage == stage && touches[i].Item == item {
			return &touches[i]
		}
	}
	return nil
}
