#!/usr/bin/env bash
# Runs the whole gpoll-conform suite against the reference server at every
# combination of B ∈ {1, 2, 100}, T ∈ {0, 1, 30}, E ∈ {0, 1, unset}, with one and
# with two endpoints (54 runs), and prints one line per run. A correct server gets
# nothing but PASS and the SKIPs its settings declare, so every run must exit 0.
#
#   bash Conformance/run-matrix.sh            # all 54 runs, two at a time
#   JOBS=1 bash Conformance/run-matrix.sh     # one at a time (a quieter machine)
#   OUT=/tmp/matrix bash Conformance/run-matrix.sh   # keep every run's text report
#
# Builds release binaries first. Each server listens on 127.0.0.1 on ports it picks
# (port 0) and is stopped by its pid. Runs with T = 30 take about 70 s each; the
# whole matrix about 15 minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product gpoll-server >/dev/null
swift build -c release --product gpoll-conform >/dev/null
bin=$(swift build -c release --show-bin-path)
jobs=${JOBS:-2}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"

one() {
    local b=$1 t=$2 e=$3 ends=$4 name="B$1-T$2-E$3-$4ep"
    local log; log=$(mktemp)
    local server=(--host 127.0.0.1 --port 0 --admin-port 0 --endpoint /poll --endpoint /poll2
                  --client-buffer "$b" --poll-timeout "$t" --log-level info)
    # E = 0 and "unset" run a server without expiry (--idle-expiry 0: its default is
    # 2T + 10 s); for "unset" the tester is told nothing and learns E = 0 from the handshake.
    if [ "$e" = unset ]; then server+=(--idle-expiry 0); else server+=(--idle-expiry "$e"); fi
    "$bin/gpoll-server" "${server[@]}" >"$log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do grep -q "admin listener started" "$log" && break; sleep 0.1; done
    local gp ap
    gp=$(sed -nE 's/.*127\.0\.0\.1:([0-9]+).*gpoll listener started.*/\1/p' "$log")
    ap=$(sed -nE 's/.*127\.0\.0\.1:([0-9]+).*admin listener started.*/\1/p' "$log")
    local conform=("http://127.0.0.1:$gp/poll" --publish-url "http://127.0.0.1:$ap/publish/poll"
                   --client-buffer "$b" --poll-timeout "$t" --strict)
    [ "$ends" = 2 ] && conform+=(--second-endpoint "http://127.0.0.1:$gp/poll2"
                                 --second-publish-url "http://127.0.0.1:$ap/publish/poll2")
    [ "$e" != unset ] && conform+=(--idle-expiry "$e")
    local rc=0
    "$bin/gpoll-conform" "${conform[@]}" >"$out/$name.txt" 2>&1 || rc=$?
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$log"
    printf '%-22s exit %d  %s\n' "$name" "$rc" "$(tail -n 1 "$out/$name.txt")"
    return "$rc"
}

combos=()
for b in 1 2 100; do for t in 0 1 30; do for e in 0 1 unset; do for ends in 1 2; do
    combos+=("$b $t $e $ends")
done; done; done; done

failed=0
running=0
for combo in "${combos[@]}"; do
    # shellcheck disable=SC2086
    one $combo &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || failed=$((failed + 1))
        running=$((running - 1))
    fi
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=$((failed + 1))
    running=$((running - 1))
done
echo "matrix: $(( ${#combos[@]} - failed )) of ${#combos[@]} runs exited 0; reports in $out"
[ "$failed" -eq 0 ]
