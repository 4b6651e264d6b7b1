package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/money"
	"github.com/followup-engine/followup/internal/pipelinemetrics"
	"github.com/followup-engine/followup/internal/render"
	"github.com/followup-engine/followup/internal/store"
)

// pipelineMetrics handles `starter pipeline metrics PIPELINE [--from D] [--to D] [--owner
// EMAIL] [--json]`: the pipeline's measures (internal/pipelinemetrics defines them).
func pipelineMetrics(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("pipeline metrics", stderr)
	from := fs.String("from", "", fmt.Sprintf("the period's first day, YYYY-MM-DD (UTC; default: %d days before today)", pipelinemetrics.DefaultDays))
	to := fs.String("to", "", "the day after the period, YYYY-MM-DD (exclusive; default: tomorrow, so today counts)")
	owner := fs.String("owner", "", "only this owner's deals (email)")
	out := jsonOrText(fs, stdout)
	rest, err := parseExactly(fs, args, 1, "usage: starter pipeline metrics PIPELINE [--from D] [--to D] [--owner EMAIL] [--json]")
	if err != nil {
		return err
	}
	q, err := pipelinemetrics.ParseQuery(rest[0], *from, *to, *owner, time.Now())
	if err != nil {
		return usageError(err.Error())
	}
	st, closeAll, err := openStore(ctx, env)
	if err != nil {
		return err
	}
	defer closeAll()
	r, err := pipelinemetrics.Compute(ctx, st, q)
	if errors.Is(err, pipelinemetrics.ErrBadQuery) {
		return usageError(err.Error())
	}
	if err != nil {
		return err
	}
	return printAnswer(out, r, printMetrics)
}

