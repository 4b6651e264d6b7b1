// Package temporaltest finds the pinned Temporal CLI that integration tests start dev
// servers from (tests never download it), and reads what a deal's run received. In the unit
// tier (FOLLOWUP_TEST_TIER=unit, make test-unit) no dev server starts: Start and Shared.Get
// skip their test, StartDevServer refuses.
package temporaltest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/followup-engine/followup/internal/testtier"
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
// (namespaces, dynamic config). Stop it when done. In the unit tier it starts nothing and
// returns an error: a test should call Start, or a TestMain use Shared, which skip instead.
func StartDevServer(ctx context.Context, extra ...string) (*testsuite.DevServer, error) {
	if testtier.Unit() {
		return nil, fmt.Errorf("no Temporal dev server in the unit tier (%s=%s): start it with temporaltest.Start or Shared.Get, which skip the test",
			testtier.EnvVar, testtier.UnitValue)
	}
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

// Start starts a dev server for t (see StartDevServer), stopped when t ends. It skips t in
// the unit tier and fails it when the server does not start.
func Start(t testing.TB, extra ...string) *testsuite.DevServer {
	t.Helper()
	testtier.Needs(t, "Temporal")
	srv, err := StartDevServer(context.Background(), extra...)
	if err != nil {
		t.Fatalf("temporaltest: start dev server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return srv
}

// Shared is one dev server for a whole test binary, started by the first test that asks for
// it, so a package whose tests do not all need Temporal starts none when none of them runs
// (as in the unit tier). TestMain stops it after m.Run.
type Shared struct {
	Extra []string // more `server start-dev` flags

	once sync.Once
	srv  *testsuite.DevServer
	err  error
}

// Get returns the shared server, starting it on the first call. It skips t in the unit tier
// and fails it when the server does not start.
func (s *Shared) Get(t testing.TB) *testsuite.DevServer {
	t.Helper()
	testtier.Needs(t, "Temporal")
	s.once.Do(func() { s.srv, s.err = StartDevServer(context.Background(), s.Extra...) })
	if s.err != nil {
		t.Fatalf("temporaltest: start dev server: %v", s.err)
	}
	return s.srv
}

// Stop stops the server if a test started it.
func (s *Shared) Stop() {
	s.once.Do(func() {}) // no start after the stop
	if s.srv != nil {
		_ = s.srv.Stop()
	}
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
