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
