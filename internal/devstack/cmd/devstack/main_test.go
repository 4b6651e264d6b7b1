package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/smtptest"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestMakeRunStartsEverythingAndStopsClean runs what `make run` runs, on free ports and a
// fresh state folder: every URL answers, a deal's email reaches the mail page, and stopping
// leaves no process and no port behind.
func TestMakeRunStartsEverythingAndStopsClean(t *testing.T) {
	local := t.TempDir()
	t.Setenv("FOLLOWUP_LOCAL_DIR", local)
	t.Setenv("DATABASE_URL", pgtest.NewDatabase(t))
	ports := map[string]int{}
	for _, name := range []string{"FOLLOWUP_TEMPORAL_PORT", "FOLLOWUP_TEMPORAL_UI_PORT", "FOLLOWUP_SMTP_PORT", "FOLLOWUP_MAIL_UI_PORT", "FOLLOWUP_API_PORT"} {
		ports[name] = freePort(t)
		t.Setenv(name, fmt.Sprint(ports[name]))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut smtptest.LockedBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, &out, &errOut) }()

	deadline := time.Now().Add(8 * time.Minute) // the first run builds the binaries
	for !strings.Contains(out.String(), "followup is running") {
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
		case <-time.After(200 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "no URL block:\n%s\n%s", out.String(), errOut.String())
	}
	api := fmt.Sprintf("http://127.0.0.1:%d", ports["FOLLOWUP_API_PORT"])
	mailUI := fmt.Sprintf("http://127.0.0.1:%d", ports["FOLLOWUP_MAIL_UI_PORT"])
	for _, u := range []string{api + "/healthz", api + "/readyz", mailUI + "/", fmt.Sprintf("http://127.0.0.1:%d/", ports["FOLLOWUP_TEMPORAL_UI_PORT"])} {
		require.Contains(t, out.String(), strings.Split(strings.TrimPrefix(u, "http://"), "/")[0], "the block names %s", u)
		resp, err := http.Get(u)
		require.NoError(t, err, u)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, u)
	}

	// A deal created through the API sends its intro email to the mail page.
	secrets, err := os.ReadFile(filepath.Join(local, "secrets.env"))
	require.NoError(t, err)
	var token string
	for _, line := range strings.Split(string(secrets), "\n") {
		if v, ok := strings.CutPrefix(line, "API_TOKEN="); ok {
			token = v
		}
	}
	req, err := http.NewRequest("POST", api+"/api/deals", strings.NewReader(
		`{"source":"smoke","external_id":"1","owner":{"email":"ana@vendor.example"},"contact":{"email":"bob@prospect.example","first_name":"Bob"}}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Eventually(t, func() bool {
		resp, err := http.Get(mailUI + "/api/messages")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var msgs []map[string]any
		return json.NewDecoder(resp.Body).Decode(&msgs) == nil && len(msgs) == 1
	}, 60*time.Second, 250*time.Millisecond, "the intro email reaches the mail page")

	// The stack's DKIM key was generated into the state folder and handed to the worker and
	// the mail page: the intro email is signed and its signature verifies ("none" would mean
	// the worker does not sign, "fail" that the two were given different keys).
	resp, err = http.Get(mailUI + "/api/messages")
	require.NoError(t, err)
	var msgs []map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&msgs))
	resp.Body.Close()
	require.Equal(t, "pass", msgs[0]["dkim"], "DKIM result of the intro email")
	_, err = os.Stat(filepath.Join(local, "dkim-devstack.pem"))
	require.NoError(t, err)
	for _, secret := range []string{"PRIVATE KEY", token} {
		require.NotContains(t, out.String(), secret, "make run prints no secret")
	}

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(90 * time.Second):
		t.Fatal("run did not stop")
	}
	for name, port := range ports {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			t.Errorf("port %d (%s) still held after stop", port, name)
		}
	}
	ps, err := exec.Command("ps", "-eo", "args").Output()
	require.NoError(t, err)
	require.NotContains(t, string(ps), local, "a process of the stack outlived it")
}
