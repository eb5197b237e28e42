#!/usr/bin/env bash
# test.sh: lint, then the whole suite with -race on SQLite and PostgreSQL.
# Starts a throwaway PostgreSQL cluster for the run and stops it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

pgdir=$(mktemp -d /tmp/paddock-pg.XXXXXX)
pgport=55432
cleanup() {
  if [ -f "$pgdir/data/postmaster.pid" ]; then
    su postgres -s /bin/sh -c "$(ls -d /usr/lib/postgresql/*/bin | tail -1)/pg_ctl -D $pgdir/data -m immediate stop" >/dev/null 2>&1 || true
  fi
  rm -rf "$pgdir"
}
trap cleanup EXIT

pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
chown postgres "$pgdir"
su postgres -s /bin/sh -c "$pgbin/initdb -D $pgdir/data -A trust -U postgres >/dev/null"
su postgres -s /bin/sh -c "$pgbin/pg_ctl -D $pgdir/data -o '-p $pgport -k $pgdir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200' -l $pgdir/log -w start >/dev/null"
export PADDOCK_TEST_POSTGRES_DSN="postgres://postgres@127.0.0.1:$pgport/postgres?sslmode=disable"

echo "== lint"
make --no-print-directory lint

echo "== go test -race"
# -race needs cgo; the static binaries the tests run are built by TestMain.
CGO_ENABLED=1 go test -race -count=1 -timeout 20m ${TEST_PKGS:-./...}
