package deals_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/workflows"
)

// A departing rep's 300 open deals go to a new owner, created from the email, with every
// open task; each deal hears one owner_changed event. The same handover again moves nothing,
// records nothing and tells no deal.
func TestHandoverMovesEveryOpenDealAndTask(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	ctx := context.Background()
	const n = 300
	ids := make([]string, n)
	for i := range n {
		ids[i] = create(t, svc, fmt.Sprintf("ho-%d", i), "ana@vendor.test")
		_, err := svc.Store.CreateTask(ctx, store.NewTask{DealID: ids[i], Visit: 1, StepID: "call", Occurrence: 1,
			Kind: "call", Title: "Call Bob", DueAt: time.Now().Add(24 * time.Hour), At: time.Now()})
		require.NoError(t, err)
	}
	done, err := svc.Store.CreateTask(ctx, store.NewTask{DealID: ids[0], Visit: 1, StepID: "intro-call", Occurrence: 1,
		Kind: "call", Title: "Intro call", DueAt: time.Now(), At: time.Now()})
	require.NoError(t, err)
	_, err = svc.Store.CloseTask(ctx, ids[0], done.ID, "done", time.Now(), "")
	require.NoError(t, err)
	ana, err := svc.Store.OwnerByEmail(ctx, "ana@vendor.test")
	require.NoError(t, err)
	count := func(query string, args ...any) int {
		var c int
		require.NoError(t, svc.Store.Pool().QueryRow(ctx, query, args...).Scan(&c))
		return c
	}

	resp, err := svc.Handover(ctx, deals.HandoverRequest{From: "ana@vendor.test", To: "Ben@vendor.test", Source: "cli"})
	require.NoError(t, err)
	require.True(t, resp.ToCreated, "no owner had the email: created")
	require.Equal(t, deals.HandoverResponse{From: "ana@vendor.test", To: "Ben@vendor.test", FromID: ana.ID, ToID: resp.ToID, ToCreated: true,
		Moved: n, FanOut: deals.FanOut{Deals: n, Signalled: n}}, resp)
	require.Zero(t, count(`SELECT count(*) FROM tasks WHERE owner_id = $1 AND state = 'open'`, ana.ID), "no open task left with the departed owner")
	require.Equal(t, n, count(`SELECT count(*) FROM tasks WHERE owner_id = $1 AND state = 'open'`, resp.ToID))
	require.Equal(t, 1, count(`SELECT count(*) FROM tasks WHERE owner_id = $1`, ana.ID), "closed tasks stay the departed owner's history")
	require.Zero(t, count(`SELECT count(*) FROM deals WHERE owner_id = $1 AND state = 'open'`, ana.ID))
	require.Equal(t, n, count(`SELECT count(*) FROM inbound_events WHERE kind = 'owner_changed' AND source = 'ops' AND state = 'signalled'`))
	parties, err := svc.Store.DealParties(ctx, ids[7])
	require.NoError(t, err)
	require.Equal(t, "Ben@vendor.test", parties.Owner.Email, "the send activity reads the new owner at send time")
	require.Equal(t, []string{"owner_changed/"}, told(t, ids[7]))

	again, err := svc.Handover(ctx, deals.HandoverRequest{From: "ana@vendor.test", To: "ben@vendor.test", Source: "cli"})
	require.NoError(t, err)
	require.Equal(t, deals.HandoverResponse{From: "ana@vendor.test", To: "Ben@vendor.test", FromID: ana.ID, ToID: resp.ToID,
		FanOut: deals.FanOut{Deals: n, AlreadyDone: n}}, again, "the same handover again changes nothing")
	require.Equal(t, n, count(`SELECT count(*) FROM inbound_events WHERE kind = 'owner_changed'`), "records nothing")
	require.Equal(t, []string{"owner_changed/"}, told(t, ids[7]), "tells no deal again")
	require.Zero(t, count(`SELECT count(*) FROM tasks WHERE owner_id = $1 AND state = 'open'`, ana.ID))
}

