package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
)

// stepFixture writes a fixture ledger, engagements and tasks through the store, as the send
// and task activities and the front door write them.
type stepFixture struct {
	t   *testing.T
	st  *store.Store
	ctx context.Context
	t0  time.Time
}

func (f stepFixture) deal(ext, contact string) store.Deal {
	f.t.Helper()
	d := newDealWith(f.t, f.st, ext, contact)
	require.NoError(f.t, f.st.RecordTransition(f.ctx, store.Transition{DealID: d.ID, Visit: 1, To: "prospecting",
		At: f.t0.Add(-time.Hour), Source: "crm", SourceEventID: "create:" + ext}))
	return d
}

// email claims a ledger row under version and gives it its outcome: sent at sentAt (zero for
// an email never sent).
func (f stepFixture) email(d store.Deal, step string, version int64, state string, sentAt time.Time) store.LedgerKey {
	f.t.Helper()
	key := store.LedgerKey{DealID: d.ID, Visit: 1, StepID: step, Occurrence: 1}
	c, err := f.st.ClaimEmail(f.ctx, store.ClaimRequest{Key: key, ContactID: d.ContactID, Address: "x@prospect.test",
		Template: step, MessageID: "m-" + key.String() + "@test", Lease: time.Hour, CadenceVersion: version})
	require.NoError(f.t, err)
	require.True(f.t, c.Granted)
	var sent *time.Time
	if !sentAt.IsZero() {
		sent = &sentAt
	}
	// The outcome's instant is the fixture's, not now(): the test pins the times to reply.
	_, err = f.st.Pool().Exec(f.ctx, `UPDATE email_ledger SET state = $5, sent_at = $6::timestamptz, claimed_at = coalesce($6::timestamptz, $7), lease_until = NULL
		WHERE deal_id = $1 AND visit = $2 AND step_id = $3 AND occurrence = $4`,
		key.DealID, key.Visit, key.StepID, key.Occurrence, state, sent, f.t0)
	require.NoError(f.t, err)
	return key
}

// engage records an engagement as deals.Service.Engage does: its payload names the email it
// answers when answers is not nil.
func (f stepFixture) engage(d store.Deal, kind string, at time.Time, answers *store.LedgerKey) {
	f.t.Helper()
	payload, err := json.Marshal(map[string]any{"deal": d.ID, "kind": kind, "source": "test", "answers": answers})
	require.NoError(f.t, err)
	_, err = f.st.RecordEngagement(f.ctx, store.EngagementEvent{DealID: d.ID, Source: "test",
		EventID: fmt.Sprintf("%s-%s-%d", kind, d.ID, at.UnixNano()), SourceTime: at, Payload: payload})
	require.NoError(f.t, err)
}

func (f stepFixture) task(d store.Deal, step string, version int64, at time.Time, state string) {
	f.t.Helper()
	task, err := f.st.CreateTask(f.ctx, store.NewTask{DealID: d.ID, Visit: 1, StepID: step, Occurrence: 1, Kind: "call",
		Title: step, DueAt: at.Add(24 * time.Hour), At: at, CadenceVersion: &version})
	require.NoError(f.t, err)
	switch state {
	case "done", "skipped":
		closed, err := f.st.CloseTask(f.ctx, d.ID, task.ID, state, at.Add(time.Hour), "")
		require.NoError(f.t, err)
		require.True(f.t, closed)
	case "cancelled":
		_, err := f.st.Pool().Exec(f.ctx, `UPDATE tasks SET state = 'cancelled', closed_at = $2 WHERE id = $1`, task.ID, at.Add(time.Hour))
		require.NoError(f.t, err)
	}
}

func stepOf(t *testing.T, steps []store.StepStats, stage, id string) store.StepStats {
	t.Helper()
	for _, s := range steps {
		if s.Stage == stage && s.StepID == id {
			return s
		}
	}
	t.Fatalf("no step %s/%s in %+v", stage, id, steps)
	return store.StepStats{}
}

