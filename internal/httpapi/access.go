package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/followup-engine/followup/internal/store"
)

// principal is who a request comes from, as its bearer token says.
type principal struct {
	Role  store.Role
	Email string // the user's; empty for the bootstrap API_TOKEN
	Actor string // recorded with every event the request sends (store.WithActor)
}

type principalKey struct{}

func principalOf(ctx context.Context) (principal, bool) {
	p, ok := ctx.Value(principalKey{}).(principal)
	return p, ok
}

// repScope says which of a route's targets a rep may reach: only their own.
type repScope int

const (
	repNone     repScope = iota // a rep may not use the route
	repOwnDeal                  // the {deal} in the path is one the rep owns
	repOwnOwner                 // the {owner} in the path is the rep
	repOwnList                  // ?owner= is the rep (set to the rep when absent)
)

// access is who may use a route beyond ops, who may use every one.
type access struct {
	integration bool // an integration token may (it posts events; it reads no personal data)
	rep         repScope
}

// routeAccess is the role × route table: every route that needs a token has an entry (a
// test holds it to the route table); one without an entry is for ops alone.
var routeAccess = map[string]access{
	"POST /api/deals":                            {integration: true},
	"GET /api/deals/{deal}":                      {rep: repOwnDeal},
	"POST /api/deals/{deal}/stage":               {integration: true},
	"POST /api/deals/{deal}/reopen":              {},
	"POST /api/deals/{deal}/engagements":         {integration: true},
	"POST /api/deals/{deal}/tasks/{task}/done":   {integration: true, rep: repOwnDeal},
	"POST /api/deals/{deal}/tasks/{task}/skip":   {integration: true, rep: repOwnDeal},
	"POST /api/deals/{deal}/tasks/{task}/snooze": {integration: true, rep: repOwnDeal},
	"POST /api/deals/{deal}/pause":               {rep: repOwnDeal},
	"POST /api/deals/{deal}/resume":              {rep: repOwnDeal},
	"POST /api/owners/{owner}/pause":             {rep: repOwnOwner},
	"POST /api/owners/{owner}/resume":            {rep: repOwnOwner},
	"POST /api/owners/{owner}/handover":          {}, // ops only: it moves another rep's deals
	"POST /api/pipelines/{id}/pause":             {},
	"POST /api/pipelines/{id}/resume":            {},
	"GET /api/pipelines/{id}/metrics":            {}, // ops only: every owner's figures
	"GET /api/sends":                             {},
	"POST /api/sends/hold":                       {},
	"POST /api/sends/release":                    {},
	"POST /api/cadences/preview":                 {},
	"POST /api/inbound/mime":                     {integration: true},
	"GET /api/inbound/messages":                  {},
	"GET /api/tasks":                             {rep: repOwnList},
	"GET /api/deals":                             {rep: repOwnList},
	"GET /api/cadences/{pipeline}/steps":         {},
	"POST /api/deals/{deal}/value":               {integration: true, rep: repOwnDeal},
	"GET /api/sends/forecast":                    {},
}

// auth requires a bearer token: the bootstrap API_TOKEN (ops), or a user's API token; then
// the role × route table. A refused request writes nothing.
func (s *Server) auth(pattern string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			if errors.Is(err, errNoToken) {
				s.Logger.Warn("refused: no valid bearer token", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
				w.Header().Set("WWW-Authenticate", `Bearer realm="followup"`)
				writeProblem(w, http.StatusUnauthorized, "missing or wrong bearer token", nil)
				return
			}
			s.writeError(w, r, err)
			return
		}
		if err := s.allowed(r, pattern, p); err != nil {
			s.writeError(w, r, err)
			return
		}
		ctx := context.WithValue(store.WithActor(r.Context(), p.Actor), principalKey{}, p)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

var errNoToken = errors.New("no valid bearer token")

// authenticate finds who the bearer token names. The token itself is never logged.
func (s *Server) authenticate(r *http.Request) (principal, error) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return principal{}, errNoToken
	}
	if s.Token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.Token)) == 1 {
		return principal{Role: store.RoleOps, Actor: "api-token"}, nil
	}
	u, err := s.Deals.Store.UserByToken(r.Context(), token)
	if errors.Is(err, store.ErrNotFound) {
		return principal{}, errNoToken
	}
	if err != nil {
		return principal{}, err
	}
	return principal{Role: u.Role, Email: u.Email, Actor: "user:" + u.Email}, nil
}

// errForbidden: the caller's role may not do this (403).
type errForbidden struct{ msg string }

func (e *errForbidden) Error() string { return e.msg }

// allowed applies the role × route table to a request.
func (s *Server) allowed(r *http.Request, pattern string, p principal) error {
	if p.Role == store.RoleOps {
		return nil
	}
	a := routeAccess[pattern]
	forbid := func(why string) error {
		return &errForbidden{fmt.Sprintf("%s: a %s token may not %s", pattern, p.Role, why)}
	}
	switch p.Role {
	case store.RoleIntegration:
		if a.integration {
			return nil
		}
		return forbid("use this route (integrations post events and messages)")
	case store.RoleRep:
		switch a.rep {
		case repOwnDeal:
			d, err := s.Deals.Resolve(r.Context(), r.PathValue("deal"))
			if err != nil {
				return err
			}
			owner, err := s.Deals.Store.DealOwnerEmail(r.Context(), d.ID)
			if err != nil {
				return err
			}
			if !strings.EqualFold(owner, p.Email) {
				return forbid("reach a deal another owner holds")
			}
			return nil
		case repOwnOwner:
			if !strings.EqualFold(r.PathValue("owner"), p.Email) {
				return forbid("act for another owner")
			}
			return nil
		case repOwnList:
			q := r.URL.Query()
			switch owner := q.Get("owner"); {
			case owner == "":
				q.Set("owner", p.Email)
				r.URL.RawQuery = q.Encode()
			case !strings.EqualFold(owner, p.Email):
				return forbid("list another owner's")
			}
			return nil
		}
		return forbid("use this route (reps read and work their own deals and tasks)")
	}
	return forbid("use this route")
}

// actorOr is the request's authenticated actor, or def.
func actorOr(ctx context.Context, def string) string {
	if a := store.ActorOf(ctx); a != "" {
		return a
	}
	return def
}

// rolesOf says, for the index, who may use a route.
func rolesOf(pattern string, public bool) []string {
	if public {
		return nil
	}
	roles := []string{string(store.RoleOps)}
	a := routeAccess[pattern]
	if a.rep != repNone {
		roles = append(roles, string(store.RoleRep)+" (own)")
	}
	if a.integration {
		roles = append(roles, string(store.RoleIntegration))
	}
	return slices.Clip(roles)
}
