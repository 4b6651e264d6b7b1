package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/calendar"
	"github.com/followup-engine/followup/internal/store"
)

// a lets workflow code name activity methods; the worker registers a real instance.
var a *activities.Activities

// DealWorkflow runs one deal: it enters stages, runs their steps, enforces their time limits
// and applies stage events, until the deal closes.
func DealWorkflow(ctx workflow.Context, in DealInput) (Result, error) {
	d, err := newDeal(ctx, in)
	if err != nil {
		return Result{}, err
	}
	return d.run(ctx)
}

// deal is the private state of one run of DealWorkflow.
type deal struct {
	in       DealInput
	pipeline cadence.Pipeline
	calSpecs calendar.DealSpecs
	state    Carried
	plan     plannedAgenda
	dirty    bool // state changed since the agenda was last planned and projected
	lastSA   searchAttrs
	turns    int // agenda-loop turns in this run
	// send is the email whose send runs beside the agenda, nil when none does; held are the
	// events that wait for it to settle (migrations, which apply at a step boundary, and the
	// engine's own bounce of it).
	send   *inflightSend
	held   []Event
	events workflow.ReceiveChannel
	logger log.Logger
}

// inflightSend is one email step whose send activity is running or retrying.
type inflightSend struct {
	item   cadence.Item
	in     activities.SendInput // its ledger key; CancelEmail and AbandonEmail take it too
	since  time.Time
	fut    workflow.Future
	cancel workflow.CancelFunc
}

// plannedAgenda is what the planner returned, recorded in history with SideEffect so a later
// planner, tzdata or holiday change never alters how a running deal replays.
type plannedAgenda struct {
	Items    []cadence.Item `json:"items"`
	Deadline time.Time      `json:"deadline,omitzero"`
	Err      string         `json:"err,omitempty"`
	// Frozen: the visit's remaining time, when a pause froze it with this plan.
	Frozen *Frozen `json:"frozen,omitempty"`
	// AfterPause: while every pause holding the deal has an end, the plan its resume will
	// make; shown, never acted on.
	AfterPause []cadence.Item `json:"after_pause,omitempty"`
}

type searchAttrs struct {
	owner   string
	stage   string
	next    time.Time
	version int64
	inited  bool
}

