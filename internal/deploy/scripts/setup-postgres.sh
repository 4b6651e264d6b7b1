#!/bin/sh
# Creates and migrates Temporal's two databases (temporal, temporal_visibility) with
# temporal-sql-tool. Run by the temporal-admin-tools service; adapted from
# temporalio/samples-server compose/scripts/setup-postgres.sh. Safe to rerun: `create` of an
# existing database fails harmlessly and update-schema applies only what is missing.
set -eu

: "${POSTGRES_SEEDS:?ERROR: POSTGRES_SEEDS environment variable is required}"
: "${POSTGRES_USER:?ERROR: POSTGRES_USER environment variable is required}"
DB_PORT=${DB_PORT:-5432}

echo 'Waiting for the PostgreSQL port...'
nc -z -w 10 "$POSTGRES_SEEDS" "$DB_PORT"

sql() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$DB_PORT" "$@"
}

for db in temporal temporal_visibility; do
  case $db in
    temporal) dir=/etc/temporal/schema/postgresql/v12/temporal/versioned ;;
    temporal_visibility) dir=/etc/temporal/schema/postgresql/v12/visibility/versioned ;;
  esac
  # Fails when the database exists (a rerun on a kept volume); setup-schema below fails
  # loudly if the server is really unreachable.
  sql --db "$db" create || echo "create $db failed; assuming it already exists"
  sql --db "$db" setup-schema -v 0.0
  sql --db "$db" update-schema -d "$dir"
done

echo 'PostgreSQL schema setup complete'
