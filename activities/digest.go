package activities

// The rep's morning: FindDigests picks the owners whose first business hour it is, and
// SendDigest sends one owner the day's digest, once per owner and local date through
// digest_ledger (claimed before SMTP, like the email ledger).

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/followup-engine/followup/internal/calendar"
	"github.com/followup-engine/followup/internal/mail"
	"github.com/followup-engine/followup/internal/store"
)

// DigestRoundMax bounds the digests one round sends; the owners left over are found by the
// next round, still within their first business hour.
const DigestRoundMax = 100

// digestLookback bounds "since yesterday": the replies and moves since the owner's last
// digest (a Monday's covers the weekend), at most this long ago.
const digestLookback = 7 * 24 * time.Hour

// FindDigestsInput carries the round's instant (workflow time) and its bound.
type FindDigestsInput struct {
	At    time.Time `json:"at"`
	Limit int       `json:"limit"`
}

// DigestDue is one owner's digest to send: the owner id and the local date (YYYY-MM-DD).
type DigestDue struct {
	OwnerID   string `json:"owner_id"`
	LocalDate string `json:"local_date"`
}

// DigestInput is SendDigest's input.
type DigestInput struct {
	DigestDue
	At time.Time `json:"at"`
}

// DigestResult says what SendDigest did.
type DigestResult struct {
	Sent      bool   `json:"sent"`
	Skipped   string `json:"skipped,omitempty"` // why nothing was sent: sent already, not a rep any more, …
	MessageID string `json:"message_id,omitempty"`
}

// digestCalendar is the owner's own business calendar: zone (UTC when unset), country
// holidays and hours; an unusable override falls back to UTC and the default hours.
func digestCalendar(o store.DigestOwner) (*calendar.Calendar, error) {
	c, err := calendar.New(calendar.Spec{Zone: o.Zone, Country: o.Country, BusinessHours: o.BusinessHours})
	if err != nil {
		return calendar.New(calendar.Spec{})
	}
	return c, nil
}

// MorningOf says whether at falls in the first business hour of its local day in c, and that
// local date: the day must be a business day (not a weekend, not a holiday).
func MorningOf(c *calendar.Calendar, at time.Time) (time.Time, bool) {
	local := at.In(c.Location())
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, c.Location())
	if _, holiday := c.Holiday(local); holiday {
		return day, false
	}
	open := c.NextOpen(day).In(c.Location())
	if open.Year() != day.Year() || open.YearDay() != day.YearDay() {
		return day, false // no business hours today
	}
	return day, !at.Before(open) && at.Before(open.Add(time.Hour))
}

// FindDigests lists the owners whose first business hour it is at in.At and whose digest of
// that local date has not gone out: reps, digest on, not paused, at most in.Limit.
func (a *Activities) FindDigests(ctx context.Context, in FindDigestsInput) ([]DigestDue, error) {
	limit := in.Limit
	if limit < 1 || limit > DigestRoundMax {
		limit = DigestRoundMax
	}
	var due []DigestDue
	after := ""
	for len(due) < limit {
		owners, err := a.Store.DigestOwners(ctx, after, store.MaxDigestOwners)
		if err != nil {
			return nil, err
		}
		for _, o := range owners {
			c, err := digestCalendar(o)
			if err != nil {
				return nil, err
			}
			day, ok := MorningOf(c, in.At)
			if !ok {
				continue
			}
			if o.LastLedgerDate >= day.Format(time.DateOnly) {
				continue // this morning's digest is sent or claimed (the owners query reads the ledger)
			}
			due = append(due, DigestDue{OwnerID: o.ID, LocalDate: day.Format(time.DateOnly)})
			if len(due) == limit {
				break
			}
		}
		if len(owners) < store.MaxDigestOwners {
			break
		}
		after = owners[len(owners)-1].ID
		activity.RecordHeartbeat(ctx, after)
	}
	return due, nil
}

// DigestNowInput asks for one owner's digest of the local date it is at At, whatever the
// hour: `starter user digest EMAIL now`.
type DigestNowInput struct {
	OwnerID string    `json:"owner_id"`
	At      time.Time `json:"at"`
}

// DigestToday is the owner's digest of the local date it is at in.At in the owner's zone. An
// owner who gets no digest (not a rep, digest off, paused) is bad input, not retried.
func (a *Activities) DigestToday(ctx context.Context, in DigestNowInput) (DigestDue, error) {
	o, ok, err := a.Store.DigestOwnerByID(ctx, in.OwnerID)
	if err != nil {
		return DigestDue{}, err
	}
	if !ok {
		return DigestDue{}, temporal.NewNonRetryableApplicationError(
			"owner "+in.OwnerID+" gets no digest now (not an enabled rep, digest off, or paused)", ErrTypeBadInput, nil)
	}
	c, err := digestCalendar(o)
	if err != nil {
		return DigestDue{}, err
	}
	return DigestDue{OwnerID: o.ID, LocalDate: in.At.In(c.Location()).Format(time.DateOnly)}, nil
}

