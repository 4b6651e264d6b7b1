package workflows_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/worker"

	"github.com/followup-engine/followup/workflows"
)

// The fixtures are histories captured from a real dev server by the integration tests
// (`go test ./internal/integration -update`). Until the first release, an incompatible
// change may regenerate them; after it, such a change goes behind workflow.GetVersion.

func fixtures(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no replay fixtures in testdata/%s", dir)
	return files
}

func TestReplayCapturedHistories(t *testing.T) {
	t.Parallel()
	files := fixtures(t, "replay")
	for _, want := range []string{"lifecycle", "restart", "closed", "reopened", "continue-as-new", "migrate", "engagement"} {
		require.Contains(t, files, filepath.Join("testdata", "replay", want+".json"))
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			t.Parallel()
			replayer := worker.NewWorkflowReplayer()
			replayer.RegisterWorkflow(workflows.DealWorkflow)
			require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, file))
		})
	}
}

func TestIncompatibleHistoryFailsWithNonDeterminism(t *testing.T) {
	t.Parallel()
	for _, file := range fixtures(t, "replay-incompatible") {
		replayer := worker.NewWorkflowReplayer()
		replayer.RegisterWorkflow(workflows.DealWorkflow)
		err := replayer.ReplayWorkflowHistoryFromJSONFile(nil, file)
		require.Error(t, err, file)
		require.Contains(t, err.Error(), "nondeterministic workflow", "%s: want a non-determinism error, got: %v", file, err)
	}
}

// Planned instants are recorded in history (SideEffect markers), so a later planner, tzdata
// or holiday change cannot alter how a running deal replays.
func TestCapturedHistoriesRecordPlannedInstants(t *testing.T) {
	t.Parallel()
	for _, file := range fixtures(t, "replay") {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		hist := &historypb.History{}
		require.NoError(t, temporalproto.CustomJSONUnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, hist))
		markers := 0
		for _, ev := range hist.Events {
			if ev.EventType == enumspb.EVENT_TYPE_MARKER_RECORDED &&
				ev.GetMarkerRecordedEventAttributes().GetMarkerName() == "SideEffect" {
				markers++
			}
		}
		require.Positive(t, markers, "%s records no planned instants", file)
	}
}
