// Package engine wires the worker: PostgreSQL, migrations, the built-in cadence, the
// Temporal client and the two workers (deals, and sends on their own task queue).
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/followup-engine/followup/activities"
	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/config"
	"github.com/followup-engine/followup/internal/mail"
	"github.com/followup-engine/followup/internal/opsmetrics"
	"github.com/followup-engine/followup/internal/store"
	"github.com/followup-engine/followup/internal/unsubscribe"
	"github.com/followup-engine/followup/workflows"
)

// Prepare migrates the database and publishes the built-in pipeline as cadence version 0.
// Both are idempotent; every process runs them at start-up.
func Prepare(ctx context.Context, st *store.Store) error {
	if err := store.Migrate(ctx, st.Pool()); err != nil {
		return err
	}
	if _, err := st.PublishCadence(ctx, cadence.DefaultVersion, cadence.Default()); err != nil {
		return fmt.Errorf("publish the built-in cadence: %w", err)
	}
	return nil
}

// OpenStore connects to PostgreSQL and prepares it (migrations, the built-in cadence): what
// every process does first. Close the store's pool when done.
func OpenStore(ctx context.Context, url string, opts store.PoolOptions) (*store.Store, error) {
	pool, err := store.Open(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	st := store.New(pool)
	if err := Prepare(ctx, st); err != nil {
		pool.Close()
		return nil, err
	}
	return st, nil
}

// RunWorker runs the deal and send workers until ctx ends, then stops them, letting
// in-flight activities finish within the stop timeout.
func RunWorker(ctx context.Context, cfg config.Worker, logger *slog.Logger) error {
	sender := cfg.Sender
	if sender == nil { // a Worker built by hand, not by config.LoadWorker
		var err error
		if sender, err = mail.NewSender(cfg.SMTP); err != nil {
			return err
		}
	}
	if budget := cfg.SMTP.SendTimeoutBudget(); budget >= activities.SendStartToClose {
		return fmt.Errorf("SMTP_TIMEOUT %s is too long: one send may take %s, over the send activity's Start-To-Close of %s",
			cfg.SMTP.Timeout, budget, activities.SendStartToClose)
	}
	st, err := OpenStore(ctx, cfg.DatabaseURL, store.PoolOptions{ConcurrentSends: cfg.SendConcurrency})
	if err != nil {
		return err
	}
	defer st.Pool().Close()

	copts := cfg.Temporal
	copts.Logger = tlog.NewStructuredLogger(logger)
	var sdkGatherer prometheus.Gatherer
	if cfg.MetricsAddr != "" {
		// Only when served: the SDK's scope reports every second.
		sdkMetrics, gatherer, sdkCloser := opsmetrics.SDKMetrics()
		defer sdkCloser.Close()
		copts.MetricsHandler, sdkGatherer = sdkMetrics, gatherer
	}
	c, err := client.DialContext(ctx, copts)
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", HostPort(copts), err)
	}
	defer c.Close()
	if cfg.MetricsAddr != "" {
		// The SDK's metrics and the engine's counters; the PostgreSQL gauges are the API's.
		stop, err := ServeMetrics(cfg.MetricsAddr, opsmetrics.Handler(opsmetrics.Options{SDK: sdkGatherer}), logger)
		if err != nil {
			return err
		}
		defer stop()
	}

	acts := &activities.Activities{Store: st, Sender: sender, Mail: activities.MailSettings{
		MessageIDSecret: cfg.Mail.MessageIDSecret, MessageIDDomain: cfg.Mail.MessageIDDomain,
		DefaultFrom: cfg.Mail.DefaultFrom, PostalAddress: cfg.Mail.PostalAddress,
		DailyCap: cfg.MailboxDailyCap, ContactSpacing: cfg.ContactSpacing,
		Unsubscribe: cfg.Mail.Unsubscribe, PublicBaseURL: cfg.Mail.Unsubscribe.Base(),
	}}
	logUnsubscribeLinks(logger, cfg.Mail.Unsubscribe)
	logDKIMAlignment(logger, cfg.SMTP, cfg.Mail.DefaultFrom)
	if cfg.StickyCacheSize > 0 {
		worker.SetStickyWorkflowCacheSize(cfg.StickyCacheSize)
	}
	deals, sends := NewWorkers(c, acts, cfg)
	if err := deals.Start(); err != nil {
		return fmt.Errorf("start deal worker: %w", err)
	}
	defer deals.Stop()
	if err := sends.Start(); err != nil {
		return fmt.Errorf("start send worker: %w", err)
	}
	defer sends.Stop()
	// The digest schedule is created beside the workers, retried while Temporal is away: a
	// worker started during an outage still runs, as its pollers do.
	scheduled := make(chan struct{})
	go func() {
		defer close(scheduled)
		keepDigestSchedule(ctx, c, logger)
	}()
	defer func() { <-scheduled }()
	logger.Info("worker running", "task_queue", workflows.TaskQueue, "send_task_queue", workflows.SendTaskQueue,
		"send_concurrency", cfg.SendConcurrency)
	<-ctx.Done()
	logger.Info("worker stopping")
	if errors.Is(context.Cause(ctx), context.Canceled) {
		return nil
	}
	return context.Cause(ctx)
}

