package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/smtptest"
)

// The supervisor tests supervise this test binary, run again as a fake child process: with
// DEVSTACK_FAKE_CHILD set, TestMain plays that child instead of running the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("DEVSTACK_FAKE_CHILD"); mode != "" {
		fakeChild(mode)
		return
	}
	os.Exit(m.Run())
}

// fakeChild is a process of the stack: "serve" runs until SIGTERM and exits 0, "stubborn"
// exits 1 on SIGTERM (a stop on purpose must not look like a crash), "crash" exits 3 after
// a tenth of a second.
func fakeChild(mode string) {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	fmt.Printf("fake %s: pid %d\n", mode, os.Getpid())
	switch mode {
	case "serve":
		<-term
		fmt.Println("fake serve: stopping")
		os.Exit(0)
	case "stubborn":
		<-term
		fmt.Println("fake stubborn: refusing to exit cleanly")
		os.Exit(1)
	case "crash":
		time.Sleep(100 * time.Millisecond)
		fmt.Println("fake crash: boom")
		os.Exit(3)
	}
	os.Exit(2)
}

// fastPolicy restarts within tens of milliseconds, so the tests take well under a second.
var fastPolicy = restartPolicy{First: 20 * time.Millisecond, Max: 80 * time.Millisecond, Stable: time.Minute,
	LoopCrashes: 5, LoopWindow: time.Minute}

type supervisorBundle struct {
	sup     *supervisor
	console *smtptest.LockedBuffer
	logs    string
}

func newTestSupervisor(t *testing.T, pol restartPolicy) *supervisorBundle {
	t.Helper()
	logs := t.TempDir()
	console := &smtptest.LockedBuffer{}
	sup := newSupervisor(logs, "logs", console)
	sup.policy = pol
	t.Cleanup(sup.stopAll)
	return &supervisorBundle{sup: sup, console: console, logs: logs}
}

func (b *supervisorBundle) startFake(t *testing.T, name, mode string) int {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	require.NoError(t, b.sup.start(name, exe, []string{"-test.run=^$"}, map[string]string{"DEVSTACK_FAKE_CHILD": mode}))
	pid := b.sup.pid(name)
	require.NotZero(t, pid)
	b.waitLog(t, name, fmt.Sprintf("fake %s: pid %d\n", mode, pid))
	return pid
}

// waitLog waits for text in name's log: the fake child prints its pid once it handles SIGTERM.
func (b *supervisorBundle) waitLog(t *testing.T, name, text string) {
	t.Helper()
	var log []byte
	require.Eventually(t, func() bool {
		log, _ = os.ReadFile(filepath.Join(b.logs, name+".log"))
		return strings.Contains(string(log), text)
	}, 10*time.Second, 5*time.Millisecond, "%q not in the log of %s:\n%s\nconsole:\n%s", text, name, log, b.console.String())
}

// waitConsole waits for a console line matching re and returns its submatches.
func (b *supervisorBundle) waitConsole(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	var m []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if m = rx.FindStringSubmatch(b.console.String()); m != nil {
			return m
		}
		select {
		case err := <-b.sup.failed:
			t.Fatalf("the stack failed: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no console line like %q in:\n%s", re, b.console.String())
		}
	}
}

