package opsmetrics

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// mailboxLag is followup_mailbox_poll_lag_seconds: for each mailbox this process reads, the
// seconds since its last poll that worked (or since the intake started, before the first).
// The label is the mailbox's position in the configuration (1, 2, …), not its address: a
// rep's mailbox name is personal data. starter serve logs which position is which mailbox.
type mailboxLag struct {
	mu     sync.Mutex
	labels map[string]string    // mailbox name → position label
	last   map[string]time.Time // mailbox name → last poll that worked
}

var mailboxes mailboxLag

var mailboxLagDesc = prometheus.NewDesc("followup_mailbox_poll_lag_seconds",
	"Seconds since the mailbox's last poll that worked (since the intake started, before its first); mailbox is its position in the configuration.",
	[]string{"mailbox"}, nil)

// WatchMailboxes starts the lag of each named mailbox at now; their labels are their
// positions in names, from 1. It returns the labels, in order, for the start-up log.
func WatchMailboxes(names []string, now time.Time) []string {
	mailboxes.mu.Lock()
	defer mailboxes.mu.Unlock()
	mailboxes.labels, mailboxes.last = map[string]string{}, map[string]time.Time{}
	labels := make([]string, len(names))
	for i, n := range names {
		labels[i] = strconv.Itoa(i + 1)
		mailboxes.labels[n], mailboxes.last[n] = labels[i], now
	}
	return labels
}

// MailboxPolled notes a poll of the named mailbox that worked, at.
func MailboxPolled(name string, at time.Time) {
	mailboxes.mu.Lock()
	defer mailboxes.mu.Unlock()
	if _, ok := mailboxes.labels[name]; ok {
		mailboxes.last[name] = at
	}
}

func (m *mailboxLag) Describe(ch chan<- *prometheus.Desc) { ch <- mailboxLagDesc }

func (m *mailboxLag) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	for name, label := range m.labels {
		ch <- prometheus.MustNewConstMetric(mailboxLagDesc, prometheus.GaugeValue, now.Sub(m.last[name]).Seconds(), label)
	}
}
