// Command mailsink is the dev stack's SMTP sink with a web UI (a stand-in
// for Mailpit): every message sent to the SMTP address is kept as an .eml
// file under -dir and shown on the web address.
//
//	go run ./internal/devstack/cmd/mailsink -smtp 127.0.0.1:1025 -http 127.0.0.1:8025 -dir .local/mail
//
// Each flag defaults to an environment variable when set: MAILSINK_SMTP,
// MAILSINK_HTTP, MAILSINK_DIR. Once both listeners are bound it prints
//
//	mailsink: smtp 127.0.0.1:1025
//	mailsink: http http://127.0.0.1:8025/
//
// and runs until SIGINT or SIGTERM.
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

// run serves until ctx ends, then shuts both servers down.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("mailsink", flag.ContinueOnError)
	fs.SetOutput(stdout)
	smtpAddr := fs.String("smtp", envOr("MAILSINK_SMTP", "127.0.0.1:1025"), "SMTP listen address (env MAILSINK_SMTP)")
	httpAddr := fs.String("http", envOr("MAILSINK_HTTP", "127.0.0.1:8025"), "web UI listen address (env MAILSINK_HTTP)")
	dir := fs.String("dir", envOr("MAILSINK_DIR", ".local/mail"), "directory for the .eml files (env MAILSINK_DIR)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	sink, err := mailsink.New(*dir)
	if err != nil {
		return err
	}
	smtpBound, err := sink.StartSMTP(*smtpAddr)
	if err != nil {
		return err
	}
	defer sink.Close()

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

	fmt.Fprintf(stdout, "mailsink: smtp %s\nmailsink: http http://%s/\n", smtpBound, ln.Addr())

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
