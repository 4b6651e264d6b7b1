package integration

import (
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadencefile"
	"github.com/followup-engine/followup/internal/store"
)

// The demo pipeline file, end to end on the real stack: its intro mail arrives, its
// 40-second prospecting limit moves the deal to nurturing with the owner's task.
func TestDemoPipelineFileEndToEnd(t *testing.T) {
	t.Parallel()
	_, file, _, _ := runtime.Caller(0)
	p, err := cadencefile.Load(filepath.Join(filepath.Dir(file), "..", "..", "cadences", "demo.yaml"))
	require.NoError(t, err)
	e := newEnv(t, mainServer, "it-demo", p)
	e.start()
	created := e.create("demo-1")
	msgs := e.smtp.WaitForMessages(t, 1, 30*time.Second)
	require.Contains(t, msgs[0].Subject, "Prospect Inc")
	tl := e.eventually("the 40-second limit to move the deal to nurturing", 90*time.Second, hasTransitionTo("nurturing", 2), created.DealID)
	require.Equal(t, "no response in prospecting within 40 seconds", tl.Transitions[1].Reason)
	tl = e.eventually("the owner's task in nurturing", 10*time.Second, func(tl store.Timeline) bool {
		for _, task := range tl.Tasks {
			if task.Visit == 2 && task.State == "open" {
				return true
			}
		}
		return false
	}, created.DealID)
	require.GreaterOrEqual(t, len(e.smtp.Messages()), 2, "the intro and the 15-second follow-up")
}
