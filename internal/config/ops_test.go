package config_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/config"
)

// By default logs are text, the API serves /metrics without a token, and the worker serves
// no metrics port.
func TestOpsDefaults(t *testing.T) {
	t.Parallel()
	ops, err := config.LoadOps(config.MapEnv{})
	require.NoError(t, err)
	require.Equal(t, config.Ops{LogFormat: config.LogText, APIMetrics: true}, ops)
	var b strings.Builder
	ops.Logger(&b).Info("hello", "k", "v")
	require.Contains(t, b.String(), "level=INFO msg=hello k=v")

	w, err := config.LoadWorker(config.MapEnv{"MESSAGE_ID_SECRET": secret})
	require.NoError(t, err)
	require.Empty(t, w.MetricsAddr)
}

// LOG_FORMAT=json writes one JSON object a line.
func TestOpsJSONLogs(t *testing.T) {
	t.Parallel()
	ops, err := config.LoadOps(config.MapEnv{"LOG_FORMAT": "JSON", "API_METRICS": "off", "METRICS_TOKEN": "0123456789abcdef0123"})
	require.NoError(t, err)
	require.Equal(t, config.Ops{LogFormat: config.LogJSON, MetricsToken: "0123456789abcdef0123"}, ops)
	var b strings.Builder
	ops.Logger(&b).Info("hello", "k", "v")
	var line map[string]any
	require.NoError(t, json.Unmarshal([]byte(b.String()), &line), b.String())
	require.Equal(t, "hello", line["msg"])
	require.Equal(t, "v", line["k"])
	require.Equal(t, "INFO", line["level"])
}

// Bad values are refused with what is wanted, each named.
func TestOpsRefusesBadValues(t *testing.T) {
	t.Parallel()
	_, err := config.LoadOps(config.MapEnv{"LOG_FORMAT": "xml", "API_METRICS": "maybe", "METRICS_TOKEN": "short"})
	require.ErrorContains(t, err, `LOG_FORMAT="xml": want text or json`)
	require.ErrorContains(t, err, `API_METRICS="maybe": want on or off`)
	require.ErrorContains(t, err, "METRICS_TOKEN: want 16+ characters")

	for _, addr := range []string{"9464", "localhost:port", "127.0.0.1:70000"} {
		_, err := config.LoadWorker(config.MapEnv{"MESSAGE_ID_SECRET": secret, "METRICS_ADDR": addr})
		require.ErrorContains(t, err, "METRICS_ADDR=", addr)
	}
	w, err := config.LoadWorker(config.MapEnv{"MESSAGE_ID_SECRET": secret, "METRICS_ADDR": "127.0.0.1:9464"})
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9464", w.MetricsAddr)
}