func newDeal(ctx workflow.Context, in DealInput) (*deal, error) {
	if in.Version != InputVersion {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("deal input version %d is not supported (want %d)", in.Version, InputVersion), "BadInput", nil)
	}
	if in.DealID == "" {
		return nil, temporal.NewNonRetryableApplicationError("deal input has no deal id", "BadInput", nil)
	}
	d := &deal{
		in:     in,
		events: workflow.GetSignalChannel(ctx, EventSignal),
		logger: log.With(workflow.GetLogger(ctx), "DealID", in.DealID),
		dirty:  true,
	}
	if in.Resume != nil {
		d.state = *in.Resume
	}
	if err := workflow.SetQueryHandler(ctx, StateQuery, d.view); err != nil {
		return nil, err
	}
	var p cadence.Pipeline
	err := workflow.ExecuteActivity(dbOptions(ctx), a.LoadCadence,
		activities.CadenceInput{Version: in.Cadence.Version, Hash: in.Cadence.Hash}).Get(ctx, &p)
	if err != nil {
		return nil, fmt.Errorf("load cadence version %d: %w", in.Cadence.Version, err)
	}
	d.pipeline = p
	if err := d.loadCalendars(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// loadCalendars asks for the deal's calendars under the current pipeline; the answer is
// recorded in history.
func (d *deal) loadCalendars(ctx workflow.Context) error {
	specs, err := d.calendarsFor(ctx, d.pipeline)
	if err != nil {
		return fmt.Errorf("load calendars: %w", err)
	}
	d.calSpecs = specs
	return nil
}

func (d *deal) calendarsFor(ctx workflow.Context, p cadence.Pipeline) (calendar.DealSpecs, error) {
	var specs calendar.DealSpecs
	err := workflow.ExecuteActivity(dbOptions(ctx), a.LoadCalendars, activities.CalendarsInput{
		DealID: d.in.DealID, Pipeline: p.Calendar,
	}).Get(ctx, &specs)
	return specs, err
}

func (d *deal) run(ctx workflow.Context) (Result, error) {
	if d.in.Resume == nil {
		start := d.in.Start
		if _, ok := d.pipeline.Stage(start.Stage); !ok {
			return Result{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("start stage %q is not in pipeline %q", start.Stage, d.pipeline.ID), "BadInput", nil)
		}
		d.state.Visit = cadence.Visit{Number: d.in.PrevVisit, Stage: d.in.PrevStage}
		d.state.Revision = d.in.PrevRevision
		d.state.Pauses = append(d.state.Pauses, d.in.Pauses...)
		if err := d.moveTo(ctx, start.Stage, start, start.Reason, nil, time.Time{}); err != nil {
			return Result{}, err
		}
		if d.in.Import {
			d.skipFirstEmail()
		}
	}
	pending := d.state.Pending
	d.state.Pending = nil
	if err := d.handleAll(ctx, pending); err != nil {
		return Result{}, err
	}
	for {
		if err := d.drain(ctx); err != nil {
			return Result{}, err
		}
		if err := d.refresh(ctx); err != nil {
			return Result{}, err
		}
		if d.closable() {
			// Events delivered before the deal closes are handled, never refused: one may
			// move the deal out of its terminal stage.
			handled, err := d.handleDelivered(ctx, never)
			if err != nil {
				return Result{}, err
			}
			if handled {
				continue
			}
			return d.close(ctx)
		}
		if d.shouldContinueAsNew(ctx) {
			return Result{}, d.continueAsNew(ctx)
		}
		d.turns++
		if err := d.waitAndAct(ctx); err != nil {
			return Result{}, err
		}
	}
}

// skipFirstEmail marks the stage's first email as done at entry: an imported deal got it from
// the system it comes from. Later steps count from stage entry as usual.
func (d *deal) skipFirstEmail() {
	stage, _ := d.pipeline.Stage(d.state.Visit.Stage)
	for _, st := range stage.Steps {
		if st.Kind == cadence.StepEmail {
			d.markDone(cadence.Item{StepID: st.ID, Occurrence: 1}, d.state.Visit.EnteredAt, "imported")
			return
		}
	}
}

// receive takes one event already delivered, without waiting: first those held for a send
// that has settled since, then the signals.
func (d *deal) receive() (Event, bool) {
	if d.send == nil && len(d.held) > 0 {
		ev := d.held[0]
		d.held = d.held[1:]
		return ev, true
	}
	var ev Event
	ok := d.events.ReceiveAsync(&ev)
	return ev, ok
}

// handleDelivered handles the events already delivered until none is left or stop says
// so, and reports whether it handled any.
func (d *deal) handleDelivered(ctx workflow.Context, stop func() bool) (bool, error) {
	handled := false
	for !stop() {
		ev, ok := d.receive()
		if !ok {
			break
		}
		handled = true
		if err := d.handle(ctx, ev); err != nil {
			return handled, err
		}
	}
	return handled, nil
}

// drain handles the events already delivered, so a stage change always wins over an item
// that fell due at the same time. It stops early once the run should continue as new: the
// rest are carried to the next run.
func (d *deal) drain(ctx workflow.Context) error {
	_, err := d.handleDelivered(ctx, func() bool { return d.shouldContinueAsNew(ctx) })
	return err
}

func never() bool { return false }

// waitAndAct arms one timer for the earliest item the loop may act on and waits for it, for
// an event, or for the send in flight to settle.
func (d *deal) waitAndAct(ctx workflow.Context) error {
	// An event delivered while the last activity ran wins over an item that fell due
	// meanwhile: it happened first.
	if ev, ok := d.receive(); ok {
		return d.handle(ctx, ev)
	}
	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	defer cancelTimer()
	sel := workflow.NewSelector(ctx)
	var (
		ev                  Event
		due, gotEv, settled bool
	)
	next, hasNext := d.nextItem()
	if hasNext {
		wait := next.At.Sub(workflow.Now(ctx))
		if wait <= 0 {
			return d.act(ctx, next)
		}
		sel.AddFuture(workflow.NewTimer(timerCtx, wait), func(f workflow.Future) {
			due = f.Get(ctx, nil) == nil
		})
	}
	sel.AddReceive(d.events, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, &ev)
		gotEv = true
	})
	if d.send != nil {
		sel.AddFuture(d.send.fut, func(workflow.Future) { settled = true })
	}
	// Cancellation wakes the loop even when nothing is on the agenda.
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
	sel.Select(ctx)
	switch {
	case gotEv:
		return d.handle(ctx, ev)
	case settled:
		return d.settleSend(ctx)
	case due:
		return d.act(ctx, next)
	}
	if ctx.Err() != nil {
		// The workflow was cancelled: stop, rather than spin on a cancelled timer.
		return temporal.NewCanceledError("deal workflow cancelled")
	}
	return nil
}

// nextItem is the earliest agenda item the loop may act on now. While a send is in flight,
// the visit's steps (and on_exhausted, which follows the last) wait for it: each counts from
// the previous step's actual time, which the send's outcome sets, and a later email keeps
// the thread's order. The stage's warnings and time limit, escalations and a pause's end
// keep their instants.
func (d *deal) nextItem() (cadence.Item, bool) {
	for _, it := range d.agenda() {
		if d.send != nil && waitsForSend(it.Kind) {
			continue
		}
		return it, true
	}
	return cadence.Item{}, false
}

func waitsForSend(k cadence.ItemKind) bool {
	switch k {
	case cadence.ItemEmail, cadence.ItemTask, cadence.ItemWait, cadence.ItemExhausted:
		return true
	}
	return false
}

