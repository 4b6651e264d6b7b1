package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
)

// The send forecast counts each open deal's planned emails per sending mailbox (the owner's
// identity, else MAIL_FROM; display names folded) and UTC day, flags the days over the cap,
// and leaves out tasks, closed deals and what lies beyond the horizon.
func TestSendsForecast(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	env := config.MapEnv{"DATABASE_URL": dbURL, "TEMPORAL_ADDRESS": "127.0.0.1:1", "MAIL_FROM": "Sales <sales@vendor.test>"}
	require.Equal(t, 0, runCLI(t, env, "migrate").code)
	ctx := context.Background()
	st := store.New(pgtestPool(t, dbURL))
	tomorrow := time.Now().UTC().Truncate(24 * time.Hour).Add(24*time.Hour + 10*time.Hour)
	deal := func(ext, ownerEmail, senderFrom string, emails int, extra ...store.PlannedAction) string {
		c, err := st.CreateDeal(ctx, store.NewDeal{Source: "crm", ExternalID: ext,
			Owner:   store.OwnerInput{Email: ownerEmail, SenderFrom: senderFrom},
			Contact: store.ContactInput{Email: ext + "@prospect.test"}, CadenceVersion: cadence.DefaultVersion,
			EventID: "create:" + ext, SourceTime: time.Now()})
		require.NoError(t, err)
		var next []store.PlannedAction
		for i := range emails {
			next = append(next, store.PlannedAction{ItemID: fmt.Sprintf("e%d", i), Kind: "email", StepID: "intro", Occurrence: i + 1,
				At: tomorrow.Add(time.Duration(i) * time.Minute), Reason: "planned"})
		}
		next = append(next, extra...)
		_, err = st.Project(ctx, store.Projection{DealID: c.Deal.ID, Revision: 1, Stage: "prospecting", Visit: 1, EnteredAt: time.Now(), Next: next})
		require.NoError(t, err)
		return c.Deal.ID
	}
	deal("f-1", "ana@vendor.test", "Ana <Ana@Vendor.test>", 2)
	deal("f-2", "ana@vendor.test", "", 1, store.PlannedAction{ItemID: "t", Kind: "task", StepID: "call", Occurrence: 1, At: tomorrow, Reason: "planned"},
		store.PlannedAction{ItemID: "late", Kind: "email", StepID: "nurture", Occurrence: 1, At: tomorrow.Add(30 * 24 * time.Hour), Reason: "planned"})
	deal("f-3", "bo@vendor.test", "", 1)
	closed := deal("f-4", "cy@vendor.test", "", 5)
	require.NoError(t, st.MarkClosed(ctx, closed, "lost", 1, time.Now()))

	r := runCLI(t, env, "sends", "forecast", "--days", "3", "--cap", "2", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var f deals.SendForecast
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &f))
	day := tomorrow.Format(time.DateOnly)
	require.Equal(t, []deals.MailboxForecast{
		{Mailbox: "ana@vendor.test", Total: 3, Days: []deals.ForecastDay{{Day: day, Planned: 3, OverCap: 1}}},
		{Mailbox: "sales@vendor.test", Total: 1, Days: []deals.ForecastDay{{Day: day, Planned: 1}}},
	}, f.Mailboxes, "f-2's owner has the identity f-1 set; bo has none: MAIL_FROM; the closed deal and the task are not counted")
	require.Equal(t, 1, f.OverCap)

	r = runCLI(t, env, "sends", "forecast", "--days", "3", "--cap", "2")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "OVER THE CAP: 1 deferred to later days")
	require.Equal(t, 2, runCLI(t, env, "sends", "forecast", "--days", "91").code)
	require.Equal(t, 2, runCLI(t, env, "sends", "forecast", "--cap", "-1").code)
}
