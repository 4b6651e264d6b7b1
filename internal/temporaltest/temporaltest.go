// Package temporaltest finds the pinned Temporal CLI that integration tests start dev
// servers from; tests never download it.
package temporaltest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"go.temporal.io/sdk/client"
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
