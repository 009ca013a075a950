#!/usr/bin/env bash
# Runs a command with SLIPWAY_TEST_DATABASE_URL pointing at a throwaway PostgreSQL cluster:
# initdb into a temp folder, started on a free loopback port (durability off: it is thrown
# away), stopped and removed when the command ends, whatever its outcome.
#   .ci/with-postgres.sh cargo test --workspace
set -euo pipefail

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$pgbin/initdb" ] || { echo "PostgreSQL server binaries not found (run .ci/bootstrap.sh)" >&2; exit 1; }

dir=$(mktemp -d /tmp/slipway-pg.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_owner=()
if [ "$(id -u)" = 0 ]; then
  # initdb and postgres refuse to run as root.
  chown postgres: "$dir"
  as_owner=(runuser -u postgres --)
fi

stop() {
  "${as_owner[@]}" "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT

"${as_owner[@]}" "$pgbin/initdb" --no-sync --auth=trust --username=postgres -D "$dir/data" >/dev/null
"${as_owner[@]}" "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start -o \
  "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null \
  || { cat "$dir/server.log" >&2; exit 1; }
echo "PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (throwaway)"

export SLIPWAY_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
"$@"