func printMetrics(w io.Writer, r pipelinemetrics.Report) {
	q := r.Query
	fmt.Fprintf(w, "pipeline %s (cadence version %d), from %s to %s (exclusive); open deals at %s",
		q.Pipeline, r.CadenceVersion, q.From.Format(time.DateOnly), q.To.Format(time.DateOnly), q.Now.Format("2006-01-02 15:04 MST"))
	if q.Owner != "" {
		fmt.Fprintf(w, "; owner %s", q.Owner)
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "\nfunnel: stage visits begun in the period, and how they ended")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGE\tPROB\tENTERED\tADVANCED\tDIRECT\tSKIPPED\tLOST\tENGINE\tBACK\tOPEN\tCONVERSION\tMEDIAN\tP90\tOPEN NOW\tSTALE\tNEAR LIMIT\t")
	for _, s := range r.Stages {
		name, p := s.Stage, "-"
		if s.Holding {
			name += " (holding)"
		}
		if s.Probability != nil {
			p = fmt.Sprintf("%d%%", *s.Probability)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%d\t%d\t%d\t\n", name, p, s.Entered, s.Advanced, s.Direct,
			s.Skipped, s.Lost, s.EngineMoved, s.Back, s.StillOpen, percent(s.ConversionRate), humanSeconds(s.MedianSeconds),
			humanSeconds(s.P90Seconds), s.OpenNow, s.StaleNow, s.NearLimitNow)
	}
	tw.Flush()

	c := r.Closed
	fmt.Fprintln(w, "\nclosed in the period")
	fmt.Fprintf(w, "  won %d, lost %d, win rate %s\n", c.Won, c.Lost, percent(c.WinRate))
	fmt.Fprintf(w, "  average won: %s", amounts(c.AverageWon))
	if c.WonWithoutAmount > 0 {
		fmt.Fprintf(w, " (%d won without an amount)", c.WonWithoutAmount)
	}
	fmt.Fprintf(w, "\n  total won: %s\n  average cycle: %s\n", amounts(c.WonTotal), days(c.AverageCycleDays))

	o := r.Open
	fmt.Fprintln(w, "\nopen at now")
	fmt.Fprintf(w, "  deals %d; age mean %s, median %s, p90 %s\n", o.Deals, days(o.AgeMeanDays), days(o.AgeMedianDays), days(o.AgeP90Days))
	fmt.Fprintf(w, "  stale %d, near the limit %d\n", o.Stale, o.NearLimit)
	fmt.Fprintf(w, "  pipeline: %s\n  weighted: %s\n", amounts(o.Pipeline), amounts(o.Weighted))
	printDealRefs(w, "stale (past the deadline)", o.StaleDeals, o.Stale)
	printDealRefs(w, "near the limit", o.NearLimitDeals, o.NearLimit)

	fmt.Fprintln(w, "\nvelocity: open deals × win rate × average won ÷ cycle days")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CURRENCY\tOPEN DEALS\tWIN RATE\tAVERAGE WON\tCYCLE\tPER DAY\t")
	for _, v := range r.Velocity {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t\n", v.Currency, v.OpenDeals, percent(v.WinRate), dash(v.AverageWon), days(v.AverageCycleDays), dashPtr(v.PerDay))
	}
	tw.Flush()

	fmt.Fprintln(w, "\nforecast: open deals with an amount by expected close month")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MONTH\tCURRENCY\tDEALS\tAMOUNT\tWEIGHTED\t")
	for _, f := range r.Forecast {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t\n", f.Month, f.Currency, f.Deals, f.Amount, f.Weighted)
	}
	tw.Flush()

	fmt.Fprintln(w, "\ncoverage: the whole pipeline against the targets (starter pipeline target)")
	if len(r.Coverage) == 0 {
		fmt.Fprintln(w, "  no target set for this month or the next 11")
	} else {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "MONTH\tCURRENCY\tTARGET\tPIPELINE\tWEIGHTED\tRATIO\t")
		for _, cv := range r.Coverage {
			ratio := "-"
			if cv.Ratio != nil {
				ratio = fmt.Sprintf("%.2f", *cv.Ratio)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", cv.Month, cv.Currency, cv.Target, cv.Pipeline, cv.Weighted, ratio)
		}
		tw.Flush()
	}

	fmt.Fprintln(w, "\nowners")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OWNER\tNAME\tOPEN\tWON\tLOST\tWIN RATE\tSTALE\tPIPELINE\tWEIGHTED\t")
	for _, ow := range r.Owners {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%d\t%s\t%s\t\n", ow.Owner, dash(ow.Name), ow.Open, ow.Won, ow.Lost, percent(ow.WinRate),
			ow.Stale, amounts(ow.Pipeline), amounts(ow.Weighted))
	}
	tw.Flush()
	if r.OwnersMore {
		fmt.Fprintf(w, "  (the first %d owners by email; use --owner for another)\n", store.MetricsOwnerLimit)
	}
}

func printDealRefs(w io.Writer, what string, refs []pipelinemetrics.DealRef, total int) {
	if len(refs) == 0 {
		return
	}
	fmt.Fprintf(w, "  %s", what)
	if total > len(refs) {
		fmt.Fprintf(w, ", the first %d of %d", len(refs), total)
	}
	fmt.Fprintln(w, ":")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, d := range refs {
		fmt.Fprintf(tw, "    %s\t%s\t%s\tdeadline %s\t%s\t\n", dash(d.Title), d.Owner, d.Stage, d.Deadline.Format("2006-01-02 15:04 MST"), d.ID)
	}
	tw.Flush()
}

// humanSeconds writes a duration in days and hours, hours and minutes, or minutes.
func humanSeconds(s *float64) string {
	if s == nil {
		return "-"
	}
	m := int64(math.Round(*s / 60))
	switch {
	case m >= 24*60:
		d, h := m/(24*60), m%(24*60)/60
		if h == 0 {
			return fmt.Sprintf("%dd", d)
		}
		return fmt.Sprintf("%dd %dh", d, h)
	case m >= 60:
		return fmt.Sprintf("%dh %02dm", m/60, m%60)
	case m >= 1:
		return fmt.Sprintf("%dm", m)
	}
	return "<1m"
}

