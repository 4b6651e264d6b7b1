// Package temporaltest finds the pinned Temporal CLI that integration tests start dev
// servers from; tests never download it.
package temporaltest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
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
