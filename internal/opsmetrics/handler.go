package opsmetrics

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Gauges are what PostgreSQL says on a scrape.
type Gauges struct {
	TasksOpen      int64   // tasks in state open
	TasksOverdue   int64   // open tasks past their due time
	SweeperBacklog int64   // inbound events still in received (not yet handed to their deal)
	OldestReceived float64 // seconds since the oldest of those was received; 0 when none
}

// GaugeReader reads Gauges (store.Store.OpsGauges).
type GaugeReader func(ctx context.Context) (Gauges, error)

// Options are what Handler serves beside the process's counters.
type Options struct {
	// Gauges reads the PostgreSQL gauges; none are served when nil.
	Gauges GaugeReader
	// SDK is the Temporal SDK's metrics (SDKMetrics); none when nil.
	SDK prometheus.Gatherer
	// Logger tells of a gauge read that failed; slog.Default when nil.
	Logger *slog.Logger
}

// GaugeTimeout bounds one read of the gauges; GaugeMaxAge is how long a read is reused, so
// scrapes from several Prometheus servers, or a tight interval, cost at most one read each.
const (
	GaugeTimeout = 2 * time.Second
	GaugeMaxAge  = 10 * time.Second
)

// Handler serves the metrics in Prometheus's text format.
func Handler(o Options) http.Handler {
	gs := prometheus.Gatherers{registry}
	if o.Gauges != nil {
		logger := o.Logger
		if logger == nil {
			logger = slog.Default()
		}
		db := prometheus.NewRegistry()
		db.MustRegister(&storeGauges{read: o.Gauges, logger: logger})
		gs = append(gs, db)
	}
	if o.SDK != nil {
		gs = append(gs, o.SDK)
	}
	return promhttp.HandlerFor(gs, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, Timeout: 10 * time.Second})
}

var (
	tasksOpenDesc = prometheus.NewDesc("followup_tasks_open", "Tasks open (read from PostgreSQL, at most every 10 s).", nil, nil)
	tasksOverDesc = prometheus.NewDesc("followup_tasks_overdue", "Open tasks past their due time (read from PostgreSQL, at most every 10 s).", nil, nil)
	backlogDesc   = prometheus.NewDesc("followup_sweeper_backlog", "Inbound events still in received: recorded, not yet handed to their deal; the sweeper re-signals them.", nil, nil)
	oldestDesc    = prometheus.NewDesc("followup_sweeper_backlog_oldest_seconds", "Age of the oldest inbound event still in received; 0 when none.", nil, nil)
	readErrsDesc  = prometheus.NewDesc("followup_gauge_read_errors_total", "Reads of the PostgreSQL gauges that failed (their gauges are then left out of the scrape).", nil, nil)
)

// storeGauges reads Gauges on a scrape, reusing a read younger than GaugeMaxAge.
type storeGauges struct {
	read   GaugeReader
	logger *slog.Logger

	mu     sync.Mutex
	at     time.Time
	last   Gauges
	ok     bool
	errors int
}

func (s *storeGauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{tasksOpenDesc, tasksOverDesc, backlogDesc, oldestDesc, readErrsDesc} {
		ch <- d
	}
}

func (s *storeGauges) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.at) >= GaugeMaxAge {
		ctx, cancel := context.WithTimeout(context.Background(), GaugeTimeout)
		g, err := s.read(ctx)
		cancel()
		s.at, s.ok = time.Now(), err == nil
		if err != nil {
			s.errors++
			s.logger.Warn("metrics: reading the PostgreSQL gauges failed", "err", err)
		} else {
			s.last = g
		}
	}
	ch <- prometheus.MustNewConstMetric(readErrsDesc, prometheus.CounterValue, float64(s.errors))
	if !s.ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(tasksOpenDesc, prometheus.GaugeValue, float64(s.last.TasksOpen))
	ch <- prometheus.MustNewConstMetric(tasksOverDesc, prometheus.GaugeValue, float64(s.last.TasksOverdue))
	ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(s.last.SweeperBacklog))
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, s.last.OldestReceived)
}
