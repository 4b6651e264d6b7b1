package deals

// This file holds the front door's lists: an owner's open tasks by when they fall due in the
// owner's own zone, and the deals with their stale and near-limit marks. Both page with a
// cursor, the "before" of the next page: the place of the last item shown.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/followup-engine/followup/internal/store"
)

// Due picks open tasks by when they fall due, in the owner's zone.
type Due string

const (
	DueAll      Due = ""         // every open task
	DueOverdue  Due = "overdue"  // due before now
	DueToday    Due = "today"    // due from now until the end of the owner's local day
	DueUpcoming Due = "upcoming" // due after the owner's local day
)

// DefaultListLimit is a page's size when the request names none.
const DefaultListLimit = 50

// TaskListRequest asks for a page of an owner's open tasks.
type TaskListRequest struct {
	Owner  string // email or id
	Due    Due
	Limit  int    // 0: DefaultListLimit
	Before string // the cursor of the previous page's last task; "": the first page
}

// TaskList is a page of an owner's open tasks, in due order (due_at, then id).
type TaskList struct {
	Owner string      `json:"owner"`
	Zone  string      `json:"zone"` // the zone of due_local and of "today"
	Due   Due         `json:"due,omitempty"`
	Tasks []OwnerTask `json:"tasks"`
	// Next is the cursor of the next page (its "before"); empty on the last page.
	Next string `json:"next,omitempty"`
}

// OwnerTask is an open task as its owner sees it.
type OwnerTask struct {
	store.OpenTask
	DueLocal string `json:"due_local"` // RFC 3339 in the owner's zone
	Deal     string `json:"deal"`      // the API path of the task's deal
}

// OwnerTasks lists a page of an owner's open tasks. "today" runs to the end of the owner's
// local day: the owner's zone, else the calendar zone of the pipeline of the owner's newest
// deal, else UTC.
func (s *Service) OwnerTasks(ctx context.Context, r TaskListRequest) (TaskList, error) {
	var p problems
	switch r.Due {
	case DueAll, DueOverdue, DueToday, DueUpcoming:
	default:
		p.add("due %q: want overdue, today or upcoming (or none for every open task)", r.Due)
	}
	limit := checkLimit(&p, r.Limit)
	var after *store.TaskKey
	if r.Before != "" {
		k, err := parseTaskCursor(r.Before)
		if err != nil {
			p.add("%v", err)
		}
		after = &k
	}
	if r.Owner == "" {
		p.add("owner is required: the owner's email")
	}
	if err := p.err(); err != nil {
		return TaskList{}, err
	}
	o, err := s.ownerNamed(ctx, r.Owner)
	if err != nil {
		return TaskList{}, err
	}
	loc, err := s.location(ctx, o.Zone, o.LatestCadenceVersion)
	if err != nil {
		return TaskList{}, err
	}
	f := store.OpenTaskFilter{OwnerID: o.ID, After: after, Limit: limit}
	f.DueFrom, f.DueBefore = DueWindow(r.Due, s.now(), loc)
	tasks, err := s.Store.OpenTasks(ctx, f)
	if err != nil {
		return TaskList{}, err
	}
	out := TaskList{Owner: o.Email, Zone: loc.String(), Due: r.Due, Tasks: make([]OwnerTask, len(tasks))}
	for i, t := range tasks {
		t.DueAt = t.DueAt.UTC()
		out.Tasks[i] = OwnerTask{OpenTask: t, DueLocal: t.DueAt.In(loc).Format(time.RFC3339), Deal: "/api/deals/" + t.DealID}
	}
	if len(tasks) == limit {
		out.Next = taskCursor(tasks[len(tasks)-1].Key())
	}
	return out, nil
}

// DueWindow is the range of due times due picks at now in loc: [from, before), a nil end
// unbounded.
func DueWindow(due Due, now time.Time, loc *time.Location) (from, before *time.Time) {
	local := now.In(loc)
	y, m, d := local.Date()
	endOfDay := time.Date(y, m, d+1, 0, 0, 0, 0, loc).UTC()
	now = now.UTC()
	switch due {
	case DueOverdue:
		return nil, &now
	case DueToday:
		return &now, &endOfDay
	case DueUpcoming:
		return &endOfDay, nil
	}
	return nil, nil
}

// ownerNamed finds an owner by email or id.
func (s *Service) ownerNamed(ctx context.Context, owner string) (store.Owner, error) {
	if uuidPattern.MatchString(owner) {
		return s.Store.OwnerByID(ctx, strings.ToLower(owner))
	}
	return s.Store.OwnerByEmail(ctx, owner)
}

func checkLimit(p *problems, limit int) int {
	switch {
	case limit == 0:
		return DefaultListLimit
	case limit < 1 || limit > store.MaxListLimit:
		p.add("limit %d: want a number from 1 to %d", limit, store.MaxListLimit)
	}
	return limit
}

