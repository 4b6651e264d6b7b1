package cadencefile

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExcerptKeepsTabsUnderTheCaret(t *testing.T) {
	t.Parallel()
	src := []byte("a\n\tb: {{.X}}\n")
	require.Equal(t, "  1 | a\n> 2 | \tb: {{.X}}\n    | \t   ^\n", excerpt(src, 2, 5))
	require.Empty(t, excerpt(src, 9, 1))
}

func TestEmptyFile(t *testing.T) {
	t.Parallel()
	_, err := Parse("empty.yaml", []byte("# nothing yet\n"), nil)
	require.EqualError(t, err, "empty.yaml:1:1: the file is empty: a cadence needs at least pipeline: and stages:\n> 1 | # nothing yet\n    | ^")
}

// An engagement of the wrong type is told which engagements there are, as the model lists them.
func TestWrongTypeOfEngagementNamesTheEngagements(t *testing.T) {
	t.Parallel()
	_, err := Parse("x.yaml", []byte("pipeline: x\nstages:\n  - id: a\n    on_engaged: {on: [[reply]], move_to: a, reason: r}\n"), nil)
	require.ErrorContains(t, err, "x.yaml:4:23: want reply, meeting_booked or click, got a list\n")
}
