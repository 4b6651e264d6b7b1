package cadencefile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The error classes a cadence author can hit, one file each under testdata/invalid; the
// .golden beside it holds the exact Error() output. Run with -update to rewrite them.
var errorClasses = []string{
	"syntax",
	"unknown-key",
	"wrong-type",
	"duplicate-key",
	"bad-duration",
	"unknown-stage",
	"unknown-template",
	"missing-template-file",
	"template-parse",
	"template-render",
	"task-title",
	"duplicate-step-id",
	"step-never-runs",
	"window-never-opens",
	"bad-calendar",
	"step-shape",
	"model-rules",
	"escalate",
	"stale-shape",
	"stale-ladder",
	"wait-step",
	"blocking-step",
	"on-engaged",
	"exits",
	"template-blank",
	"thread-and-sender",
	"alias-bomb",
	"too-deep",
}

func TestInvalidFilesGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	require.NoError(t, err)
	var found []string
	for _, f := range files {
		found = append(found, strings.TrimSuffix(filepath.Base(f), ".yaml"))
	}
	require.ElementsMatch(t, errorClasses, found, "every class has a file, every file a class")

	for _, class := range errorClasses {
		t.Run(class, func(t *testing.T) {
			t.Parallel()
			_, err := Load(filepath.Join("testdata", "invalid", class+".yaml"))
			var perr *Error
			require.True(t, errors.As(err, &perr), "want *Error, got %v", err)
			got := err.Error() + "\n"

			golden := filepath.Join("testdata", "invalid", class+".golden")
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			require.Equal(t, string(want), got)
		})
	}
}
