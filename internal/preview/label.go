package preview

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/followup-engine/followup/internal/cadence"
)

// Label names an item kind for people reading a timeline: what happens at that instant.
func Label(kind cadence.ItemKind) string {
	switch kind {
	case cadence.ItemEmail:
		return "email"
	case cadence.ItemTask:
		return "task"
	case cadence.ItemStale:
		return "stale move"
	case cadence.ItemExhausted:
		return "exhausted move"
	case cadence.ItemStaleTask:
		return "stale warning task"
	case cadence.ItemWait:
		return "wait ends"
	}
	return strings.ReplaceAll(string(kind), "_", " ")
}

// WriteTable writes a timeline as an aligned table: local and UTC time, stage, what happens
// (Touch.What, the kind's label, and the item id), the subject the prospect sees (emails) and why.
func WriteTable(w io.Writer, touches []Touch) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LOCAL\tUTC\tSTAGE\tWHAT\tSUBJECT\tWHY")
	for _, t := range touches {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\t%s\t%s\n", t.Local, t.At.Format("2006-01-02 15:04Z"), t.Stage, t.What, t.Item, t.Subject, t.Reason)
	}
	return tw.Flush()
}
