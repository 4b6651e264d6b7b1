package cadencefile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzParse loads any bytes as a cadence file beside the example templates. Whatever the
// input, Parse returns (without panicking, and reading at most MaxFileBytes of it) either a
// pipeline that passes the model's checks and is within the version's bounds, or an *Error
// whose every problem is placed in a file. `go test` runs the seeds: the examples, every
// invalid file, the alias bomb and the other inputs the bounds are for, and what fuzzing
// found (testdata/fuzz/FuzzParse); `go test -fuzz FuzzParse ./internal/cadencefile`
// explores from them.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{filepath.Join(examples, "*.yaml"), filepath.Join("testdata", "invalid", "*.yaml")} {
		files, err := filepath.Glob(pattern)
		require.NoError(f, err)
		for _, name := range files {
			src, err := os.ReadFile(name)
			require.NoError(f, err)
			f.Add(src)
		}
	}
	for _, src := range []string{
		"",
		"pipeline: x\nstages: [{id: a, steps: [{email: intro, times: 2000000000}]}]\n",
		"pipeline: x\nstages: [{id: a}]\nx: &a [1, 2]\ny: *a\n",
		"pipeline: x\nstages: " + strings.Repeat("[", 200),
		"pipeline: x\nstages:\n" + strings.Repeat("- ", 200) + "x\n",
		"pipeline: x\nstages: [{id: a, steps: [{id: t, task: {kind: todo, title: \"{{.Contact.FirstName}}\", due_in: 1 day}}]}]\n",
		"pipeline: x\nstages:\n  - id: a\n    time_limit: 999999999999 days\n    on_stale: [{at: 1%, task: {kind: todo, title: t}}, {at: 100%, move_to: a, reason: r}]\n",
		"# " + strings.Repeat("x", MaxFileBytes),
	} {
		f.Add([]byte(src))
	}
	fsys := os.DirFS(examples)
	f.Fuzz(func(t *testing.T, src []byte) {
		start := time.Now()
		p, err := Parse("fuzz.yaml", src, fsys)
		// Far above what any file under MaxFileBytes takes (tens of milliseconds), to be
		// safe on a busy machine, and far below what the bounds are there to prevent.
		require.Less(t, time.Since(start), 5*time.Second, "%d bytes took too long", len(src))
		if err != nil {
			var perr *Error
			require.True(t, errors.As(err, &perr), "want *Error, got %v", err)
			require.NotEmpty(t, perr.Problems)
			for _, pr := range perr.Problems {
				require.NotContains(t, pr.Message, errReaderPanic.Error(), "the YAML library panicked: refuse the input before it reads it")
				require.NotEmpty(t, pr.File)
				require.GreaterOrEqual(t, pr.Line, 1, pr.String())
				require.GreaterOrEqual(t, pr.Col, 1, pr.String())
				require.NotEmpty(t, pr.Message)
			}
			if len(src) > MaxFileBytes {
				require.Len(t, perr.Problems, 1)
				require.Contains(t, perr.Problems[0].Message, "bound of a cadence file")
			}
			return
		}
		require.LessOrEqual(t, len(src), MaxFileBytes)
		require.NoError(t, p.Validate())
		require.NoError(t, p.CheckBounds())
	})
}
