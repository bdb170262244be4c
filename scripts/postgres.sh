#!/usr/bin/env bash
# PostgreSQL from Debian's package, one throwaway cluster on 127.0.0.1.
#   scripts/postgres.sh start|stop|status|url
# PG_PORT (5432) and PG_DATA (.bifrost/postgres-PORT) select the cluster; user and database are "bifrost".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
port=${PG_PORT:-5432}
data=${PG_DATA:-$here/../.bifrost/postgres-$port}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bindir" ] || { echo "postgres: Debian's postgresql package is not installed (apt-get install postgresql)" >&2; exit 1; }

# initdb and postgres refuse to run as root.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start() {
  mkdir -p "$data"
  [ "$(id -u)" = 0 ] && chown postgres "$data"
  if [ ! -f "$data/PG_VERSION" ]; then
    as_pg "$bindir/initdb" -D "$data" -U bifrost --auth=trust -E UTF8 >/dev/null
  fi
  if as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    echo "postgres: already running on 127.0.0.1:$port"; return 0
  fi
  as_pg "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
    -o "-h 127.0.0.1 -p $port -k /tmp -c fsync=off -c synchronous_commit=off -c max_connections=200" start >/dev/null
  as_pg "$bindir/psql" -h 127.0.0.1 -p "$port" -U bifrost -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='bifrost'" | grep -q 1 \
    || as_pg "$bindir/createdb" -h 127.0.0.1 -p "$port" -U bifrost bifrost
  echo "postgres: running on 127.0.0.1:$port"
}

stop() {
  if as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_pg "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    echo "postgres: stopped"
  else
    echo "postgres: not running"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1 && echo "postgres: running" || { echo "postgres: not running"; exit 1; } ;;
  url) echo "postgresql://bifrost@127.0.0.1:$port/bifrost" ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
