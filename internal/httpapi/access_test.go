package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/store"
)

// writes counts the rows every write of the API touches, to show a refusal wrote nothing.
func (a *api) writes() map[string]int {
	a.t.Helper()
	out := a.counts()
	for _, table := range []string{"tasks", "pauses", "suppressions", "inbound_messages"} {
		var n int
		require.NoError(a.t, a.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n))
		out[table] = n
	}
	var held bool
	require.NoError(a.t, a.pool.QueryRow(context.Background(), "SELECT held FROM send_switch").Scan(&held))
	if held {
		out["send_switch held"] = 1
	}
	return out
}

func (a *api) token(email string, role store.Role) string {
	a.t.Helper()
	ctx := context.Background()
	_, err := a.store.AddUser(ctx, email, "", role)
	require.NoError(a.t, err)
	tok, _, err := a.store.CreateToken(ctx, email, "test")
	require.NoError(a.t, err)
	return tok
}

// The role × route table: for every route behind a token, each role either gets past the
// check or gets 403 and nothing is written; a rep reaches only their own deals and owner.
func TestRoleByRouteTable(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	ana := a.create() // owned by ana@vendor.test
	tokens := map[string]string{
		"ops":         a.token("ops@vendor.test", store.RoleOps),
		"ana (rep)":   a.token("ana@vendor.test", store.RoleRep),
		"bo (rep)":    a.token("bo@vendor.test", store.RoleRep),
		"integration": a.token("crm@vendor.test", store.RoleIntegration),
	}
	// Who gets past the check, by route; ops always does.
	mayUse := map[string][]string{
		"POST /api/deals":                            {"integration"},
		"GET /api/deals/{deal}":                      {"ana (rep)"},
		"POST /api/deals/{deal}/stage":               {"integration"},
		"POST /api/deals/{deal}/engagements":         {"integration"},
		"POST /api/deals/{deal}/tasks/{task}/done":   {"ana (rep)", "integration"},
		"POST /api/deals/{deal}/tasks/{task}/skip":   {"ana (rep)", "integration"},
		"POST /api/deals/{deal}/tasks/{task}/snooze": {"ana (rep)", "integration"},
		"POST /api/deals/{deal}/pause":               {"ana (rep)"},
		"POST /api/deals/{deal}/resume":              {"ana (rep)"},
		"POST /api/owners/{owner}/pause":             {"ana (rep)"},
		"POST /api/owners/{owner}/resume":            {"ana (rep)"},
		"POST /api/inbound/mime":                     {"integration"},
		"POST /api/deals/{deal}/value":               {"ana (rep)", "integration"},
		"GET /api/tasks":                             {"ana (rep)", "bo (rep)"}, // each their own
		"GET /api/deals":                             {"ana (rep)", "bo (rep)"},
	}
	checked := 0
	for _, r := range readIndex(t) {
		if r.Auth != "bearer" {
			continue
		}
		key := r.Method + " " + r.Path
		path := strings.NewReplacer("{deal}", ana, "{task}", "1", "{owner}", "ana@vendor.test", "{id}", "b2b-default").Replace(r.Path)
		for who, tok := range tokens {
			allowed := who == "ops"
			for _, w := range mayUse[key] {
				allowed = allowed || w == who
			}
			before := a.writes()
			resp := a.do(r.Method, path, "", "Authorization", "Bearer "+tok, "Content-Type", "")
			if allowed {
				require.NotEqual(t, http.StatusForbidden, resp.status, "%s as %s: %s", key, who, resp.raw)
				continue
			}
			require.Equal(t, http.StatusForbidden, resp.status, "%s as %s: %s", key, who, resp.raw)
			require.Contains(t, text(resp), "may not")
			require.Equal(t, before, a.writes(), "%s as %s: a refusal writes nothing", key, who)
			checked++
		}
	}
	require.Greater(t, checked, 30)

	// A rep's lists are their own: another owner's is refused, their own is answered.
	for _, path := range []string{"/api/tasks", "/api/deals"} {
		r := a.do("GET", path+"?owner=ana@vendor.test", "", "Authorization", "Bearer "+tokens["bo (rep)"])
		require.Equal(t, http.StatusForbidden, r.status, r.raw)
		r = a.do("GET", path, "", "Authorization", "Bearer "+tokens["ana (rep)"])
		require.Equal(t, http.StatusOK, r.status, r.raw)
	}
	r := a.do("GET", "/api/deals", "", "Authorization", "Bearer "+tokens["ana (rep)"])
	require.Len(t, r.body["deals"], 1, "ana's deal")
	// Bo owns no deal yet: his lists are empty, not unknown.
	for _, path := range []string{"/api/tasks", "/api/deals"} {
		r := a.do("GET", path, "", "Authorization", "Bearer "+tokens["bo (rep)"])
		require.Equal(t, http.StatusOK, r.status, r.raw)
	}
}

