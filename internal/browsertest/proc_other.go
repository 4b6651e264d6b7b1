//go:build !linux

package browsertest

import (
	"os/exec"
	"time"
)

func setProcessGroup(*exec.Cmd) {}

func killProcessGroup(int, time.Duration) bool { return true }

func groupHasMembers(int) bool { return false }
