package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// supervisor starts the stack's processes, each in its own process group with its log in
// .local/logs, and stops them in reverse order: no orphans, no ports held.
type supervisor struct {
	logs   string
	stderr io.Writer
	procs  []*proc
	exited chan string
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func (s *supervisor) start(name, path string, args []string, env map[string]string) error {
	if s.exited == nil {
		s.exited = make(chan string, 8)
	}
	logFile, err := os.OpenFile(filepath.Join(s.logs, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logFile, "\n==== %s started %s ====\n", name, time.Now().Format(time.RFC3339))
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if env != nil {
		cmd.Env = environ(env)
	}
	// Own process group: the terminal's Ctrl-C reaches only devstack, which stops the
	// children in order. Pdeathsig kills a child if devstack itself is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	s.procs = append(s.procs, p)
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
		select {
		case s.exited <- name:
		default:
		}
	}()
	return nil
}

// stopAll sends SIGTERM to each process group, newest first, and SIGKILL to any that has
// not exited within its grace period.
func (s *supervisor) stopAll() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		select {
		case <-p.done:
			continue
		default:
		}
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			fmt.Fprintf(s.stderr, "devstack: %s did not stop in 20s; killing it\n", p.name)
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
}