func percent(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", *v*100)
}

func days(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f days", *v)
}

func amounts(list []pipelinemetrics.Amount) string {
	if len(list) == 0 {
		return "-"
	}
	parts := make([]string, len(list))
	for i, a := range list {
		parts[i] = a.Currency + " " + a.Amount
	}
	return strings.Join(parts, ", ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func dashPtr(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

// pipelineTarget handles `starter pipeline target PIPELINE --month YYYY-MM --amount A
// --currency C`: the month's target the coverage compares the open pipeline with.
func pipelineTarget(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("pipeline target", stderr)
	monthFlag := fs.String("month", "", "the month, YYYY-MM")
	amountFlag := fs.String("amount", "", "the target, an exact decimal such as 100000 or 2500.50")
	currencyFlag := fs.String("currency", "", "ISO 4217 currency code, such as EUR")
	out := jsonOrText(fs, stdout)
	usage := "usage: starter pipeline target PIPELINE --month YYYY-MM --amount A --currency C"
	rest, err := parseExactly(fs, args, 1, usage)
	if err != nil {
		return err
	}
	var problems []string
	month, err := time.Parse("2006-01", *monthFlag)
	if err != nil || month.Year() < 2000 || month.Year() > 9999 {
		problems = append(problems, fmt.Sprintf("--month %q: want YYYY-MM", render.Echo(*monthFlag)))
	}
	amount, err := money.ParseAmount(*amountFlag)
	if err != nil {
		problems = append(problems, "--amount "+err.Error())
	} else if amount == "" {
		problems = append(problems, "--amount is required")
	}
	currency, err := money.ParseCurrency(*currencyFlag)
	if err != nil {
		problems = append(problems, "--"+err.Error())
	} else if currency == "" {
		problems = append(problems, "--currency is required")
	}
	if len(problems) > 0 {
		return usageError(strings.Join(problems, "\n") + "\n" + usage)
	}
	st, closeAll, err := openStore(ctx, env)
	if err != nil {
		return err
	}
	defer closeAll()
	if _, err := st.LatestCadenceOf(ctx, rest[0]); err != nil {
		return err
	}
	t, err := st.SetTarget(ctx, rest[0], month, currency, amount)
	if err != nil {
		return err
	}
	return printAnswer(out, t, func(w io.Writer, t store.Target) {
		fmt.Fprintf(w, "pipeline %s: target for %s is %s %s\n", t.Pipeline, t.Month, t.Currency, t.Amount)
	})
}

// pipelineTargets handles `starter pipeline targets PIPELINE [--json]`.
func pipelineTargets(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("pipeline targets", stderr)
	out := jsonOrText(fs, stdout)
	rest, err := parseExactly(fs, args, 1, "usage: starter pipeline targets PIPELINE [--json]")
	if err != nil {
		return err
	}
	st, closeAll, err := openStore(ctx, env)
	if err != nil {
		return err
	}
	defer closeAll()
	if _, err := st.LatestCadenceOf(ctx, rest[0]); err != nil {
		return err
	}
	targets, err := st.Targets(ctx, rest[0])
	if err != nil {
		return err
	}
	return printAnswer(out, targets, func(w io.Writer, targets []store.Target) {
		if len(targets) == 0 {
			fmt.Fprintf(w, "pipeline %s has no targets (set one: starter pipeline target %s --month YYYY-MM --amount A --currency C)\n", rest[0], rest[0])
			return
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "MONTH\tCURRENCY\tTARGET\tSET AT\tSET BY\t")
		for _, t := range targets {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", t.Month, t.Currency, t.Amount, t.SetAt.UTC().Format(time.RFC3339), dash(t.SetBy))
		}
		tw.Flush()
	})
}
