package config

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
)

// Ops is how a process shows itself to operations: its log format and the API's metrics.
type Ops struct {
	// LogFormat (LOG_FORMAT) is text (the default: key=value lines) or json (one JSON object
	// a line, for a log collector).
	LogFormat string
	// APIMetrics (API_METRICS, on by default) serves GET /metrics on the API's port.
	APIMetrics bool
	// MetricsToken (METRICS_TOKEN), when set, is the bearer token GET /metrics requires on
	// the API's port; unset, /metrics is public, as /healthz is (it holds no personal data).
	MetricsToken string
}

// The log formats of LOG_FORMAT.
const (
	LogText = "text"
	LogJSON = "json"
)

// LoadOps reads LOG_FORMAT, API_METRICS and METRICS_TOKEN (the worker's METRICS_ADDR is
// in Worker).
func LoadOps(env Env) (Ops, error) {
	r := &reader{env: env}
	o := Ops{
		LogFormat:    strings.ToLower(r.str("LOG_FORMAT", LogText)),
		MetricsToken: r.str("METRICS_TOKEN", ""),
	}
	if o.LogFormat != LogText && o.LogFormat != LogJSON {
		r.problems = append(r.problems, fmt.Sprintf("LOG_FORMAT=%q: want text or json", o.LogFormat))
	}
	switch v := strings.ToLower(r.str("API_METRICS", "on")); v {
	case "on", "true", "1", "yes":
		o.APIMetrics = true
	case "off", "false", "0", "no":
	default:
		r.problems = append(r.problems, fmt.Sprintf("API_METRICS=%q: want on or off", v))
	}
	if o.MetricsToken != "" && len(o.MetricsToken) < 16 {
		r.problems = append(r.problems, "METRICS_TOKEN: want 16+ characters (generate one with `openssl rand -hex 24`)")
	}
	return o, r.err("operations")
}

// Logger is a logger writing to w in the format LOG_FORMAT asked for, at level Info.
func (o Ops) Logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if o.LogFormat == LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// metricsAddr reads METRICS_ADDR: empty, or host:port.
func (r *reader) metricsAddr() string {
	addr := r.str("METRICS_ADDR", "")
	if addr == "" {
		return ""
	}
	if _, port, err := net.SplitHostPort(addr); err != nil {
		r.problems = append(r.problems, fmt.Sprintf("METRICS_ADDR=%q: want host:port, e.g. 127.0.0.1:9464 (%v)", addr, err))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		r.problems = append(r.problems, fmt.Sprintf("METRICS_ADDR=%q: the port must be a number from 0 to 65535", addr))
	}
	return addr
}
