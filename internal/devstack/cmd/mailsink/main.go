// Command mailsink is the dev stack's SMTP sink with a web UI (a stand-in
// for Mailpit): every message sent to the SMTP address is kept as an .eml
// file under -dir and shown on the web address, and an IMAP endpoint serves
// each recipient address's mail as that address's INBOX.
//
//	go run ./internal/devstack/cmd/mailsink -smtp 127.0.0.1:1025 -http 127.0.0.1:8025 \
//		-imap 127.0.0.1:1143 -imap-password secret -dir .local/mail
//
// Each flag defaults to an environment variable when set: MAILSINK_SMTP,
// MAILSINK_HTTP, MAILSINK_IMAP, MAILSINK_IMAP_PASSWORD, MAILSINK_DIR,
// MAILSINK_DKIM_DOMAIN, MAILSINK_DKIM_SELECTOR, MAILSINK_DKIM_KEY.
//
// IMAP (-imap, default 127.0.0.1:1143; -imap "" turns it off): log in with
// any mailbox address as the user name and -imap-password (required with
// -imap) as the password, plaintext, no TLS (a loopback dev server). The
// INBOX holds the messages whose SMTP envelope named that address, with UIDs
// that survive restarts; see the mailsink package for what IMAP supports.
//
// Each message page has buttons to play the prospect: "Reply",
// "Auto-reply" (back on a date) and "Bounce" store the matching message in
// the sink, addressed to the original's sender, so the stack's poller reads
// it over IMAP as it would from a real mailbox.
//
// The page checks DKIM signatures against the one key given with
// -dkim-domain, -dkim-selector and -dkim-key (a PEM file, public or private
// key, RSA or Ed25519; only the public half is used), as if it were published
// at <selector>._domainkey.<domain>; no DNS is asked. Without them every
// signed message shows "fail: no key".
//
// Once the listeners are bound it prints
//
//	mailsink: smtp 127.0.0.1:1025
//	mailsink: imap 127.0.0.1:1143
//	mailsink: http http://127.0.0.1:8025/
//
// (the imap line only while IMAP is on) and runs until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/followup-engine/followup/internal/devstack/mailsink"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mailsink:", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// envSetOr is envOr for a value whose empty string means something (-imap
// "" turns IMAP off, and so does MAILSINK_IMAP= ).
func envSetOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

// run serves until ctx ends, then shuts both servers down.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("mailsink", flag.ContinueOnError)
	fs.SetOutput(stdout)
	smtpAddr := fs.String("smtp", envOr("MAILSINK_SMTP", "127.0.0.1:1025"), "SMTP listen address (env MAILSINK_SMTP)")
	httpAddr := fs.String("http", envOr("MAILSINK_HTTP", "127.0.0.1:8025"), "web UI listen address (env MAILSINK_HTTP)")
	imapAddr := fs.String("imap", envSetOr("MAILSINK_IMAP", "127.0.0.1:1143"), `IMAP listen address; "" turns IMAP off (env MAILSINK_IMAP)`)
	imapPassword := fs.String("imap-password", os.Getenv("MAILSINK_IMAP_PASSWORD"), "password of every IMAP login, required with -imap (env MAILSINK_IMAP_PASSWORD)")
	dir := fs.String("dir", envOr("MAILSINK_DIR", ".local/mail"), "directory for the .eml files (env MAILSINK_DIR)")
	dkimDomain := fs.String("dkim-domain", envOr("MAILSINK_DKIM_DOMAIN", ""), "signing domain (d=) of -dkim-key (env MAILSINK_DKIM_DOMAIN)")
	dkimSelector := fs.String("dkim-selector", envOr("MAILSINK_DKIM_SELECTOR", ""), "selector (s=) of -dkim-key (env MAILSINK_DKIM_SELECTOR)")
	dkimKey := fs.String("dkim-key", envOr("MAILSINK_DKIM_KEY", ""), "PEM file with the DKIM public (or private) key signatures are checked against (env MAILSINK_DKIM_KEY)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	if *imapAddr != "" && *imapPassword == "" {
		return errors.New(`-imap-password (or MAILSINK_IMAP_PASSWORD) is required while IMAP is on; set one, or turn IMAP off with -imap ""`)
	}

	sink, err := mailsink.New(*dir)
	if err != nil {
		return err
	}
	if *dkimDomain != "" || *dkimSelector != "" || *dkimKey != "" {
		if *dkimDomain == "" || *dkimSelector == "" || *dkimKey == "" {
			return errors.New("-dkim-domain, -dkim-selector and -dkim-key go together")
		}
		b, err := os.ReadFile(*dkimKey)
		if err != nil {
			return err
		}
		pub, err := mailsink.ParseDKIMKey(b)
		if err != nil {
			return err
		}
		if err := sink.AddDKIMKey(*dkimDomain, *dkimSelector, pub); err != nil {
			return err
		}
	}
	smtpBound, err := sink.StartSMTP(*smtpAddr)
	if err != nil {
		return err
	}
	defer sink.Close()
	var imapBound net.Addr
	if *imapAddr != "" {
		if imapBound, err = sink.StartIMAP(*imapAddr, *imapPassword); err != nil {
			return fmt.Errorf("imap: %w", err)
		}
	}

	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	hs := &http.Server{
		Handler:           sink.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	fmt.Fprintf(stdout, "mailsink: smtp %s\n", smtpBound)
	if imapBound != nil {
		fmt.Fprintf(stdout, "mailsink: imap %s\n", imapBound)
	}
	fmt.Fprintf(stdout, "mailsink: http http://%s/\n", ln.Addr())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if serveErr == nil {
		if err := hs.Shutdown(shutdownCtx); err != nil {
			_ = hs.Close()
		}
		<-served
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("http: %w", serveErr)
	}
	return nil
}
