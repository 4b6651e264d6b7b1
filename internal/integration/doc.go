// Package integration holds the end-to-end tests: a real Temporal dev server (the pinned
// Temporal CLI), the real worker, PostgreSQL and an in-process SMTP server. Run with
// `make test`, which provides PostgreSQL and the CLI, or set DATABASE_URL and TEMPORAL_CLI.
// `go test ./internal/integration -update` rewrites the replay fixtures in
// workflows/testdata/replay from the histories these tests produce.
package integration
