package main

import (
	"bytes"
	"context"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/client"
	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestIMAPNeedsPassword(t *testing.T) {
	t.Setenv("MAILSINK_IMAP_PASSWORD", "")
	err := run(context.Background(), []string{"-smtp", "127.0.0.1:0", "-http", "127.0.0.1:0", "-imap", "127.0.0.1:0", "-dir", t.TempDir()}, new(bytes.Buffer))
	require.ErrorContains(t, err, "-imap-password")
}

func TestRunServesIMAP(t *testing.T) {
	t.Setenv("MAILSINK_IMAP_PASSWORD", "pw")
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-smtp", "127.0.0.1:0", "-http", "127.0.0.1:0", "-imap", "127.0.0.1:0", "-dir", t.TempDir()}, &out)
	}()
	line := regexp.MustCompile(`(?m)^mailsink: imap (127\.0\.0\.1:\d+)$`)
	require.Eventually(t, func() bool { return regexp.MustCompile(`(?m)^mailsink: http `).MatchString(out.String()) }, 10*time.Second, 20*time.Millisecond)
	m := line.FindStringSubmatch(out.String())
	require.NotNil(t, m, out.String())

	c, err := client.Dial(m[1])
	require.NoError(t, err)
	require.NoError(t, c.Login("ana@vendor.example", "pw"))
	st, err := c.Select("INBOX", true)
	require.NoError(t, err)
	require.Zero(t, st.Messages)
	_ = c.Logout()

	cancel()
	require.NoError(t, <-done)
}

func TestIMAPOff(t *testing.T) {
	t.Setenv("MAILSINK_IMAP_PASSWORD", "")
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-smtp", "127.0.0.1:0", "-http", "127.0.0.1:0", "-imap", "", "-dir", t.TempDir()}, &out)
	}()
	require.Eventually(t, func() bool { return regexp.MustCompile(`(?m)^mailsink: http `).MatchString(out.String()) }, 10*time.Second, 20*time.Millisecond)
	require.NotContains(t, out.String(), "mailsink: imap")
	cancel()
	require.NoError(t, <-done)
}
