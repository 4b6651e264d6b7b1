// Package temporaltest finds the pinned Temporal CLI that integration tests start dev
// servers from (tests never download it), and reads what a deal's run received.
package temporaltest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/followup-engine/followup/workflows"
)

// CLIPath returns $TEMPORAL_CLI, else $(go env GOPATH)/bin/temporal, else temporal on PATH.
func CLIPath() (string, error) {
	if p := os.Getenv("TEMPORAL_CLI"); p != "" {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		home, _ := os.UserHomeDir()
		gopath = filepath.Join(home, "go")
	}
	if p := filepath.Join(filepath.SplitList(gopath)[0], "bin", "temporal"); isFile(p) {
		return p, nil
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	return "", errors.New("the Temporal CLI is not installed: run `make test`, which installs the pinned v1.5.1, " +
		"or `go install github.com/temporalio/cli/cmd/temporal@v1.5.1`, or set TEMPORAL_CLI")
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// StartDevServer starts the pinned CLI's dev server on free ports with the deal search
// attributes registered and its output discarded; extra are more `server start-dev` flags
// (namespaces, dynamic config). Stop it when done.
func StartDevServer(ctx context.Context, extra ...string) (*testsuite.DevServer, error) {
	cli, err := CLIPath()
	if err != nil {
		return nil, err
	}
	return testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:     cli,
		ClientOptions:    &client.Options{Namespace: "default", Logger: QuietLogger()},
		LogLevel:         "error",
		SearchAttributes: workflows.SearchAttributes(),
		ExtraArgs:        extra,
		Stdout:           io.Discard,
		Stderr:           io.Discard,
	})
}

// QuietLogger is a Temporal client logger that discards, for tests.
func QuietLogger() tlog.Logger {
	return tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// DealRun is what a deal's current run received, read from its history, so a test needs no
// worker to see it: the input the run started with, and the deal events signalled to it in
// history order (the proof that a request reached the deal).
type DealRun struct {
	Input   workflows.DealInput
	Signals []workflows.Event
}

// ReadDealRun reads the history of the deal's current run; it fails the test if the run has
// no start.
func ReadDealRun(t testing.TB, c client.Client, dealID string) DealRun {
	t.Helper()
	iter := c.GetWorkflowHistory(context.Background(), workflows.WorkflowID(dealID), "", false,
		enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var run DealRun
	started := false
	for iter.HasNext() {
		he, err := iter.Next()
		require.NoError(t, err)
		if a := he.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &run.Input))
			started = true
		}
		if a := he.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.GetSignalName() == workflows.EventSignal {
			var ev workflows.Event
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &ev))
			run.Signals = append(run.Signals, ev)
		}
	}
	require.True(t, started, "deal %s: its run's history has no start", dealID)
	return run
}

// LastSignal is the last deal event the run received; it fails the test if there is none.
func (r DealRun) LastSignal(t testing.TB) workflows.Event {
	t.Helper()
	require.NotEmpty(t, r.Signals, "the deal's run received no deal event")
	return r.Signals[len(r.Signals)-1]
}
