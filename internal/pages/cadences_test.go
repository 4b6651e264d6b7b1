package pages_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/store"
)

// seedStepStats gives deal d a sent intro and follow-up; the prospect answers the follow-up
// two hours after it went. The reply names the follow-up, as the mailbox intake records it.
func (s *site) seedStepStats(d store.Deal, introAt time.Time) {
	s.t.Helper()
	ctx := context.Background()
	require.NoError(s.t, s.store.RecordTransition(ctx, store.Transition{DealID: d.ID, Visit: 1, To: "prospecting",
		At: introAt.Add(-time.Hour), Source: "crm", SourceEventID: "seed:" + d.ID}))
	var followUp store.LedgerKey
	for i, step := range []string{"intro", "value-followup"} {
		key := store.LedgerKey{DealID: d.ID, Visit: 1, StepID: step, Occurrence: 1}
		_, err := s.store.ClaimEmail(ctx, store.ClaimRequest{Key: key, ContactID: d.ContactID, Address: "x@prospect.example",
			Template: step, MessageID: "m-" + key.String() + "@test", Lease: time.Hour, CadenceVersion: d.CadenceVersion})
		require.NoError(s.t, err)
		_, err = s.pool.Exec(ctx, `UPDATE email_ledger SET state = 'sent', sent_at = $3 WHERE deal_id = $1 AND step_id = $2`,
			d.ID, step, introAt.Add(time.Duration(i)*72*time.Hour))
		require.NoError(s.t, err)
		followUp = key
	}
	payload, err := json.Marshal(map[string]any{"kind": "reply", "answers": followUp})
	require.NoError(s.t, err)
	_, err = s.store.RecordEngagement(ctx, store.EngagementEvent{DealID: d.ID, Source: "mailbox", EventID: "reply:" + d.ID,
		SourceTime: introAt.Add(74 * time.Hour), Payload: payload})
	require.NoError(s.t, err)
}

// seedSentIntro gives deal d a sent intro and nothing else.
func (s *site) seedSentIntro(d store.Deal, at time.Time) {
	s.t.Helper()
	ctx := context.Background()
	require.NoError(s.t, s.store.RecordTransition(ctx, store.Transition{DealID: d.ID, Visit: 1, To: "prospecting",
		At: at.Add(-time.Hour), Source: "crm", SourceEventID: "seed:" + d.ID}))
	key := store.LedgerKey{DealID: d.ID, Visit: 1, StepID: "intro", Occurrence: 1}
	_, err := s.store.ClaimEmail(ctx, store.ClaimRequest{Key: key, ContactID: d.ContactID, Address: "x@prospect.example",
		Template: "intro", MessageID: "m-" + key.String() + "@test", Lease: time.Hour, CadenceVersion: d.CadenceVersion})
	require.NoError(s.t, err)
	_, err = s.pool.Exec(ctx, `UPDATE email_ledger SET state = 'sent', sent_at = $2 WHERE deal_id = $1`, d.ID, at)
	require.NoError(s.t, err)
}

// Ops reach the cadence page from the nav and read each step's numbers, the follow-up
// highlighted as the step that earns replies; a rep has no link and is refused the page.
func TestCadencePageShowsStepStatsToOpsOnly(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.user("ops@vendor.example", store.RoleOps, password)
	s.user("ana@vendor.example", store.RoleRep, password)
	d := s.deal("ana@vendor.example", "bob@prospect.example", "Bob")
	s.seedStepStats(d, time.Now().Add(-10*24*time.Hour).UTC().Truncate(time.Second))

	ops := s.browser()
	ops.loggedIn("ops@vendor.example")
	list := ops.do("GET", "/cadences", nil)
	require.Equal(t, http.StatusOK, list.status, list.body)
	require.Contains(t, list.body, `<a href="/cadences">Cadences</a>`, "the nav links the cadences for ops")
	require.Contains(t, list.body, `<a href="/cadences/b2b-default">b2b-default</a>`)

	r := ops.do("GET", "/cadences/b2b-default", nil)
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Contains(t, r.body, "Version 0")
	require.Contains(t, r.body, "No open tracking")
	row := func(step string) string {
		m := regexp.MustCompile(`(?s)<tr class="(best)?" data-step="prospecting/` + step + `">.*?</tr>`).FindString(r.body)
		require.NotEmpty(t, m, "no row for %s", step)
		return m
	}
	intro, followUp := row("intro"), row("value-followup")
	require.Contains(t, intro, `<td data-label="Sent" class="sent">1</td>`)
	require.Contains(t, intro, `<td data-label="Replied" class="replied">0</td>`, "the reply answered the follow-up, not the intro")
	require.NotContains(t, intro, "most replies")
	require.Contains(t, followUp, `<td data-label="Replied" class="replied">1</td>`)
	require.Contains(t, followUp, `<td data-label="Median reply" class="median">2h</td>`)
	require.Contains(t, followUp, "100.0%")
	require.Contains(t, followUp, "most replies")
	require.Contains(t, followUp, `<rect width="100.0" height="8"`, "the reply rate's bar")

	bad := ops.do("GET", "/cadences/b2b-default?from=2026-12-01&to=2026-11-01", nil)
	require.Equal(t, http.StatusBadRequest, bad.status)
	require.Equal(t, http.StatusNotFound, ops.do("GET", "/cadences/nope", nil).status)

	rep := s.browser()
	rep.loggedIn("ana@vendor.example")
	tasks := rep.do("GET", "/tasks", nil)
	require.NotContains(t, tasks.body, `href="/cadences"`, "no link for a rep")
	for _, path := range []string{"/cadences", "/cadences/b2b-default"} {
		r := rep.do("GET", path, nil)
		require.Equal(t, http.StatusForbidden, r.status, path)
		require.NotContains(t, r.body, "value-followup")
	}
}
