package cadencefile

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	rendering "github.com/followup-engine/followup/internal/render"
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

// A rung's share is a whole number with an optional %; one too large for an int is out of
// range, not malformed.
func TestRungSharesAreWholePercentages(t *testing.T) {
	t.Parallel()
	for text, want := range map[percentText]int{"80%": 80, " 80 ": 80, "100": 100, "0 %": 0, "99999999999999999999%": math.MaxInt} {
		n, ok := parsePercent(text)
		require.True(t, ok, text)
		require.Equal(t, want, n, text)
	}
	for _, text := range []percentText{"", "eighty", "80.5%", "-5%", "80%%"} {
		_, ok := parsePercent(text)
		require.False(t, ok, text)
	}
	src := "pipeline: x\nstages:\n  - id: a\n    time_limit: 3 days\n    on_stale:\n      - {at: 99999999999999999999%, task: {kind: todo, title: t}}\n      - {at: 100%, move_to: a, reason: r}\n"
	_, err := Parse("x.yaml", []byte(src), nil)
	require.ErrorContains(t, err, "x.yaml:6:14: at: 99999999999999999999% is out of range")
}

// render renders as the given kind and returns what the blank contact got: a subject or a
// task title folded onto one line, as the send and task activities render them.
func TestRenderReturnsTheBlankContactsOutput(t *testing.T) {
	t.Parallel()
	src := "Hi {{.Contact.FirstName | default \"there\"}},\n  {{.Contact.Company}}\n"
	blank, note, err := render("s", src, rendering.Subject)
	require.NoError(t, err)
	require.Empty(t, note)
	require.Equal(t, "Hi there,", blank)
	blank, _, err = render("t", src, rendering.Text)
	require.NoError(t, err)
	require.Equal(t, "Hi there,\n  \n", blank)
	_, note, err = render("t", "{{index .Contact.FirstName 0}}", rendering.Subject)
	require.Error(t, err)
	require.Contains(t, note, "with a contact known only by email address")
}

// A stage's probability is 0 to 100, and a terminal stage's is won (100) or lost (0); each
// problem points at the key.
func TestProbabilityIsAPercentageAndTerminalStagesAreWonOrLost(t *testing.T) {
	t.Parallel()
	src := "pipeline: x\nstages:\n  - id: a\n    probability: 150\n  - id: won\n    terminal: true\n    probability: 50\n"
	_, err := Parse("x.yaml", []byte(src), nil)
	require.ErrorContains(t, err, "x.yaml:4:18: stage \"a\" probability: 150: want 0 to 100")
	require.ErrorContains(t, err, "x.yaml:7:18: stage \"won\" probability: a terminal stage is won (100) or lost (0), not 50")
	f, err := Parse("x.yaml", []byte("pipeline: x\nstages:\n  - id: a\n    probability: 20\n  - id: closed\n    terminal: true\n    probability: 100\n  - id: won\n    terminal: true\n    probability: 0\n"), nil)
	require.NoError(t, err)
	require.Equal(t, 20, *f.Stages[0].Probability)
	require.True(t, f.Stages[1].Won(), "probability 100 is won, whatever the id")
	require.False(t, f.Stages[2].Won())
}