func alive(pid int) bool {
	// A child that exited but was not yet waited for is a zombie: gone for this purpose.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func TestCrashHistoryBackoff(t *testing.T) {
	pol := restartPolicy{First: time.Second, Max: 30 * time.Second, Stable: 30 * time.Second, LoopCrashes: 5, LoopWindow: time.Minute}
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

	t.Run("doubles after each quick crash, then a crash loop", func(t *testing.T) {
		var h crashHistory
		var waits []time.Duration
		at := t0
		for i := 0; i < 4; i++ {
			w, loop := h.record(pol, at, 2*time.Second)
			require.False(t, loop, "crash %d", i+1)
			waits = append(waits, w)
			at = at.Add(w + 2*time.Second)
		}
		require.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}, waits)
		_, loop := h.record(pol, at, 2*time.Second)
		require.True(t, loop, "the fifth crash within a minute is a crash loop (at %s)", at.Sub(t0))
	})

	t.Run("capped", func(t *testing.T) {
		pol := pol
		pol.LoopCrashes = 100
		var h crashHistory
		var waits []time.Duration
		for i := 0; i < 7; i++ {
			w, _ := h.record(pol, t0.Add(time.Duration(i)*time.Second), time.Second)
			waits = append(waits, w)
		}
		require.Equal(t, []time.Duration{1, 2, 4, 8, 16, 30, 30}, scale(waits, time.Second))
	})

	t.Run("reset after staying up", func(t *testing.T) {
		var h crashHistory
		w, _ := h.record(pol, t0, time.Second)
		require.Equal(t, time.Second, w)
		w, _ = h.record(pol, t0.Add(3*time.Second), time.Second)
		require.Equal(t, 2*time.Second, w)
		w, _ = h.record(pol, t0.Add(40*time.Second), 35*time.Second)
		require.Equal(t, time.Second, w, "up 35s: the backoff starts again")
	})

	t.Run("crashes spread out are no loop", func(t *testing.T) {
		var h crashHistory
		for i := 0; i < 20; i++ {
			_, loop := h.record(pol, t0.Add(time.Duration(i)*20*time.Second), 19*time.Second)
			require.False(t, loop, "crash %d, 20s apart", i+1)
		}
	})
}

func scale(ds []time.Duration, unit time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d / unit
	}
	return out
}

// TestSupervisorRestartsAKilledProcess: kill -9 a process of the running stack; it is
// started again after the backoff, the console says so with the new pid, and stopping
// afterwards leaves nothing.
func TestSupervisorRestartsAKilledProcess(t *testing.T) {
	b := newTestSupervisor(t, fastPolicy)
	other := b.startFake(t, "temporal", "serve")
	first := b.startFake(t, "worker", "serve")
	b.sup.heal()

	require.NoError(t, syscall.Kill(first, syscall.SIGKILL))
	b.waitConsole(t, `devstack: worker exited \(signal: killed\); restarting in 20ms \(restart 1, log logs/worker\.log\)\n`)
	m := b.waitConsole(t, `devstack: worker restarted \(pid (\d+)\)\n`)
	second, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	b.waitLog(t, "worker", fmt.Sprintf("fake serve: pid %d\n", second))
	require.NotEqual(t, first, second)
	require.Equal(t, second, b.sup.pid("worker"))
	require.True(t, alive(second), "the restarted worker runs")
	require.False(t, alive(first))
	require.True(t, alive(other), "the other process was left alone")

	// Killed again soon after: the wait doubles.
	require.NoError(t, syscall.Kill(second, syscall.SIGKILL))
	b.waitConsole(t, `devstack: worker exited \(signal: killed\); restarting in 40ms \(restart 2, log logs/worker\.log\)\n`)
	m = b.waitConsole(t, `devstack: worker restarted \(pid (\d+)\)\n(?s:.*)devstack: worker restarted \(pid (\d+)\)\n`)
	third, err := strconv.Atoi(m[2])
	require.NoError(t, err)
	b.waitLog(t, "worker", fmt.Sprintf("fake serve: pid %d\n", third))

	log, err := os.ReadFile(filepath.Join(b.logs, "worker.log"))
	require.NoError(t, err)
	require.Contains(t, string(log), "==== worker restarted (restart 2)")

	b.sup.stopAll()
	require.False(t, alive(third))
	require.False(t, alive(other))
	select {
	case err := <-b.sup.failed:
		t.Fatalf("the stack failed: %v", err)
	default:
	}
	require.Equal(t, 2, strings.Count(b.console.String(), "restarted"), b.console.String())
}

