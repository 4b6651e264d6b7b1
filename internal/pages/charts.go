package pages

import (
	"math"
	"strconv"
)

// The dashboard's charts are SVG drawn on the server: Go computes the geometry here and
// templates/charts.html writes the elements, so html/template escapes every label. No script
// draws them (the pages' CSP allows none but htmx) and nothing is fetched from elsewhere. Each
// chart has a viewBox and scales to the width of the screen; every bar and point carries its
// value as text and a <title> tooltip.

// chartWidth is the width of every chart in viewBox units; narrow enough that the text stays
// readable when a phone scales the chart down.
const chartWidth = 360

// Horizontal bar charts: a label column on the left, the bars, their values on the right.
const (
	barLabelWidth = 100
	barValueWidth = 84
	barHeight     = 14
	barGap        = 3
	groupGap      = 12
	chartTop      = 34 // room for the title and the legend
	axisHeight    = 40 // tick labels and the axis label
)

// barChart is a horizontal grouped bar chart.
type barChart struct {
	ID, Title, AxisLabel string
	Width                float64 // of the viewBox
	LabelX               float64 // where the group labels end
	Legend               []legendItem
	Groups               []barGroup
	Ticks                []tick
	Height               float64
	AxisY                float64 // the x axis's line
	GridTop              float64
	PlotLeft, PlotRight  float64
	AxisLabelX           float64
	AxisLabelY           float64
	Empty                string // said instead of the chart when there is nothing to draw
}

type legendItem struct {
	Name     string
	Class    string
	X, TextX float64
}

type barGroup struct {
	Label  string
	LabelY float64
	Bars   []bar
}

// bar is one bar; Value is what the API says (data-value), Text what the chart shows.
type bar struct {
	Series, Class string
	Value, Text   string
	Tooltip       string
	X, Y, W, H    float64
	TextX, TextY  float64
	Metric        string // the data-metric name, for the browser test
	measure       float64
	hasMeasure    bool
}

type tick struct {
	X, Y  float64
	LineY float64 // a y tick's grid line
	Label string
}

// barSeries names one series of a bar chart (its legend entry and CSS class).
type barSeries struct {
	Name, Class string
}

// newBarChart lays out groups of bars; each bar's measure sets its length against the
// largest. unit formats a tick's value.
func newBarChart(id, title, axisLabel string, series []barSeries, groups []barGroup, unit func(float64) string) barChart {
	c := barChart{ID: id, Title: title, AxisLabel: axisLabel, Width: chartWidth, LabelX: barLabelWidth - 6,
		PlotLeft: barLabelWidth, PlotRight: chartWidth - barValueWidth}
	x := 0.0
	for _, s := range series {
		c.Legend = append(c.Legend, legendItem{Name: s.Name, Class: s.Class, X: x, TextX: x + 14})
		x += 14 + 6.5*float64(len([]rune(s.Name))) + 16
	}
	largest := 0.0
	any := false
	for _, g := range groups {
		for _, b := range g.Bars {
			if b.hasMeasure {
				any = true
				largest = math.Max(largest, b.measure)
			}
		}
	}
	if !any {
		c.Empty = "Nothing to chart for this period."
		return c
	}
	top, step := niceScale(largest)
	span := c.PlotRight - c.PlotLeft
	y := float64(chartTop)
	for _, g := range groups {
		start := y
		for i := range g.Bars {
			b := &g.Bars[i]
			b.X, b.Y, b.H = c.PlotLeft, y, barHeight
			if b.hasMeasure { // niceScale's top is never 0
				b.W = span * b.measure / top
			}
			b.TextX, b.TextY = b.X+b.W+4, y+barHeight-3
			y += barHeight + barGap
		}
		g.LabelY = (start+y-barGap)/2 + 4
		c.Groups = append(c.Groups, g)
		y += groupGap
	}
	c.AxisY = y
	for v := 0.0; v <= top+step/2; v += step {
		c.Ticks = append(c.Ticks, tick{X: c.PlotLeft + span*v/top, Y: y + 14, Label: unit(v)})
	}
	c.Height = y + axisHeight
	c.GridTop = chartTop - 4
	c.AxisLabelX, c.AxisLabelY = (c.PlotLeft+c.PlotRight)/2, c.Height-6
	return c
}

// measured is a bar of the given length; unmeasured (no value) draws none.
func measured(b bar, v float64) bar {
	b.measure, b.hasMeasure = v, true
	return b
}

// lineChart is a chart of series over the same points in time.
type lineChart struct {
	ID, Title, AxisLabel, XLabel string
	Width                        float64 // of the viewBox
	Legend                       []legendItem
	Lines                        []line
	XTicks, YTicks               []tick
	Height                       float64
	PlotLeft, PlotRight          float64
	PlotTop, PlotBottom          float64
	AxisLabelX, AxisLabelY       float64
	YLabelY                      float64
	Empty                        string
}

