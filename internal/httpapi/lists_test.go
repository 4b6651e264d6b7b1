package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/store"
)

// noTemporal is an address nothing answers at: the lists read PostgreSQL alone.
const noTemporal = "127.0.0.1:1"

// seedDeal records a deal of owner (with zone) for contact, straight in the store.
func seedDeal(t *testing.T, a *api, owner, zone, contact string) store.Deal {
	t.Helper()
	c, err := a.store.CreateDeal(context.Background(), store.NewDeal{
		Source: "crm", ExternalID: contact, Title: "Pilot for " + contact,
		Owner:          store.OwnerInput{Email: owner, Zone: zone},
		Contact:        store.ContactInput{Email: contact, FirstName: "Bob", LastName: "Stone"},
		CadenceVersion: cadence.DefaultVersion, EventID: "create:" + contact, SourceTime: time.Now(),
	})
	require.NoError(t, err)
	return c.Deal
}

func seedTask(t *testing.T, a *api, d store.Deal, step string, due time.Time) int64 {
	t.Helper()
	task, err := a.store.CreateTask(context.Background(), store.NewTask{DealID: d.ID, Visit: 1, StepID: step, Occurrence: 1,
		Kind: "call", Title: "Call about " + step, DueAt: due, At: time.Now()})
	require.NoError(t, err)
	return task.ID
}

type taskPage struct {
	Owner string `json:"owner"`
	Zone  string `json:"zone"`
	Tasks []struct {
		ID       int64     `json:"id"`
		DealID   string    `json:"deal_id"`
		Contact  string    `json:"contact_email"`
		Name     string    `json:"contact_name"`
		Step     string    `json:"step"`
		DueAt    time.Time `json:"due_at"`
		DueLocal string    `json:"due_local"`
		Blocking *bool     `json:"blocking"`
		Deal     string    `json:"deal"`
	} `json:"tasks"`
	Next string `json:"next"`
}

func (a *api) tasks(query string) taskPage {
	a.t.Helper()
	r := a.do("GET", "/api/tasks?"+query, "")
	require.Equal(a.t, http.StatusOK, r.status, r.raw)
	var p taskPage
	require.NoError(a.t, json.Unmarshal([]byte(r.raw), &p))
	return p
}

// "today" is the owner's local day: for an owner on Kiritimati (UTC+14) it ends at their
// midnight, whatever the server's zone; overdue is before now, upcoming after their day.
func TestTasksByDueInTheOwnersZone(t *testing.T) {
	t.Parallel()
	a := newAPI(t, noTemporal, nil)
	const zone = "Pacific/Kiritimati"
	loc, err := time.LoadLocation(zone)
	require.NoError(t, err)
	ana := seedDeal(t, a, "ana@vendor.test", zone, "bob@prospect.test")
	other := seedDeal(t, a, "ben@vendor.test", "", "cat@prospect.test")

	now := time.Now()
	y, m, d := now.In(loc).Date()
	endOfDay := time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	overdue := seedTask(t, a, ana, "overdue", now.Add(-2*time.Hour))
	today := seedTask(t, a, ana, "today", now.Add(endOfDay.Sub(now)/2))
	upcoming := seedTask(t, a, ana, "upcoming", endOfDay.Add(time.Minute))
	later := seedTask(t, a, ana, "later", endOfDay.Add(48*time.Hour))
	seedTask(t, a, other, "not-anas", now.Add(-time.Hour))

	ids := func(p taskPage) []int64 {
		var out []int64
		for _, t := range p.Tasks {
			out = append(out, t.ID)
		}
		return out
	}
	all := a.tasks("owner=ANA@vendor.test")
	require.Equal(t, "ana@vendor.test", all.Owner)
	require.Equal(t, zone, all.Zone)
	require.Equal(t, []int64{overdue, today, upcoming, later}, ids(all), "Ana's open tasks only, in due order")
	require.Empty(t, all.Next, "one page holds them")
	first := all.Tasks[0]
	require.Equal(t, "bob@prospect.test", first.Contact)
	require.Equal(t, "Bob Stone", first.Name)
	require.Equal(t, "overdue", first.Step)
	require.Equal(t, "/api/deals/"+ana.ID, first.Deal)
	require.NotNil(t, first.Blocking)
	require.False(t, *first.Blocking)
	local, err := time.Parse(time.RFC3339, first.DueLocal)
	require.NoError(t, err)
	require.True(t, local.Equal(first.DueAt.Truncate(time.Second)), "due_local is due_at in the owner's zone")
	_, offset := local.Zone()
	require.Equal(t, 14*3600, offset)
	require.Equal(t, time.UTC, first.DueAt.Location(), "due_at is UTC")

	require.Equal(t, []int64{overdue}, ids(a.tasks("owner=ana@vendor.test&due=overdue")))
	require.Equal(t, []int64{today}, ids(a.tasks("owner=ana@vendor.test&due=today")))
	require.Equal(t, []int64{upcoming, later}, ids(a.tasks("owner=ana@vendor.test&due=upcoming")))

	// Pages of one, following next.
	var paged []int64
	q := "owner=ana@vendor.test&limit=1"
	for range 10 {
		p := a.tasks(q)
		paged = append(paged, ids(p)...)
		if p.Next == "" {
			break
		}
		q = "owner=ana@vendor.test&limit=1&before=" + url.QueryEscape(p.Next)
	}
	require.Equal(t, ids(all), paged)
}

