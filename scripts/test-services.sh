#!/usr/bin/env bash
# Installs and starts, idempotently, every server the tests talk to. Safe to run again and again:
# what is already installed or running is left alone. Used by `npm test` (pretest) and so by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${COFFRE_TEST_STATE:-/tmp/coffre-test-services}
mkdir -p "$STATE"
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH 2>/dev/null || echo /root/go)/bin"

say() { printf '[services] %s\n' "$*"; }

wait_port() { # host port name
  for _ in $(seq 1 120); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  say "$3 did not open $1:$2 in time"; return 1
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# PostgreSQL and MariaDB are started by the machine before each session and before CI; restart them if down.
if ! port_open 127.0.0.1 5432; then
  say "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
  wait_port 127.0.0.1 5432 PostgreSQL
fi
if ! port_open 127.0.0.1 3306; then
  say "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  wait_port 127.0.0.1 3306 MariaDB
fi

# The sqlite3 CLI: the SQL corpus test loads SQLite scripts with it, as a user would.
if ! command -v sqlite3 >/dev/null 2>&1; then
  say "installing sqlite3"
  { apt-get update -qq && apt-get install -y -qq sqlite3; } >/dev/null || say "could not install sqlite3"
fi

# FerretDB (MongoDB wire protocol) with its SQLite handler, from the Go module proxy.
FERRET_VERSION=v1.24.2
if ! command -v ferretdb >/dev/null 2>&1 || ! ferretdb --version >/dev/null 2>&1; then
  # `go install` alone builds a binary that panics: the module lacks build/version/version.txt, which
  # FerretDB's own build generates. Build from a writable copy of the module with that file written.
  say "installing FerretDB $FERRET_VERSION from the Go module proxy"
  src=$(go mod download -json "github.com/FerretDB/FerretDB@$FERRET_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  build="$STATE/ferretdb-src"
  rm -rf "$build"; cp -r "$src" "$build"; chmod -R u+w "$build"
  echo "$FERRET_VERSION" >"$build/build/version/version.txt"
  (cd "$build" && go build -o "$(go env GOPATH)/bin/ferretdb" ./cmd/ferretdb)
  rm -rf "$build"
fi
if ! port_open 127.0.0.1 27017; then
  say "starting FerretDB on 127.0.0.1:27017"
  mkdir -p "$STATE/ferretdb"
  nohup ferretdb --handler=sqlite --sqlite-url="file:$STATE/ferretdb/" --listen-addr=127.0.0.1:27017 \
    --telemetry=disable --log-level=warn >"$STATE/ferretdb.log" 2>&1 &
  wait_port 127.0.0.1 27017 FerretDB
fi
# mongo-tools (mongodump/mongorestore) for the cross-check in test/mongodb.test.ts: the Go module proxy
# answers 403 for github.com/mongodb/mongo-tools at every version and no Debian package ships them, so
# they cannot be installed here; that test runs only where both binaries are already on PATH.

# The age CLI (Debian package `age`): the interop tests of the encryption stage decrypt coffre's artifacts
# with it and restore files it encrypted.
if ! command -v age >/dev/null 2>&1 || ! command -v age-keygen >/dev/null 2>&1; then
  say "installing age"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq age; else sudo apt-get update -qq && sudo apt-get install -y -qq age; fi
fi

# Chromium (Debian package `chromium`): the dashboard's browser tests drive it through playwright-core,
# which downloads no browser of its own.
if ! command -v chromium >/dev/null 2>&1; then
  say "installing chromium"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi
fi

# The openssl CLI: the notification tests make the SMTP server's self-signed certificate with it.
if ! command -v openssl >/dev/null 2>&1; then
  say "installing openssl"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq openssl; else sudo apt-get update -qq && sudo apt-get install -y -qq openssl; fi
fi

# Cloud storage protocol servers (azurite, fake-gcs-server, SeaweedFS S3).
bash scripts/storage-servers.sh
say "ready"
