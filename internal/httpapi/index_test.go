package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type indexEntry struct {
	Method  string   `json:"method"`
	Path    string   `json:"path"`
	Auth    string   `json:"auth"`
	Roles   []string `json:"roles"`
	Purpose string   `json:"purpose"`
}

// readIndex asks GET / without a token, as a person trying the root URL would.
func readIndex(t *testing.T) []indexEntry {
	t.Helper()
	w := httptest.NewRecorder()
	bareHandler().ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	var ix struct {
		Service string       `json:"service"`
		Auth    string       `json:"auth"`
		Routes  []indexEntry `json:"routes"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &ix))
	require.Equal(t, "followup", ix.Service)
	require.Contains(t, ix.Auth, "Authorization: Bearer")
	return ix.Routes
}

var wildcard = regexp.MustCompile(`\{[a-z]+\}`)

// samplePath fills an index path's wildcards: {task} with a task id, the rest with a deal
// name (any segment does).
func samplePath(path string) string {
	path = strings.ReplaceAll(path, "{task}", "1")
	return wildcard.ReplaceAllString(path, "crm:x")
}

// The root URL answers the index of the routes, built from the table the mux is built from:
// every route it lists is served (by its own handler, not the no-route answer), behind the
// bearer token exactly when the index says so.
func TestRootListsEveryRouteServed(t *testing.T) {
	t.Parallel()
	routes := readIndex(t)
	seen := map[string]bool{}
	for _, r := range routes {
		key := r.Method + " " + r.Path
		require.False(t, seen[key], "listed twice: %s", key)
		seen[key] = true
		require.NotEmpty(t, r.Purpose, key)
		require.NotContains(t, r.Purpose, "\n", key)
		require.Contains(t, []string{"bearer", "none"}, r.Auth, key)

		w := httptest.NewRecorder()
		bareHandler().ServeHTTP(w, httptest.NewRequest(r.Method, samplePath(r.Path), strings.NewReader("")))
		require.NotContains(t, w.Body.String(), "no route", "%s: not served", key)
		require.NotEqual(t, http.StatusMethodNotAllowed, w.Code, key)
		if r.Auth == "bearer" {
			require.Equal(t, http.StatusUnauthorized, w.Code, "%s without a token: %s", key, w.Body.String())
			require.True(t, strings.HasPrefix(r.Path, "/api/"), "%s: bearer routes live under /api/", key)
		} else {
			require.NotEqual(t, http.StatusUnauthorized, w.Code, "%s is public", key)
			// The OpenAPI document is public, as the index is: it tells what the index tells.
			require.False(t, strings.HasPrefix(r.Path, "/api/") && r.Path != "/api/openapi.json", "%s: every /api/ route but the OpenAPI document needs the token", key)
		}
	}
	for _, want := range []string{"GET /", "GET /healthz", "GET /readyz", "POST /api/deals", "GET /api/deals/{deal}",
		"POST /api/deals/{deal}/stage", "POST /api/sends/hold", "POST /u/{token}"} {
		require.True(t, seen[want], "the index lacks %s", want)
	}
}

// A request no route takes gets a JSON problem: 404 for an unknown path, 405 with Allow for a
// known path and another method. The index itself is only at the root.
func TestNoRouteAnswersJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		method, path string
		status       int
		want, allow  string
	}{
		{"GET", "/nope", 404, "no route GET /nope; GET / lists the routes", ""},
		{"GET", "/index.html", 404, "no route GET /index.html; GET / lists the routes", ""},
		{"POST", "/api/deals/crm:x/nothing", 404, "no route POST /api/deals/crm:x/nothing; GET / lists the routes", ""},
		{"DELETE", "/api/deals", 405, "DELETE /api/deals: method not allowed (allowed: GET, HEAD, POST); GET / lists the routes", "GET, HEAD, POST"},
		{"POST", "/", 405, "POST /: method not allowed (allowed: GET, HEAD); GET / lists the routes", "GET, HEAD"},
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		bareHandler().ServeHTTP(w, httptest.NewRequest(c.method, c.path, nil))
		require.Equal(t, c.status, w.Code, "%s %s: %s", c.method, c.path, w.Body.String())
		require.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
		require.Equal(t, c.allow, w.Header().Get("Allow"))
		var answer map[string]any
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &answer), w.Body.String())
		require.Equal(t, c.want, answer["error"])
	}
}