// TestSupervisorCrashLoopStopsTheStack: a process that keeps crashing is restarted four
// times, then the supervisor gives up with an error naming it and quoting its log.
func TestSupervisorCrashLoopStopsTheStack(t *testing.T) {
	b := newTestSupervisor(t, fastPolicy)
	b.startFake(t, "worker", "crash")
	b.sup.heal()

	var err error
	select {
	case err = <-b.sup.failed:
	case <-time.After(30 * time.Second):
		t.Fatalf("no crash loop reported; console:\n%s", b.console.String())
	}
	require.ErrorContains(t, err, "worker crashed 5 times within 1m0s (last: exit status 3); stopping the stack; see logs/worker.log, which ends:")
	require.ErrorContains(t, err, "fake crash: boom")
	for i, wait := range []string{"20ms", "40ms", "80ms", "80ms"} {
		require.Contains(t, b.console.String(), fmt.Sprintf("devstack: worker exited (exit status 3); restarting in %s (restart %d, log logs/worker.log)", wait, i+1))
	}
	require.NotContains(t, b.console.String(), "restart 5")
	b.sup.stopAll() // returns: nothing left to stop
}

// TestSupervisorStartupExitIsNoRestart: before the stack is up (heal), a process that exits
// fails the start at once.
func TestSupervisorStartupExitIsNoRestart(t *testing.T) {
	b := newTestSupervisor(t, fastPolicy)
	b.startFake(t, "temporal", "crash")
	select {
	case err := <-b.sup.failed:
		require.ErrorContains(t, err, "temporal exited (exit status 3); see logs/temporal.log, which ends:")
		require.ErrorContains(t, err, "fake crash: boom")
	case <-time.After(30 * time.Second):
		t.Fatal("the exit was not reported")
	}
	require.NotContains(t, b.console.String(), "restart")
}

// TestSupervisorStopIsNoRestart: a process stopped on purpose is not restarted, even when it
// exits with an error on SIGTERM, and a stop during a backoff cancels the restart.
func TestSupervisorStopIsNoRestart(t *testing.T) {
	t.Run("exit status on SIGTERM", func(t *testing.T) {
		b := newTestSupervisor(t, fastPolicy)
		pids := []int{b.startFake(t, "temporal", "serve"), b.startFake(t, "worker", "stubborn"), b.startFake(t, "starter", "stubborn")}
		b.sup.heal()
		b.sup.stopAll()
		for _, pid := range pids {
			require.False(t, alive(pid), "pid %d", pid)
		}
		time.Sleep(100 * time.Millisecond) // longer than any backoff of fastPolicy
		require.Empty(t, b.console.String())
		log, err := os.ReadFile(filepath.Join(b.logs, "worker.log"))
		require.NoError(t, err)
		require.Contains(t, string(log), "refusing to exit cleanly")
	})

	t.Run("during the backoff", func(t *testing.T) {
		slow := fastPolicy
		slow.First, slow.Max = 10*time.Second, 10*time.Second
		b := newTestSupervisor(t, slow)
		pid := b.startFake(t, "worker", "serve")
		b.sup.heal()
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		b.waitConsole(t, `worker exited \(signal: killed\); restarting in 10s`)
		start := time.Now()
		b.sup.stopAll()
		require.Less(t, time.Since(start), 2*time.Second, "stopAll waits for no backoff")
		require.NotContains(t, b.console.String(), "restarted")
		require.Equal(t, pid, b.sup.pid("worker"), "no new worker was started")
	})
}

// TestSupervisorStopsInReverseOrder: the newest process is stopped first (the API and the
// worker before Temporal), each one after the previous has exited.
func TestSupervisorStopsInReverseOrder(t *testing.T) {
	b := newTestSupervisor(t, fastPolicy)
	names := []string{"temporal", "mailsink", "worker", "starter"}
	for _, n := range names {
		b.startFake(t, n, "serve")
	}
	b.sup.stopAll()
	var stoppedAt []time.Time
	for _, n := range names {
		st, err := os.Stat(filepath.Join(b.logs, n+".log"))
		require.NoError(t, err)
		log, err := os.ReadFile(filepath.Join(b.logs, n+".log"))
		require.NoError(t, err)
		require.Contains(t, string(log), "fake serve: stopping", n)
		stoppedAt = append(stoppedAt, st.ModTime())
	}
	for i := 1; i < len(names); i++ {
		require.False(t, stoppedAt[i].After(stoppedAt[i-1]), "%s stopped after %s", names[i], names[i-1])
	}
}
