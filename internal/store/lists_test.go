package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
)

// withBlockingQualifyCall publishes the built-in cadence as version 1 with its qualify-call
// step blocking.
func withBlockingQualifyCall(t *testing.T, st *store.Store) int64 {
	t.Helper()
	p := cadence.Default()
	for i, s := range p.Stages {
		for j, step := range s.Steps {
			if step.ID == "qualify-call" {
				p.Stages[i].Steps[j].Blocking = true
			}
		}
	}
	cv, err := st.PublishCadence(context.Background(), 1, p)
	require.NoError(t, err)
	return cv.Version
}

func ownedDeal(t *testing.T, st *store.Store, version int64, owner, zone, contact string) store.Deal {
	t.Helper()
	c, err := st.CreateDeal(context.Background(), store.NewDeal{
		Source: "crm", ExternalID: owner + "/" + contact, Title: "Deal of " + owner,
		Owner:          store.OwnerInput{Email: owner, Zone: zone},
		Contact:        store.ContactInput{Email: contact, FirstName: "Bob", LastName: "Stone"},
		CadenceVersion: version, EventID: "create:" + owner + "/" + contact, SourceTime: time.Now(),
	})
	require.NoError(t, err)
	return c.Deal
}

func addTask(t *testing.T, st *store.Store, d store.Deal, visit int, step string, due time.Time) store.Task {
	t.Helper()
	task, err := st.CreateTask(context.Background(), store.NewTask{DealID: d.ID, Visit: visit, StepID: step, Occurrence: 1,
		Kind: "call", Title: "Call about " + step, DueAt: due, At: due.Add(-time.Hour)})
	require.NoError(t, err)
	return task
}

func TestOpenTasksAreTheOwnersOpenOnesInDueOrder(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	v := withBlockingQualifyCall(t, st)
	ana := ownedDeal(t, st, v, "ana@vendor.test", "Europe/Berlin", "bob@prospect.test")
	ben := ownedDeal(t, st, v, "ben@vendor.test", "America/New_York", "cat@prospect.test")
	cy := ownedDeal(t, st, v, "cy@vendor.test", "", "dan@prospect.test")
	require.NoError(t, st.RecordTransition(ctx, store.Transition{DealID: ana.ID, Visit: 1, To: "qualification", At: time.Now(), Source: "test"}))

	base := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	// Ana: open tasks in every place, two due at the same instant (id breaks the tie), and
	// one task in each closed state.
	late := addTask(t, st, ana, 1, "late-call", base.Add(-48*time.Hour))
	qualify := addTask(t, st, ana, 1, "qualify-call", base)
	same := addTask(t, st, ana, 1, "same-time", base)
	next := addTask(t, st, ana, 1, "next-week", base.Add(7*24*time.Hour))
	done := addTask(t, st, ana, 1, "done-call", base.Add(time.Hour))
	skipped := addTask(t, st, ana, 1, "skipped-call", base.Add(2*time.Hour))
	ok, err := st.CloseTask(ctx, ana.ID, done.ID, "done", base, "")
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = st.CloseTask(ctx, ana.ID, skipped.ID, "skipped", base, "")
	require.NoError(t, err)
	require.True(t, ok)
	addTask(t, st, ana, 2, "cancelled-call", base.Add(3*time.Hour))
	_, err = st.CancelVisitTasks(ctx, ana.ID, 2, base, "moved on")
	require.NoError(t, err)
	// The other owners' tasks, some due in between Ana's.
	addTask(t, st, ben, 1, "ben-call", base.Add(30*time.Minute))
	addTask(t, st, cy, 1, "cy-call", base.Add(-time.Hour))

	all, err := st.OpenTasks(ctx, store.OpenTaskFilter{OwnerID: ana.OwnerID, Limit: 100})
	require.NoError(t, err)
	ids := func(ts []store.OpenTask) []int64 {
		var out []int64
		for _, t := range ts {
			out = append(out, t.ID)
		}
		return out
	}
	require.Equal(t, []int64{late.ID, qualify.ID, same.ID, next.ID}, ids(all), "Ana's open tasks only, by due_at then id")
	q := all[1]
	require.Equal(t, ana.ID, q.DealID)
	require.Equal(t, "Deal of ana@vendor.test", q.DealTitle)
	require.Equal(t, "Bob Stone", q.ContactName)
	require.Equal(t, "bob@prospect.test", q.ContactEmail)
	require.Equal(t, "qualification", q.Stage)
	require.Equal(t, "qualify-call", q.StepID)
	require.True(t, q.DueAt.Equal(base))
	require.True(t, q.Blocking, "qualify-call is a blocking step of qualification in version 1")
	require.False(t, all[2].Blocking, "a task of no blocking step")

	// Keyset pages of two give the same tasks in the same order.
	var paged []store.OpenTask
	var after *store.TaskKey
	for range 5 {
		page, err := st.OpenTasks(ctx, store.OpenTaskFilter{OwnerID: ana.OwnerID, After: after, Limit: 2})
		require.NoError(t, err)
		paged = append(paged, page...)
		if len(page) < 2 {
			break
		}
		k := page[len(page)-1].Key()
		after = &k
	}
	require.Equal(t, ids(all), ids(paged))

	// Due bounds: [from, before).
	from, before := base, base.Add(24*time.Hour)
	window, err := st.OpenTasks(ctx, store.OpenTaskFilter{OwnerID: ana.OwnerID, DueFrom: &from, DueBefore: &before, Limit: 100})
	require.NoError(t, err)
	require.Equal(t, []int64{qualify.ID, same.ID}, ids(window))

	_, err = st.OpenTasks(ctx, store.OpenTaskFilter{OwnerID: ana.OwnerID, Limit: 0})
	require.Error(t, err, "a limit of 0 is a caller's mistake")
}