func TestTasksRefuseWhatTheyCannotRead(t *testing.T) {
	t.Parallel()
	a := newAPI(t, noTemporal, nil)
	seedDeal(t, a, "ana@vendor.test", "", "bob@prospect.test")
	for _, c := range []struct {
		query  string
		status int
		want   string
	}{
		{"", 400, "owner is required"},
		{"owner=ana@vendor.test&due=tomorrow", 400, `due "tomorrow": want overdue, today or upcoming`},
		{"owner=ana@vendor.test&limit=0", 400, `limit "0"`},
		{"owner=ana@vendor.test&limit=501", 400, "limit 501"},
		{"owner=ana@vendor.test&before=yesterday", 400, `before "yesterday"`},
		{"owner=nobody@vendor.test", 404, "owner nobody@vendor.test"},
	} {
		r := a.do("GET", "/api/tasks?"+c.query, "")
		require.Equal(t, c.status, r.status, "%s: %s", c.query, r.raw)
		require.Contains(t, text(r), c.want, c.query)
	}
	require.Equal(t, http.StatusUnauthorized, a.do("GET", "/api/tasks?owner=ana@vendor.test", "", "Authorization", "").status)
}

func TestDealsListMarksStaleAndNearLimit(t *testing.T) {
	t.Parallel()
	a := newAPI(t, noTemporal, nil)
	ctx := context.Background()
	now := time.Now()
	day := 24 * time.Hour
	set := func(d store.Deal, entered, deadline, next time.Time) {
		_, err := a.pool.Exec(ctx, `UPDATE deals SET stage = 'prospecting', stage_entered_at = $2, stage_deadline = $3,
			next_action_at = $4 WHERE id = $1`, d.ID, entered, deadline, next)
		require.NoError(t, err)
	}
	stale := seedDeal(t, a, "ana@vendor.test", "", "c1@prospect.test")
	set(stale, now.Add(-10*day), now.Add(-time.Hour), now.Add(time.Hour))
	near := seedDeal(t, a, "ana@vendor.test", "", "c2@prospect.test")
	set(near, now.Add(-10*day), now.Add(day), now.Add(2*time.Hour)) // 1 day of 11 left
	fresh := seedDeal(t, a, "ben@vendor.test", "", "c3@prospect.test")
	set(fresh, now.Add(-day), now.Add(10*day), now.Add(3*time.Hour))

	type page struct {
		Deals []struct {
			ID        string `json:"id"`
			Owner     string `json:"owner"`
			Contact   string `json:"contact"`
			Stage     string `json:"stage"`
			Stale     bool   `json:"stale"`
			NearLimit bool   `json:"near_limit"`
			Link      string `json:"link"`
		} `json:"deals"`
		Next string `json:"next"`
	}
	list := func(query string) page {
		r := a.do("GET", "/api/deals?"+query, "")
		require.Equal(t, http.StatusOK, r.status, r.raw)
		var p page
		require.NoError(t, json.Unmarshal([]byte(r.raw), &p))
		return p
	}
	p := list("")
	require.Len(t, p.Deals, 3)
	require.Equal(t, []string{stale.ID, near.ID, fresh.ID}, []string{p.Deals[0].ID, p.Deals[1].ID, p.Deals[2].ID}, "by next action")
	require.True(t, p.Deals[0].Stale)
	require.False(t, p.Deals[0].NearLimit, "stale, not near")
	require.False(t, p.Deals[1].Stale)
	require.True(t, p.Deals[1].NearLimit)
	require.False(t, p.Deals[2].Stale || p.Deals[2].NearLimit)
	require.Equal(t, "ana@vendor.test", p.Deals[0].Owner)
	require.Equal(t, "c1@prospect.test", p.Deals[0].Contact)
	require.Equal(t, "/api/deals/"+stale.ID, p.Deals[0].Link)

	require.Len(t, list("owner=ben@vendor.test").Deals, 1)
	require.Len(t, list("stage=prospecting&state=open&pipeline=b2b-default").Deals, 3)
	require.Empty(t, list("state=closed").Deals)

	var paged []string
	q := "limit=2"
	for range 5 {
		pg := list(q)
		for _, d := range pg.Deals {
			paged = append(paged, d.ID)
		}
		if pg.Next == "" {
			break
		}
		q = "limit=2&before=" + url.QueryEscape(pg.Next)
	}
	require.Equal(t, []string{stale.ID, near.ID, fresh.ID}, paged)

	for query, want := range map[string]string{
		"state=won":           `state "won": want open or closed`,
		"limit=x":             `limit "x"`,
		"before=nope":         `before "nope"`,
		"owner=nobody@x.test": "owner nobody@x.test",
	} {
		r := a.do("GET", "/api/deals?"+query, "")
		require.Contains(t, []int{400, 404}, r.status, query)
		require.Contains(t, text(r), want, query)
	}
	require.Equal(t, http.StatusNotFound, a.do("GET", "/api/deals?owner=nobody@x.test", "").status)
}

