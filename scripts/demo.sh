#!/usr/bin/env bash
# Runs the demo: the CustomerOS emulator on loopback, then `batch run` over testdata/contacts.csv.
set -euo pipefail
BIN=${1:-bin/batch}
PORT=${DEMO_PORT:-18080}
OUT=out/demo
mkdir -p "$OUT"
rm -rf "$OUT"/contacts.* "$OUT"/contacts.csv.state

"$BIN" sandbox --addr "127.0.0.1:$PORT" --async-fraction 0.3 --async-delay 2s --latency 50ms >"$OUT/sandbox.url" 2>"$OUT/sandbox.log" &
SANDBOX=$!
trap 'kill $SANDBOX 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  [ -s "$OUT/sandbox.url" ] && break
  sleep 0.1
done

export CUSTOMEROS_API_KEY=demo-key
export CUSTOMEROS_API_URL="http://127.0.0.1:$PORT"
"$BIN" run --input testdata/contacts.csv --output "$OUT/contacts.csv" \
  --verify --enrich-person --enrich-org --cache "$OUT/cache.db" --progress log

echo
echo "Results:  $OUT/contacts.csv"
echo "Rejects:  $OUT/contacts.rejects.csv"
echo "Report:   $OUT/contacts.csv.state/report.json"
echo
echo "First rows (input columns, then results):"
head -n 4 "$OUT/contacts.csv" | cut -c1-240
echo "..."
echo
echo "Rejected rows:"
cat "$OUT/contacts.rejects.csv"