// act runs one due agenda item.
func (d *deal) act(ctx workflow.Context, item cadence.Item) error {
	stage, _ := d.pipeline.Stage(d.state.Visit.Stage)
	switch item.Kind {
	case cadence.ItemEmail:
		d.startSend(ctx, stage, item)
		return nil
	case cadence.ItemTask:
		step, _ := stage.Step(item.StepID)
		ref, err := d.createTask(ctx, item.StepID, item.Occurrence, step.Task, item.DueAt)
		if err != nil {
			return err
		}
		d.state.OpenTasks = append(d.state.OpenTasks, ref)
		outcome := "created"
		if step.Blocking {
			outcome = cadence.OutcomeOpen // later steps wait until the owner closes it
		}
		d.markDone(item, workflow.Now(ctx), outcome)
		return nil
	case cadence.ItemStaleTask:
		rung, ok := staleRung(stage, item.StepID)
		if !ok {
			return temporal.NewNonRetryableApplicationError("no on_stale rung "+item.StepID+" in stage "+stage.ID, "BadPlan", nil)
		}
		ref, err := d.createTask(ctx, item.StepID, item.Occurrence, &rung.Task, item.DueAt)
		if err != nil {
			return err
		}
		d.state.OpenTasks = append(d.state.OpenTasks, ref)
		d.markDone(item, workflow.Now(ctx), "created")
		return nil
	case cadence.ItemWait:
		d.markDone(item, workflow.Now(ctx), "waited")
		return nil
	case cadence.ItemResume:
		return d.pausesEnd(ctx)
	case cadence.ItemEscalate:
		return d.escalate(ctx, item)
	case cadence.ItemStale:
		m := stage.OnStale
		return d.moveTo(ctx, m.MoveTo, d.engineEvent(ctx, item), m.Reason, m.Task, item.DueAt)
	case cadence.ItemExhausted:
		m := stage.OnExhausted
		return d.moveTo(ctx, m.MoveTo, d.engineEvent(ctx, item), m.Reason, m.Task, item.DueAt)
	default:
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("unknown agenda item kind %q", item.Kind), "BadPlan", nil)
	}
}

func staleRung(stage cadence.Stage, stepID string) (cadence.StaleTask, bool) {
	for _, r := range stage.StaleTasks {
		if cadence.StaleTaskStepID(r.At) == stepID {
			return r, true
		}
	}
	return cadence.StaleTask{}, false
}

// sendSettleWait bounds how long leaving a visit (or stopping its emails) waits for the send
// in flight to settle after its cancellation: a retry in backoff stops at once and an attempt
// talking SMTP ends within its timeout, but an attempt on a lost worker would hold the deal
// until its Start-To-Close. Past the bound the deal goes on; the attempt keeps the ledger's
// guarantees (it re-checks suppression under the contact's lock, and records its outcome).
const sendSettleWait = 30 * time.Second

// startSend starts an email step's send beside the agenda: the loop keeps firing the stage's
// other items while it runs and retries, and takes its outcome when it settles.
func (d *deal) startSend(ctx workflow.Context, stage cadence.Stage, item cadence.Item) {
	step, _ := stage.Step(item.StepID)
	sendCtx, cancel := workflow.WithCancel(ctx)
	in := activities.SendInput{
		DealID:         d.in.DealID,
		CadenceVersion: d.in.Cadence.Version,
		Visit:          d.state.Visit.Number,
		StepID:         item.StepID,
		Occurrence:     item.Occurrence,
		Template:       step.Template,
		Thread:         step.Thread,
	}
	fut := workflow.ExecuteActivity(sendOptions(sendCtx), a.SendEmail, in)
	d.send = &inflightSend{item: item, in: in, since: workflow.Now(ctx), fut: fut, cancel: cancel}
	d.dirty = true // pages show the email as being sent
}

// settleSend takes the outcome of the send in flight, which is ready.
func (d *deal) settleSend(ctx workflow.Context) error {
	s := d.send
	d.send = nil
	defer s.cancel()
	var res activities.SendResult
	err := s.fut.Get(ctx, &res)
	return d.sendOutcome(ctx, s, res, err)
}

// stopSend cancels the send in flight, when the deal leaves its visit, stops its emails or
// pauses: a retry waiting in backoff stops at once, an attempt already past its claim
// finishes and the ledger records its outcome. It waits for the send to settle, at most
// sendSettleWait. A send stopped for good (abandon says why) is closed in the ledger, so no
// row is left looking as if it were still being retried; a paused one keeps its row, which
// the resume claims again.
func (d *deal) stopSend(ctx workflow.Context, abandon string) error {
	s := d.send
	if s == nil {
		return nil
	}
	d.send = nil
	s.cancel()
	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	defer cancelTimer()
	settled := false
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(s.fut, func(workflow.Future) { settled = true })
	sel.AddFuture(workflow.NewTimer(timerCtx, sendSettleWait), func(workflow.Future) {})
	sel.Select(ctx)
	if !settled {
		d.logger.Warn("Email send cancelled but not settled: the deal goes on", "Item", s.item.ID, "Waited", sendSettleWait)
		return nil
	}
	var res activities.SendResult
	if err := s.fut.Get(ctx, &res); err != nil {
		// Cancelled (a retry in backoff ends with the cancellation or with its last attempt's
		// error): nothing was accepted.
		if abandon == "" {
			return nil
		}
		in := s.in
		in.Reason = abandon
		return workflow.ExecuteActivity(dbOptions(ctx), a.CancelEmail, in).Get(ctx, nil)
	}
	return d.sendOutcome(ctx, s, res, nil)
}

