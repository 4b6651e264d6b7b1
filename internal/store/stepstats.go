package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/followup-engine/followup/internal/cadence"
)

// Per-step cadence statistics: what each step of each published version earned. Read-only;
// the definitions below are the README's ("Per-step statistics"): keep the two the same.
//
//   - An email belongs to the cadence version it was sent under (email_ledger.cadence_version;
//     rows from before migration 016 carry the deal's version at the time of that migration)
//     and to the stage of its visit. It is in the period when its sent_at (its claim, for an
//     email never sent) is in [From, To); everything it earned counts, whenever it came.
//   - An engagement (reply, meeting_booked, unsubscribe, bounce) is counted on the email it
//     names (EngageRequest.Answers: the mailbox intake's In-Reply-To match, the unsubscribe
//     link's email, or the reporter's); one that names none on the deal's last email sent at
//     or before the engagement's source time (last touch), and on none when there was none.
//   - A task belongs to its step, an escalation task (step "escalate-" + the step) to the step
//     it escalates; tasks are in the period by created_at.
//   - No opens: tracking pixels are fetched by image proxies and scanners, not people.

// MaxStepStatsPeriod bounds the period one request reads.
const MaxStepStatsPeriod = 2 * 366 * 24 * time.Hour

// maxStepStatsVersions bounds the versions listed: the newest ones.
const maxStepStatsVersions = 50

// escalationStepPrefix keys an escalation task: its step id is this and the escalated step's
// (workflows/tasks.go).
const escalationStepPrefix = "escalate-"

