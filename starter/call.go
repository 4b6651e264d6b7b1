package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/user"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/engine"
	"github.com/followup-engine/followup/internal/store"
)

// connect opens PostgreSQL (migrated) and, when needed, a Temporal client.
func connect(ctx context.Context, env config.Env, withTemporal bool) (*deals.Service, func(), error) {
	cfg, err := config.LoadStarter(env)
	if err != nil {
		return nil, nil, err
	}
	st, err := engine.OpenStore(ctx, cfg.DatabaseURL, store.PoolOptions{Other: 4})
	if err != nil {
		return nil, nil, err
	}
	pool := st.Pool()
	svc := &deals.Service{Store: st}
	closeAll := pool.Close
	if withTemporal {
		opts := cfg.Temporal
		opts.Logger = tlog.NewStructuredLogger(quietLogger())
		// Lazy: bad input is refused before anything dials Temporal.
		c, err := client.NewLazyClient(opts)
		if err != nil {
			pool.Close()
			return nil, nil, fmt.Errorf("Temporal client for %s: %w", engine.HostPort(opts), err)
		}
		svc.Temporal = c
		closeAll = func() { c.Close(); pool.Close() }
	}
	return svc, closeAll, nil
}

// openStore opens PostgreSQL (migrated), for the verbs that need no deal service.
func openStore(ctx context.Context, env config.Env) (*store.Store, func(), error) {
	svc, closeAll, err := connect(ctx, env, false)
	if err != nil {
		return nil, nil, err
	}
	return svc.Store, closeAll, nil
}

// cliActor is the actor the CLI's events record: the login of whoever runs it.
func cliActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
}

// output is where a verb prints the engine's answer, and how: as JSON with --json (for
// scripts), else as the verb's text (for people).
type output struct {
	w    io.Writer
	json bool
}

// jsonOrText registers --json on a verb's flags.
func jsonOrText(fs *flag.FlagSet, w io.Writer) *output {
	out := &output{w: w}
	fs.BoolVar(&out.json, "json", false, "print JSON")
	return out
}

// printAnswer prints answer as JSON, or as text writes it.
func printAnswer[A any](out *output, answer A, text func(io.Writer, A)) error {
	if out.json {
		return writeJSON(out.w, answer)
	}
	text(out.w, answer)
	return nil
}

// callService connects (to Temporal too when withTemporal), makes one call and prints its
// answer. A failed call prints nothing: exitCode reports its error. A call whose event is
// recorded but waits for Temporal (*deals.PendingError) has not failed: it says so plainly.
func callService[A any](ctx context.Context, env config.Env, withTemporal bool, out *output,
	call func(*deals.Service) (A, error), text func(io.Writer, A)) error {
	svc, closeAll, err := connect(ctx, env, withTemporal)
	if err != nil {
		return err
	}
	defer closeAll()
	answer, err := call(svc)
	var pending *deals.PendingError
	if errors.As(err, &pending) {
		return printAnswer(out, answer, func(w io.Writer, _ A) { fmt.Fprintln(w, pendingLine(pending)) })
	}
	if err != nil {
		return err
	}
	return printAnswer(out, answer, text)
}

// pendingLine is what the CLI says of an event recorded while Temporal does not answer.
func pendingLine(p *deals.PendingError) string {
	return fmt.Sprintf("deal %s: event %d recorded; delivery pending: Temporal does not answer now, so the deal has not heard of it yet; "+
		"the sweeper (starter serve, every SWEEP_INTERVAL, or starter events sweep) delivers it once Temporal answers", p.DealID, p.EventID)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// alreadyReceived is what every verb that records an event says when its source sends the
// same event id again: the engine kept the first, and the deal is not told twice.
func alreadyReceived(state store.EventState) string {
	return fmt.Sprintf("event already received (state %s); nothing sent again", state)
}

// printEvent prints what became of an event a verb sent a deal: the verb's own sentence for
// a new event, alreadyReceived for a repeat.
func printEvent(w io.Writer, duplicate bool, state store.EventState, sent string) {
	if duplicate {
		sent = alreadyReceived(state)
	}
	fmt.Fprintln(w, sent)
}
