package workflows_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/cadencefile"
	"github.com/followup-engine/followup/internal/preview"
	"github.com/followup-engine/followup/workflows"
)

// Ninety days of each example cadence, run by the workflow with time skipping, match the
// preview touch for touch: the preview is the timeline deals really get. A few instants are
// also pinned by hand.
func TestExampleCadencesRunAsPreviewed(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	newYork, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	cases := []struct {
		file   string
		start  time.Time
		pinned map[string]string // item → local time the deal must get
	}{
		{"b2b.yaml", time.Date(2026, 5, 22, 16, 30, 0, 0, berlin), map[string]string{ // Friday before Whit Monday
			"prospecting/intro#1": "Tue 2026-05-26 09:08 CEST", // the window opens at 09:00; the deal's jitter adds 8 minutes
			"prospecting/stale":   "Mon 2026-06-15 16:30 CEST",
		}},
		{"short-cycle.yaml", time.Date(2026, 11, 25, 15, 0, 0, 0, newYork), nil}, // the day before Thanksgiving
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			t.Parallel()
			p, err := cadencefile.Load(filepath.Join("..", "cadences", c.file))
			require.NoError(t, err)
			in := newInput()
			want, err := preview.Timeline(p, preview.Request{Start: c.start, Days: 90, DealID: in.DealID})
			require.NoError(t, err)

			env, rec := newEnvVersions(t, map[int64]cadence.Pipeline{3: p})
			env.SetStartTime(c.start)
			env.RegisterDelayedCallback(env.CancelWorkflow, 90*24*time.Hour)
			in.Start.Stage, in.Start.SourceTime = p.Initial, c.start
			env.ExecuteWorkflow(workflows.DealWorkflow, in)
			require.True(t, env.IsWorkflowCompleted())

			defer rec.lock()()
			var got []string
			sends, tasks, moves := 0, 0, 1 // the first transition is the deal's entry
			for _, w := range want {
				var at time.Time
				switch w.Kind {
				case "email":
					require.Less(t, sends, len(rec.sends), "the workflow sent fewer emails than previewed")
					require.Equal(t, w.Item, fmt.Sprintf("%s#%d", rec.sends[sends].StepID, rec.sends[sends].Occurrence))
					at = rec.sentAt[sends]
					sends++
				case "task", "stale_task":
					require.Less(t, tasks, len(rec.tasks))
					require.Equal(t, w.Item, fmt.Sprintf("%s#%d", rec.tasks[tasks].StepID, rec.tasks[tasks].Occurrence))
					at = rec.tasks[tasks].At
					tasks++
				case "wait":
					continue // nothing to observe: the steps after it carry its end
				default: // stale, exhausted: a move, which may bring its own task
					require.Less(t, moves, len(rec.transitions))
					at = rec.transitions[moves].At
					moves++
					if tasks < len(rec.tasks) && rec.tasks[tasks].StepID == "move-from-"+w.Stage {
						tasks++
					}
				}
				require.Equal(t, w.At, at.UTC(), "%s/%s: preview says %s", w.Stage, w.Item, w.Local)
				got = append(got, w.Stage+"/"+w.Item)
				if local, ok := c.pinned[w.Stage+"/"+w.Item]; ok {
					require.Equal(t, local, w.Local)
				}
			}
			require.Len(t, rec.sends, sends, "no email beyond the preview")
			require.Len(t, rec.tasks, tasks, "no task beyond the preview")
			require.NotEmpty(t, got)
			t.Logf("%s: %d touches matched over 90 days", c.file, len(got))
		})
	}
}
