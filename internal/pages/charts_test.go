package pages

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNiceScaleEndsAtARoundStepAboveTheLargestValue(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ v, top, step float64 }{
		{209, 300, 100}, {106, 150, 50}, {8.8, 10, 5}, {1, 1, 0.5}, {15100, 20000, 5000}, {0, 1, 0.25},
	} {
		top, step := niceScale(c.v)
		require.Equal(t, c.top, top, "top of %v", c.v)
		require.Equal(t, c.step, step, "step of %v", c.v)
		require.GreaterOrEqual(t, top, c.v)
	}
}

// Bars are as long as their values against the axis's end; a bar without a value has none;
// every tick is inside the plot.
func TestBarChartLengthsFollowTheValues(t *testing.T) {
	t.Parallel()
	c := newBarChart("c", "T", "x", []barSeries{{"a", classA}}, []barGroup{
		{Label: "one", Bars: []bar{measured(bar{Series: "a"}, 50)}},
		{Label: "two", Bars: []bar{measured(bar{Series: "a"}, 100), {Series: "a"}}},
	}, func(v float64) string { return "" })
	require.Empty(t, c.Empty)
	span := c.PlotRight - c.PlotLeft
	require.InDelta(t, span/2, c.Groups[0].Bars[0].W, 0.001)
	require.InDelta(t, span, c.Groups[1].Bars[0].W, 0.001)
	require.Zero(t, c.Groups[1].Bars[1].W)
	for _, tk := range c.Ticks {
		require.True(t, tk.X >= c.PlotLeft && tk.X <= c.PlotRight+0.001, "tick at %v", tk.X)
	}
	require.Greater(t, c.Height, c.AxisY)

	none := newBarChart("n", "T", "x", nil, []barGroup{{Label: "one", Bars: []bar{{Series: "a"}}}}, func(float64) string { return "" })
	require.NotEmpty(t, none.Empty, "nothing to draw says so")
}

// A missing week breaks the line instead of joining its neighbours.
func TestLineChartBreaksAtAMissingValue(t *testing.T) {
	t.Parallel()
	c := newLineChart("l", "T", "y", "x", []string{"a", "b", "c", "d"}, []lineSeries{{Name: "EUR", Class: "s0", Points: []linePoint{
		{OK: true, Measure: 1}, {OK: true, Measure: 2}, {}, {OK: true, Measure: 4},
	}}}, compactAmount)
	require.Len(t, c.Lines, 1)
	require.Len(t, c.Lines[0].Segments, 2)
	require.Len(t, strings.Fields(c.Lines[0].Segments[0]), 2)
	require.Len(t, c.Lines[0].Points, 3)
	require.Equal(t, "end", c.Lines[0].Points[2].Anchor, "the last week's label stays inside")
	require.Less(t, c.Lines[0].Points[2].Y, c.Lines[0].Points[0].Y, "higher values are drawn higher")
}
