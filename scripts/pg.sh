#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL cluster on 127.0.0.1 for the tests.
#   eval "$(scripts/pg.sh start DIR)"   -> exports FIRMBOT_TEST_PG
#   scripts/pg.sh stop DIR
set -euo pipefail
action=${1:?start|stop}
dir=${2:?directory}
pgbin=${PGBIN:-}
if [ -z "$pgbin" ]; then
  for candidate in /usr/lib/postgresql/*/bin; do
    [ -x "$candidate/initdb" ] && pgbin=$candidate
  done
fi
if [ -z "$pgbin" ] && command -v initdb >/dev/null 2>&1; then
  pgbin=$(dirname "$(command -v initdb)")
fi
[ -n "$pgbin" ] || { echo "scripts/pg.sh: PostgreSQL server binaries not found" >&2; exit 3; }

# initdb refuses to run as root; use the postgres account then.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$action" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$pgbin/initdb" -D "$dir/data" -A trust -U postgres --no-sync >/dev/null
    as_owner "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
      start >/dev/null
    echo "export FIRMBOT_TEST_PG=postgresql+asyncpg://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_owner "$pgbin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
