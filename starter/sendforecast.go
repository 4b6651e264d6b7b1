package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
)

// sendsForecast handles `starter sends forecast [--days N] [--cap N]`: the planned emails
// per sending mailbox and day, against the daily cap, so ops see a cap problem before a
// publish, a migration or a resume defers mail.
func sendsForecast(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	cfg, err := config.LoadStarter(env)
	if err != nil {
		return err
	}
	fs := newFlags("sends forecast", stderr)
	r := deals.ForecastRequest{DefaultFrom: cfg.MailFrom}
	fs.IntVar(&r.Days, "days", 14, "how many days ahead (1 to 90)")
	fs.IntVar(&r.DailyCap, "cap", cfg.MailboxDailyCap, "the daily cap per mailbox (default: MAILBOX_DAILY_CAP; 0: none)")
	out := jsonOrText(fs, stdout)
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	return callService(ctx, env, false, out,
		func(svc *deals.Service) (deals.SendForecast, error) { return svc.SendForecast(ctx, r) },
		func(w io.Writer, f deals.SendForecast) { printForecast(w, f) })
}

func printForecast(w io.Writer, f deals.SendForecast) {
	limit := "no cap"
	if f.DailyCap > 0 {
		limit = fmt.Sprintf("cap %d per mailbox per day", f.DailyCap)
	}
	fmt.Fprintf(w, "Planned emails for the next %d days from %s (UTC days, %s)\n", f.Days, f.From.Format("2006-01-02 15:04 MST"), limit)
	if len(f.Mailboxes) == 0 {
		fmt.Fprintln(w, "  none planned")
	}
	for _, m := range f.Mailboxes {
		fmt.Fprintf(w, "\n%s: %d planned\n", m.Mailbox, m.Total)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, d := range m.Days {
			flag := ""
			if d.OverCap > 0 {
				flag = fmt.Sprintf("OVER THE CAP: %d deferred to later days", d.OverCap)
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\n", d.Day, d.Planned, flag)
		}
		tw.Flush()
	}
	if f.OverCap > 0 {
		fmt.Fprintf(w, "\n%d mailbox-days over the cap: raise MAILBOX_DAILY_CAP, add sending mailboxes, or spread the change.\n", f.OverCap)
	}
	fmt.Fprintf(w, "\nNot counted: %s.\n", f.Note)
}
