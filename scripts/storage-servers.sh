#!/usr/bin/env bash
# Installs and starts, idempotently, the cloud storage protocol servers the storage tests talk to, all on
# 127.0.0.1 with fixed ports: azurite (Azure Blob), fake-gcs-server (GCS JSON API) and an S3 server.
# What is already installed or listening is left alone. Called from scripts/test-services.sh.
#
# S3 server: SeaweedFS (`weed mini`), built from the Go module proxy, because it implements multipart
# upload with S3 additional checksums (SHA-256 composite, kept and returned by HeadObject), which coffre
# verifies. s3rver (npm) is the fallback when SeaweedFS cannot be built: multipart with MD5 ETags only.
# Set COFFRE_S3_SERVER=s3rver to force it.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${COFFRE_TEST_STATE:-/tmp/coffre-test-services}
mkdir -p "$STATE"
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH 2>/dev/null || echo /root/go)/bin"
GOBIN_DIR="$(go env GOPATH 2>/dev/null || echo /root/go)/bin"

AZURITE_PORT=${COFFRE_AZURITE_PORT:-10000}
GCS_PORT=${COFFRE_GCS_PORT:-4443}
S3_PORT=${COFFRE_S3_PORT:-8333}
FAKE_GCS_VERSION=v1.56.1
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6

say() { printf '[storage] %s\n' "$*"; }
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
wait_port() { # host port name log
  for _ in $(seq 1 240); do
    if port_open "$1" "$2"; then return 0; fi
    sleep 0.5
  done
  say "$3 did not open $1:$2 in time; its log ($4):"; tail -20 "$4" >&2 || true; return 1
}

# Azure Blob: azurite, blob service only, data in a scratch folder.
if ! port_open 127.0.0.1 "$AZURITE_PORT"; then
  say "starting azurite on 127.0.0.1:$AZURITE_PORT"
  mkdir -p "$STATE/azurite"
  nohup node_modules/.bin/azurite-blob --blobHost 127.0.0.1 --blobPort "$AZURITE_PORT" --location "$STATE/azurite" \
    --skipApiVersionCheck --disableTelemetry --loose --silent >"$STATE/azurite.log" 2>&1 &
  wait_port 127.0.0.1 "$AZURITE_PORT" azurite "$STATE/azurite.log"
fi

# GCS: fake-gcs-server from the Go module proxy, in memory.
if ! command -v fake-gcs-server >/dev/null 2>&1; then
  say "installing fake-gcs-server $FAKE_GCS_VERSION from the Go module proxy"
  go install "github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION"
fi
if ! port_open 127.0.0.1 "$GCS_PORT"; then
  say "starting fake-gcs-server on 127.0.0.1:$GCS_PORT"
  nohup fake-gcs-server -scheme http -host 127.0.0.1 -port "$GCS_PORT" -backend memory \
    -external-url "http://127.0.0.1:$GCS_PORT" -public-host "127.0.0.1:$GCS_PORT" -log-level warn >"$STATE/fake-gcs.log" 2>&1 &
  wait_port 127.0.0.1 "$GCS_PORT" fake-gcs-server "$STATE/fake-gcs.log"
fi

# S3: SeaweedFS, else s3rver.
S3_SERVER=${COFFRE_S3_SERVER:-seaweedfs}
if [ "$S3_SERVER" = seaweedfs ] && ! command -v weed >/dev/null 2>&1; then
  # `go install` refuses the module (its go.mod has replace directives): build from a writable copy.
  say "building SeaweedFS $SEAWEEDFS_VERSION from the Go module proxy (several minutes, once)"
  src=$(go mod download -json "github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  build="$STATE/seaweedfs-src"
  rm -rf "$build"; cp -r "$src" "$build"; chmod -R u+w "$build"
  if (cd "$build" && go build -o "$GOBIN_DIR/weed" ./weed); then
    :
  else
    say "SeaweedFS did not build; falling back to s3rver"
    S3_SERVER=s3rver
  fi
  rm -rf "$build"
fi
echo "$S3_SERVER" >"$STATE/s3-server"
if ! port_open 127.0.0.1 "$S3_PORT"; then
  if [ "$S3_SERVER" = seaweedfs ]; then
    say "starting SeaweedFS (weed mini) with its S3 gateway on 127.0.0.1:$S3_PORT"
    rm -rf "$STATE/seaweedfs"; mkdir -p "$STATE/seaweedfs"
    cat >"$STATE/seaweedfs/s3.json" <<'JSON'
{"identities":[{"name":"coffre","credentials":[{"accessKey":"coffre-test-key","secretKey":"coffre-test-secret"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
    nohup weed mini -dir="$STATE/seaweedfs" -ip=127.0.0.1 -ip.bind=127.0.0.1 -s3.port="$S3_PORT" \
      -s3.config="$STATE/seaweedfs/s3.json" >"$STATE/seaweedfs.log" 2>&1 &
  else
    say "starting s3rver on 127.0.0.1:$S3_PORT"
    rm -rf "$STATE/s3rver"; mkdir -p "$STATE/s3rver"
    nohup node_modules/.bin/s3rver -d "$STATE/s3rver" -a 127.0.0.1 -p "$S3_PORT" --silent >"$STATE/s3rver.log" 2>&1 &
  fi
  wait_port 127.0.0.1 "$S3_PORT" "$S3_SERVER" "$STATE/$S3_SERVER.log"
fi
say "ready: azurite :$AZURITE_PORT, fake-gcs-server :$GCS_PORT, $S3_SERVER :$S3_PORT"
