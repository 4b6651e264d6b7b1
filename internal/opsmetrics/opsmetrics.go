// Package opsmetrics is the engine's Prometheus metrics: what a process counts as it works
// (emails by outcome, send latency, inbound events by source and fate, stage transitions by
// cause, mailbox poll lag, HTTP requests) and what PostgreSQL says on a scrape (tasks open
// and overdue, the sweeper's backlog). Handler serves them, with the Temporal SDK's when a
// process has them (SDKMetrics).
//
// The counters are the process's own: each process (API, each worker) counts what it does,
// and Prometheus adds them up across its targets. No label carries a deal id, an email
// address or anything a caller can grow without bound.
package opsmetrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// registry holds the counters of this process; Handler serves it.
var registry = prometheus.NewRegistry()

var (
	emails = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "followup_emails_total",
		Help: "Cadence email send attempts by outcome: sent, suppressed, bounced, rejected, failed, deferred, retry (a transient or ambiguous SMTP failure, retried).",
	}, []string{"outcome"})
	sendSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "followup_send_seconds",
		Help:    "Time one SMTP send took, from dial to the relay's answer, failures included.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
	})
	inboundEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "followup_inbound_events_total",
		Help: "Inbound events by source and fate: received, retried (the same event id again), signalled, applied, ignored, duplicate, refused. Each process counts the fates it records.",
	}, []string{"source", "fate"})
	transitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "followup_stage_transitions_total",
		Help: "Stage transitions recorded, by cause: created (a deal's first stage), person (a person or a CRM moved the deal), engaged (an on_engaged rule or a bounce), stale, exhausted (the engine's time limits).",
	}, []string{"cause"})
	httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "followup_http_requests_total",
		Help: "HTTP requests answered, by method, route pattern and status code.",
	}, []string{"method", "route", "code"})
	httpSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "followup_http_request_seconds",
		Help:    "Time to answer an HTTP request, by route pattern.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route"})
)

func init() {
	registry.MustRegister(emails, sendSeconds, inboundEvents, transitions, httpRequests, httpSeconds, &mailboxes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// CountEmail counts one send attempt's outcome (activities.SendOutcome, or "retry").
func CountEmail(outcome string) { emails.WithLabelValues(outcome).Inc() }

// ObserveSend records how long one SMTP send took.
func ObserveSend(d time.Duration) { sendSeconds.Observe(d.Seconds()) }

// CountInboundEvent counts an inbound event reaching a fate. Sources are named by callers:
// the first MaxSources distinct ones keep their name, later ones count as "other".
func CountInboundEvent(source, fate string) {
	inboundEvents.WithLabelValues(sources.label(source), fate).Inc()
}

// CountTransition counts one recorded stage transition by its cause.
func CountTransition(cause string) { transitions.WithLabelValues(cause).Inc() }

// CountHTTP counts one answered request; route is the mux pattern ("unmatched" for none).
func CountHTTP(method, route string, code int, d time.Duration) {
	httpRequests.WithLabelValues(method, route, statusLabel(code)).Inc()
	httpSeconds.WithLabelValues(route).Observe(d.Seconds())
}

// MaxSources bounds the source label of followup_inbound_events_total.
const MaxSources = 32

// OtherSource is the source label of events past the first MaxSources sources.
const OtherSource = "other"

// sourceLabels keeps the first MaxSources sources seen, and their labels.
type sourceLabels struct {
	mu   sync.Mutex
	seen map[string]bool
}

var sources sourceLabels

func (s *sourceLabels) label(source string) string {
	if source == "" {
		return "none"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	if s.seen[source] {
		return source
	}
	if len(s.seen) >= MaxSources || len(source) > 64 {
		return OtherSource
	}
	s.seen[source] = true
	return source
}

// statusLabel is a status code as a label; codes are bounded by the server's own answers.
func statusLabel(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	const digits = "0123456789"
	return string([]byte{digits[code/100], digits[code/10%10], digits[code%10]})
}
