#!/usr/bin/env bash
# Sets po up and runs it, on a fresh machine or again later:
#   1. installs pnpm 12.4.2 if missing, the dependencies (from the lockfile), and builds;
#   2. seeds the configured store with the demo strategy and its models, and deploys it
#      (the local folder ./store by default; with PO_STORE=s3 and PO_S3_* the MinIO/S3 bucket);
#   3. starts po in hybrid mode (HTTP API on 127.0.0.1:5000 + the continuous runner on the
#      embedded database fed by the demo kiln, unless DATABASE_URL names a PostgreSQL).
# Extra arguments go to `po start` (e.g. --port 5001 --debug). Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

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

echo
echo "po is starting. In another terminal:"
echo "  curl -s localhost:5000/health"
echo "  pnpm po optimize --input config/demo/example-state.json     # one cycle of the deployed strategy"
echo "  node --import tsx apps/api/examples/api-client.ts           # the predecessor's API client example"
echo
exec node apps/cli/dist/bin.js start "$@"
