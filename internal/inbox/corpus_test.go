package inbox

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/corpus.golden.json from what Read says (then check every entry by hand)")

const goldenPath = "testdata/corpus.golden.json"

// corpusNow is the clock of the corpus: the day its messages were written.
var corpusNow = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// golden is what the corpus test checks of one message. Note is written by hand and kept by
// -update: it says why an entry is what it is when that is not obvious.
type golden struct {
	Note       string            `json:"note,omitempty"`
	Kind       Kind              `json:"kind"`
	Rule       string            `json:"rule"`
	ReturnOn   string            `json:"return_on"`
	From       string            `json:"from"`
	MessageID  string            `json:"message_id"`
	Subject    string            `json:"subject"`
	Original   string            `json:"original"`
	Recipients []goldenRecipient `json:"recipients"`
	InReplyTo  []string          `json:"in_reply_to"`
	Problem    string            `json:"problem"`
}

type goldenRecipient struct {
	Address string `json:"address"`
	Action  string `json:"action"`
	Status  string `json:"status"`
}

func goldenOf(m Message, note string) golden {
	g := golden{
		Note: note, Kind: m.Kind, Rule: m.Rule, ReturnOn: m.ReturnOn, From: m.From,
		MessageID: m.MessageID, Subject: m.Subject, Original: m.Original,
		Recipients: []goldenRecipient{}, InReplyTo: []string{}, Problem: m.Problem,
	}
	for _, r := range m.Recipients {
		g.Recipients = append(g.Recipients, goldenRecipient{r.Address, r.Action, r.Status})
	}
	g.InReplyTo = append(g.InReplyTo, m.InReplyTo...)
	return g
}

func corpusFiles(t testing.TB) []string {
	files, err := filepath.Glob("testdata/corpus/*.eml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	sort.Strings(files)
	return files
}

func TestCorpus(t *testing.T) {
	want := map[string]golden{}
	if data, err := os.ReadFile(goldenPath); err == nil {
		require.NoError(t, json.Unmarshal(data, &want))
	} else if !*update {
		t.Fatalf("no golden file: run go test ./internal/inbox -run TestCorpus -update, then check it by hand: %v", err)
	}

	got := map[string]golden{}
	for _, path := range corpusFiles(t) {
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		name := filepath.Base(path)
		got[name] = goldenOf(Read(raw, corpusNow), want[name].Note)
	}

	if *update {
		data, err := json.MarshalIndent(got, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(goldenPath, append(data, '\n'), 0o644))
		return
	}
	for name, g := range got {
		w, ok := want[name]
		if !ok {
			t.Errorf("%s is not in %s: run with -update and check the new entry by hand", name, goldenPath)
			continue
		}
		require.Equal(t, w, g, name)
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("%s names %s, which is not in testdata/corpus", goldenPath, name)
		}
	}
}

// TestCorpusKinds keeps the corpus covering every kind, so that a careless -update that
// turned a kind into another would show here as well.
func TestCorpusKinds(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(goldenPath)
	require.NoError(t, err)
	var entries map[string]golden
	require.NoError(t, json.Unmarshal(data, &entries))
	seen := map[Kind]int{}
	for name, g := range entries {
		seen[g.Kind]++
		prefix, _, _ := strings.Cut(name, "-")
		switch prefix {
		case "reply":
			require.Equal(t, Reply, g.Kind, name)
		case "ooo":
			require.Equal(t, AutoReply, g.Kind, name)
		}
	}
	for _, kind := range []Kind{Reply, AutoReply, Bounce, Delayed, Complaint, Feedback, Notice, List, Unreadable} {
		require.NotZero(t, seen[kind], "no corpus message of kind %s", kind)
	}
}
