#!/usr/bin/env bash
# Memory of `po start` (hybrid, embedded PGlite, the demo strategy deployed as
# scripts/setup_and_run.sh does) in a new folder: seconds until it listens (a new PGlite folder
# initialised, the demo history seeded, the strategy compiled), RSS then, the peak, and RSS after
# STEADY_S more seconds (a cycle runs every PO_CYCLE_INTERVAL_S, 60 s by default), and the cycles logged.
# Usage: scripts/footprint.sh [STEADY_S]   (environment passes through, e.g. PO_THREADS=1)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
steady=${1:-60}
dir=$(mktemp -d /tmp/po-footprint-XXXXXX)
cd "$dir"
po() { node "$root/apps/cli/dist/bin.js" "$@"; }
po upload-models --data-dir "$root/config/demo/models" > setup.log 2>&1
po upload-config --config "$root/config/demo/strategy.yaml" --version 1.0.0 >> setup.log 2>&1
po deploy 1.0.0 >> setup.log 2>&1
start=$(date +%s.%N)
PO_PORT=0 PO_LOG_PRETTY=false node "$root/apps/cli/dist/bin.js" start > po.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
until grep -q '\[po\] listening' po.log; do
  kill -0 $pid 2>/dev/null || { cat po.log; exit 1; }
  sleep 0.1
done
ready=$(echo "$(date +%s.%N) - $start" | bc)
rss_ready=$(( $(ps -o rss= -p $pid) / 1024 ))
peak=$rss_ready
for _ in $(seq "$steady"); do
  sleep 1
  rss=$(( $(ps -o rss= -p $pid) / 1024 ))
  (( rss > peak )) && peak=$rss
done
cycles=$(grep -c '\[po/runner\] cycle"' po.log || true)
echo "{\"threads\":\"${PO_THREADS:-default}\",\"ready_s\":$ready,\"rss_ready_mb\":$rss_ready,\"rss_peak_mb\":$peak,\"rss_steady_mb\":$rss,\"steady_s\":$steady,\"cycles\":$cycles,\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