// SendDigest sends one owner the digest of a local date: overdue and today's open tasks,
// replies and the engine's own moves since the last digest, each with a link to its page.
// The ledger claim comes first: a second attempt, round or worker sends nothing.
func (a *Activities) SendDigest(ctx context.Context, in DigestInput) (DigestResult, error) {
	day, err := time.Parse(time.DateOnly, in.LocalDate)
	if err != nil {
		return DigestResult{}, temporal.NewNonRetryableApplicationError("digest local date: "+err.Error(), ErrTypeBadInput, err)
	}
	o, ok, err := a.Store.DigestOwnerByID(ctx, in.OwnerID)
	if err != nil {
		return DigestResult{}, err
	}
	if !ok {
		return DigestResult{Skipped: "no digest for this owner now (no rep, digest off or paused)"}, nil
	}
	c, err := digestCalendar(o)
	if err != nil {
		return DigestResult{}, err
	}
	if _, holiday := c.Holiday(time.Date(day.Year(), day.Month(), day.Day(), 12, 0, 0, 0, c.Location())); holiday {
		return DigestResult{Skipped: "holiday"}, nil
	}
	key := "digest/" + o.ID + "/" + in.LocalDate
	claim, err := a.Store.ClaimDigest(ctx, o.ID, day, mail.MessageID(a.Mail.MessageIDSecret, key, a.Mail.MessageIDDomain), ClaimLease)
	if err != nil {
		return DigestResult{}, err
	}
	if !claim.Claimed {
		if claim.State == store.DigestSent {
			return DigestResult{Skipped: "sent already", MessageID: claim.MessageID}, nil
		}
		return DigestResult{}, temporal.NewApplicationError("another attempt holds the digest's claim", ErrTypeClaimBusy)
	}
	d, msg, err := a.composeDigest(ctx, o, c, day, in.At, claim.MessageID)
	if err != nil {
		_ = a.Store.ReleaseDigest(ctx, o.ID, day)
		return DigestResult{}, err
	}
	if d.empty() {
		// Nothing to tell: no email (an empty digest teaches reps to ignore the next one).
		// The claim goes back, so a reply that arrives later in the hour still gets one.
		if err := a.Store.ReleaseDigest(ctx, o.ID, day); err != nil {
			return DigestResult{}, err
		}
		return DigestResult{Skipped: DigestNothingToReport}, nil
	}
	if _, err := a.Sender.Send(ctx, msg); err != nil {
		f := mail.Classify(err)
		if f.Class != mail.FailAmbiguous {
			// Not delivered: a later attempt or round may send it.
			if rerr := a.Store.ReleaseDigest(ctx, o.ID, day); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
		// Ambiguous: the claim stays; a retry after the lease sends it with the same Message-ID.
		return DigestResult{}, fmt.Errorf("send digest %s: %w", key, err)
	}
	if err := a.Store.MarkDigestSent(ctx, o.ID, day); err != nil {
		return DigestResult{}, err
	}
	return DigestResult{Sent: true, MessageID: claim.MessageID}, nil
}

// Digest is what one morning's email lists.
type Digest struct {
	Name     string
	Date     string
	Overdue  []DigestLine
	Today    []DigestLine
	Replies  []DigestLine
	Moves    []DigestLine
	TasksURL string
}

// empty says whether the digest lists nothing at all.
func (d Digest) empty() bool {
	return len(d.Overdue)+len(d.Today)+len(d.Replies)+len(d.Moves) == 0
}

// DigestNothingToReport is DigestResult.Skipped when the digest would list nothing.
const DigestNothingToReport = "nothing to report"

// DigestLine is one item of a digest with its page.
type DigestLine struct {
	Text string
	URL  string
}

func (a *Activities) publicBase() string {
	return strings.TrimRight(a.Mail.PublicBaseURL, "/")
}

func (a *Activities) composeDigest(ctx context.Context, o store.DigestOwner, c *calendar.Calendar, day, at time.Time, messageID string) (Digest, mail.Message, error) {
	loc := c.Location()
	start := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
	end := start.AddDate(0, 0, 1)
	since := at.Add(-24 * time.Hour)
	if o.LastSentAt != nil && o.LastSentAt.Before(since) {
		since = *o.LastSentAt
	}
	if floor := at.Add(-digestLookback); since.Before(floor) {
		since = floor
	}
	tasks, err := a.Store.OpenTasks(ctx, store.OpenTaskFilter{OwnerID: o.ID, DueBefore: &end, Limit: store.MaxDigestItems})
	if err != nil {
		return Digest{}, mail.Message{}, err
	}
	replies, err := a.Store.DigestReplies(ctx, o.ID, since)
	if err != nil {
		return Digest{}, mail.Message{}, err
	}
	moves, err := a.Store.DigestEngineMoves(ctx, o.ID, since)
	if err != nil {
		return Digest{}, mail.Message{}, err
	}
	base := a.publicBase()
	dealURL := func(id string) string { return base + "/deals/" + id }
	d := Digest{Name: firstName(o.Name), Date: start.Format("Monday 2 January 2006"), TasksURL: base + "/tasks"}
	for _, t := range tasks {
		line := DigestLine{Text: fmt.Sprintf("%s — %s (%s, due %s)", t.Title, dealName(t.DealTitle, t.ContactName),
			t.Kind, t.DueAt.In(loc).Format("Mon 2 Jan 15:04")), URL: dealURL(t.DealID)}
		if t.DueAt.Before(start) || t.DueAt.Before(at) {
			d.Overdue = append(d.Overdue, line)
		} else {
			d.Today = append(d.Today, line)
		}
	}
	for _, r := range replies {
		text := fmt.Sprintf("%s replied on %s", r.From, dealName(r.DealTitle, ""))
		if r.Subject != "" {
			text += fmt.Sprintf(": %q", r.Subject)
		}
		d.Replies = append(d.Replies, DigestLine{Text: text + " (" + r.ReceivedAt.In(loc).Format("Mon 2 Jan 15:04") + ")", URL: dealURL(r.DealID)})
	}
	for _, m := range moves {
		text := fmt.Sprintf("%s moved from %s to %s", dealName(m.DealTitle, ""), orNone(m.From), m.To)
		if m.Reason != "" {
			text += ": " + m.Reason
		}
		d.Moves = append(d.Moves, DigestLine{Text: text + " (" + m.At.In(loc).Format("Mon 2 Jan 15:04") + ")", URL: dealURL(m.DealID)})
	}
	var html strings.Builder
	if err := digestHTML.Execute(&html, d); err != nil {
		return Digest{}, mail.Message{}, err
	}
	from := a.Mail.DefaultFrom
	if from == "" {
		from = "followup@" + a.Mail.MessageIDDomain
	}
	return d, mail.Message{
		MessageID: messageID, From: from, To: o.Email,
		Subject: fmt.Sprintf("Your morning: %d overdue, %d today, %d replies, %d moves", len(d.Overdue), len(d.Today), len(d.Replies), len(d.Moves)),
		Text:    digestText(d), HTML: html.String(),
		Headers: map[string]string{"X-Followup-Digest": day.Format(time.DateOnly)},
	}, nil
}

func firstName(name string) string {
	if f := strings.Fields(name); len(f) > 0 {
		return f[0]
	}
	return "there"
}

func dealName(title, contact string) string {
	switch {
	case title != "" && contact != "":
		return title + " (" + contact + ")"
	case title != "":
		return title
	case contact != "":
		return contact
	}
	return "a deal"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func digestText(d Digest) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Good morning %s, here is %s.\n", d.Name, d.Date)
	section := func(title string, lines []DigestLine) {
		fmt.Fprintf(&b, "\n%s (%d)\n", title, len(lines))
		if len(lines) == 0 {
			b.WriteString("  nothing\n")
		}
		for _, l := range lines {
			fmt.Fprintf(&b, "- %s\n  %s\n", l.Text, l.URL)
		}
	}
	section("Overdue tasks", d.Overdue)
	section("Due today", d.Today)
	section("Replies since yesterday", d.Replies)
	section("Deals that moved by themselves", d.Moves)
	fmt.Fprintf(&b, "\nAll your tasks: %s\n", d.TasksURL)
	return b.String()
}

var digestHTML = template.Must(template.New("digest").Funcs(template.FuncMap{
	"section": func(title string, lines []DigestLine) any {
		return struct {
			Title string
			Lines []DigestLine
		}{title, lines}
	},
}).Parse(`<!doctype html>
<html><body style="font-family: sans-serif">
<p>Good morning {{.Name}}, here is {{.Date}}.</p>
{{define "section"}}<h3>{{.Title}} ({{len .Lines}})</h3>{{if .Lines}}<ul>{{range .Lines}}<li><a href="{{.URL}}">{{.Text}}</a></li>{{end}}</ul>{{else}}<p>Nothing.</p>{{end}}{{end}}
{{template "section" (section "Overdue tasks" .Overdue)}}
{{template "section" (section "Due today" .Today)}}
{{template "section" (section "Replies since yesterday" .Replies)}}
{{template "section" (section "Deals that moved by themselves" .Moves)}}
<p><a href="{{.TasksURL}}">All your tasks</a></p>
</body></html>
`))