// StepStatsQuery selects a pipeline's statistics over a period [From, To).
type StepStatsQuery struct {
	Pipeline string    `json:"pipeline"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
}

// Check says what is wrong with the query, as problems a person can act on.
func (q StepStatsQuery) Check() []string {
	var p []string
	if q.Pipeline == "" {
		p = append(p, "pipeline is required")
	}
	switch {
	case q.From.IsZero() || q.To.IsZero():
		p = append(p, "from and to are required")
	case !q.From.Before(q.To):
		p = append(p, fmt.Sprintf("from %s is not before to %s", q.From.UTC().Format(time.RFC3339), q.To.UTC().Format(time.RFC3339)))
	case q.To.Sub(q.From) > MaxStepStatsPeriod:
		p = append(p, fmt.Sprintf("the period is longer than %d days", int(MaxStepStatsPeriod/(24*time.Hour))))
	}
	return p
}

// StepStats is what one step earned.
type StepStats struct {
	Stage  string           `json:"stage"`
	StepID string           `json:"step_id"`
	Kind   cadence.StepKind `json:"kind,omitempty"` // empty: the step is not in the version (a stage rule's task, say)
	// Emails, by their ledger outcome:
	Sent       int `json:"sent"`       // accepted by the server
	Suppressed int `json:"suppressed"` // not sent: the contact or address had opted out or bounced
	Bounced    int `json:"bounced"`    // refused with 5.1.x, or sent and then reported bounced
	// What the emails earned, each email counted once per kind:
	Replied        int `json:"replied"`         // emails with a reply
	Unsubscribed   int `json:"unsubscribed"`    // emails whose unsubscribe (link, complaint, report) came
	MeetingsBooked int `json:"meetings_booked"` // meeting_booked engagements (each one)
	// ReplyRate is Replied ÷ Sent; nil when none was sent.
	ReplyRate *float64 `json:"reply_rate"`
	// MedianReplySeconds: the median, over replied emails, of the first reply's time minus
	// the email's sent_at; nil when none was replied.
	MedianReplySeconds *float64 `json:"median_reply_seconds"`
	// Tasks, by state now; Escalated counts the escalation tasks of the step's tasks.
	TasksCreated   int `json:"tasks_created"`
	TasksDone      int `json:"tasks_done"`
	TasksSkipped   int `json:"tasks_skipped"`
	TasksOpen      int `json:"tasks_open"`
	TasksCancelled int `json:"tasks_cancelled"` // the deal left the stage first
	TasksEscalated int `json:"tasks_escalated"`
	// Best: the step of its list with the highest reply rate (ties: the earlier step); at
	// most one per list, none when nothing was replied.
	Best bool `json:"best,omitempty"`
}

// VersionSteps is one published version's steps: the model's stages and steps in file
// order, then any other step its rows name.
type VersionSteps struct {
	Version     int64       `json:"version"`
	Hash        string      `json:"hash"`
	PublishedAt time.Time   `json:"published_at"`
	Steps       []StepStats `json:"steps"`
}

// StepStatsReport is a pipeline's per-step statistics: per version (newest first) and, by
// stage and step id, across versions.
type StepStatsReport struct {
	Query    StepStatsQuery `json:"query"`
	Versions []VersionSteps `json:"versions"`
	ByStep   []StepStats    `json:"by_step"`
}

type stepKey struct {
	version int64 // -1: across versions
	stage   string
	step    string
}

const acrossVersions = -1

// stepEmailStatsSQL: $1 pipeline, $2 from, $3 to. One row per (version, stage, step) and per
// (stage, step) across versions (version NULL).
const stepEmailStatsSQL = `
WITH emails AS (
	SELECT l.deal_id, l.visit, l.step_id, l.occurrence, l.state, l.sent_at,
		coalesce(l.cadence_version, d.cadence_version) AS version, coalesce(st.to_stage, '') AS stage
	FROM email_ledger l
	JOIN deals d ON d.id = l.deal_id
	JOIN cadence_versions cv ON cv.version = coalesce(l.cadence_version, d.cadence_version)
	LEFT JOIN stage_transitions st ON st.deal_id = l.deal_id AND st.visit = l.visit
	WHERE cv.pipeline_id = $1 AND coalesce(l.sent_at, l.claimed_at) >= $2 AND coalesce(l.sent_at, l.claimed_at) < $3
), engagements AS (
	SELECT e.payload->>'kind' AS kind, e.source_time, a.deal_id, a.visit, a.step_id, a.occurrence
	FROM inbound_events e
	JOIN LATERAL (
		SELECT l.deal_id, l.visit, l.step_id, l.occurrence FROM email_ledger l
		WHERE l.deal_id = e.deal_id AND CASE WHEN jsonb_typeof(e.payload->'answers') = 'object' THEN
				l.visit = (e.payload->'answers'->>'visit')::int AND l.step_id = e.payload->'answers'->>'step_id'
				AND l.occurrence = (e.payload->'answers'->>'occurrence')::int
			ELSE l.state = 'sent' AND l.sent_at <= e.source_time END
		ORDER BY l.sent_at DESC NULLS LAST
		LIMIT 1
	) a ON true
	WHERE e.kind = 'engaged' AND e.state <> 'duplicate'
		AND e.payload->>'kind' IN ('reply', 'meeting_booked', 'unsubscribe', 'bounce')
		AND e.deal_id IN (SELECT deal_id FROM emails)
), engaged AS (
	SELECT deal_id, visit, step_id, occurrence,
		min(source_time) FILTER (WHERE kind = 'reply') AS first_reply,
		count(*) FILTER (WHERE kind = 'meeting_booked') AS meetings,
		bool_or(kind = 'unsubscribe') AS unsubscribed,
		bool_or(kind = 'bounce') AS bounce_reported
	FROM engagements GROUP BY deal_id, visit, step_id, occurrence
)
SELECT m.version, m.stage, m.step_id,
	count(*) FILTER (WHERE m.state = 'sent'),
	count(*) FILTER (WHERE m.state = 'suppressed'),
	count(*) FILTER (WHERE m.state = 'bounced' OR (m.state = 'sent' AND g.bounce_reported)),
	count(*) FILTER (WHERE g.first_reply IS NOT NULL),
	count(*) FILTER (WHERE g.unsubscribed),
	coalesce(sum(g.meetings), 0)::bigint,
	percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM greatest(g.first_reply - m.sent_at, interval '0')))
		FILTER (WHERE g.first_reply IS NOT NULL AND m.sent_at IS NOT NULL)
FROM emails m
LEFT JOIN engaged g ON g.deal_id = m.deal_id AND g.visit = m.visit AND g.step_id = m.step_id AND g.occurrence = m.occurrence
GROUP BY GROUPING SETS ((m.version, m.stage, m.step_id), (m.stage, m.step_id))`

// stepTaskStatsSQL: $1 pipeline, $2 from, $3 to, $4 the escalation prefix.
const stepTaskStatsSQL = `
WITH t AS (
	SELECT coalesce(t.cadence_version, d.cadence_version) AS version, coalesce(st.to_stage, '') AS stage,
		starts_with(t.step_id, $4) AS escalation,
		CASE WHEN starts_with(t.step_id, $4) THEN substr(t.step_id, length($4) + 1) ELSE t.step_id END AS step_id,
		t.state
	FROM tasks t
	JOIN deals d ON d.id = t.deal_id
	JOIN cadence_versions cv ON cv.version = coalesce(t.cadence_version, d.cadence_version)
	LEFT JOIN stage_transitions st ON st.deal_id = t.deal_id AND st.visit = t.visit
	WHERE cv.pipeline_id = $1 AND t.created_at >= $2 AND t.created_at < $3
)
SELECT version, stage, step_id,
	count(*) FILTER (WHERE NOT escalation),
	count(*) FILTER (WHERE NOT escalation AND state = 'done'),
	count(*) FILTER (WHERE NOT escalation AND state = 'skipped'),
	count(*) FILTER (WHERE NOT escalation AND state = 'open'),
	count(*) FILTER (WHERE NOT escalation AND state = 'cancelled'),
	count(*) FILTER (WHERE escalation)
