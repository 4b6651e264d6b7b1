package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/engine"
	"github.com/followup-engine/followup/internal/httpapi"
	"github.com/followup-engine/followup/internal/mailpoll"
	"github.com/followup-engine/followup/internal/opsmetrics"
	"github.com/followup-engine/followup/internal/pages"
	"github.com/followup-engine/followup/internal/store"
)

// runServe serves the HTTP API until ctx ends, then drains in-flight requests.
func runServe(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	const use = "usage: starter serve   (configured by HTTP_ADDR, API_TOKEN, UNSUBSCRIBE_SECRET, SWEEP_INTERVAL, DATABASE_URL, TEMPORAL_ADDRESS, LOG_FORMAT, API_METRICS, METRICS_TOKEN, and for the mailbox intake IMAP_*, SMTP_MAILBOXES_FILE, MAIL_FROM, INBOUND_MIME_MAX_BYTES)"
	if _, err := parseExactly(newFlags("serve", stderr), args, 0, use); err != nil {
		return err
	}
	cfg, err := config.LoadServer(env)
	ops, opsErr := config.LoadOps(env)
	if err := errors.Join(err, opsErr); err != nil { // every problem at once
		return err
	}
	logger := ops.Logger(stderr) // LOG_FORMAT: text or json
	// Each mailbox polled at once holds a connection for its lock and uses another.
	polls := min(len(cfg.Mailboxes), mailpoll.MaxConcurrentPolls)
	st, err := engine.OpenStore(ctx, cfg.DatabaseURL, store.PoolOptions{Other: 16 + 2*polls})
	if err != nil {
		return err
	}
	pool := st.Pool()
	defer pool.Close()
	opts := cfg.Temporal
	opts.Logger = tlog.NewStructuredLogger(logger)
	var sdkGatherer prometheus.Gatherer
	if ops.APIMetrics {
		// Only when served: the SDK's scope reports every second.
		sdkMetrics, gatherer, sdkCloser := opsmetrics.SDKMetrics()
		defer sdkCloser.Close()
		opts.MetricsHandler, sdkGatherer = sdkMetrics, gatherer
	}
	// Lazy: the API starts, and answers reads from PostgreSQL, while Temporal comes up.
	c, err := client.NewLazyClient(opts)
	if err != nil {
		return fmt.Errorf("Temporal client for %s: %w", engine.HostPort(opts), err)
	}
	defer c.Close()
	svc := &deals.Service{Store: st, Temporal: c, OwnAddresses: cfg.OwnAddresses}
	if cfg.SweepInterval > 0 {
		// Re-signals inbound events left in received; stopped and waited for before the
		// client and the pool close (deferred after them, so it runs first).
		sweepCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			svc.SweepEvery(sweepCtx, cfg.SweepInterval, deals.DefaultSweepAge, logger)
		}()
		defer func() { cancel(); <-done }()
	} else {
		logger.Warn("SWEEP_INTERVAL=0: inbound events left in received are not re-signalled (run starter events sweep)")
	}
	if len(cfg.Mailboxes) > 0 {
		// The mailbox intake runs here, beside the API, since a mailbox is one more source of
		// inbound events: it records them while Temporal is down, and the sweeper delivers.
		poll := cfg.Poll
		poll.Logger = logger
		poller := &mailpoll.Poller{Store: st, Taker: svc, Mailboxes: cfg.Mailboxes, Options: poll}
		pollCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			poller.Run(pollCtx)
		}()
		defer func() { cancel(); <-done }()
		for i, mb := range cfg.Mailboxes {
			logger.Info("reading mailbox", "mailbox", mb.String(), "every", poll.Interval, "mark_seen", poll.MarkSeen, "move_to", poll.MoveTo,
				"metrics_label", i+1) // followup_mailbox_poll_lag_seconds{mailbox="…"}
		}
	}
	api := &httpapi.Server{
		MIMEMaxBytes:    cfg.InboundMIMEMaxBytes,
		MailFrom:        cfg.MailFrom,
		MailboxDailyCap: cfg.MailboxDailyCap,
		Deals:           svc,
		Token:           cfg.APIToken,
		Logger:          logger,
		Unsubscribe:     cfg.Unsubscribe,
		Ready: func(ctx context.Context) error {
			if err := pool.Ping(ctx); err != nil {
				return fmt.Errorf("PostgreSQL: %w", err)
			}
			if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
				return fmt.Errorf("Temporal: %w", err)
			}
			return nil
		},
	}
	// The reps' pages, on the same server (internal/pages): their cookies are Secure when the
	// public URL is https.
	base, _ := env.LookupEnv("PUBLIC_BASE_URL")
	site := &pages.Server{Deals: svc, Logger: logger, QueryTimeout: 2 * time.Second, SecureCookies: strings.HasPrefix(base, "https://")}
	api.Pages = site.Handler()
	if ops.APIMetrics {
		// The engine's counters, the PostgreSQL gauges (read on a scrape, bounded) and the
		// Temporal client's metrics.
		api.Metrics = opsmetrics.Handler(opsmetrics.Options{Gauges: st.OpsGauges, SDK: sdkGatherer, Logger: logger})
		api.MetricsToken = ops.MetricsToken
	}
	if cfg.Unsubscribe == nil {
		logger.Warn("UNSUBSCRIBE_SECRET is not set: the unsubscribe pages (/u/{token}) answer 404 to every link")
	}
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on HTTP_ADDR %s: %w", cfg.Addr, err)
	}
	fmt.Fprintf(stdout, "API listening on http://%s\n", ln.Addr())
	fmt.Fprintf(stdout, "pages on http://%s/login (a user's password: starter user password EMAIL)\n", ln.Addr())
	if ops.APIMetrics {
		fmt.Fprintf(stdout, "metrics on http://%s/metrics\n", ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
