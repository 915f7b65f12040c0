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
# On several workers (pytest-xdist): the tests mostly wait on the emulator, the databases and
# child processes, so more workers than cores pays. FIRMBOT_TEST_WORKERS=N changes the number;
# 0, or any -n/--numprocesses/-p no:xdist in the arguments, runs the tests in this process.
workers=(-n "${FIRMBOT_TEST_WORKERS:-4}")
for arg in "$@"; do
  case "$arg" in -n | -n* | --numprocesses* | no:xdist) workers=() ;; esac
done
[ "${FIRMBOT_TEST_WORKERS:-}" = 0 ] && workers=()
"$bin/python" -m pytest "${workers[@]}" "$@"