// flaky refuses the signals of some deals, as a Temporal that fails part-way would.
type flaky struct {
	client.Client
	mu   sync.Mutex
	fail map[string]bool // workflow ids
}

func (f *flaky) refuses(workflowID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail[workflowID]
}

func (f *flaky) SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg any) error {
	if f.refuses(workflowID) {
		return serviceerror.NewInternal("signal lost")
	}
	return f.Client.SignalWorkflow(ctx, workflowID, runID, signalName, arg)
}

func (f *flaky) SignalWithStartWorkflow(ctx context.Context, workflowID, signalName string, signalArg any,
	options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error) {
	if f.refuses(workflowID) {
		return nil, serviceerror.NewInternal("signal lost")
	}
	return f.Client.SignalWithStartWorkflow(ctx, workflowID, signalName, signalArg, options, workflow, workflowArgs...)
}

// A handover whose signals fail for some deals: the deals are moved, their events wait in
// received, and the same handover again tells only those.
func TestHandoverAfterAPartialFailureTellsOnlyTheRest(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	ctx := context.Background()
	var ids []string
	for i := range 6 {
		ids = append(ids, create(t, svc, fmt.Sprintf("hp-%d", i), "cleo@vendor.test"))
	}
	create(t, svc, "hp-keep", "dan@vendor.test") // another owner's deal stays
	live := svc.Temporal
	svc.Temporal = &flaky{Client: live, fail: map[string]bool{workflows.WorkflowID(ids[1]): true, workflows.WorkflowID(ids[4]): true}}
	req := deals.HandoverRequest{From: "cleo@vendor.test", To: "dan@vendor.test", Source: "api"}
	resp, err := svc.Handover(ctx, req)
	require.ErrorIs(t, err, deals.ErrPartial)
	require.Equal(t, 6, resp.Moved)
	require.Equal(t, 6, resp.Deals)
	require.Equal(t, 2, resp.Pending+resp.Failed, "%+v", resp)
	require.Equal(t, 4, resp.Signalled)

	svc.Temporal = live
	again, err := svc.Handover(ctx, req)
	require.NoError(t, err)
	require.Equal(t, 0, again.Moved)
	require.Equal(t, 6, again.Deals, "the other owner's own deal is no deal of this handover")
	require.Equal(t, 2, again.Signalled, "only the deals that missed it")
	require.Equal(t, 4, again.AlreadyDone)
	for _, id := range ids {
		require.Equal(t, []string{"owner_changed/"}, told(t, id), id)
	}
}

func TestHandoverRefuses(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	ctx := context.Background()
	create(t, svc, "hr-1", "eve@vendor.test")
	var v *deals.ValidationError

	_, err := svc.Handover(ctx, deals.HandoverRequest{From: "nobody@vendor.test", To: "eve@vendor.test", Source: "cli"})
	require.ErrorIs(t, err, deals.ErrNotFound)
	_, err = svc.Handover(ctx, deals.HandoverRequest{From: "eve@vendor.test", To: "EVE@vendor.test", Source: "cli"})
	require.ErrorAs(t, err, &v, "to the same owner")
	_, err = svc.Handover(ctx, deals.HandoverRequest{From: "eve@vendor.test", To: "not an email", Source: "cli"})
	require.ErrorAs(t, err, &v)
	_, err = svc.Handover(ctx, deals.HandoverRequest{From: "eve@vendor.test", To: "fay@vendor.test", Pipeline: "no-such", Source: "cli"})
	require.ErrorIs(t, err, deals.ErrNotFound)

	_, err = svc.PauseOwner(ctx, deals.ScopePauseRequest{Target: "eve@vendor.test", Source: "cli"})
	require.NoError(t, err)
	_, err = svc.Handover(ctx, deals.HandoverRequest{From: "eve@vendor.test", To: "fay@vendor.test", Source: "cli"})
	require.ErrorAs(t, err, &v, "a paused owner hands nothing over")
	require.True(t, strings.Contains(err.Error(), "resume the owner"), err.Error())
	_, err = svc.Store.OwnerByEmail(ctx, "fay@vendor.test")
	require.ErrorIs(t, err, store.ErrNotFound, "a refused handover creates no owner")
}

