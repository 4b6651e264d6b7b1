package inbox

import (
	"os"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func FuzzRead(f *testing.F) {
	for _, path := range corpusFiles(f) {
		raw, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	kinds := map[Kind]bool{Reply: true, AutoReply: true, Bounce: true, Delayed: true, Complaint: true, Feedback: true, Notice: true, List: true, Unreadable: true}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := Read(raw, testNow)
		if !kinds[m.Kind] {
			t.Fatalf("kind %q is not one of the constants", m.Kind)
		}
		if m.Rule == "" || m.Key == "" {
			t.Fatalf("empty rule %q or key %q", m.Rule, m.Key)
		}
		if !utf8.ValidString(m.Subject) || utf8.RuneCountInString(m.Subject) > maxLineRunes {
			t.Fatalf("subject not valid or too long: %q", m.Subject)
		}
		for _, r := range m.Subject {
			if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
				t.Fatalf("control character %U in subject %q", r, m.Subject)
			}
		}
		if m.ReturnOn != "" {
			if m.Kind != AutoReply {
				t.Fatalf("return date %q on a %s", m.ReturnOn, m.Kind)
			}
			if _, err := time.Parse("2006-01-02", m.ReturnOn); err != nil {
				t.Fatalf("return date %q: %v", m.ReturnOn, err)
			}
		}
		if m.Rule == "internal error" {
			t.Fatalf("Read recovered from a panic")
		}
	})
}
