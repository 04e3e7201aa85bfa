#!/usr/bin/env bash
# Native-server lane: broadcasts and pg_net following commits under concurrency
# (tests/local/native-commit-order.test.ts), one tenant's ingests at once keeping exact
# counters (tests/integration/ingest-concurrency.test.ts), slack-events' group commit failing
# a message stuck behind a lock alone and in time (tests/integration/ingest-lock-budget.test.ts),
# a large tenant's search keeping the HNSW index on every call of a session
# (tests/integration/search-plan.test.ts), the channel and agent-worker integration tests once
# more, and the wake-up race (tests/integration/wake-ups.test.ts: a worker beginning waits for
# an enqueue in flight, which PGlite cannot show), with the local stack on a real PostgreSQL 15
# instead of PGlite (KONSTRUCT_DB=native: each test file's stack starts its own throwaway
# cluster, see local/postgres.ts). Run after .ci/postgres15.sh has installed PostgreSQL 15 with
# pgvector and pgmq.
#
# Usage (after `npm ci`):   bash .ci/native.sh
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
KONSTRUCT_DB=native npx vitest run \
  tests/local/native-commit-order.test.ts \
  tests/integration/ingest-concurrency.test.ts \
  tests/integration/ingest-lock-budget.test.ts \
  tests/integration/search-plan.test.ts \
  tests/integration/channels-*.test.ts \
  tests/integration/agent-worker*.test.ts \
  tests/integration/wake-ups.test.ts
echo "native: channel and worker integration tests on PostgreSQL 15 passed in $((SECONDS - started))s"