// logUnsubscribeLinks says once, at start, how nurture emails offer an opt-out.
func logUnsubscribeLinks(logger *slog.Logger, links *unsubscribe.Links) {
	switch {
	case links == nil:
		logger.Warn("PUBLIC_BASE_URL is not set: nurture emails go out without one-click unsubscribe (no List-Unsubscribe header, no unsubscribe link)")
	case !links.OneClick():
		logger.Warn("PUBLIC_BASE_URL is not https: nurture emails carry the unsubscribe link in their footer but no List-Unsubscribe header (RFC 8058 requires https)",
			"public_base_url", links.Base())
	default:
		logger.Info("nurture emails carry one-click unsubscribe (List-Unsubscribe, List-Unsubscribe-Post)", "public_base_url", links.Base())
	}
}

// logDKIMAlignment says once, at start, whether emails are signed, and warns about sending
// addresses outside the signing domain: their mail fails DMARC alignment, and Gmail and
// Yahoo then ignore one-click unsubscribe and may reject bulk mail. Pipelines' and owners'
// From addresses are data and are not known here.
func logDKIMAlignment(logger *slog.Logger, smtp mail.Config, defaultFrom string) {
	if smtp.DKIM == nil {
		logger.Warn("DKIM_* not set: emails go out unsigned (Gmail and Yahoo require DKIM of bulk senders)")
		return
	}
	addresses := slices.Sorted(maps.Keys(smtp.Mailboxes))
	if defaultFrom != "" {
		addresses = append(addresses, defaultFrom)
	}
	for _, a := range addresses {
		if d := domainOf(a); d != "" && !aligned(d, smtp.DKIM.Domain) {
			logger.Warn("sending address outside the DKIM domain: its mail fails DMARC alignment", "address", a, "dkim_domain", smtp.DKIM.Domain)
		}
	}
	logger.Info("emails are DKIM-signed", "dkim_domain", smtp.DKIM.Domain, "selector", smtp.DKIM.Selector)
}

// domainOf is the domain of a sending address: what follows the @ of its mail.Mailbox.
func domainOf(address string) string {
	_, domain, _ := strings.Cut(mail.Mailbox(address), "@")
	return domain
}

// aligned is DMARC's relaxed alignment, approximated without the public-suffix list: one
// domain is the other or a subdomain of it.
func aligned(a, b string) bool {
	a, b = strings.ToLower(a), strings.ToLower(b)
	return a == b || strings.HasSuffix(a, "."+b) || strings.HasSuffix(b, "."+a)
}

// NewWorkers builds the two workers: deal workflows with their PostgreSQL activities, and
// email sends alone on their task queue with bounded concurrency, so slow SMTP never starves
// the rest.
func NewWorkers(c client.Client, acts *activities.Activities, cfg config.Worker) (deals, sends worker.Worker) {
	deals = worker.New(c, workflows.TaskQueue, worker.Options{
		MaxConcurrentWorkflowTaskPollers: cfg.WorkflowPollers,
		MaxConcurrentActivityTaskPollers: cfg.ActivityPollers,
		WorkerStopTimeout:                10 * time.Second,
	})
	deals.RegisterWorkflow(workflows.DealWorkflow)
	deals.RegisterWorkflow(workflows.DigestRound)
	deals.RegisterWorkflow(workflows.DigestNow)
	deals.RegisterActivity(acts)

	sends = worker.New(c, workflows.SendTaskQueue, worker.Options{
		MaxConcurrentActivityExecutionSize: cfg.SendConcurrency,
		MaxConcurrentActivityTaskPollers:   cfg.ActivityPollers,
		WorkerStopTimeout:                  activities.SendStartToClose,
		DisableWorkflowWorker:              true,
	})
	sends.RegisterActivityWithOptions(acts.SendEmail, activity.RegisterOptions{Name: "SendEmail"})
	return deals, sends
}

// HostPort is the Temporal address a client dials, for messages.
func HostPort(o client.Options) string {
	if o.HostPort == "" {
		return client.DefaultHostPort
	}
	return o.HostPort
}