type line struct {
	Series, Class string
	Segments      []string // polyline points, "x,y x,y"; a missing value breaks the line
	Points        []point
}

type point struct {
	X, Y         float64
	Anchor       string // of the value's text: the last point's ends at it, inside the chart
	Value, Text  string
	Tooltip      string
	Metric       string
	TextX, TextY float64
}

// linePoint is one value of a series at one of the chart's x positions; ok false is none.
type linePoint struct {
	Value, Text, Tooltip, Metric string
	Measure                      float64
	OK                           bool
}

// lineSeries is one line's values, one per x label.
type lineSeries struct {
	Name, Class string
	Points      []linePoint
}

const (
	lineLeft   = 52
	lineRight  = 18
	lineTop    = 40
	lineHeight = 170
)

// newLineChart lays out series over xLabels (every other label shown when there are many).
func newLineChart(id, title, axisLabel, xLabel string, xLabels []string, series []lineSeries, unit func(float64) string) lineChart {
	c := lineChart{ID: id, Title: title, AxisLabel: axisLabel, XLabel: xLabel, Width: chartWidth, PlotLeft: lineLeft,
		PlotRight: chartWidth - lineRight, PlotTop: lineTop, PlotBottom: lineTop + lineHeight}
	c.Height = c.PlotBottom + 48
	c.AxisLabelX, c.AxisLabelY = (c.PlotLeft+c.PlotRight)/2, c.Height-6
	c.YLabelY = (c.PlotTop + c.PlotBottom) / 2
	x := 0.0
	for _, s := range series {
		c.Legend = append(c.Legend, legendItem{Name: s.Name, Class: s.Class, X: x, TextX: x + 14})
		x += 14 + 6.5*float64(len([]rune(s.Name))) + 16
	}
	largest, any := 0.0, false
	for _, s := range series {
		for _, p := range s.Points {
			if p.OK {
				any = true
				largest = math.Max(largest, p.Measure)
			}
		}
	}
	if !any || len(xLabels) == 0 {
		c.Empty = "No velocity in these weeks: it needs won deals, a win rate and open deals with an amount."
		return c
	}
	top, step := niceScale(largest)
	xAt := func(i int) float64 {
		if len(xLabels) == 1 {
			return (c.PlotLeft + c.PlotRight) / 2
		}
		return c.PlotLeft + (c.PlotRight-c.PlotLeft)*float64(i)/float64(len(xLabels)-1)
	}
	yAt := func(v float64) float64 { // niceScale's top is never 0
		return c.PlotBottom - (c.PlotBottom-c.PlotTop)*v/top
	}
	every := 1
	if len(xLabels) > 7 {
		every = 2
	}
	for i, l := range xLabels {
		if (len(xLabels)-1-i)%every == 0 { // the latest week always has its label
			c.XTicks = append(c.XTicks, tick{X: xAt(i), Y: c.PlotBottom + 16, Label: l})
		}
	}
	for v := 0.0; v <= top+step/2; v += step {
		c.YTicks = append(c.YTicks, tick{X: c.PlotLeft - 6, Y: yAt(v) + 4, LineY: yAt(v), Label: unit(v)})
	}
	for si, s := range series {
		ln := line{Series: s.Name, Class: s.Class}
		seg := ""
		for i, p := range s.Points {
			if i >= len(xLabels) {
				break
			}
			if !p.OK {
				if seg != "" {
					ln.Segments = append(ln.Segments, seg)
					seg = ""
				}
				continue
			}
			px, py := xAt(i), yAt(p.Measure)
			if seg != "" {
				seg += " "
			}
			seg += coord(px) + "," + coord(py)
			// Alternate the value labels above and below the point so that two lines' labels
			// at the same week do not overlap.
			ty := py - 7
			if si%2 == 1 {
				ty = py + 14
			}
			anchor := "middle"
			if i == len(xLabels)-1 && len(xLabels) > 1 {
				anchor = "end"
			}
			ln.Points = append(ln.Points, point{X: px, Y: py, Anchor: anchor, Value: p.Value, Text: p.Text, Tooltip: p.Tooltip,
				Metric: p.Metric, TextX: px, TextY: ty})
		}
		if seg != "" {
			ln.Segments = append(ln.Segments, seg)
		}
		c.Lines = append(c.Lines, ln)
	}
	return c
}

func coord(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// niceScale picks a step of 1, 2 or 5 × 10^n giving at most four ticks up to v, and the
// axis end: the first step at or above v.
func niceScale(v float64) (top, step float64) {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1, 0.25
	}
	raw := v / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step = 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	return math.Ceil(v/step) * step, step
}