// sendOutcome records what a settled send did to its item, which belongs to the current
// visit (leaving a visit stops its send first). A hard bounce is applied as the bounce
// engagement it is, once the send is out of the way.
func (d *deal) sendOutcome(ctx workflow.Context, s *inflightSend, res activities.SendResult, sendErr error) error {
	item := s.item
	switch {
	case sendErr != nil:
		var canceled *temporal.CanceledError
		if errors.As(sendErr, &canceled) {
			// Stopped on purpose: the item stays pending (re-planned after a pause; not planned
			// once the visit's emails stopped).
			return nil
		}
		// Retries ran out (Schedule-To-Close): record the failure in the ledger and move on.
		d.logger.Error("Email step failed after retries", "Item", item.ID, "Error", sendErr)
		if err := workflow.ExecuteActivity(dbOptions(ctx), a.AbandonEmail, s.in).Get(ctx, nil); err != nil {
			return err
		}
		d.markDone(item, workflow.Now(ctx), "failed")
	case res.Outcome == activities.SendDeferred:
		// A send limit held it back: the same item (same ledger key) is re-planned into the
		// window once the limit allows, and later steps count from when it really goes.
		until := res.DeferredUntil
		if earliest := workflow.Now(ctx).Add(time.Minute); until.Before(earliest) {
			until = earliest // never spin on a limit that has no future instant
		}
		d.state.Visit.Defer(cadence.Deferral{ItemID: item.ID, Until: until, Why: res.DeferReason})
		d.dirty = true
	case res.Outcome == activities.SendSuppressed:
		// A step skipped by suppression counts at its planned instant. Suppression is
		// permanent, so the deal's later emails would each come back suppressed: stop them.
		d.markDone(item, item.At, string(res.Outcome))
		const why = "the contact's address is suppressed"
		if d.state.Suppressed == "" {
			d.state.Suppressed = why
		}
		if d.state.Visit.EmailsStopped == "" {
			d.state.Visit.EmailsStopped = why
		}
	case res.Outcome == activities.SendBounced:
		d.markDone(item, workflow.Now(ctx), string(res.Outcome))
		d.held = append(d.held, Event{
			Version: EventVersion, Kind: EventEngaged, Engagement: cadence.EngagedBounce,
			Source: SourceEngine, SourceEventID: fmt.Sprintf("%s/visit-%d/%s/bounce", d.in.DealID, s.in.Visit, item.ID),
			SourceTime: workflow.Now(ctx), Reason: "the relay refused the address (" + res.Enhanced + ")",
		})
	default:
		d.markDone(item, workflow.Now(ctx), string(res.Outcome))
	}
	return nil
}

