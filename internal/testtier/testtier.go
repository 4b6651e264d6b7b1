// Package testtier says which tier of the test suite runs, so that the helpers that reach
// PostgreSQL (internal/pgtest), Temporal (internal/temporaltest) and Chromium
// (internal/browsertest) know whether a missing dependency is a failure or a skip.
//
// `make test` (what CI runs) leaves FOLLOWUP_TEST_TIER unset: every test runs, and a test
// whose dependency is missing fails loudly. `make test-unit` sets FOLLOWUP_TEST_TIER=unit:
// every test that needs one of the three is skipped, saying which, before it touches it.
package testtier

import (
	"fmt"
	"os"
	"testing"
)

// EnvVar names the variable that selects the tier.
const EnvVar = "FOLLOWUP_TEST_TIER"

// UnitValue is EnvVar's value in the unit tier.
const UnitValue = "unit"

// Unit reports whether the unit tier runs: nothing may reach PostgreSQL, Temporal or a
// browser. It panics on a value it does not know, so a typo never passes for a tier.
func Unit() bool {
	switch v := os.Getenv(EnvVar); v {
	case "":
		return false
	case UnitValue:
		return true
	default:
		panic(fmt.Sprintf("%s=%q: want %q or unset", EnvVar, v, UnitValue))
	}
}

// Needs skips t in the unit tier, naming dep (PostgreSQL, Temporal, Chromium); in every
// other tier it does nothing, and the caller goes on to reach dep (failing when it is missing).
func Needs(t testing.TB, dep string) {
	t.Helper()
	if Unit() {
		t.Skipf("needs %s: skipped in the unit tier (%s=%s, make test-unit); make test runs it", dep, EnvVar, UnitValue)
	}
}
