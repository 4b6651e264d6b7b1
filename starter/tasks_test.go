package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
)

// starter task list prints an owner's open tasks in due order with due times in the owner's
// zone; --json answers what GET /api/tasks answers. Bad input exits 2.
func TestTaskList(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	env := config.MapEnv{"DATABASE_URL": dbURL, "TEMPORAL_ADDRESS": "127.0.0.1:1"}
	require.Equal(t, 0, runCLI(t, env, "migrate").code)
	ctx := context.Background()
	st := store.New(pgtestPool(t, dbURL))
	c, err := st.CreateDeal(ctx, store.NewDeal{
		Source: "crm", ExternalID: "t-1", Title: "Pilot",
		Owner:          store.OwnerInput{Email: "ana@vendor.test", Zone: "Asia/Tokyo"},
		Contact:        store.ContactInput{Email: "bob@prospect.test", FirstName: "Bob"},
		CadenceVersion: cadence.DefaultVersion, EventID: "create:t-1", SourceTime: time.Now(),
	})
	require.NoError(t, err)
	due := time.Date(2026, 12, 1, 0, 30, 0, 0, time.UTC) // 09:30 in Tokyo
	for i, step := range []string{"later-call", "first-call"} {
		_, err := st.CreateTask(ctx, store.NewTask{DealID: c.Deal.ID, Visit: 1, StepID: step, Occurrence: 1, Kind: "call",
			Title: "Call Bob (" + step + ")", DueAt: due.Add(time.Duration(1-i) * 24 * time.Hour), At: due.Add(-time.Hour)})
		require.NoError(t, err)
	}

	r := runCLI(t, env, "task", "list", "--owner", "ana@vendor.test")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "ana@vendor.test's open tasks, due times in Asia/Tokyo")
	require.Contains(t, r.stdout, "Tue 2026-12-01 09:30")
	require.Contains(t, r.stdout, "Bob <bob@prospect.test>")
	require.Less(t, strings.Index(r.stdout, "first-call"), strings.Index(r.stdout, "later-call"), "in due order")

	r = runCLI(t, env, "task", "list", "--owner", "ana@vendor.test", "--due", "overdue", "--limit", "1", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var page struct {
		Zone  string `json:"zone"`
		Tasks []struct {
			Step     string `json:"step"`
			DueLocal string `json:"due_local"`
		} `json:"tasks"`
		Next string `json:"next"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &page), r.stdout)
	require.Len(t, page.Tasks, 1)
	require.Equal(t, "first-call", page.Tasks[0].Step)
	require.Equal(t, "2026-12-01T09:30:00+09:00", page.Tasks[0].DueLocal)
	require.NotEmpty(t, page.Next)
	r = runCLI(t, env, "task", "list", "--owner", "ana@vendor.test", "--before", page.Next)
	require.Equal(t, 0, r.code, r.stderr)
	require.NotContains(t, r.stdout, "first-call")
	require.Contains(t, r.stdout, "later-call")

	r = runCLI(t, env, "task", "list", "--owner", "ana@vendor.test", "--due", "upcoming")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "ana@vendor.test has no upcoming open tasks")

	for _, bad := range [][]string{
		{"task", "list"}, {"task", "list", "--owner", "ana@vendor.test", "--due", "soon"},
		{"task", "list", "--owner", "nobody@vendor.test"}, {"task", "list", "--owner", "ana@vendor.test", "--limit", "0"},
		{"task", "list", "--owner", "ana@vendor.test", "extra"},
	} {
		r := runCLI(t, env, bad...)
		require.Equal(t, 2, r.code, "%v: %s", bad, r.stderr)
	}
	require.Contains(t, runCLI(t, env, "task", "list", "--owner", "ana@vendor.test", "--due", "soon").stderr,
		`due "soon": want overdue, today or upcoming`)
}
