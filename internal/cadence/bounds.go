package cadence

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Bounds of a cadence version, in bytes of its canonical form (CanonicalJSON). A deal's
// workflow receives its version as one activity result (LoadCadence), which Temporal's JSON
// converter encodes exactly as CanonicalJSON does, so these bytes are the payload. The
// server warns about a payload over limit.blobSize.warn (512 KiB by default) and fails it
// over limit.blobSize.error (2 MiB); every run's history holds one copy of the version (one
// more per migration) against its 50 MB limit. The bounds keep a version well under all of
// them, and validate and publish refuse what is over.
const (
	// MaxTemplateBytes bounds one email template: its subject, text and HTML together. Gmail
	// clips an HTML body over 102 KB, so a real email is well under it; the margin covers
	// the JSON escaping of <, > and &, six bytes each.
	MaxTemplateBytes = 128 << 10
	// MaxVersionBytes bounds a whole version, model and templates: three templates at their
	// bound, or dozens of real ones. It stays under the 512 KiB at which the server starts
	// warning, and a fifth of the 2 MiB at which it fails the activity.
	MaxVersionBytes = 384 << 10
	// MaxLoadBytes is the largest version a worker loads into a deal. Versions published
	// before MaxVersionBytes existed may be over it and run today, so the worker refuses
	// only what Temporal would refuse anyway: a payload over its default 2 MiB, less room
	// for the payload's envelope.
	MaxLoadBytes = 2<<20 - 64<<10
)

// SizeError says that a version, or one of its templates, is over its bound.
type SizeError struct {
	What  string // "template \"intro\"", "cadence b2b"
	Size  int    // bytes of canonical JSON
	Bound int
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("%s is %s in its canonical form, over the %s bound", e.What, FormatBytes(e.Size), FormatBytes(e.Bound))
}

// CanonicalSize is the template's size in a version's canonical form.
func (t Template) CanonicalSize() int {
	b, _ := json.Marshal(t) // strings only: it cannot fail
	return len(b)
}

// CheckBounds refuses a pipeline that is over MaxVersionBytes, or has a template over
// MaxTemplateBytes; every such problem is in the error, each a *SizeError.
func (p Pipeline) CheckBounds() error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(p.Templates)) {
		if n := p.Templates[name].CanonicalSize(); n > MaxTemplateBytes {
			errs = append(errs, &SizeError{What: fmt.Sprintf("template %q", name), Size: n, Bound: MaxTemplateBytes})
		}
	}
	b, err := p.CanonicalJSON()
	if err != nil {
		return err
	}
	if len(b) > MaxVersionBytes {
		errs = append(errs, &SizeError{What: "cadence " + p.ID, Size: len(b), Bound: MaxVersionBytes})
	}
	return errors.Join(errs...)
}

// FormatBytes writes a size for people: 900 bytes, 12.5 KiB, 384 KiB, 6.1 MiB. A size
// just over a whole number of units (384.01 KiB) is written in bytes, so that a size just
// over a bound never reads as the bound itself.
func FormatBytes(n int) string {
	unit, size := " KiB", float64(n)/(1<<10)
	switch {
	case n < 1<<10:
		return strconv.Itoa(n) + " bytes"
	case n >= 1<<20:
		unit, size = " MiB", float64(n)/(1<<20)
	}
	s := strconv.FormatFloat(size, 'f', 1, 64)
	whole, ok := strings.CutSuffix(s, ".0")
	switch {
	case !ok:
		return s + unit
	case size > float64(int(size)) && whole == strconv.Itoa(int(size)):
		return strconv.Itoa(n) + " bytes"
	}
	return whole + unit
}