// A handover to a user who may not hold deals (disabled, or an integration) is refused and
// writes nothing; to an email that is no user's, or to an enabled rep, it goes ahead.
func TestHandoverRefusesAUserWhoMayNotHoldDeals(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	ctx := context.Background()
	id := create(t, svc, "hu-1", "joe@vendor.test")
	for _, u := range []struct {
		email string
		role  store.Role
	}{{"kim@vendor.test", store.RoleRep}, {"crm@vendor.test", store.RoleIntegration}, {"lou@vendor.test", store.RoleOps}} {
		_, err := svc.Store.AddUser(ctx, u.email, "", u.role)
		require.NoError(t, err)
	}
	_, err := svc.Store.DisableUser(ctx, "kim@vendor.test")
	require.NoError(t, err)
	count := func(query string) int {
		var c int
		require.NoError(t, svc.Store.Pool().QueryRow(ctx, query).Scan(&c))
		return c
	}
	before := [3]int{count(`SELECT count(*) FROM owners`), count(`SELECT count(*) FROM inbound_events`), count(`SELECT count(*) FROM deals WHERE owner_id = (SELECT id FROM owners WHERE email = 'joe@vendor.test')`)}

	_, err = svc.Handover(ctx, deals.HandoverRequest{From: "joe@vendor.test", To: "KIM@vendor.test", Source: "cli"})
	require.ErrorIs(t, err, deals.ErrCannotHoldDeals)
	require.Contains(t, err.Error(), "disabled")
	_, err = svc.Handover(ctx, deals.HandoverRequest{From: "joe@vendor.test", To: "crm@vendor.test", Source: "cli"})
	require.ErrorIs(t, err, deals.ErrCannotHoldDeals)
	require.Contains(t, err.Error(), "role integration")
	require.Equal(t, before, [3]int{count(`SELECT count(*) FROM owners`), count(`SELECT count(*) FROM inbound_events`), count(`SELECT count(*) FROM deals WHERE owner_id = (SELECT id FROM owners WHERE email = 'joe@vendor.test')`)},
		"a refused handover writes nothing")

	_, err = svc.Store.EnableUser(ctx, "kim@vendor.test")
	require.NoError(t, err)
	resp, err := svc.Handover(ctx, deals.HandoverRequest{From: "joe@vendor.test", To: "kim@vendor.test", Source: "cli"})
	require.NoError(t, err, "an enabled rep holds deals")
	require.Equal(t, 1, resp.Moved)
	resp, err = svc.Handover(ctx, deals.HandoverRequest{From: "kim@vendor.test", To: "lou@vendor.test", Source: "cli"})
	require.NoError(t, err, "so does ops")
	require.Equal(t, 1, resp.Moved)
	resp, err = svc.Handover(ctx, deals.HandoverRequest{From: "lou@vendor.test", To: "max@vendor.test", Source: "cli"})
	require.NoError(t, err, "an email that is no user's is an owner as before")
	require.Equal(t, 1, resp.Moved)
	d, err := svc.Store.DealByID(ctx, id)
	require.NoError(t, err)
	require.Equal(t, resp.ToID, d.OwnerID)
}

