#!/usr/bin/env bash
# Measures the reference server with gpoll-bench, as recorded in BENCHMARKS.md.
# Release builds; server and bench run as separate processes on this host.
# Usage: Scripts/benchmarks.sh [outdir]     (default /tmp/gpoll-benchmarks)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/gpoll-benchmarks}
mkdir -p "$OUT"
swift build -c release --product gpoll-server >/dev/null
swift build -c release --product gpoll-bench >/dev/null
BIN=$(swift build -c release --show-bin-path)
PORT=18080
ADMIN=18081
SERVER_PID=

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

start_server() {
    # As BENCHMARKS.md measured it: no idle expiry and no client limit (both on by default now).
    "$BIN/gpoll-server" --port $PORT --admin-port $ADMIN --client-buffer 100 \
        --poll-timeout 300 --idle-expiry 0 --max-clients 0 --log-level warning 2>>"$OUT/server.log" &
    SERVER_PID=$!
    for _ in $(seq 100); do
        if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "server did not start" >&2; exit 2
}

stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}
trap 'stop_server; kill "$MONITOR" 2>/dev/null || true' EXIT

bench() { # name, args...
    local name=$1; shift
    echo "== $name: gpoll-bench http http://127.0.0.1:$PORT/poll --publish-url http://127.0.0.1:$ADMIN/publish $*" | tee -a "$OUT/summary.txt"
    "$BIN/gpoll-bench" http "http://127.0.0.1:$PORT/poll" --publish-url "http://127.0.0.1:$ADMIN/publish" "$@" \
        --json >"$OUT/$name.json" 2>"$OUT/$name.progress" || echo "   (exit code $?)" | tee -a "$OUT/summary.txt"
    python3 - "$OUT/$name.json" <<'PY' | tee -a "$OUT/summary.txt"
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latencyMs"]
print(f"   handshakes/s {r['handshakesPerSecond']:.0f}  deliveries {r['deliveries']}  deliveries/s {r['deliveriesPerSecond']:.0f}  "
      f"p50 {l['p50']:.2f}  p90 {l['p90']:.2f}  p99 {l['p99']:.2f}  p99.9 {l['p999']:.2f}  max {l['max']:.2f} ms")
print(f"   204s {r['timeouts']}  errors {r['errors']}  lost {r['clientsLost']}  evicted {r['clientsEvicted']}  missing {r['missingDeliveries']}  "
      f"duplicates {r['duplicates']}  out-of-order {r['outOfOrder']}  passed {r['passed']}")
PY
}

# What else runs on the machine meanwhile (the figures are only as good as the quiet).
( while sleep 10; do date -u +%T; top -bn1 | sed -n '8,12p'; done ) >"$OUT/top.log" 2>&1 &
MONITOR=$!

echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/summary.txt"

# 1. 10,000 clients, lock-step burst 1, with the memory reading while every poll waits.
start_server
sleep 1
idle=$(rss_kb "$SERVER_PID")
"$BIN/gpoll-bench" http "http://127.0.0.1:$PORT/poll" --publish-url "http://127.0.0.1:$ADMIN/publish" \
    --clients 10000 --messages 200 --size 64 --burst 1 --hold 6 --timeout 30 --json \
    >"$OUT/c10000-b1.json" 2>"$OUT/c10000-b1.progress" &
BENCH=$!
for _ in $(seq 600); do grep -q "holding" "$OUT/c10000-b1.progress" 2>/dev/null && break; sleep 0.1; done
sleep 3
waiting=$(rss_kb "$SERVER_PID")
wait $BENCH || true
echo "== memory: server VmRSS idle ${idle} kB, with 10000 polls waiting ${waiting} kB: $(( (waiting - idle) * 1024 / 10000 )) bytes per waiting poll" | tee -a "$OUT/summary.txt"
python3 - "$OUT/c10000-b1.json" <<'PY' | tee -a "$OUT/summary.txt"
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latencyMs"]
print(f"== c10000-b1: --clients 10000 --messages 200 --size 64 --burst 1 --hold 6 --timeout 30")
print(f"   handshakes/s {r['handshakesPerSecond']:.0f}  deliveries {r['deliveries']}  deliveries/s {r['deliveriesPerSecond']:.0f}  "
      f"p50 {l['p50']:.2f}  p90 {l['p90']:.2f}  p99 {l['p99']:.2f}  p99.9 {l['p999']:.2f}  max {l['max']:.2f} ms")
print(f"   204s {r['timeouts']}  errors {r['errors']}  lost {r['clientsLost']}  missing {r['missingDeliveries']}  passed {r['passed']}")
PY
stop_server

# 2. 1,000 clients, lock-step burst 1.
start_server
bench c1000-b1 --clients 1000 --messages 1000 --size 64 --burst 1
stop_server

# 3. Larger bursts (throughput with K messages in flight).
start_server
bench c10000-b10 --clients 10000 --messages 200 --size 64 --burst 10 --timeout 30
stop_server
start_server
bench c1000-b10 --clients 1000 --messages 2000 --size 64 --burst 10
stop_server
trap - EXIT
kill "$MONITOR" 2>/dev/null || true

# 4. In-process: the broadcaster alone.
for args in "--clients 10000 --messages 100" "--clients 100000 --messages 100"; do
    echo "== in-process $args --size 64 --client-buffer 100" | tee -a "$OUT/summary.txt"
    "$BIN/gpoll-bench" in-process $args --size 64 --client-buffer 100 | sed 's/^/   /' | tee -a "$OUT/summary.txt"
done
