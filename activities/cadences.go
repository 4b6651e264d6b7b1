package activities

import (
	"context"
	"fmt"
	"sync"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/render"
	"github.com/followup-engine/followup/internal/store"
)

// published is a cadence version as this worker's activities use it. Published versions
// never change, so each is decoded once and its email templates are parsed once, on first
// use; every attempt then shares it, read-only.
type published struct {
	store.CadenceVersion
	size      int      // bytes of its canonical form: what LoadCadence returns into a deal
	templates sync.Map // template name → *emailTemplate
}

// publishedOf wraps a pipeline that is not (or not yet) cached, as tests compose with.
func publishedOf(version int64, p cadence.Pipeline) *published {
	return &published{CadenceVersion: store.CadenceVersion{Version: version, Pipeline: p}}
}

// cadence returns a published cadence version, loading and decoding it on its first use.
// Only versions that loaded are kept: a missing one is asked for again.
func (a *Activities) cadence(ctx context.Context, version int64) (*published, error) {
	if c, ok := a.cadences.Load(version); ok {
		return c.(*published), nil
	}
	cv, err := a.Store.Cadence(ctx, version)
	if err != nil {
		return nil, err
	}
	b, err := cv.Pipeline.CanonicalJSON()
	if err != nil {
		return nil, fmt.Errorf("cadence version %d: %w", version, err)
	}
	c, _ := a.cadences.LoadOrStore(version, &published{CadenceVersion: cv, size: len(b)})
	return c.(*published), nil
}

// emailTemplate is one email template of a published cadence, parsed.
type emailTemplate struct {
	subject, text, html templatePart // html is unset when the template has no HTML part
}

// templatePart is one part of an email template: parsed, or why it does not parse.
type templatePart struct {
	name string // e.g. "intro subject", for errors
	t    *render.Template
	err  error
}

// template returns the named email template, parsing it on first use; ok is false when the
// version has no such template.
func (c *published) template(name string) (tpl *emailTemplate, ok bool) {
	if t, ok := c.templates.Load(name); ok {
		return t.(*emailTemplate), true
	}
	src, ok := c.Pipeline.Templates[name]
	if !ok {
		return nil, false
	}
	t := &emailTemplate{
		subject: parsePart(name+" subject", src.Subject, render.Subject),
		text:    parsePart(name+" text", src.Text, render.Text),
	}
	if src.HTML != "" {
		t.html = parsePart(name+" html", src.HTML, render.HTML)
	}
	got, _ := c.templates.LoadOrStore(name, t)
	return got.(*emailTemplate), true
}

func parsePart(name, src string, kind render.Kind) templatePart {
	t, err := render.Parse(name, src, kind)
	if err != nil {
		return templatePart{name: name, err: fmt.Errorf("%s: %w", name, err)}
	}
	return templatePart{name: name, t: t}
}

// set reports whether the part exists (an email template's HTML part is optional).
func (p templatePart) set() bool { return p.t != nil || p.err != nil }

// render renders the part for data, naming it in errors as renderAs does.
func (p templatePart) render(data render.Data) (string, error) {
	if p.err != nil {
		return "", p.err
	}
	out, err := p.t.Execute(data)
	if err != nil {
		return "", fmt.Errorf("%s: %w", p.name, err)
	}
	return out, nil
}
