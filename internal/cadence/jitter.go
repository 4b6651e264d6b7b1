package cadence

import (
	"hash/fnv"
	"time"
)

// Jitter returns a deterministic offset in [0, max) for key (say, a ledger key), so sends
// planned for the same instant spread out the same way on every replay and every machine.
// It is FNV-1a (64 bit) of the key modulo max, in whole seconds when max is at least a second
// (nanoseconds otherwise). A non-positive max gives 0.
//
// The planner adds it to an email's slot and keeps the result only when it is still inside
// the window, so jitter never moves an email to another day.
func Jitter(key string, max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	sum := h.Sum64()
	if max >= time.Second {
		return time.Duration(sum%uint64(max/time.Second)) * time.Second
	}
	return time.Duration(sum % uint64(max))
}