func versionOf(t *testing.T, r store.StepStatsReport, v int64) store.VersionSteps {
	t.Helper()
	for _, vs := range r.Versions {
		if vs.Version == v {
			return vs
		}
	}
	t.Fatalf("no version %d", v)
	return store.VersionSteps{}
}

func seconds(d time.Duration) *float64 {
	s := d.Seconds()
	return &s
}

func rate(n, of int) *float64 {
	r := float64(n) / float64(of)
	return &r
}

// Four deals on the built-in pipeline's prospecting steps (intro, then value-followup), one
// migrated to version 1 before its follow-up. Each reply names the email it answered, as the
// mailbox intake records it; the meeting names none and goes to the last email sent before it.
func TestStepStatsCountEachEngagementOnTheEmailItAnswered(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	changed := cadence.Default()
	changed.Templates["value-followup"] = cadence.Template{Subject: "v1 follow-up", Text: "v1"}
	_, err := st.PublishCadence(ctx, 1, changed)
	require.NoError(t, err)
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	f := stepFixture{t: t, st: st, ctx: ctx, t0: t0}
	day := 24 * time.Hour

	a := f.deal("ss-a", "a@prospect.test")
	f.email(a, "intro", 0, store.EmailSent, t0)
	aFollowUp := f.email(a, "value-followup", 0, store.EmailSent, t0.Add(3*day))
	f.engage(a, "reply", t0.Add(3*day+2*time.Hour), &aFollowUp) // the follow-up earned it, not the intro
	f.engage(a, "meeting_booked", t0.Add(4*day), nil)           // last touch: the follow-up
	f.engage(a, "click", t0.Add(4*day), &aFollowUp)             // not counted: no open or click tracking
	f.task(a, "intro-call", 0, t0.Add(2*day), "done")           // done
	f.task(a, "decision-call", 0, t0.Add(-40*day), "open")      // out of the period

	b := f.deal("ss-b", "b@prospect.test")
	bIntro := f.email(b, "intro", 0, store.EmailSent, t0)
	f.email(b, "value-followup", 0, store.EmailSent, t0.Add(3*day))
	f.engage(b, "reply", t0.Add(3*day+time.Hour), &bIntro) // after the follow-up went, but it answers the intro
	f.engage(b, "unsubscribe", t0.Add(5*day), &bIntro)     // the intro's link, though the follow-up came later
	f.task(b, "intro-call", 0, t0.Add(2*day), "skipped")

	c := f.deal("ss-c", "c@prospect.test")
	f.email(c, "intro", 0, store.EmailSuppressed, time.Time{})
	f.email(c, "value-followup", 0, store.EmailBounced, time.Time{})
	f.task(c, "intro-call", 0, t0.Add(2*day), "open")
	f.task(c, "escalate-intro-call", 0, t0.Add(4*day), "open")

	d := f.deal("ss-d", "d@prospect.test")
	dIntro := f.email(d, "intro", 0, store.EmailSent, t0)
	f.engage(d, "reply", t0.Add(time.Hour), &dIntro)
	f.engage(d, "reply", t0.Add(2*time.Hour), &dIntro) // a second reply: the email is replied once, timed by the first
	require.NoError(t, st.RecordMigration(ctx, d.ID, 0, 1, 0, t0.Add(day)))
	dFollowUp := f.email(d, "value-followup", 1, store.EmailSent, t0.Add(3*day))
	f.engage(d, "reply", t0.Add(3*day+4*time.Hour), &dFollowUp)
	f.task(d, "intro-call", 1, t0.Add(2*day), "cancelled")

	late := f.deal("ss-late", "late@prospect.test")
	f.email(late, "intro", 0, store.EmailSent, t0.Add(40*day)) // after the period

	r, err := st.StepStats(ctx, store.StepStatsQuery{Pipeline: "b2b-default", From: t0.Add(-day), To: t0.Add(10 * day)})
	require.NoError(t, err)
	require.Equal(t, []int64{1, 0}, []int64{r.Versions[0].Version, r.Versions[1].Version}, "newest first")

	v0 := versionOf(t, r, 0)
	require.Equal(t, "intro", v0.Steps[0].StepID, "the model's order")
	require.Equal(t, store.StepStats{Stage: "prospecting", StepID: "intro", Kind: cadence.StepEmail,
		Sent: 3, Suppressed: 1, Replied: 2, Unsubscribed: 1, ReplyRate: rate(2, 3),
		MedianReplySeconds: seconds((time.Hour + 3*day + time.Hour) / 2), Best: true,
	}, stepOf(t, v0.Steps, "prospecting", "intro"))
	require.Equal(t, store.StepStats{Stage: "prospecting", StepID: "value-followup", Kind: cadence.StepEmail,
		Sent: 2, Bounced: 1, Replied: 1, MeetingsBooked: 1, ReplyRate: rate(1, 2),
		MedianReplySeconds: seconds(2 * time.Hour),
	}, stepOf(t, v0.Steps, "prospecting", "value-followup"))
	require.Equal(t, store.StepStats{Stage: "prospecting", StepID: "intro-call", Kind: cadence.StepTask,
		TasksCreated: 3, TasksDone: 1, TasksSkipped: 1, TasksOpen: 1, TasksEscalated: 1,
	}, stepOf(t, v0.Steps, "prospecting", "intro-call"))
	require.Equal(t, store.StepStats{Stage: "negotiation", StepID: "decision-call", Kind: cadence.StepTask},
		stepOf(t, v0.Steps, "negotiation", "decision-call"), "a step with nothing in the period is listed with zeros")

	v1 := versionOf(t, r, 1)
	require.Equal(t, store.StepStats{Stage: "prospecting", StepID: "value-followup", Kind: cadence.StepEmail,
		Sent: 1, Replied: 1, ReplyRate: rate(1, 1), MedianReplySeconds: seconds(4 * time.Hour), Best: true,
	}, stepOf(t, v1.Steps, "prospecting", "value-followup"))
	require.Equal(t, store.StepStats{Stage: "prospecting", StepID: "intro-call", Kind: cadence.StepTask,
		TasksCreated: 1, TasksCancelled: 1,
	}, stepOf(t, v1.Steps, "prospecting", "intro-call"))
	require.Zero(t, stepOf(t, v1.Steps, "prospecting", "intro").Sent, "the migrated deal's intro went out under version 0")

	require.Equal(t, store.StepStats{Stage: "prospecting", StepID: "value-followup", Kind: cadence.StepEmail,
		Sent: 3, Bounced: 1, Replied: 2, MeetingsBooked: 1, ReplyRate: rate(2, 3),
		MedianReplySeconds: seconds((2*time.Hour + 4*time.Hour) / 2),
	}, stepOf(t, r.ByStep, "prospecting", "value-followup"), "across versions, the median of both versions' replies")
	require.Equal(t, 4, stepOf(t, r.ByStep, "prospecting", "intro-call").TasksCreated)
	require.True(t, stepOf(t, r.ByStep, "prospecting", "intro").Best, "ties go to the earlier step")
}

// Bad queries are refused before anything is read; an unknown pipeline is not found.
func TestStepStatsQueryBounds(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	now := time.Now()
	for _, q := range []store.StepStatsQuery{
		{Pipeline: "", From: now.Add(-time.Hour), To: now},
		{Pipeline: "b2b-default", From: now, To: now},
		{Pipeline: "b2b-default", From: now.Add(-store.MaxStepStatsPeriod - time.Second), To: now},
	} {
		require.NotEmpty(t, q.Check(), "%+v", q)
		_, err := st.StepStats(ctx, q)
		require.Error(t, err)
	}
	_, err := st.StepStats(ctx, store.StepStatsQuery{Pipeline: "nope", From: now.Add(-time.Hour), To: now})
	require.ErrorIs(t, err, store.ErrNotFound)
}
