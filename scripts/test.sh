#!/usr/bin/env bash
# The whole test suite, on SQLite and on PostgreSQL. Starts a throwaway PostgreSQL
# server unless FIRMBOT_TEST_PG already names one; stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${VENV:-.venv}/bin
if [ -z "${FIRMBOT_TEST_PG:-}" ]; then
  pgdir=$(mktemp -d /tmp/firmbot-pg.XXXXXX)
  trap 'scripts/pg.sh stop "$pgdir"' EXIT
  if out=$(scripts/pg.sh start "$pgdir"); then
    eval "$out"
  else
    echo "test.sh: no PostgreSQL server available; PostgreSQL tests will be skipped" >&2
  fi
fi
"$bin/python" -m pytest "$@"