func TestOpenTasksReadTheOwnersOpenIndex(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	st := store.New(pool)
	ctx := context.Background()
	d := newDeal(t, st, "idx-1").Deal
	// 100 owners with 1,000 tasks each, one in ten open: the shape of a team a few years on.
	_, err := pool.Exec(ctx, `INSERT INTO owners (email) SELECT 'rep' || g || '@vendor.test' FROM generate_series(1, 100) g`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `
		INSERT INTO tasks (deal_id, owner_id, visit, step_id, occurrence, kind, title, due_at, state, created_at)
		SELECT $1, o.id, 1, o.email, g, 'call', 'Call', now() + g * interval '1 hour',
			CASE WHEN g % 10 = 0 THEN 'open' ELSE 'done' END, now()
		FROM owners o, generate_series(1, 1000) g WHERE o.email LIKE 'rep%'`, d.ID)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `ANALYZE`)
	require.NoError(t, err)
	var owner string
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM owners WHERE email = 'rep7@vendor.test'`).Scan(&owner))

	now := time.Now()
	end := now.Add(24 * time.Hour)
	for name, f := range map[string]store.OpenTaskFilter{
		"every open task": {OwnerID: owner, Limit: 50},
		"today":           {OwnerID: owner, DueFrom: &now, DueBefore: &end, Limit: 50},
		"next page":       {OwnerID: owner, After: &store.TaskKey{DueAt: end, ID: 1}, Limit: 50},
	} {
		sql, args := store.OpenTasksQuery(f)
		rows, err := pool.Query(ctx, "EXPLAIN "+sql, args...)
		require.NoError(t, err)
		var plan []string
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			plan = append(plan, line)
		}
		require.NoError(t, rows.Err())
		text := strings.Join(plan, "\n")
		require.Contains(t, text, "tasks_owner_open_idx", "%s: the plan reads the open-task index:\n%s", name, text)
		require.NotContains(t, text, "Seq Scan on tasks", "%s:\n%s", name, text)

		got, err := st.OpenTasks(ctx, f)
		require.NoError(t, err)
		require.NotEmpty(t, got, name)
		for _, task := range got {
			require.Equal(t, "Call", task.Title, fmt.Sprintf("%s: task %d", name, task.ID))
		}
	}
}

func TestListDealsFiltersAndPagesByNextAction(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	st := store.New(pool)
	ctx := context.Background()
	v := withBlockingQualifyCall(t, st)
	base := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	var made []store.Deal
	for i := range 7 {
		owner := "ana@vendor.test"
		if i%2 == 1 {
			owner = "ben@vendor.test"
		}
		made = append(made, ownedDeal(t, st, v, owner, "", fmt.Sprintf("c%d@prospect.test", i)))
	}
	// Next actions: deals 0-4 at base+(4-i) hours (so 4 comes first), deals 5 and 6 none;
	// deal 2 is in qualification; deal 6 is closed.
	for i, d := range made[:5] {
		_, err := pool.Exec(ctx, `UPDATE deals SET next_action_at = $2, stage = 'prospecting' WHERE id = $1`, d.ID, base.Add(time.Duration(4-i)*time.Hour))
		require.NoError(t, err)
	}
	_, err := pool.Exec(ctx, `UPDATE deals SET stage = 'qualification' WHERE id = $1`, made[2].ID)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE deals SET state = 'closed', stage = 'lost' WHERE id = $1`, made[6].ID)
	require.NoError(t, err)

	all, err := st.ListDeals(ctx, store.DealFilter{Limit: 100})
	require.NoError(t, err)
	var order []string
	for _, d := range all {
		order = append(order, d.ID)
	}
	tail := []string{made[5].ID, made[6].ID}
	if tail[0] > tail[1] {
		tail[0], tail[1] = tail[1], tail[0]
	}
	require.Equal(t, append([]string{made[4].ID, made[3].ID, made[2].ID, made[1].ID, made[0].ID}, tail...), order,
		"by next action, the deals with none last by id")
	require.Equal(t, "ana@vendor.test", all[0].OwnerEmail)
	require.Equal(t, "c4@prospect.test", all[0].ContactEmail)
	require.Equal(t, cadence.Default().ID, all[0].Pipeline)

	// Pages of two, across the deals with and without a next action.
	var paged []string
	var after *store.DealKey
	for range 10 {
		page, err := st.ListDeals(ctx, store.DealFilter{After: after, Limit: 2})
		require.NoError(t, err)
		for _, d := range page {
			paged = append(paged, d.ID)
		}
		if len(page) < 2 {
			break
		}
		k := page[len(page)-1].Key()
		after = &k
	}
	require.Equal(t, order, paged)

	count := func(f store.DealFilter) int {
		f.Limit = 100
		ds, err := st.ListDeals(ctx, f)
		require.NoError(t, err)
		return len(ds)
	}
	require.Equal(t, 4, count(store.DealFilter{OwnerID: made[0].OwnerID}))
	require.Equal(t, 1, count(store.DealFilter{Stage: "qualification"}))
	require.Equal(t, 1, count(store.DealFilter{State: "closed"}))
	require.Equal(t, 6, count(store.DealFilter{State: "open", Pipeline: cadence.Default().ID}))
	require.Equal(t, 0, count(store.DealFilter{Pipeline: "no-such-pipeline"}))
}