func (d *deal) handleAll(ctx workflow.Context, evs []Event) error {
	for _, ev := range evs {
		if err := d.handle(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}

func (d *deal) markDone(item cadence.Item, at time.Time, outcome string) {
	d.state.Visit.Done = append(d.state.Visit.Done, cadence.Done{
		StepID: item.StepID, Occurrence: item.Occurrence, At: at, Outcome: outcome,
	})
	d.dirty = true
}

func (d *deal) engineEvent(ctx workflow.Context, item cadence.Item) Event {
	return Event{
		Version:       EventVersion,
		Kind:          EventStageChanged,
		Source:        SourceEngine,
		SourceEventID: fmt.Sprintf("%s/visit-%d/%s", d.in.DealID, d.state.Visit.Number, item.ID),
		SourceTime:    workflow.Now(ctx),
	}
}

// verdict is what the ordering rules say about an event.
type verdict struct {
	apply  bool
	state  store.EventState // when not applied: ignored, duplicate
	reason string
}

// classify applies the ordering rules: same event id as the last applied one is a duplicate;
// a source time before the last applied transition (whatever its source) is ignored; ties
// are applied; a newer move to an earlier stage is legitimate.
func (d *deal) classify(ev Event) verdict {
	if ev.Version != EventVersion {
		return verdict{state: store.EventIgnored, reason: fmt.Sprintf("event envelope version %d is not supported", ev.Version)}
	}
	wm := d.state.Watermark
	switch ev.Kind {
	case EventCreated:
		if ev.Source == d.in.Start.Source && ev.SourceEventID == d.in.Start.SourceEventID {
			return verdict{state: store.EventDuplicate, reason: "the create that started this run"}
		}
		return verdict{state: store.EventDuplicate, reason: "deal already exists: create converged on the running deal"}
	case EventStageChanged:
		switch {
		case ev.Source == wm.Source && ev.SourceEventID == wm.EventID:
			return verdict{state: store.EventDuplicate, reason: "already applied"}
		case ev.SourceTime.Before(wm.Time),
			ev.SourceTime.Equal(wm.Time) && ev.Source == wm.Source && ev.Sequence < wm.Sequence:
			return verdict{state: store.EventIgnored, reason: fmt.Sprintf("older than the last transition (%s at %s)",
				wm.Source, wm.Time.UTC().Format(time.RFC3339))}
		}
		if _, ok := d.pipeline.Stage(ev.Stage); !ok {
			return verdict{state: store.EventIgnored, reason: fmt.Sprintf("stage %q is not in pipeline %q", ev.Stage, d.pipeline.ID)}
		}
		if ev.Stage == d.state.Visit.Stage {
			return verdict{state: store.EventIgnored, reason: fmt.Sprintf("deal is already in %s", ev.Stage)}
		}
		return verdict{apply: true}
	default:
		return verdict{state: store.EventIgnored, reason: fmt.Sprintf("unknown event kind %q", ev.Kind)}
	}
}

// handledWindow bounds the inbound event ids a deal remembers. Redeliveries come within
// minutes (a retry, the sweeper), long before this many events.
const handledWindow = 256

// firstDelivery reports whether the deal sees this inbound event for the first time, and
// remembers it. Events without an inbound id (internal ones) are always new.
func (d *deal) firstDelivery(ev Event) bool {
	if ev.InboundEventID == 0 {
		return true
	}
	if slices.Contains(d.state.Handled, ev.InboundEventID) {
		return false
	}
	d.state.Handled = append(d.state.Handled, ev.InboundEventID)
	if n := len(d.state.Handled); n > handledWindow {
		d.state.Handled = slices.Clone(d.state.Handled[n-handledWindow:])
	}
	return true
}

// handle applies one event. A send in flight is stopped when the event pauses the deal or
// stops the visit's emails (a reply must never be followed by the email retrying beside it).
func (d *deal) handle(ctx workflow.Context, ev Event) error {
	if ev.Kind == EventMigrate && d.send != nil {
		// A migration applies at a step boundary: after this send.
		d.held = append(d.held, ev)
		return nil
	}
	if err := d.apply(ctx, ev); err != nil {
		return err
	}
	switch {
	case d.send == nil:
	case d.state.Visit.EmailsStopped != "":
		return d.stopSend(ctx, "not sent: "+d.state.Visit.EmailsStopped)
	case d.paused():
		return d.stopSend(ctx, "")
	}
	return nil
}

func (d *deal) apply(ctx workflow.Context, ev Event) error {
	if !d.firstDelivery(ev) {
		// Its outcome is recorded already (or will be, by the delivery being handled).
		d.logger.Info("Inbound event delivered again: handled once", "InboundEventID", ev.InboundEventID, "Kind", ev.Kind)
		return nil
	}
	switch ev.Kind {
	case EventMigrate:
		return d.migrate(ctx, ev)
	case EventEngaged:
		return d.engaged(ctx, ev)
	case EventTaskClosed:
		return d.taskClosed(ctx, ev)
	case EventTaskSnoozed:
		return d.taskSnoozed(ctx, ev)
	case EventPaused:
		return d.pause(ctx, ev)
	case EventResumed:
		return d.resume(ctx, ev)
	case EventOwnerChanged:
		return d.ownerChanged(ctx, ev)
	}
	v := d.classify(ev)
	if v.apply {
		return d.moveTo(ctx, ev.Stage, ev, ev.Reason, nil, time.Time{})
	}
	// The first create's own signal needs no record: its row was marked applied with the transition.
	if ev.InboundEventID == 0 || (ev.Kind == EventCreated && ev.SourceEventID == d.in.Start.SourceEventID && ev.Source == d.in.Start.Source) {
		return nil
	}
	d.logger.Info("Event not applied", "Kind", ev.Kind, "Source", ev.Source, "EventID", ev.SourceEventID, "State", v.state, "Reason", v.reason)
	return d.recordOutcome(ctx, ev, v.state, v.reason)
}

func (d *deal) recordOutcome(ctx workflow.Context, ev Event, state store.EventState, reason string) error {
	if ev.InboundEventID == 0 {
		return nil // not recorded as an inbound event (the engine's own, or a test's)
	}
	return workflow.ExecuteActivity(dbOptions(ctx), a.RecordEventOutcome, activities.EventOutcomeInput{
		InboundEventID: ev.InboundEventID, State: state, Reason: reason, At: workflow.Now(ctx),
	}).Get(ctx, nil)
}

// migrate moves the deal to another cadence version at a step boundary (it is handled
// between agenda items, never during a send). Steps are matched by id: what ran stays done,
// so nothing is resent; steps new in the version are planned from the visit's actual times.
// The stage's time limit is taken from the new version.
func (d *deal) migrate(ctx workflow.Context, ev Event) error {
	if ev.Cadence == nil {
		return d.recordOutcome(ctx, ev, store.EventIgnored, "migrate event names no cadence version")
	}
	to := *ev.Cadence
	if to.Version == d.in.Cadence.Version {
		return d.recordOutcome(ctx, ev, store.EventIgnored, fmt.Sprintf("deal is already on cadence version %d", to.Version))
	}
	if ev.MigrateFrom != d.in.Cadence.Version {
		// A stale migration, decided while the deal was on another version.
		return d.recordOutcome(ctx, ev, store.EventIgnored, fmt.Sprintf("migration from version %d, but the deal is on version %d", ev.MigrateFrom, d.in.Cadence.Version))
	}
	var p cadence.Pipeline
	err := workflow.ExecuteActivity(dbOptions(ctx), a.LoadCadence, activities.CadenceInput{Version: to.Version, Hash: to.Hash}).Get(ctx, &p)
	if err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeBadInput {
			return d.recordOutcome(ctx, ev, store.EventIgnored, "cannot migrate: "+appErr.Message())
		}
		return err
	}
	if _, ok := p.Stage(d.state.Visit.Stage); !ok {
		return d.recordOutcome(ctx, ev, store.EventIgnored, fmt.Sprintf("cannot migrate: version %d has no stage %q", to.Version, d.state.Visit.Stage))
	}
	// The new version's calendars are checked before anything is recorded.
	specs, err := d.calendarsFor(ctx, p)
	if err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeBadInput {
			return d.recordOutcome(ctx, ev, store.EventIgnored, "cannot migrate: "+appErr.Message())
		}
		return err
	}
	from := d.in.Cadence.Version
	oldStage, _ := d.pipeline.Stage(d.state.Visit.Stage)
	newStage, _ := p.Stage(d.state.Visit.Stage)
	err = workflow.ExecuteActivity(dbOptions(ctx), a.RecordMigration, activities.MigrationInput{
		DealID: d.in.DealID, From: from, To: to.Version, InboundEventID: ev.InboundEventID, At: workflow.Now(ctx),
	}).Get(ctx, nil)
	if err != nil {
		return err
	}
	d.pipeline = p
	d.in.Cadence = to
	d.calSpecs = specs
	if newStage.TimeLimit != oldStage.TimeLimit {
		d.state.Visit.Deadline = time.Time{} // re-planned from stage entry with the new limit
	}
	d.dirty = true
	d.logger.Info("Cadence migrated", "From", from, "To", to.Version)
	return nil
}