// A task cursor is "<due_at RFC 3339 UTC>_<id>".
func taskCursor(k store.TaskKey) string {
	return k.DueAt.UTC().Format(time.RFC3339Nano) + "_" + strconv.FormatInt(k.ID, 10)
}

func parseTaskCursor(c string) (store.TaskKey, error) {
	at, id, ok := strings.Cut(c, "_")
	due, err := time.Parse(time.RFC3339Nano, at)
	n, nerr := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil || nerr != nil || n < 1 {
		return store.TaskKey{}, fmt.Errorf("before %q: want the \"next\" of the previous page", c)
	}
	return store.TaskKey{DueAt: due, ID: n}, nil
}

// DealListRequest asks for a page of deals; empty fields do not filter.
type DealListRequest struct {
	Stage    string
	Owner    string // email or id
	Pipeline string
	State    string // open or closed
	Limit    int    // 0: DefaultListLimit
	Before   string // the cursor of the previous page's last deal
}

// DealList is a page of deals, ordered by next action (deals with none last), then id.
type DealList struct {
	Deals []ListedDeal `json:"deals"`
	Next  string       `json:"next,omitempty"` // the cursor of the next page; empty on the last
}

// ListedDeal is a deal of a list, marked when its stage's time runs out.
type ListedDeal struct {
	store.ListedDeal
	// Stale: the stage deadline has passed (the workflow moves the deal on, or has).
	Stale bool `json:"stale"`
	// NearLimit: less than NearLimitShare of the stage's time is left (wall-clock time from
	// stage entry to the deadline).
	NearLimit bool   `json:"near_limit"`
	Link      string `json:"link"` // the API path of the deal
}

// NearLimitShare is the share of a stage's time left under which a deal is near its limit.
const NearLimitShare = 0.2

// ListDeals lists a page of deals.
func (s *Service) ListDeals(ctx context.Context, r DealListRequest) (DealList, error) {
	var p problems
	switch r.State {
	case "", "open", "closed":
	default:
		p.add("state %q: want open or closed", r.State)
	}
	limit := checkLimit(&p, r.Limit)
	f := store.DealFilter{Stage: r.Stage, Pipeline: r.Pipeline, State: r.State, Limit: limit}
	if r.Before != "" {
		k, err := parseDealCursor(r.Before)
		if err != nil {
			p.add("%v", err)
		}
		f.After = &k
	}
	if err := p.err(); err != nil {
		return DealList{}, err
	}
	if r.Owner != "" {
		o, err := s.ownerNamed(ctx, r.Owner)
		if err != nil {
			return DealList{}, err
		}
		f.OwnerID = o.ID
	}
	ds, err := s.Store.ListDeals(ctx, f)
	if err != nil {
		return DealList{}, err
	}
	now := s.now()
	out := DealList{Deals: make([]ListedDeal, len(ds))}
	for i, d := range ds {
		out.Deals[i] = markDeal(d, now)
	}
	if len(ds) == limit {
		out.Next = dealCursor(ds[len(ds)-1].Key())
	}
	return out, nil
}

// markDeal marks a deal stale or near its limit at now. A closed deal is neither.
func markDeal(d store.ListedDeal, now time.Time) ListedDeal {
	for _, t := range []*time.Time{d.StageEnteredAt, d.StageDeadline, d.NextActionAt} {
		if t != nil {
			*t = t.UTC()
		}
	}
	d.CreatedAt = d.CreatedAt.UTC()
	out := ListedDeal{ListedDeal: d, Link: "/api/deals/" + d.ID}
	if d.State != "open" || d.StageDeadline == nil {
		return out
	}
	left := d.StageDeadline.Sub(now)
	out.Stale = left <= 0
	if !out.Stale && d.StageEnteredAt != nil {
		whole := d.StageDeadline.Sub(*d.StageEnteredAt)
		out.NearLimit = whole > 0 && float64(left) < NearLimitShare*float64(whole)
	}
	return out
}

// A deal cursor is "<next_action_at RFC 3339 UTC, or none>_<id>".
func dealCursor(k store.DealKey) string {
	at := "none"
	if k.NextActionAt != nil {
		at = k.NextActionAt.UTC().Format(time.RFC3339Nano)
	}
	return at + "_" + k.ID
}

func parseDealCursor(c string) (store.DealKey, error) {
	at, id, ok := strings.Cut(c, "_")
	bad := fmt.Errorf("before %q: want the \"next\" of the previous page", c)
	if !ok || !uuidPattern.MatchString(id) {
		return store.DealKey{}, bad
	}
	k := store.DealKey{ID: strings.ToLower(id)}
	if at != "none" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			return store.DealKey{}, bad
		}
		k.NextActionAt = &t
	}
	return k, nil
}
