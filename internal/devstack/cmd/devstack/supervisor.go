package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// supervisor starts the stack's processes, each in its own process group with its log in
// .local/logs, restarts one that exits on its own, and stops them in reverse order: no
// orphans, no ports held.
//
// Until heal is called (the stack is up), a process that exits fails the start: that is a
// broken setup, and retrying it would only hide the message. After, a restartable process
// that exits is started again after a backoff, and the console says so; the stack stops only
// on a crash loop (the error on failed) or when stopAll is called.
type supervisor struct {
	logs    string // directory of the log files
	shown   string // logs as the console names it (.local/logs)
	console io.Writer
	policy  restartPolicy

	mu       sync.Mutex
	procs    []*proc
	healing  bool
	stopping bool          // set once by stopAll: from then on nothing is started
	stopped  chan struct{} // closed with stopping, to cut a backoff short
	failed   chan error    // the first process that ended the stack
	sayMu    sync.Mutex
}

// restartPolicy is how the supervisor restarts a process that exited on its own.
type restartPolicy struct {
	// First is the wait before the first restart; each crash soon after a restart doubles
	// it, up to Max.
	First, Max time.Duration
	// Stable is how long a process must stay up for its next crash to count as a first one
	// again (wait First).
	Stable time.Duration
	// LoopCrashes crashes within LoopWindow are a crash loop, which stops the stack.
	LoopCrashes int
	LoopWindow  time.Duration
}

// defaultRestartPolicy waits 1s, 2s, 4s, 8s… (at most 30s) between restarts, and stops the
// stack when a process crashes 5 times within a minute.
var defaultRestartPolicy = restartPolicy{First: time.Second, Max: 30 * time.Second, Stable: 30 * time.Second,
	LoopCrashes: 5, LoopWindow: time.Minute}

// crashHistory is one process's crashes, for its restart policy.
type crashHistory struct {
	times  []time.Time // within the policy's LoopWindow
	streak int         // crashes since the process last stayed up Stable
}

// record notes a crash at now of a process that had been up for upFor. It returns how long
// to wait before restarting it, or loop when this crash makes a crash loop.
func (h *crashHistory) record(pol restartPolicy, now time.Time, upFor time.Duration) (wait time.Duration, loop bool) {
	kept := h.times[:0]
	for _, t := range h.times {
		if now.Sub(t) < pol.LoopWindow {
			kept = append(kept, t)
		}
	}
	h.times = append(kept, now)
	if len(h.times) >= pol.LoopCrashes {
		return 0, true
	}
	if upFor >= pol.Stable {
		h.streak = 0
	}
	wait = pol.First
	for i := 0; i < h.streak && wait < pol.Max; i++ {
		wait *= 2
	}
	h.streak++
	return min(wait, pol.Max), false
}

type proc struct {
	name string
	path string
	args []string
	env  map[string]string

	// Guarded by supervisor.mu.
	cur      *incarnation
	restarts int
	crashes  crashHistory

	done chan struct{} // closed when the process is over for good (watch returned)
}

// incarnation is one run of a proc.
type incarnation struct {
	cmd     *exec.Cmd
	log     *os.File
	started time.Time
	exited  chan struct{} // closed once cmd.Wait returned
}

func newSupervisor(logs, shown string, console io.Writer) *supervisor {
	return &supervisor{logs: logs, shown: shown, console: console, policy: defaultRestartPolicy,
		stopped: make(chan struct{}), failed: make(chan error, 1)}
}

// start starts a process, which is restarted when it exits after heal.
func (s *supervisor) start(name, path string, args []string, env map[string]string) error {
	p := &proc{name: name, path: path, args: args, env: env, done: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return fmt.Errorf("start %s: the stack is stopping", name)
	}
	inc, err := s.spawn(p, "started")
	if err != nil {
		return err
	}
	p.cur = inc
	s.procs = append(s.procs, p)
	go s.watch(p, inc)
	return nil
}

// heal turns restarts on: the stack is up.
func (s *supervisor) heal() {
	s.mu.Lock()
	s.healing = true
	s.mu.Unlock()
}