// moveTo leaves the current stage visit (cancelling its open tasks), records the transition
// with workflow.Now and enters the next visit. A task the move creates belongs to the new visit.
func (d *deal) moveTo(ctx workflow.Context, to string, ev Event, reason string, task *cadence.TaskSpec, taskDue time.Time) error {
	// The old visit's send stops first: no step of a visit the deal left may run.
	from := d.state.Visit
	if err := d.stopSend(ctx, fmt.Sprintf("not sent: the deal moved from %s to %s", from.Stage, to)); err != nil {
		return err
	}
	now := workflow.Now(ctx)
	// A reply's or a bounce's task is about the prospect, not the stage: it stays open.
	var kept []activities.TaskRef
	var keep []int64
	for _, t := range d.state.OpenTasks {
		if strings.HasPrefix(t.StepID, exitStepPrefix) {
			kept, keep = append(kept, t), append(keep, t.ID)
		}
	}
	engine := ev.Source == SourceEngine
	// Runs that made such a move before these rules keep making it the old way when they
	// replay (the version is asked only where the rules decide something).
	if len(kept) > 0 || (engine && d.state.Replied != "") || d.state.AwayUntil.After(now) {
		if workflow.GetVersion(ctx, ChangeReplyThroughMoves, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			kept, keep, engine = nil, nil, false
			d.state.Replied, d.state.AwayUntil = "", time.Time{}
		}
	}
	if len(d.state.OpenTasks) > len(kept) {
		err := workflow.ExecuteActivity(dbOptions(ctx), a.CancelVisitTasks, activities.CancelTasksInput{
			DealID: d.in.DealID, Visit: from.Number, At: now,
			Reason: fmt.Sprintf("deal moved from %s to %s", from.Stage, to), Keep: keep,
		}).Get(ctx, nil)
		if err != nil {
			return err
		}
	}
	// The emails of the new visit: stopped for good after a bounce or an opt-out; stopped
	// after a reply while only the engine moves the deal; a person's move starts them again.
	stopped := d.state.Suppressed
	if !engine {
		d.state.Replied = ""
	} else if stopped == "" && d.state.Replied != "" {
		stopped = d.state.Replied + ": no email until a person moves the deal"
	}
	d.state.Visit = cadence.Visit{Stage: to, Number: from.Number + 1, EnteredAt: now, EmailsStopped: stopped,
		// Nor is a deal whose prospect replied "unresponsive" when its stopped steps run out.
		Responded: engine && d.state.Replied != ""}
	d.state.OpenTasks = kept
	err := workflow.ExecuteActivity(dbOptions(ctx), a.RecordTransition, activities.TransitionInput{
		DealID: d.in.DealID, Visit: d.state.Visit.Number, From: from.Stage, To: to, At: now,
		Source: ev.Source, SourceEventID: ev.SourceEventID, SourceTime: ev.SourceTime,
		InboundEventID: ev.InboundEventID, Reason: reason,
	}).Get(ctx, nil)
	if err != nil {
		return err
	}
	d.state.Watermark = Watermark{Time: ev.SourceTime, Sequence: ev.Sequence, Source: ev.Source, EventID: ev.SourceEventID}
	d.dirty = true
	if task != nil {
		ref, err := d.createTask(ctx, "move-from-"+from.Stage, 1, task, taskDue)
		if err != nil {
			return err
		}
		d.state.OpenTasks = append(d.state.OpenTasks, ref)
	}
	if d.state.AwayUntil.After(now) && stopped == "" {
		if _, err := d.deferNextEmail(ctx, d.state.AwayUntil); err != nil {
			return err
		}
	}
	d.logger.Info("Stage changed", "From", from.Stage, "To", to, "Visit", d.state.Visit.Number, "Source", ev.Source, "Reason", reason)
	return nil
}