// muxParam is a ServeMux wildcard: {name}, {name...}, or the {$} that anchors a path's end.
var muxParam = regexp.MustCompile(`\{([A-Za-z_]*)(\.\.\.)?\}`)

// openAPIPath writes a ServeMux path as OpenAPI names it: {$} dropped, {rest...} as {rest}.
func openAPIPath(path string) string {
	return muxParam.ReplaceAllStringFunc(path, func(p string) string {
		if p == "{$}" {
			return ""
		}
		return "{" + muxParam.FindStringSubmatch(p)[1] + "}"
	})
}

// The OpenAPI document served at /api/openapi.json, without a token, is a valid OpenAPI 3
// document (kin-openapi) that lists exactly the routes the server serves: the index is
// built from the route table the mux is built from. Each operation's x-roles are the roles
// the role × route table (routeAccess, as the index tells it) lets call it.
func TestOpenAPIDocumentListsEveryRouteServed(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	bareHandler().ServeHTTP(w, httptest.NewRequest("GET", "/api/openapi.json", nil))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))

	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(w.Body.Bytes())
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()), "a valid OpenAPI 3 document")

	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			key := method + " " + path
			documented[key] = true
			require.NotEmpty(t, op.Summary, key)
			require.NotEmpty(t, op.Responses.Map(), key)
		}
	}
	served := map[string]bool{}
	for _, r := range readIndex(t) {
		key := r.Method + " " + openAPIPath(r.Path)
		served[key] = true
		require.True(t, documented[key], "%s is served but missing from openapi.json", key)
		op := doc.Paths.Find(openAPIPath(r.Path)).GetOperation(r.Method)
		public := op.Security != nil && len(*op.Security) == 0
		require.Equal(t, r.Auth == "none", public, "%s: the document's security says auth %s", key, r.Auth)
		requireDocumentedRoles(t, key, op, r)
	}
	for key := range documented {
		require.True(t, served[key], "openapi.json lists %s, which the server does not serve", key)
	}
	keys := make([]string, 0, len(served))
	for k := range served {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	require.Contains(t, keys, "GET /api/tasks")
	require.Contains(t, keys, "GET /api/deals")
	require.Equal(t, len(served), len(documented), strings.Join(keys, "\n"))
	require.Equal(t, "/api/deals/{deal}", openAPIPath("/api/deals/{deal}"))
	require.Equal(t, "/files/{rest}", openAPIPath("/files/{rest...}"), fmt.Sprint("wildcards translate"))
}

// requireDocumentedRoles holds an operation's roles to the index's, which routeAccess makes:
// x-roles lists them (a rep's "(own)" is in the description), the description names them,
// and a route behind the token documents 401 and 403 with the API's error body.
func requireDocumentedRoles(t *testing.T, key string, op *openapi3.Operation, r indexEntry) {
	t.Helper()
	if r.Auth == "none" {
		require.NotContains(t, op.Extensions, "x-roles", "%s is public", key)
		require.Nil(t, op.Responses.Value("403"), "%s is public", key)
		return
	}
	var want []string
	for _, role := range r.Roles {
		want = append(want, strings.TrimSuffix(role, " (own)"))
	}
	raw, ok := op.Extensions["x-roles"]
	require.True(t, ok, "%s: no x-roles in openapi.json (routeAccess says %v)", key, r.Roles)
	var got []string
	b, err := json.Marshal(raw)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &got), "%s: x-roles is a list of roles", key)
	require.Equal(t, want, got, "%s: openapi.json's x-roles differ from routeAccess", key)
	require.True(t, strings.HasPrefix(op.Description, "Roles: "), "%s: the description names the roles", key)
	for _, role := range r.Roles {
		if role == "rep (own)" {
			role = "rep (only"
		}
		require.Contains(t, op.Description, role, key)
	}
	if !slices.Contains(want, "rep") {
		require.NotContains(t, op.Description, "rep", key)
	}
	if !slices.Contains(want, "integration") {
		require.NotContains(t, op.Description, "integration", key)
	}
	for _, status := range []string{"401", "403"} {
		resp := op.Responses.Value(status)
		require.NotNil(t, resp, "%s: no %s answer in openapi.json", key, status)
		mt := resp.Value.Content.Get("application/json")
		require.NotNil(t, mt, "%s %s", key, status)
		require.Equal(t, "#/components/schemas/Problem", mt.Schema.Ref, "%s %s: the error body", key, status)
	}
}
