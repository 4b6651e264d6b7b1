package pages

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/workflows"
)

// timeLayout is how the pages show an instant, in the viewer's zone.
const timeLayout = "Mon 2 Jan 2006 15:04 MST"

var funcs = template.FuncMap{
	"when": func(loc *time.Location, t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(loc).Format(timeLayout)
	},
	"whenp": func(loc *time.Location, t *time.Time) string {
		if t == nil || t.IsZero() {
			return ""
		}
		return t.In(loc).Format(timeLayout)
	},
	// day is the date n days from today in loc, for the snooze field's value and bounds.
	"day": func(loc *time.Location, n int) string {
		return time.Now().In(loc).AddDate(0, 0, n).Format(time.DateOnly)
	},
}

// errNotYours: a rep reached a deal another owner holds; answered as not found, so that a
// rep does not learn which deals exist.
var errNotYours = fmt.Errorf("a deal another owner holds: %w", store.ErrNotFound)

// reach resolves a deal the session may see: any for ops, their own for a rep.
func (s *Server) reach(ctx context.Context, ss store.Session, ref string) (store.Deal, error) {
	d, err := s.Deals.Resolve(ctx, ref)
	if err != nil {
		return store.Deal{}, err
	}
	if ss.User.Role == store.RoleOps {
		return d, nil
	}
	owner, err := s.Deals.Store.DealOwnerEmail(ctx, d.ID)
	if err != nil {
		return store.Deal{}, err
	}
	if !strings.EqualFold(owner, ss.User.Email) {
		s.Logger.Warn("pages: refused a deal another owner holds", "user", ss.User.Email, "deal", d.ID)
		return store.Deal{}, errNotYours
	}
	return d, nil
}