func (d *deal) createTask(ctx workflow.Context, stepID string, occurrence int, spec *cadence.TaskSpec, due time.Time) (activities.TaskRef, error) {
	if spec == nil {
		return activities.TaskRef{}, temporal.NewNonRetryableApplicationError("task step "+stepID+" has no task", "BadPlan", nil)
	}
	var ref activities.TaskRef
	version := d.in.Cadence.Version
	err := workflow.ExecuteActivity(dbOptions(ctx), a.CreateTask, activities.TaskInput{
		DealID: d.in.DealID, Visit: d.state.Visit.Number, StepID: stepID, Occurrence: occurrence,
		Kind: spec.Kind, Title: spec.Title, DueAt: due, At: workflow.Now(ctx), CadenceVersion: &version,
	}).Get(ctx, &ref)
	if err != nil {
		return ref, err
	}
	if e := spec.Escalate; e != nil {
		esc := *e
		ref.Escalate, ref.Title = &esc, spec.Title
		ref.EscalateAt = d.inOwnerCalendar(ctx, ref.DueAt, e.After)
	}
	d.dirty = true
	return ref, nil
}

// refresh re-plans the visit, projects the agenda into PostgreSQL and updates the search
// attributes, once per change.
func (d *deal) refresh(ctx workflow.Context) error {
	if !d.dirty {
		return nil
	}
	// A paused deal freezes its visit once: when the pause begins, or when it enters a stage
	// while paused.
	freezeAt := time.Time{}
	if d.paused() && (d.state.Frozen == nil || d.state.Frozen.Visit != d.state.Visit.Number) {
		freezeAt = workflow.Now(ctx)
	}
	var agenda plannedAgenda
	err := workflow.SideEffect(ctx, func(workflow.Context) any {
		// Calendars read the zone database: built here, inside the recorded side effect.
		cals, err := d.calSpecs.Calendars()
		if err != nil {
			return plannedAgenda{Err: err.Error()}
		}
		cals.JitterKey = d.in.DealID
		items, err := cadence.Plan(d.pipeline, d.state.Visit, cals)
		a := plannedAgenda{Items: items, Deadline: cadence.Deadline(d.pipeline, d.state.Visit, cals)}
		if err != nil {
			a.Err = err.Error()
		}
		if !freezeAt.IsZero() {
			// Escalations of open tasks freeze too: the owner's first day back is no burst
			// of escalations that fell due while they were away.
			a.Frozen = freeze(d.state.Visit.Number, freezeAt, d.withEscalations(items), a.Deadline, cals)
		}
		if resumeAt := d.pausedUntil(); d.paused() && !resumeAt.IsZero() {
			fr := a.Frozen
			if fr == nil {
				fr = d.state.Frozen
			}
			// Display only: a plan that cannot be shown must not stop the deal.
			a.AfterPause, _ = afterPause(d.pipeline, d.state.Visit, fr, resumeAt, cals)
		}
		return a
	}).Get(&agenda)
	if err != nil {
		return err
	}
	if agenda.Err != "" {
		return temporal.NewNonRetryableApplicationError("planning failed: "+agenda.Err, "BadPlan", nil)
	}
	d.plan = agenda
	if agenda.Frozen != nil {
		d.state.Frozen = agenda.Frozen
	}
	if d.state.Visit.Deadline.IsZero() {
		// Fixed once per visit and carried across continue-as-new as an absolute instant.
		d.state.Visit.Deadline = agenda.Deadline
	}
	d.state.Revision++
	err = workflow.ExecuteActivity(dbOptions(ctx), a.ProjectDeal, activities.ProjectionInput{
		DealID: d.in.DealID, Revision: d.state.Revision, Stage: d.state.Visit.Stage, Visit: d.state.Visit.Number,
		EnteredAt: d.state.Visit.EnteredAt, Deadline: d.shownDeadline(), Next: d.outlook(),
	}).Get(ctx, nil)
	if err != nil {
		return err
	}
	d.dirty = false
	return d.upsertSearchAttributes(ctx)
}