// spawn starts one incarnation of p, its output appended to p's log. Called with s.mu held,
// so stopAll sees every process it must stop.
func (s *supervisor) spawn(p *proc, what string) (*incarnation, error) {
	logFile, err := os.OpenFile(s.logPath(p.name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logFile, "\n==== %s %s %s ====\n", p.name, what, time.Now().Format(time.RFC3339))
	cmd := exec.Command(p.path, p.args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if p.env != nil {
		cmd.Env = environ(p.env)
	}
	// Own process group: the terminal's Ctrl-C reaches only devstack, which stops the
	// children in order. Pdeathsig kills a child if devstack itself is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", p.name, err)
	}
	return &incarnation{cmd: cmd, log: logFile, started: time.Now(), exited: make(chan struct{})}, nil
}

// watch waits for each incarnation of p and restarts it as the policy says, until the stack
// stops or p cannot go on.
func (s *supervisor) watch(p *proc, inc *incarnation) {
	defer close(p.done)
	for {
		_ = inc.cmd.Wait()
		_ = inc.log.Close()
		// Whatever the process left in its group (it was killed, say) goes with it.
		_ = syscall.Kill(-inc.cmd.Process.Pid, syscall.SIGKILL)
		close(inc.exited)
		status := inc.cmd.ProcessState.String()
		now := time.Now()

		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			return
		}
		if !s.healing {
			s.mu.Unlock()
			s.fail(fmt.Errorf("%s exited (%s)%s", p.name, status, s.logTail(p.name)))
			return
		}
		wait, loop := p.crashes.record(s.policy, now, now.Sub(inc.started))
		if loop {
			s.mu.Unlock()
			s.fail(fmt.Errorf("%s crashed %d times within %s (last: %s); stopping the stack%s",
				p.name, s.policy.LoopCrashes, s.policy.LoopWindow, status, s.logTail(p.name)))
			return
		}
		p.restarts++
		n := p.restarts
		s.mu.Unlock()

		s.say("%s exited (%s); restarting in %s (restart %d, log %s)", p.name, status, wait, n, s.shownLog(p.name))
		select {
		case <-s.stopped:
			return
		case <-time.After(wait):
		}
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			return
		}
		next, err := s.spawn(p, fmt.Sprintf("restarted (restart %d)", n))
		if err != nil {
			s.mu.Unlock()
			s.fail(fmt.Errorf("restart %s: %w", p.name, err))
			return
		}
		p.cur, inc = next, next
		s.mu.Unlock()
		s.say("%s restarted (pid %d)", p.name, inc.cmd.Process.Pid)
	}
}

// fail reports the first error that ends the stack; later ones are left out.
func (s *supervisor) fail(err error) {
	select {
	case s.failed <- err:
	default:
	}
}

// pid is the process id of name's current incarnation (0 if there is none).
func (s *supervisor) pid(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		if p.name == name && p.cur != nil {
			return p.cur.cmd.Process.Pid
		}
	}
	return 0
}

// stopAll stops restarting, then sends SIGTERM to each process group, newest first, and
// SIGKILL to any that has not exited within its grace period.
func (s *supervisor) stopAll() {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return
	}
	s.stopping = true
	close(s.stopped)
	procs := s.procs
	s.mu.Unlock()
	// No incarnation starts from here on, so each proc's cur is its last.
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		s.mu.Lock()
		inc := p.cur
		s.mu.Unlock()
		select {
		case <-inc.exited:
		default:
			_ = syscall.Kill(-inc.cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-inc.exited:
			case <-time.After(20 * time.Second):
				s.say("%s did not stop in 20s; killing it", p.name)
				_ = syscall.Kill(-inc.cmd.Process.Pid, syscall.SIGKILL)
				<-inc.exited
			}
		}
		<-p.done
	}
}

func (s *supervisor) say(format string, args ...any) {
	s.sayMu.Lock()
	defer s.sayMu.Unlock()
	fmt.Fprintf(s.console, "devstack: "+format+"\n", args...)
}

func (s *supervisor) logPath(name string) string { return filepath.Join(s.logs, name+".log") }

func (s *supervisor) shownLog(name string) string { return filepath.Join(s.shown, name+".log") }

// logTail is "; see <log>, which ends:" and the log's last lines, for an error message.
func (s *supervisor) logTail(name string) string {
	f, err := os.Open(s.logPath(name))
	if err != nil {
		return "; see " + s.shownLog(name)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > 4096 {
		_, _ = f.Seek(st.Size()-4096, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(string(bytes.TrimRight(b, "\n")), "\n")
	lines = lines[max(0, len(lines)-10):]
	return fmt.Sprintf("; see %s, which ends:\n    %s", s.shownLog(name), strings.Join(lines, "\n    "))
}
