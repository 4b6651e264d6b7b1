package deals

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/followup-engine/followup/internal/mail"
	"github.com/followup-engine/followup/internal/store"
)

// ForecastRequest asks how many emails each sending mailbox will send per day over the next
// Days days, from every open deal's planned actions, against a daily cap.
type ForecastRequest struct {
	Days        int    // 1 to store.MaxForecastDays; default 14
	DailyCap    int    // the worker's MAILBOX_DAILY_CAP (0: no cap)
	DefaultFrom string // the worker's MAIL_FROM
}

// SendForecast is the planned emails per mailbox and day.
type SendForecast struct {
	From      time.Time         `json:"from"`
	Days      int               `json:"days"`
	DailyCap  int               `json:"daily_cap"` // 0: no cap
	Mailboxes []MailboxForecast `json:"mailboxes"`
	OverCap   int               `json:"over_cap"` // mailbox-days over the cap
	// Note says what the forecast cannot see.
	Note string `json:"note"`
}

// MailboxForecast is one sending mailbox's planned emails per UTC day.
type MailboxForecast struct {
	Mailbox string        `json:"mailbox"`
	Total   int           `json:"total"`
	Days    []ForecastDay `json:"days"` // only the days with planned emails
}

// ForecastDay is one day of one mailbox.
type ForecastDay struct {
	Day     string `json:"day"` // YYYY-MM-DD, UTC
	Planned int    `json:"planned"`
	// OverCap is how many of the day's emails the cap would defer to a later day (0 when
	// within it). The cap counts any 24 hours, so a day under it may still defer a few when
	// the day before was busy late.
	OverCap int `json:"over_cap"`
}

// ForecastNote is what the send forecast does not count.
const ForecastNote = "counts each open deal's planned emails of its current stage as planned now; " +
	"deals paused without an end, emails of later stages, and mail deferred by the cap are not in it"

// SendForecast counts the planned emails per sending mailbox and UTC day from now, and
// flags the days over the cap: run it before a publish, a migration or a resume, to see a
// cap problem before it defers mail.
func (s *Service) SendForecast(ctx context.Context, r ForecastRequest) (SendForecast, error) {
	if r.Days == 0 {
		r.Days = 14
	}
	if r.Days < 1 || r.Days > store.MaxForecastDays {
		return SendForecast{}, &ValidationError{Problems: []string{fmt.Sprintf("days %d: want 1 to %d", r.Days, store.MaxForecastDays)}}
	}
	if r.DailyCap < 0 {
		return SendForecast{}, &ValidationError{Problems: []string{fmt.Sprintf("daily cap %d: want 0 (none) or more", r.DailyCap)}}
	}
	now := s.now().UTC()
	rows, err := s.Store.PlannedSendsByDay(ctx, now, now.Add(time.Duration(r.Days)*24*time.Hour), r.DefaultFrom)
	if err != nil {
		return SendForecast{}, err
	}
	// Several From strings ("Ana <ana@x>", "ana@x") are one mailbox, as the send counts them.
	perMailbox := map[string]map[string]int{}
	for _, row := range rows {
		mb := mail.Mailbox(row.From)
		if perMailbox[mb] == nil {
			perMailbox[mb] = map[string]int{}
		}
		perMailbox[mb][row.Day] += row.Count
	}
	out := SendForecast{From: now, Days: r.Days, DailyCap: r.DailyCap, Mailboxes: []MailboxForecast{}, Note: ForecastNote}
	for mb, days := range perMailbox {
		f := MailboxForecast{Mailbox: mb}
		for day, n := range days {
			d := ForecastDay{Day: day, Planned: n}
			if r.DailyCap > 0 && n > r.DailyCap {
				d.OverCap = n - r.DailyCap
				out.OverCap++
			}
			f.Total += n
			f.Days = append(f.Days, d)
		}
		slices.SortFunc(f.Days, func(a, b ForecastDay) int { return cmp.Compare(a.Day, b.Day) })
		out.Mailboxes = append(out.Mailboxes, f)
	}
	slices.SortFunc(out.Mailboxes, func(a, b MailboxForecast) int {
		if a.Total != b.Total {
			return b.Total - a.Total
		}
		return cmp.Compare(a.Mailbox, b.Mailbox)
	})
	return out, nil
}