func (d *deal) upsertSearchAttributes(ctx workflow.Context) error {
	var next time.Time
	if agenda := d.agenda(); len(agenda) > 0 {
		next = agenda[0].At
	}
	if d.lastSA.inited && d.lastSA.stage == d.state.Visit.Stage && d.lastSA.next.Equal(next) && d.lastSA.version == d.in.Cadence.Version &&
		d.lastSA.owner == d.in.OwnerID {
		return nil
	}
	updates := []temporal.SearchAttributeUpdate{DealStageKey.ValueSet(d.state.Visit.Stage)}
	if !d.lastSA.inited || d.lastSA.owner != d.in.OwnerID { // set once, and again after a handover
		updates = append(updates, DealOwnerKey.ValueSet(d.in.OwnerID))
	}
	if !d.lastSA.inited || d.lastSA.version != d.in.Cadence.Version {
		updates = append(updates, CadenceVersionKey.ValueSet(d.in.Cadence.Version))
	}
	if next.IsZero() {
		updates = append(updates, NextActionAtKey.ValueUnset())
	} else {
		updates = append(updates, NextActionAtKey.ValueSet(next))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		return err
	}
	d.lastSA = searchAttrs{owner: d.in.OwnerID, stage: d.state.Visit.Stage, next: next, version: d.in.Cadence.Version, inited: true}
	return nil
}

// closable: a terminal stage with nothing left on the agenda (won deals finish their
// post-sale steps first).
func (d *deal) closable() bool {
	stage, _ := d.pipeline.Stage(d.state.Visit.Stage)
	return stage.Terminal && len(d.plan.Items) == 0
}

// close records the deal closed in PostgreSQL, then refuses anything that slipped in before
// the run completes; from then on the starter refuses events for the deal itself.
func (d *deal) close(ctx workflow.Context) (Result, error) {
	err := workflow.ExecuteActivity(dbOptions(ctx), a.MarkClosed, activities.CloseInput{
		DealID: d.in.DealID, Stage: d.state.Visit.Stage, Visit: d.state.Visit.Number, At: workflow.Now(ctx),
	}).Get(ctx, nil)
	if err != nil {
		return Result{}, err
	}
	for ev, ok := d.receive(); ok; ev, ok = d.receive() {
		if ev.InboundEventID != 0 {
			if err := d.recordOutcome(ctx, ev, store.EventRefused, "deal is closed; reopen it to continue"); err != nil {
				return Result{}, err
			}
		}
	}
	d.logger.Info("Deal closed", "Stage", d.state.Visit.Stage, "Visit", d.state.Visit.Number)
	return Result{Stage: d.state.Visit.Stage, Visit: d.state.Visit.Number}, nil
}

func (d *deal) shouldContinueAsNew(ctx workflow.Context) bool {
	limit := d.in.IterationCap
	if limit <= 0 {
		limit = DefaultIterationCap
	}
	if d.send != nil {
		return false // a send's future cannot be carried: the next run starts once it settled
	}
	return workflow.GetInfo(ctx).GetContinueAsNewSuggested() || d.turns >= limit
}

// continueAsNew hands the state to a fresh run once every handler finished, carrying every
// delivered but unhandled signal, so none is lost.
func (d *deal) continueAsNew(ctx workflow.Context) error {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	carried := d.state
	for ev, ok := d.receive(); ok; ev, ok = d.receive() {
		carried.Pending = append(carried.Pending, ev)
	}
	next := d.in
	next.Resume = &carried
	d.logger.Info("Continuing as new", "HistoryLength", workflow.GetInfo(ctx).GetCurrentHistoryLength(), "Pending", len(carried.Pending))
	return workflow.NewContinueAsNewError(ctx, DealWorkflow, next)
}

func (d *deal) view() (View, error) {
	tasks := d.state.OpenTasks
	if tasks == nil {
		tasks = []activities.TaskRef{}
	}
	next := d.outlook()
	if next == nil {
		next = []cadence.Item{}
	}
	v := View{
		DealID: d.in.DealID, Stage: d.state.Visit.Stage, Visit: d.state.Visit.Number,
		EnteredAt: d.state.Visit.EnteredAt, Deadline: d.shownDeadline(), Next: next, OpenTasks: tasks,
		CadenceVersion: d.in.Cadence.Version, Closed: d.closable(), EmailsStopped: d.state.Visit.EmailsStopped,
		Paused: d.paused(), Pauses: d.state.Pauses,
	}
	if b, ok := cadence.BlockedOn(d.pipeline, d.state.Visit); ok {
		v.WaitingFor = fmt.Sprintf("task %s to be completed or skipped", cadence.ItemID(b.StepID, b.Occurrence))
	}
	return v, nil
}
