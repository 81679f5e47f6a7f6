#!/usr/bin/env bash
# Sets po up on a fresh machine and runs it: installs (pnpm 12.4.2 if missing), builds,
# and runs one optimization of the example plant state on the demo strategy, printing
# the recommendation. Extra arguments go to `po optimize` (e.g. --json).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version)" != "12.4.2" ]; then
  echo "installing pnpm 12.4.2"
  npm install -g pnpm@12.4.2
fi
pnpm install --frozen-lockfile
pnpm build

node apps/cli/dist/bin.js optimize \
  --config config/demo/strategy.yaml \
  --models-dir config/demo \
  --input config/demo/example-state.json \
  "$@"