// An open task the departing rep holds on a closed deal (a reply's task outlives the close)
// goes to the new owner too; the closed deal stays the departed owner's history. A repeat
// changes nothing.
func TestHandoverMovesOpenTasksOfClosedDeals(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	ctx := context.Background()
	open := create(t, svc, "hc-open", "nia@vendor.test")
	closed := create(t, svc, "hc-closed", "nia@vendor.test")
	task := func(dealID, step string) {
		_, err := svc.Store.CreateTask(ctx, store.NewTask{DealID: dealID, Visit: 1, StepID: step, Occurrence: 1,
			Kind: "call", Title: "Call back", DueAt: time.Now().Add(time.Hour), At: time.Now()})
		require.NoError(t, err)
	}
	task(open, "call")
	task(closed, "reply")
	_, err := svc.Store.Pool().Exec(ctx, `UPDATE deals SET state = 'closed' WHERE id = $1`, closed)
	require.NoError(t, err)
	nia, err := svc.Store.OwnerByEmail(ctx, "nia@vendor.test")
	require.NoError(t, err)
	count := func(query string, args ...any) int {
		var c int
		require.NoError(t, svc.Store.Pool().QueryRow(ctx, query, args...).Scan(&c))
		return c
	}

	resp, err := svc.Handover(ctx, deals.HandoverRequest{From: "nia@vendor.test", To: "oli@vendor.test", Source: "cli"})
	require.NoError(t, err)
	require.Equal(t, 1, resp.Moved, "only the open deal moves")
	require.Zero(t, count(`SELECT count(*) FROM tasks WHERE owner_id = $1 AND state = 'open'`, nia.ID), "no open task left with the departed owner")
	require.Equal(t, 2, count(`SELECT count(*) FROM tasks WHERE owner_id = $1 AND state = 'open'`, resp.ToID))
	require.Equal(t, 1, count(`SELECT count(*) FROM deals WHERE owner_id = $1 AND state = 'closed'`, nia.ID), "the closed deal stays hers")

	again, err := svc.Handover(ctx, deals.HandoverRequest{From: "nia@vendor.test", To: "oli@vendor.test", Source: "cli"})
	require.NoError(t, err)
	require.Zero(t, again.Moved)
	require.Zero(t, count(`SELECT count(*) FROM tasks WHERE owner_id = $1 AND state = 'open'`, nia.ID))
	require.Equal(t, 2, count(`SELECT count(*) FROM tasks WHERE owner_id = $1 AND state = 'open'`, resp.ToID))
}

// An owner_changed event left in received (Temporal was down) is delivered by the sweeper,
// unless the deal has been handed on since: then it is moot.
func TestSweeperDeliversAHandoverUnlessTheDealMovedOn(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	ctx := context.Background()
	stays := create(t, svc, "hs-1", "gus@vendor.test")
	movesOn := create(t, svc, "hs-2", "gus@vendor.test")
	live := svc.Temporal
	svc.Temporal = refusing{live}
	resp, err := svc.Handover(ctx, deals.HandoverRequest{From: "gus@vendor.test", To: "hal@vendor.test", Source: "cli"})
	require.NoError(t, err)
	require.Equal(t, 2, resp.Pending, "%+v", resp)
	svc.Temporal = live

	ivy, _, err := svc.Store.EnsureOwner(ctx, "ivy@vendor.test")
	require.NoError(t, err)
	_, err = svc.Store.Pool().Exec(ctx, `UPDATE deals SET owner_id = $2 WHERE id = $1`, movesOn, ivy.ID) // handed on meanwhile
	require.NoError(t, err)

	res, err := svc.SweepReceived(ctx, 0, 10)
	require.NoError(t, err)
	require.Equal(t, 1, res.Signalled, "%+v", res)
	require.Equal(t, 1, res.Settled, "%+v", res)
	for _, ev := range res.Events {
		switch ev.DealID {
		case stays:
			require.Equal(t, store.EventSignalled, ev.State)
		case movesOn:
			require.Equal(t, store.EventIgnored, ev.State)
			require.Contains(t, ev.Reason, "handed to another owner since")
		}
	}
	require.Equal(t, []string{"owner_changed/"}, told(t, stays))
	require.Empty(t, told(t, movesOn))
}
