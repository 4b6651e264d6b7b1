package httpapi_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/store"
)

// A handover moves the owner's open deals, 202; the same request again finds every deal told
// already, 200, and moves nothing.
func TestOwnerHandover(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	a.createFor("hs-1", "ana@vendor.test")
	a.createFor("hs-2", "ana@vendor.test")
	a.createFor("hs-3", "carl@vendor.test")
	r := a.do("POST", "/api/owners/ana@vendor.test/handover", `{"to":"ben@vendor.test"}`)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, "ana@vendor.test", r.body["from"])
	require.Equal(t, "ben@vendor.test", r.body["to"])
	require.Equal(t, true, r.body["to_created"])
	require.EqualValues(t, 2, r.body["moved"])
	require.EqualValues(t, 2, r.body["signalled"])
	require.Equal(t, []string{}, filterKind(a.opsEvents(), "paused"), "no pause")
	require.Len(t, filterKind(a.opsEvents(), "owner_changed"), 2)

	r = a.do("POST", "/api/owners/ANA@vendor.test/handover", `{"to":"ben@vendor.test","source":"cli"}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.EqualValues(t, 0, r.body["moved"])
	require.EqualValues(t, 2, r.body["already_done"])
	require.Nil(t, r.body["to_created"])
	require.Len(t, filterKind(a.opsEvents(), "owner_changed"), 2, "the repeat records nothing")
	var open int
	require.NoError(t, a.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM deals d JOIN owners o ON o.id = d.owner_id WHERE o.email = 'ana@vendor.test'`).Scan(&open))
	require.Zero(t, open)
}

// filterKind keeps the "<deal> <kind> <state>" lines of opsEvents of one kind.
func filterKind(events []string, kind string) []string {
	out := []string{}
	for _, e := range events {
		if slices.Contains(strings.Fields(e), kind) {
			out = append(out, e)
		}
	}
	return out
}

func TestOwnerHandoverRefusals(t *testing.T) {
	t.Parallel()
	a := newAPI(t, devServer.Get(t).FrontendHostPort(), nil)
	a.create()
	before := a.writes()
	cases := []struct {
		path, body string
		status     int
		want       string
	}{
		{"/api/owners/nobody@vendor.test/handover", `{"to":"ben@vendor.test"}`, 404, "owner nobody@vendor.test: not found"},
		{"/api/owners/00000000-0000-0000-0000-000000000000/handover", `{"to":"ben@vendor.test"}`, 404, "not found"},
		{"/api/owners/ana@vendor.test/handover", `{"to":"ben@vendor.test","pipeline":"nope"}`, 404, `pipeline "nope" has no published cadence`},
		{"/api/owners/ana@vendor.test/handover", `{}`, 400, "to (the new owner's email) is required"},
		{"/api/owners/ana@vendor.test/handover", `{"to":"Ben <ben@vendor.test>"}`, 400, "is not a plain email address"},
		{"/api/owners/ana@vendor.test/handover", `{"to":"ANA@vendor.test"}`, 400, "hand over to another owner"},
		{"/api/owners/not-an-email/handover", `{"to":"ben@vendor.test"}`, 400, `owner "not-an-email" is not a plain email address`},
		{"/api/owners/ana@vendor.test/handover", `{"to":"ben@vendor.test","colour":"red"}`, 400, `unknown field "colour"`},
	}
	for _, c := range cases {
		r := a.do("POST", c.path, c.body)
		require.Equal(t, c.status, r.status, "%s %s: %s", c.path, c.body, r.raw)
		require.Contains(t, text(r), c.want, c.path)
	}

	// Ops only: not even the departing rep may hand their deals over.
	rep := a.token("ana@vendor.test", store.RoleRep)
	r := a.do("POST", "/api/owners/ana@vendor.test/handover", `{"to":"ben@vendor.test"}`, "Authorization", "Bearer "+rep)
	require.Equal(t, http.StatusForbidden, r.status, r.raw)

	// To a user who may not hold deals (an integration, a disabled user): 409, nothing written.
	ctx := context.Background()
	_, err := a.store.AddUser(ctx, "crm@vendor.test", "", store.RoleIntegration)
	require.NoError(t, err)
	_, err = a.store.AddUser(ctx, "dora@vendor.test", "Dora", store.RoleRep)
	require.NoError(t, err)
	_, err = a.store.DisableUser(ctx, "dora@vendor.test")
	require.NoError(t, err)
	before = a.writes()
	for to, want := range map[string]string{"crm@vendor.test": "has role integration", "DORA@vendor.test": "is disabled"} {
		r = a.do("POST", "/api/owners/ana@vendor.test/handover", `{"to":"`+to+`"}`)
		require.Equal(t, http.StatusConflict, r.status, r.raw)
		require.Contains(t, text(r), want)
		_, err = a.store.OwnerByEmail(ctx, to)
		require.ErrorIs(t, err, store.ErrNotFound, "a refused handover creates no owner")
	}
	require.Equal(t, before, a.writes(), "refused handovers write nothing")

	// A paused owner hands nothing over.
	r = a.do("POST", "/api/owners/ana@vendor.test/pause", "")
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	before = a.writes()
	r = a.do("POST", "/api/owners/ana@vendor.test/handover", `{"to":"ben@vendor.test"}`)
	require.Equal(t, http.StatusBadRequest, r.status, r.raw)
	require.Contains(t, text(r), "resume the owner before a handover")
	require.Equal(t, before, a.writes(), "refused handovers write nothing")
	_, err = a.store.OwnerByEmail(ctx, "ben@vendor.test")
	require.ErrorIs(t, err, store.ErrNotFound, "and create no owner")
}
