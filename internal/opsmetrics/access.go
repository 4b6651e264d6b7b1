package opsmetrics

import "context"

// The access log (internal/httpapi/accesslog.go) writes its line after the answer, outside
// the handlers that learn who called: they note the caller's role on the request's context
// with NoteRole, whichever way they authenticated (an API token, a pages session).

type roleNote struct{ role string }

type roleNoteKey struct{}

// WithRoleNote gives ctx a place for NoteRole; role reads what was noted ("" for none).
func WithRoleNote(ctx context.Context) (_ context.Context, role func() string) {
	n := &roleNote{}
	return context.WithValue(ctx, roleNoteKey{}, n), func() string { return n.role }
}

// NoteRole tells the access log the role a request authenticated as; without WithRoleNote
// on ctx it does nothing.
func NoteRole(ctx context.Context, role string) {
	if n, ok := ctx.Value(roleNoteKey{}).(*roleNote); ok {
		n.role = role
	}
}
