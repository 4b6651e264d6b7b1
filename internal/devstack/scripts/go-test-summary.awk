# Summarises a `go test -v` log: packages, wall time, and the tests passed, failed and
# skipped (subtests included). Variables: status (go test's exit status), elapsed (seconds),
# logfile (where the log ends up). Used by the Makefile's test-go and test-unit.
/^[[:space:]]*--- PASS: / { pass++ }
/^[[:space:]]*--- FAIL: / { fail++ }
/^[[:space:]]*--- SKIP: / { skip++ }
/^ok[[:space:]]/                { pk_ok++ }
/^FAIL[[:space:]]+[^[:space:]]/ { pk_fail++ }
/^\?[[:space:]]/                { pk_none++ }
END {
	printf "packages: %d with tests (%d ok, %d failed), %d without test files; wall time %dm%02ds; log %s\n",
		pk_ok + pk_fail, pk_ok, pk_fail, pk_none, elapsed / 60, elapsed % 60, logfile
	if (status != 0 && fail == 0 && pk_fail == 0)
		print "note: go test failed before any test or package reported FAIL (see output above)"
	printf "go test: %d passed, %d failed, %d skipped\n", pass, fail, skip
}
