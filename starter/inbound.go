package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
)

// maxInboundFile bounds a message taken from a file or stdin, as INBOUND_MIME_MAX_BYTES bounds
// the API's.
const maxInboundFile = config.DefaultInboundMIMEMaxBytes

// inboundTake handles `starter inbound take FILE|-`: one raw message through the mailbox
// intake, as the poller and POST /api/inbound/mime take it (a mail server's pipe transport
// can call it with the message on stdin).
func inboundTake(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("inbound take", stderr)
	out := jsonOrText(fs, stdout)
	rest, err := parseExactly(fs, args, 1, "usage: starter inbound take FILE   (a raw RFC 5322 message; - reads stdin)")
	if err != nil {
		return err
	}
	var r io.Reader = os.Stdin
	if rest[0] != "-" {
		f, err := os.Open(rest[0])
		if err != nil {
			return usageError(fmt.Sprintf("inbound take: %v", err))
		}
		defer f.Close()
		r = f
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxInboundFile+1))
	switch {
	case err != nil:
		return fmt.Errorf("inbound take: read the message: %w", err)
	case len(raw) > maxInboundFile:
		return usageError(fmt.Sprintf("inbound take: the message is larger than %d bytes", maxInboundFile))
	case len(raw) == 0:
		return usageError("inbound take: the message is empty")
	}
	own, err := config.LoadOwnAddresses(env)
	if err != nil {
		return err
	}
	svc, closeAll, err := connect(ctx, env, true)
	if err != nil {
		return err
	}
	defer closeAll()
	svc.OwnAddresses = own
	resp, err := svc.TakeMessage(ctx, raw, deals.MessageOrigin{Source: "cli"})
	if err != nil {
		return err
	}
	return printAnswer(out, resp, printTaken)
}

func printTaken(w io.Writer, r deals.MessageResponse) {
	dup := ""
	if r.Duplicate {
		dup = " (taken before)"
	}
	fmt.Fprintf(w, "message %d%s: %s, %s\n", r.Message, dup, r.Kind, r.Outcome)
	fmt.Fprintf(w, "  rule:   %s\n", r.Rule)
	fmt.Fprintf(w, "  match:  %s", r.Match)
	if r.Answers != nil {
		fmt.Fprintf(w, " (answers %s)", r.Answers)
	}
	fmt.Fprintln(w)
	if r.ReturnOn != "" {
		fmt.Fprintf(w, "  back:   %s\n", r.ReturnOn)
	}
	if r.Reason != "" {
		fmt.Fprintf(w, "  why:    %s\n", r.Reason)
	}
	for _, ev := range r.Events {
		fmt.Fprintf(w, "  deal %s: event %d %s %s\n", ev.DealID, ev.EventID, ev.State, ev.Reason)
	}
}

// inboundList handles `starter inbound list`: the messages read, newest first.
func inboundList(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := newFlags("inbound list", stderr)
	deal := fs.String("deal", "", "only messages delivered to this deal (id or source:external-id)")
	outcome := fs.String("outcome", "", "only engaged, recorded or ignored messages")
	limit := fs.Int("limit", 50, "at most this many (1-500)")
	out := jsonOrText(fs, stdout)
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	f := store.MessageFilter{Outcome: store.MessageOutcome(*outcome), Limit: *limit}
	switch f.Outcome {
	case "", store.MessageEngaged, store.MessageRecorded, store.MessageIgnored:
	default:
		return usageError(fmt.Sprintf("inbound list: --outcome %q: want engaged, recorded or ignored", *outcome))
	}
	if *limit < 1 || *limit > 500 {
		return usageError("inbound list: --limit must be from 1 to 500")
	}
	svc, closeAll, err := connect(ctx, env, false)
	if err != nil {
		return err
	}
	defer closeAll()
	if *deal != "" {
		d, err := svc.Resolve(ctx, *deal)
		if err != nil {
			return err
		}
		f.DealID = d.ID
	}
	msgs, err := svc.Store.InboundMessages(ctx, f)
	if err != nil {
		return err
	}
	cursors, err := svc.Store.MailboxCursors(ctx)
	if err != nil {
		return err
	}
	type answer struct {
		Mailboxes map[string]store.MailboxCursor `json:"mailboxes"`
		Messages  []store.InboundMessage         `json:"messages"`
	}
	return printAnswer(out, answer{cursors, msgs}, func(w io.Writer, a answer) {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		if len(a.Mailboxes) > 0 {
			fmt.Fprintln(tw, "MAILBOX\tUIDVALIDITY\tLAST UID\tPOLLED\tERROR")
			for name, c := range a.Mailboxes {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", name, c.UIDValidity, c.LastUID, ago(c.PolledAt), c.LastError)
			}
			fmt.Fprintln(tw)
		}
		if len(a.Messages) == 0 {
			fmt.Fprintln(tw, "no message read yet")
		} else {
			fmt.Fprintln(tw, "ID\tRECEIVED\tFROM\tKIND\tMATCH\tOUTCOME\tDEALS\tWHY")
		}
		for _, m := range a.Messages {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.ReceivedAt.UTC().Format(time.RFC3339), m.From, m.Kind, m.Match,
				m.Outcome, strings.Join(m.DealIDs, ","), m.Reason)
		}
		tw.Flush()
	})
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}