// zoneOf is an owner's zone as their task list reads it (theirs, else their pipeline's
// calendar zone); UTC for a user who holds no deals.
func (s *Server) zoneOf(ctx context.Context, email string) *time.Location {
	list, err := s.Deals.OwnerTasks(ctx, deals.TaskListRequest{Owner: email, Limit: 1})
	if err != nil {
		return time.UTC
	}
	loc, err := time.LoadLocation(list.Zone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// taskRow is one task with its buttons (templates/task.html).
type taskRow struct {
	ID           int64
	DealID       string
	DealTitle    string
	ContactName  string
	ContactEmail string
	Stage        string
	Title        string
	Kind         string
	DueAt        time.Time
	Blocking     bool
	Open         bool
	Message      string // what happened to it just now
	Failed       bool   // the message says why an action failed
	Loc          *time.Location
	CSRF         string
}

type taskSection struct {
	Name, Empty string
	Tasks       []taskRow
	More        bool
}

type tasksPage struct {
	Owner    string
	Zone     string
	Sections []taskSection
	Note     string
	Ops      bool
}

// tasks is My tasks: overdue, today, upcoming in the owner's zone. Ops may name another
// owner with ?owner=.
func (s *Server) tasks(w http.ResponseWriter, r *http.Request) {
	ss, _ := sessionOf(r.Context())
	owner := ss.User.Email
	if o := r.URL.Query().Get("owner"); o != "" && ss.User.Role == store.RoleOps {
		owner = o
	}
	p := tasksPage{Owner: owner, Ops: ss.User.Role == store.RoleOps}
	for _, sec := range []struct {
		due         deals.Due
		name, empty string
	}{
		{deals.DueOverdue, "Overdue", "Nothing overdue."},
		{deals.DueToday, "Today", "Nothing more due today."},
		{deals.DueUpcoming, "Upcoming", "Nothing upcoming."},
	} {
		list, err := s.Deals.OwnerTasks(r.Context(), deals.TaskListRequest{Owner: owner, Due: sec.due})
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, deals.ErrNotFound) {
			p.Note = owner + " holds no deals, so has no tasks."
			p.Sections = nil
			break
		}
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		loc, err := time.LoadLocation(list.Zone)
		if err != nil {
			loc = time.UTC
		}
		p.Zone = list.Zone
		ts := taskSection{Name: sec.name, Empty: sec.empty, More: list.Next != ""}
		for _, t := range list.Tasks {
			ts.Tasks = append(ts.Tasks, taskRow{ID: t.ID, DealID: t.DealID, DealTitle: t.DealTitle, ContactName: t.ContactName,
				ContactEmail: t.ContactEmail, Stage: t.Stage, Title: t.Title, Kind: t.Kind, DueAt: t.DueAt, Blocking: t.Blocking,
				Open: true, Loc: loc, CSRF: ss.CSRFToken})
		}
		p.Sections = append(p.Sections, ts)
	}
	s.render(w, http.StatusOK, "tasks", view{Title: "My tasks", User: &ss.User, CSRF: ss.CSRFToken, Page: p})
}

// taskAction completes, skips or snoozes a task of a deal the user may reach, then shows
// the task again (htmx swaps it in place) or goes back to the page the form was on.
func (s *Server) taskAction(w http.ResponseWriter, r *http.Request) {
	ss, _ := sessionOf(r.Context())
	ctx := r.Context()
	d, err := s.reach(ctx, ss, r.PathValue("deal"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("task"), 10, 64)
	if err != nil || id < 1 {
		s.fail(w, r, http.StatusNotFound, "Not found.")
		return
	}
	var msg string
	switch action := r.PathValue("action"); action {
	case "done", "skip":
		outcome := workflows.TaskDone
		msg = "Done. The deal moves on in a moment."
		if action == "skip" {
			outcome, msg = workflows.TaskSkipped, "Skipped. The deal moves on in a moment."
		}
		_, err = s.Deals.CloseTask(ctx, deals.TaskRequest{Deal: d.ID, TaskID: id, Outcome: outcome, Source: Source})
	case "snooze":
		on := r.PostFormValue("until_on")
		msg = "Snoozed to " + on + " (the first business hour of that day)."
		_, err = s.Deals.SnoozeTask(ctx, deals.SnoozeRequest{Deal: d.ID, TaskID: id, UntilOn: on, Source: Source})
	default:
		s.fail(w, r, http.StatusNotFound, "Not found.")
		return
	}
	if errors.Is(err, deals.ErrDeliveryPending) {
		err, msg = nil, msg+" (Recorded; the engine applies it when Temporal answers.)"
	}
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	if r.Header.Get("HX-Request") == "true" {
		row := taskRow{ID: id, DealID: d.ID, DealTitle: d.Title, Title: r.PostFormValue("title"), Message: msg, Loc: time.UTC, CSRF: ss.CSRFToken}
		s.render(w, http.StatusOK, "task", view{Page: row})
		return
	}
	back := safeNext(r.PostFormValue("back"))
	if back == "" {
		back = "/tasks"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

type dealsPage struct {
	Stage, Owner, State string
	Ops                 bool
	Loc                 *time.Location
	Deals               []deals.ListedDeal
	Next                string
	NextQuery           string
}

// dealList lists deals by next action: a rep's own, any owner's for ops.
func (s *Server) dealList(w http.ResponseWriter, r *http.Request) {
	ss, _ := sessionOf(r.Context())
	q := r.URL.Query()
	p := dealsPage{Stage: q.Get("stage"), Owner: q.Get("owner"), State: q.Get("state"), Ops: ss.User.Role == store.RoleOps}
	if p.State == "" {
		p.State = "open"
	}
	state := p.State
	if state == "all" {
		state = ""
	}
	if !p.Ops {
		p.Owner = ss.User.Email
	}
	list, err := s.Deals.ListDeals(r.Context(), deals.DealListRequest{Stage: p.Stage, Owner: p.Owner, State: state, Before: q.Get("before")})
	if errors.Is(err, store.ErrNotFound) && p.Owner != "" {
		err = nil // an owner with no deals yet
	}
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	p.Deals, p.Next = list.Deals, list.Next
	if p.Next != "" {
		nq := q
		nq.Set("before", p.Next)
		p.NextQuery = nq.Encode()
	}
	p.Loc = s.zoneOf(r.Context(), ss.User.Email)
	s.render(w, http.StatusOK, "deals", view{Title: "Deals", User: &ss.User, CSRF: ss.CSRFToken, Page: p})
}

// entry is one line of a deal's timeline.
type entry struct {
	At     time.Time
	What   string
	Detail string
	State  string
}

type nextAction struct {
	At, DueAt    time.Time
	Kind, StepID string
	Reason       string
}

type dealPage struct {
	Deal       store.Deal
	People     store.DealPeople
	Loc        *time.Location
	Live       *workflows.View
	LiveErr    string
	Next       []nextAction
	OpenTasks  []taskRow
	Timeline   []entry
	WaitingFor string
}

// dealPage shows a deal: stage and deadline, next actions and why, open tasks, and the
// timeline, in the viewer's zone.
func (s *Server) dealPage(w http.ResponseWriter, r *http.Request) {
	ss, _ := sessionOf(r.Context())
	ctx := r.Context()
	d, err := s.reach(ctx, ss, r.PathValue("deal"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	det, err := s.Deals.Show(ctx, d.ID, s.QueryTimeout)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	people, err := s.Deals.Store.DealPeopleOf(ctx, d.ID)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	actors, err := s.Deals.Store.EventActors(ctx, d.ID)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	by := func(source, eventID string) string {
		if a := actors[source+"/"+eventID]; a != "" {
			return a + " via " + source
		}
		return source
	}
	loc := s.zoneOf(ctx, ss.User.Email)
	tl := det.Timeline
	p := dealPage{Deal: tl.Deal, People: people, Loc: loc, Live: det.Live, LiveErr: det.LiveErr}
	if det.Live != nil {
		p.WaitingFor = det.Live.WaitingFor
		for _, it := range det.Live.Next {
			p.Next = append(p.Next, nextAction{At: it.At, DueAt: it.DueAt, Kind: string(it.Kind), StepID: it.StepID, Reason: it.Reason})
		}
	} else {
		for _, a := range tl.Planned {
			n := nextAction{At: a.At, Kind: a.Kind, StepID: a.StepID, Reason: a.Reason}
			if a.DueAt != nil {
				n.DueAt = *a.DueAt
			}
			p.Next = append(p.Next, n)
		}
	}
	for _, t := range tl.Transitions {
		from := t.From
		if from == "" {
			from = "start"
		}
		p.Timeline = append(p.Timeline, entry{At: t.At, What: "Stage " + from + " → " + t.To,
			Detail: "by " + by(t.Source, t.SourceEventID) + detailOr(t.Reason)})
	}
	for _, e := range tl.Emails {
		at := e.ClaimedAt
		if e.SentAt != nil {
			at = *e.SentAt
		}
		p.Timeline = append(p.Timeline, entry{At: at, What: "Email " + e.Key.StepID + " to " + e.ToAddress,
			Detail: "delivered: " + e.Delivered + detailOr(e.Detail), State: e.State})
	}
	for _, t := range tl.Tasks {
		detail := "due " + t.DueAt.In(loc).Format(timeLayout)
		if t.CloseReason != "" {
			detail += "; " + t.CloseReason
		}
		p.Timeline = append(p.Timeline, entry{At: t.CreatedAt, What: "Task: " + t.Title, Detail: detail, State: t.State})
		if t.State == "open" {
			p.OpenTasks = append(p.OpenTasks, taskRow{ID: t.ID, DealID: d.ID, DealTitle: d.Title, Stage: tl.Deal.Stage,
				Title: t.Title, Kind: t.Kind, DueAt: t.DueAt, Blocking: p.WaitingFor != "" && strings.Contains(p.WaitingFor, t.StepID),
				Open: true, Loc: loc, CSRF: ss.CSRFToken})
		}
	}
	for _, e := range tl.Events {
		p.Timeline = append(p.Timeline, entry{At: e.ReceivedAt, What: "Event " + e.Kind + " by " + by(e.Source, e.SourceEventID),
			Detail: e.SourceEventID + detailOr(e.Reason), State: e.State})
	}
	sort.SliceStable(p.Timeline, func(i, j int) bool { return p.Timeline[i].At.After(p.Timeline[j].At) })
	title := d.Title
	if title == "" {
		title = "Deal"
	}
	s.render(w, http.StatusOK, "deal", view{Title: title, User: &ss.User, CSRF: ss.CSRFToken, Page: p})
}

func detailOr(s string) string {
	if s == "" {
		return ""
	}
	return "; " + s
}