// Every route behind a token has an entry in the role table, and every entry is a route.
func TestEveryRouteHasItsRoles(t *testing.T) {
	t.Parallel()
	for _, r := range readIndex(t) {
		if r.Auth == "bearer" {
			require.NotEmpty(t, r.Roles, "%s %s", r.Method, r.Path)
			require.Equal(t, "ops", r.Roles[0])
		} else {
			require.Empty(t, r.Roles, "%s %s is public", r.Method, r.Path)
		}
	}
}

// A token works until revoked or its user disabled (and again once the user is enabled); the bootstrap API_TOKEN keeps working;
// each event records the authenticated actor, whatever source the caller names.
func TestTokensAndActors(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	ctx := context.Background()
	dealID := a.create()
	var actor string
	require.NoError(t, a.pool.QueryRow(ctx, `SELECT actor FROM inbound_events WHERE deal_id = $1`, dealID).Scan(&actor))
	require.Equal(t, "api-token", actor, "the bootstrap token is an actor too")

	crm := a.token("crm@vendor.test", store.RoleIntegration)
	r := a.do("POST", "/api/deals/"+dealID+"/stage", `{"stage":"qualification","event_id":"e1","source":"hubspot"}`, "Authorization", "Bearer "+crm)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.NoError(t, a.pool.QueryRow(ctx, `SELECT actor FROM inbound_events WHERE source = 'hubspot' AND source_event_id = 'e1'`).Scan(&actor))
	require.Equal(t, "user:crm@vendor.test", actor)

	tokens, err := a.store.Tokens(ctx)
	require.NoError(t, err)
	require.Len(t, tokens, 1)
	require.NotNil(t, tokens[0].LastUsedAt)
	_, err = a.store.RevokeToken(ctx, tokens[0].ID)
	require.NoError(t, err)
	r = a.do("GET", "/api/sends", "", "Authorization", "Bearer "+crm)
	require.Equal(t, http.StatusUnauthorized, r.status, "revoked")

	rep := a.token("ana@vendor.test", store.RoleRep)
	require.Equal(t, http.StatusOK, a.do("GET", "/api/deals/"+dealID, "", "Authorization", "Bearer "+rep).status)
	_, err = a.store.DisableUser(ctx, "ana@vendor.test")
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, a.do("GET", "/api/deals/"+dealID, "", "Authorization", "Bearer "+rep).status, "disabled")
	_, err = a.store.EnableUser(ctx, "ana@vendor.test")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, a.do("GET", "/api/deals/"+dealID, "", "Authorization", "Bearer "+rep).status, "enabled again: the token works again")
	tokens, err = a.store.Tokens(ctx)
	require.NoError(t, err)
	require.Equal(t, "ana@vendor.test", tokens[0].UserEmail, "newest first")
	require.False(t, tokens[0].UserDisabled)
	_, err = a.store.RevokeToken(ctx, tokens[0].ID)
	require.NoError(t, err)
	_, err = a.store.DisableUser(ctx, "ana@vendor.test")
	require.NoError(t, err)
	_, err = a.store.EnableUser(ctx, "ana@vendor.test")
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, a.do("GET", "/api/deals/"+dealID, "", "Authorization", "Bearer "+rep).status,
		"enabling a user does not bring back a revoked token")
	require.NotContains(t, a.logs.String(), rep, "tokens never appear in logs")
	require.NotContains(t, a.logs.String(), crm)
}
