//go:build linux

package browsertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// setProcessGroup puts Chromium in a process group of its own, so that its helpers
// (zygote, renderers) can be killed with it, and kills it if the test binary dies.
func setProcessGroup(c *exec.Cmd) {
	if c.SysProcAttr == nil {
		c.SysProcAttr = &syscall.SysProcAttr{}
	}
	c.SysProcAttr.Setpgid = true
	c.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

// killProcessGroup kills what is left of the browser's process group, the group whose id is
// the browser's pid. It signals only while some process is still in that group: while it
// has members the kernel does not hand its id to another process.
// It then waits, up to wait, for the group to be gone (killed helpers are reaped by init).
func killProcessGroup(pid int, wait time.Duration) (gone bool) {
	if pid <= 0 || !groupHasMembers(pid) {
		return true
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if !groupHasMembers(pid) {
			return true
		}
	}
	return !groupHasMembers(pid)
}

func groupHasMembers(pgid int) bool {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) >= 3 {
			if g, err := strconv.Atoi(f[2]); err == nil && g == pgid {
				return true
			}
		}
	}
	return false
}
