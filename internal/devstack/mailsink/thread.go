package mailsink

import (
	"regexp"
	"slices"
	"strings"
)

// Threads are found the way mail clients find them: a message belongs with
// every message its In-Reply-To and References name, and with the messages
// that name it, transitively (also through ids of messages the sink never
// received, e.g. a reply that went out by hand).

// msgIDPattern matches one <id> of In-Reply-To or References.
var msgIDPattern = regexp.MustCompile(`<([^<>\s]+)>`)

// parseMsgIDs returns the ids of a References or In-Reply-To value, without
// angle brackets, in order and without repeats.
func parseMsgIDs(v string) []string {
	var ids []string
	for _, m := range msgIDPattern.FindAllStringSubmatch(v, -1) {
		if !slices.Contains(ids, m[1]) {
			ids = append(ids, m[1])
		}
	}
	return ids
}

// thread is one conversation of two or more stored messages.
type thread struct {
	Members []*entry // oldest first
	No      int      // threads numbered by their oldest message, from 1
}

// threads maps entries to their thread (entries alone in theirs are absent)
// and Message-IDs to the stored messages.
type threads struct {
	of        map[*entry]*thread
	byMsgID   map[string]*entry // the oldest stored message with that Message-ID
	positions map[*entry]int    // 1-based position in the thread
}

// findThreads groups es (any order) into threads.
func findThreads(es []*entry) *threads {
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		p, ok := parent[x]
		if !ok || p == x {
			parent[x] = x
			return x
		}
		r := find(p)
		parent[x] = r
		return r
	}
	union := func(a, b string) {
		if ra, rb := find(a), find(b); ra != rb {
			parent[ra] = rb
		}
	}
	// Every entry is a node of its own ("entry:" + id); its Message-ID and the
	// ids it names are joined to it.
	node := func(e *entry) string { return "entry:" + e.ID }
	for _, e := range es {
		n := node(e)
		find(n)
		if e.MessageID != "" {
			union(n, "msgid:"+e.MessageID)
		}
		for _, id := range e.InReplyTo {
			union(n, "msgid:"+id)
		}
		for _, id := range e.References {
			union(n, "msgid:"+id)
		}
	}
	oldestFirst := slices.Clone(es)
	slices.SortFunc(oldestFirst, func(a, b *entry) int { return strings.Compare(a.ID, b.ID) })
	groups := map[string]*thread{}
	t := &threads{of: map[*entry]*thread{}, byMsgID: map[string]*entry{}, positions: map[*entry]int{}}
	for _, e := range oldestFirst {
		root := find(node(e))
		g := groups[root]
		if g == nil {
			g = &thread{}
			groups[root] = g
		}
		g.Members = append(g.Members, e)
		if _, ok := t.byMsgID[e.MessageID]; e.MessageID != "" && !ok {
			t.byMsgID[e.MessageID] = e
		}
	}
	no := 0
	for _, e := range oldestFirst {
		g := groups[find(node(e))]
		if len(g.Members) < 2 || g.Members[0] != e {
			continue
		}
		no++
		g.No = no
		for i, e := range g.Members {
			t.of[e] = g
			t.positions[e] = i + 1
		}
	}
	return t
}

// parent returns the stored message e replies to: its In-Reply-To, else the
// last of its References the sink has.
func (t *threads) parent(e *entry) *entry {
	for _, id := range e.InReplyTo {
		if p, ok := t.byMsgID[id]; ok && p != e {
			return p
		}
	}
	for i := len(e.References) - 1; i >= 0; i-- {
		if p, ok := t.byMsgID[e.References[i]]; ok && p != e {
			return p
		}
	}
	return nil
}
