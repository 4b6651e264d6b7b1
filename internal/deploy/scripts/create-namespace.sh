#!/bin/sh
# Creates the Temporal namespace and the engine's search attributes, idempotently: a rerun
# (every `docker compose up`) finds them and succeeds. Run by the temporal-create-namespace
# service; adapted from temporalio/samples-server compose/scripts/create-namespace.sh.
set -eu

NAMESPACE=${DEFAULT_NAMESPACE:-default}
TEMPORAL_ADDRESS=${TEMPORAL_ADDRESS:-temporal:7233}
MAX_ATTEMPTS=${TEMPORAL_HEALTH_CHECK_MAX_ATTEMPTS:-30}
SLEEP_SECONDS=${TEMPORAL_HEALTH_CHECK_SLEEP_SECONDS:-5}

# The search attributes the deal workflow sets (workflows/api.go; ARCHITECTURE.md, "The deal
# workflow"). Keep in step with the --search-attribute flags of the dev server and
# internal/deploy/compose_test.go.
SEARCH_ATTRIBUTES="DealStage=Keyword DealOwner=Keyword CadenceVersion=Int NextActionAt=Datetime"

echo "Waiting for the Temporal server port ($TEMPORAL_ADDRESS)..."
SERVER_HOST=$(echo "$TEMPORAL_ADDRESS" | cut -d: -f1)
SERVER_PORT=$(echo "$TEMPORAL_ADDRESS" | cut -d: -f2)
attempt=1
while ! nc -z -w 10 "$SERVER_HOST" "$SERVER_PORT"; do
  if [ "$attempt" -ge "$MAX_ATTEMPTS" ]; then
    echo "Temporal server port did not open after $MAX_ATTEMPTS attempts" >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep "$SLEEP_SECONDS"
done

echo 'Waiting for the Temporal server to be healthy...'
attempt=1
until temporal operator cluster health --address "$TEMPORAL_ADDRESS"; do
  if [ "$attempt" -ge "$MAX_ATTEMPTS" ]; then
    echo "Server did not become healthy after $MAX_ATTEMPTS attempts" >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep "$SLEEP_SECONDS"
done

echo "Creating namespace '$NAMESPACE' if missing..."
attempt=1
while :; do
  if temporal operator namespace describe -n "$NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
    echo "Namespace '$NAMESPACE' exists"
    break
  fi
  if temporal operator namespace create -n "$NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
    echo "Namespace '$NAMESPACE' created"
    break
  fi
  if [ "$attempt" -ge "$MAX_ATTEMPTS" ]; then
    echo "Failed to create namespace '$NAMESPACE' after $MAX_ATTEMPTS attempts" >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep "$SLEEP_SECONDS"
done

# create_search_attribute NAME TYPE: creates it, or accepts it when it already exists.
# The CLI lists the namespace's attributes first and refuses one that exists with another
# type ("already exists and has different type"): that stays an error, never retried.
create_search_attribute() {
  name=$1
  type=$2
  attempt=1
  while :; do
    if out=$(temporal operator search-attribute create --namespace "$NAMESPACE" \
      --address "$TEMPORAL_ADDRESS" --name "$name" --type "$type" 2>&1); then
      echo "Search attribute $name ($type) created"
      return 0
    fi
    case $out in
      *"different type"*)
        echo "$out" >&2
        return 1
        ;;
      *"already exists"*)
        echo "Search attribute $name ($type) already exists"
        return 0
        ;;
    esac
    if [ "$attempt" -ge "$MAX_ATTEMPTS" ]; then
      echo "Failed to create search attribute $name after $MAX_ATTEMPTS attempts: $out" >&2
      return 1
    fi
    # A namespace created a moment ago may not be known to every service yet.
    attempt=$((attempt + 1))
    sleep "$SLEEP_SECONDS"
  done
}

for sa in $SEARCH_ATTRIBUTES; do
  create_search_attribute "${sa%%=*}" "${sa#*=}"
done

echo "Namespace '$NAMESPACE' and search attributes ready"