FROM t
GROUP BY GROUPING SETS ((version, stage, step_id), (stage, step_id))`

// StepStats reads a pipeline's per-step statistics. ErrNotFound when the pipeline has no
// published version.
func (s *Store) StepStats(ctx context.Context, q StepStatsQuery) (StepStatsReport, error) {
	if p := q.Check(); len(p) > 0 {
		return StepStatsReport{}, fmt.Errorf("step statistics: %s", strings.Join(p, "; "))
	}
	report := StepStatsReport{Query: q, Versions: []VersionSteps{}, ByStep: []StepStats{}}
	versions, err := s.pipelineVersions(ctx, q.Pipeline)
	if err != nil {
		return StepStatsReport{}, err
	}
	if len(versions) == 0 {
		return StepStatsReport{}, fmt.Errorf("pipeline %q has no published cadence: %w", q.Pipeline, ErrNotFound)
	}
	stats := map[stepKey]*StepStats{}
	at := func(version *int64, stage, step string) *StepStats {
		k := stepKey{version: acrossVersions, stage: stage, step: step}
		if version != nil {
			k.version = *version
		}
		if st, ok := stats[k]; ok {
			return st
		}
		st := &StepStats{Stage: stage, StepID: step}
		stats[k] = st
		return st
	}
	if err := s.scanStepRows(ctx, stepEmailStatsSQL, []any{q.Pipeline, q.From, q.To}, func(row pgx.Row) error {
		var version *int64
		var stage, step string
		var sent, suppressed, bounced, replied, unsubscribed, meetings int
		var median *float64
		if err := row.Scan(&version, &stage, &step, &sent, &suppressed, &bounced, &replied, &unsubscribed, &meetings, &median); err != nil {
			return err
		}
		st := at(version, stage, step)
		st.Sent, st.Suppressed, st.Bounced, st.Replied, st.Unsubscribed, st.MeetingsBooked = sent, suppressed, bounced, replied, unsubscribed, meetings
		st.MedianReplySeconds = median
		if sent > 0 {
			rate := float64(replied) / float64(sent)
			st.ReplyRate = &rate
		}
		return nil
	}); err != nil {
		return StepStatsReport{}, fmt.Errorf("step email statistics: %w", err)
	}
	if err := s.scanStepRows(ctx, stepTaskStatsSQL, []any{q.Pipeline, q.From, q.To, escalationStepPrefix}, func(row pgx.Row) error {
		var version *int64
		var stage, step string
		var t StepStats
		if err := row.Scan(&version, &stage, &step, &t.TasksCreated, &t.TasksDone, &t.TasksSkipped, &t.TasksOpen, &t.TasksCancelled, &t.TasksEscalated); err != nil {
			return err
		}
		st := at(version, stage, step)
		st.TasksCreated, st.TasksDone, st.TasksSkipped, st.TasksOpen, st.TasksCancelled, st.TasksEscalated =
			t.TasksCreated, t.TasksDone, t.TasksSkipped, t.TasksOpen, t.TasksCancelled, t.TasksEscalated
		return nil
	}); err != nil {
		return StepStatsReport{}, fmt.Errorf("step task statistics: %w", err)
	}

	// Per version: its model's steps in file order (with zeros), then the steps only its rows
	// name. Across versions: the newest version's order, then the older ones'.
	var order []stepKey
	seen := map[stepKey]bool{}
	kinds := map[stepKey]cadence.StepKind{}
	for _, v := range versions {
		vs := VersionSteps{Version: v.Version, Hash: v.Hash, PublishedAt: v.publishedAt, Steps: []StepStats{}}
		for _, stage := range v.Pipeline.Stages {
			for _, step := range stage.Steps {
				k := stepKey{version: v.Version, stage: stage.ID, step: step.ID}
				st := at(&k.version, stage.ID, step.ID)
				st.Kind = step.Kind
				vs.Steps = append(vs.Steps, *st)
				seen[k] = true
				across := stepKey{version: acrossVersions, stage: stage.ID, step: step.ID}
				if _, ok := kinds[across]; !ok {
					kinds[across] = step.Kind
					order = append(order, across)
				}
			}
		}
		var extra []StepStats
		for k, st := range stats {
			if k.version == v.Version && !seen[k] {
				extra = append(extra, *st)
			}
		}
		slices.SortFunc(extra, func(a, b StepStats) int {
			return strings.Compare(a.Stage+"\x00"+a.StepID, b.Stage+"\x00"+b.StepID)
		})
		vs.Steps = markBest(append(vs.Steps, extra...))
		report.Versions = append(report.Versions, vs)
	}
	var extra []stepKey
	for k := range stats {
		if _, ok := kinds[k]; k.version == acrossVersions && !ok {
			extra = append(extra, k)
		}
	}
	slices.SortFunc(extra, func(a, b stepKey) int { return strings.Compare(a.stage+"\x00"+a.step, b.stage+"\x00"+b.step) })
	for _, k := range append(order, extra...) {
		st := at(nil, k.stage, k.step)
		st.Kind = kinds[k]
		report.ByStep = append(report.ByStep, *st)
	}
	report.ByStep = markBest(report.ByStep)
	return report, nil
}

// markBest marks the step with the highest reply rate, the earlier one on a tie.
func markBest(steps []StepStats) []StepStats {
	best := -1
	for i, st := range steps {
		if st.Replied == 0 || st.ReplyRate == nil {
			continue
		}
		if best < 0 || *st.ReplyRate > *steps[best].ReplyRate {
			best = i
		}
	}
	if best >= 0 {
		steps[best].Best = true
	}
	return steps
}

func (s *Store) scanStepRows(ctx context.Context, sql string, args []any, scan func(pgx.Row) error) error {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

type pipelineVersion struct {
	CadenceVersion
	publishedAt time.Time
}

// pipelineVersions are a pipeline's published versions, newest first (at most
// maxStepStatsVersions).
func (s *Store) pipelineVersions(ctx context.Context, pipeline string) ([]pipelineVersion, error) {
	rows, err := s.pool.Query(ctx, `SELECT version, published_at FROM cadence_versions WHERE pipeline_id = $1
		ORDER BY version DESC LIMIT $2`, pipeline, maxStepStatsVersions)
	if err != nil {
		return nil, fmt.Errorf("pipeline versions: %w", err)
	}
	type row struct {
		version int64
		at      time.Time
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.version, &x.at)
	})
	if err != nil {
		return nil, fmt.Errorf("pipeline versions: %w", err)
	}
	out := make([]pipelineVersion, 0, len(found))
	for _, f := range found {
		cv, err := s.Cadence(ctx, f.version)
		if err != nil && !errors.Is(err, ErrUndecodable) {
			return nil, err
		}
		out = append(out, pipelineVersion{CadenceVersion: cv, publishedAt: f.at})
		out[len(out)-1].Version = f.version
	}
	return out, nil
}

// MedianReplyText is the median time to reply for people: "3h20m", "1d 13h"; "–" for none.
func (st StepStats) MedianReplyText() string {
	if st.MedianReplySeconds == nil {
		return "–"
	}
	d := time.Duration(*st.MedianReplySeconds * float64(time.Second)).Round(time.Minute)
	if d >= 24*time.Hour {
		days := d / (24 * time.Hour)
		return fmt.Sprintf("%dd %dh", days, (d-days*24*time.Hour)/time.Hour)
	}
	h, m := d/time.Hour, (d%time.Hour)/time.Minute
	switch {
	case h == 0:
		return fmt.Sprintf("%dm", m)
	case m == 0:
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dh%dm", h, m)
}

// ReplyRateText is the reply rate as a percentage with one decimal: "33.3%"; "–" for none.
func (st StepStats) ReplyRateText() string {
	if st.ReplyRate == nil {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", *st.ReplyRate*100)
}

// PublishedPipeline is a pipeline with published cadence versions.
type PublishedPipeline struct {
	ID       string `json:"id"`
	Latest   int64  `json:"latest"`   // its newest version
	Versions int    `json:"versions"` // how many it has
}

// maxPublishedPipelines bounds the pipelines listed.
const maxPublishedPipelines = 200

// PublishedPipelines lists the pipelines that have a published version, by id.
func (s *Store) PublishedPipelines(ctx context.Context) ([]PublishedPipeline, error) {
	rows, err := s.pool.Query(ctx, `SELECT pipeline_id, max(version), count(*) FROM cadence_versions
		GROUP BY pipeline_id ORDER BY pipeline_id LIMIT $1`, maxPublishedPipelines)
	if err != nil {
		return nil, fmt.Errorf("published pipelines: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (PublishedPipeline, error) {
		var p PublishedPipeline
		return p, r.Scan(&p.ID, &p.Latest, &p.Versions)
	})
}
