// Package deploy holds the support files of the top-level docker-compose.yml (schema setup
// and namespace scripts for the admin-tools container, the Temporal server's dynamic config,
// the PostgreSQL init script that creates the engine's database) and the test that loads
// that compose file with compose-go and checks it, since no Docker engine runs here.
package deploy
