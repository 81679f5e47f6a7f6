#!/usr/bin/env bash
# Sets po up and runs it, on a fresh machine or again later:
#   1. installs pnpm 12.4.2 if missing, the dependencies (from the lockfile), and builds;
#   2. seeds the configured store with the demo strategy and its models, and deploys it
#      (the local folder ./store by default; with PO_STORE=s3 and PO_S3_* the MinIO/S3 bucket);
#   3. starts po in hybrid mode (HTTP API on 127.0.0.1:5000 + the continuous runner on the
#      embedded database fed by the demo kiln, unless DATABASE_URL names a PostgreSQL).
# Extra arguments go to `po start` (e.g. --port 5001 --debug). Stop with Ctrl-C.
#
# With --fleet (first argument; needs DATABASE_URL), step 3 runs the demo fleet instead:
# `po fleet-demo seed` puts PO_DEMO_KILNS (default 4) simulated kilns of different seeds into
# the table demo_kilns with their history, defines them as units kiln-1.., and deploys to each
# unit's own pointer in the store (metadata/units/<id>/deployed.yaml) the demo strategy (odd
# kilns) or its coal-saver variant (even kilns, version PO_DEMO_COAL_SAVER_VERSION, default
# 1.1.0); `po fleet-demo feed` writes a row per kiln every PO_DEMO_INTERVAL_S (default 10) s in
# the background; and po starts in hybrid mode with the fleet (PO_FLEET=true): the API, and a
# fleet worker running the units' cycles. More workers, here or on other machines, share them:
#   DATABASE_URL=... PO_STORE=s3 ... node apps/cli/dist/bin.js start --mode worker
set -euo pipefail
cd "$(dirname "$0")/.."

fleet=false
if [ "${1:-}" = "--fleet" ]; then
  fleet=true
  shift
  if [ -z "${DATABASE_URL:-}" ]; then
    echo "--fleet runs the demo fleet on PostgreSQL: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/po)" >&2
    exit 1
  fi
fi

if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version)" != "12.4.2" ]; then
  echo "installing pnpm 12.4.2"
  npm install -g pnpm@12.4.2
fi
pnpm install --frozen-lockfile
pnpm build

po() { node apps/cli/dist/bin.js "$@"; }
version="${PO_DEMO_VERSION:-1.0.0}"
po upload-models --data-dir config/demo/models
po upload-config --config config/demo/strategy.yaml --version "$version"
po deploy "$version"

if [ "$fleet" = true ]; then
  interval="${PO_DEMO_INTERVAL_S:-10}"
  po fleet-demo seed --kilns "${PO_DEMO_KILNS:-4}" --interval "$interval" \
    --version "$version" --coal-saver-version "${PO_DEMO_COAL_SAVER_VERSION:-1.1.0}"
  po fleet-demo feed --interval "$interval" &
  feeder=$!
  # The feeder stops with po (Ctrl-C stops po; the feeder, in the background, gets SIGTERM).
  trap 'kill "$feeder" 2>/dev/null || true; wait "$feeder" 2>/dev/null || true' EXIT
  echo
  echo "The demo fleet is starting. In another terminal:"
  echo "  curl -s localhost:5000/units                            # each unit: last cycle, lag, failures"
  echo "  DATABASE_URL=... pnpm po units status                    # the same from the CLI"
  echo "  DATABASE_URL=... pnpm po units deploy kiln-1 1.1.0       # move one unit to the coal saver"
  echo "  DATABASE_URL=... PO_PORT=5001 pnpm po start --mode worker   # one more worker (any machine)"
  echo
  PO_FLEET=true node apps/cli/dist/bin.js start --mode hybrid "$@"
  exit
fi

echo
echo "po is starting. In another terminal:"
echo "  curl -s localhost:5000/health"
echo "  pnpm po optimize --input config/demo/example-state.json     # one cycle of the deployed strategy"
echo "  node --import tsx apps/api/examples/api-client.ts           # the predecessor's API client example"
echo
exec node apps/cli/dist/bin.js start "$@"
