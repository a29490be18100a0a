#!/usr/bin/env bash
# The peer comparison of BENCHMARKS.md: gpoll-server and nchan (and, when given,
# the original Go gpoll and an older gpoll-server build) loaded by the same
# gpoll-bench, interleaved round by round so that every server sees the same
# machine load, medians over the rounds.
#
# usage: Scripts/benchmarks.sh [options] [outdir]          (default outdir /tmp/gpoll-benchmarks)
#   --original PATH   also run the original Go gpoll: a binary built by hand outside this
#                     repo that serves /poll and takes POST /publish on an admin port, started
#                     as `PATH -port P -admin-port A -log-publish=false`
#   --baseline PATH   also run another gpoll-server binary (an older build), as "gpoll-baseline"
#   --rounds N        rounds (default 3); every round runs every server at every scenario
#   --scenarios LIST  default "c10000 c1000": 10,000 lock-step pollers (60 messages) and
#                     1,000 lock-step pollers (300 messages), 64-byte messages
#   --servers LIST    default "gpoll nchan", plus "original" and "baseline" when given
#   --extras          afterwards, the gpoll-only runs: bursts of 10, and the broadcaster in-process
# Environment: BUILD_FLAGS, extra flags for the release build ("-Xswiftc -g" to profile).
#
# This script installs nothing. nchan comes from Debian's packages:
#   apt-get install -y nginx-light libnginx-mod-nchan
# Its nginx configuration is written to a temporary directory; every server listens on
# 127.0.0.1 on a free port and is stopped by its pid.
#
# Per run gpoll-bench reads the server's CPU (utime + stime from /proc/PID/stat, with
# nginx's workers) over the measurement, and its memory (Pss from /proc/PID/smaps_rollup)
# before the first connection and at the end of --hold with every poll waiting. It also
# reports what everything else on the machine used meanwhile (otherCores).
# Outputs in outdir: one JSON report and progress log per run, summary.txt, peers.md.
set -euo pipefail
cd "$(dirname "$0")/.."

ORIGINAL= BASELINE= ROUNDS=3 SCENARIOS="c10000 c1000" SERVERS= EXTRAS=0 OUT=/tmp/gpoll-benchmarks
while [ $# -gt 0 ]; do
    case $1 in
    --original) ORIGINAL=$(realpath "$2"); shift 2 ;;
    --baseline) BASELINE=$(realpath "$2"); shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --scenarios) SCENARIOS=$2; shift 2 ;;
    --servers) SERVERS=$2; shift 2 ;;
    --extras) EXTRAS=1; shift ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    -*) echo "benchmarks.sh: unknown option $1 (see --help)" >&2; exit 64 ;;
    *) OUT=$1; shift ;;
    esac
done
if [ -z "$SERVERS" ]; then
    SERVERS="gpoll nchan"
    [ -n "$BASELINE" ] && SERVERS+=" baseline"
    [ -n "$ORIGINAL" ] && SERVERS+=" original"
fi
for s in $SERVERS; do
    case $s in
    gpoll|nchan) ;;
    original) [ -x "$ORIGINAL" ] || { echo "benchmarks.sh: server 'original' needs --original PATH (an executable)" >&2; exit 64; } ;;
    baseline) [ -x "$BASELINE" ] || { echo "benchmarks.sh: server 'baseline' needs --baseline PATH (an executable)" >&2; exit 64; } ;;
    *) echo "benchmarks.sh: unknown server '$s' (gpoll, nchan, original, baseline)" >&2; exit 64 ;;
    esac
done

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
NCHAN_MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so
if [[ " $SERVERS " == *" nchan "* ]] && { [ ! -x "$NGINX" ] || [ ! -f "$NCHAN_MODULE" ]; }; then
    echo "benchmarks.sh: nchan needs Debian's nginx-light and libnginx-mod-nchan (apt-get install -y nginx-light libnginx-mod-nchan); this script installs nothing" >&2
    exit 2
fi

mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
# BUILD_FLAGS: extra flags for the release build, e.g. "-Xswiftc -g" to profile the same binaries.
# shellcheck disable=SC2086
swift build -c release ${BUILD_FLAGS:-} --product gpoll-server >/dev/null
# shellcheck disable=SC2086
swift build -c release ${BUILD_FLAGS:-} --product gpoll-bench >/dev/null
BIN=$(swift build -c release --show-bin-path)
ulimit -n "$(ulimit -Hn)"   # 10,000 connections each side
WORK=$(mktemp -d /tmp/gpoll-benchmarks-work.XXXXXX)
SERVER_PID=

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_for_port() { # port
    for _ in $(seq 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "benchmarks.sh: the server did not listen on port $1" >&2; return 1
}

# start_server NAME: sets SERVER_PID, POLL_URL, PUBLISH_URL, PROTOCOL.
start_server() {
    local port admin
    port=$(free_port) admin=$(free_port)
    PROTOCOL=gpoll
    POLL_URL=http://127.0.0.1:$port/poll PUBLISH_URL=http://127.0.0.1:$admin/publish
    case $1 in
    gpoll|baseline)
        local binary=$BIN/gpoll-server
        [ "$1" = baseline ] && binary=$BASELINE
        # No idle expiry and no client limit, as measured before both became defaults
        # (a baseline built before then has neither default and refuses 0 for them).
        local extra=(--idle-expiry 0 --max-clients 0)
        [ "$1" = baseline ] && extra=()
        "$binary" --port "$port" --admin-port "$admin" --client-buffer 100 \
            --poll-timeout 300 "${extra[@]}" --log-level warning 2>>"$OUT/$1-server.log" &
        SERVER_PID=$! ;;
    original)
        "$ORIGINAL" -port "$port" -admin-port "$admin" -log-publish=false 2>>"$OUT/original-server.log" &
        SERVER_PID=$! ;;
    nchan)
        PROTOCOL=nchan
        POLL_URL=http://127.0.0.1:$port/sub PUBLISH_URL=http://127.0.0.1:$port/pub
        rm -rf "$WORK/nginx" && mkdir -p "$WORK/nginx/logs"
        # As many workers as gpoll-server has event loops (one per core). One channel;
        # a subscriber without validators starts at the oldest message the channel
        # keeps (so none published after it connected is missed); the buffer of 100 and
        # the 300 s subscriber timeout mirror gpoll-server's settings above.
        cat >"$WORK/nginx/nginx.conf" <<EOF
load_module $NCHAN_MODULE;
daemon off;
master_process on;
worker_processes $(nproc);
worker_rlimit_nofile 65536;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 30000; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    keepalive_requests 10000000;
    keepalive_timeout 600s;
    nchan_shared_memory_size 256m;
    server {
        listen 127.0.0.1:$port;
        location = /sub {
            nchan_subscriber longpoll;
            nchan_channel_id bench;
            nchan_subscriber_first_message oldest;
            nchan_subscriber_timeout 300s;
        }
        location = /pub {
            nchan_publisher;
            nchan_channel_id bench;
            nchan_message_buffer_length 100;
            nchan_message_timeout 1h;
            client_max_body_size 1m;
        }
    }
}
EOF
        "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" 2>>"$OUT/nchan-server.log" &
        SERVER_PID=$! ;;
    esac
    wait_for_port "$port"
    [ "$PROTOCOL" = nchan ] || wait_for_port "$admin"
}

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}
cleanup() { stop_server; kill "$MONITOR" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

scenario_args() { # scenario
    case $1 in
    c10000) echo "--clients 10000 --messages 60 --size 64 --burst 1 --hold 4 --timeout 30" ;;
    c1000) echo "--clients 1000 --messages 300 --size 64 --burst 1 --hold 2 --timeout 30" ;;
    *) echo "benchmarks.sh: unknown scenario '$1' (c10000, c1000)" >&2; exit 64 ;;
    esac
}
for s in $SCENARIOS; do scenario_args "$s" >/dev/null; done

# What else runs on the machine meanwhile (the figures are only as good as the quiet).
( while sleep 10; do date -u +%T; cat /proc/loadavg; top -bn1 | sed -n '8,12p'; done ) >"$OUT/top.log" 2>&1 &
MONITOR=$!

echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg); servers: $SERVERS; $ROUNDS rounds" | tee "$OUT/summary.txt"
echo "# bench: $BIN/gpoll-bench http POLL_URL --publish-url PUBLISH_URL --protocol P --server-pid PID <scenario> --json" | tee -a "$OUT/summary.txt"
for s in $SCENARIOS; do echo "#   $s: $(scenario_args "$s")" | tee -a "$OUT/summary.txt"; done

read -r -a servers <<<"$SERVERS"
for round in $(seq "$ROUNDS"); do
    for scenario in $SCENARIOS; do
        # Each round starts with the next server, so no server always runs first.
        for i in $(seq 0 $(( ${#servers[@]} - 1 ))); do
            server=${servers[$(( (i + round - 1) % ${#servers[@]} ))]}
            name=r$round-$scenario-$server
            start_server "$server"
            sleep 1
            # shellcheck disable=SC2046
            "$BIN/gpoll-bench" http "$POLL_URL" --publish-url "$PUBLISH_URL" --protocol "$PROTOCOL" \
                --server-pid "$SERVER_PID" $(scenario_args "$scenario") --json \
                >"$OUT/$name.json" 2>"$OUT/$name.progress" || true
            stop_server
            python3 - "$OUT/$name.json" "$name" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY' | tee -a "$OUT/summary.txt"
import json, sys
name, load = sys.argv[2], sys.argv[3]
try:
    r = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"{name}: no report ({e})"); sys.exit(0)
s, l = r.get("server") or {}, r["latencyMs"]
f = lambda v, spec: "?" if v is None else format(v, spec)
print(f"{name}: {r['deliveriesPerSecond']:.0f} deliveries/s  p99 {l['p99']:.1f} ms  "
      f"CPU {f(s.get('cpuMicrosecondsPerDelivery'), '.2f')} us/delivery  {f(s.get('bytesPerWaitingPoll'), '.0f')} B/waiting poll  "
      f"handshakes/s {r['handshakesPerSecond']:.0f}  lost {r['clientsLost']}  missing {r['missingDeliveries']}  errors {r['errors']}  "
      f"others {f(s.get('otherCores'), '.2f')} cores  load1 {load}  {'PASS' if r['passed'] else 'FAIL: ' + (r.get('failure') or 'clients lost or messages missing')}")
PY
        done
    done
done
kill "$MONITOR" 2>/dev/null || true

python3 - "$OUT" "$ROUNDS" "$SERVERS" "$SCENARIOS" <<'PY' | tee "$OUT/peers.md" | tee -a "$OUT/summary.txt"
import json, os, statistics, sys
out, rounds, servers, scenarios = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split()
names = {"gpoll": "gpoll-server", "nchan": "nchan (nginx-light + libnginx-mod-nchan)",
         "original": "the original Go gpoll", "baseline": "gpoll-server (baseline build)"}
def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None
def show(v, spec):
    return "?" if v is None else format(v, spec)
for scenario in scenarios:
    print(f"\n{scenario}: median of {rounds} interleaved rounds\n")
    print("| server | deliveries/s | p99 ms | server CPU µs/delivery | bytes/waiting poll | handshakes/s | lost clients | runs passed | others' load (cores) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for server in servers:
        reports = []
        for r in range(1, rounds + 1):
            try:
                reports.append(json.load(open(os.path.join(out, f"r{r}-{scenario}-{server}.json"))))
            except Exception:
                pass
        if not reports:
            print(f"| {names[server]} | no report | | | | | | 0/{rounds} | |"); continue
        srv = [r.get("server") or {} for r in reports]
        hs = "n/a (connects/s " + show(med([r["handshakesPerSecond"] for r in reports]), ",.0f") + ")" if server == "nchan" \
            else show(med([r["handshakesPerSecond"] for r in reports]), ",.0f")
        print(f"| {names[server]} | {show(med([r['deliveriesPerSecond'] for r in reports]), ',.0f')} "
              f"| {show(med([r['latencyMs']['p99'] for r in reports]), '.0f')} "
              f"| {show(med([s.get('cpuMicrosecondsPerDelivery') for s in srv]), '.1f')} "
              f"| {show(med([s.get('bytesPerWaitingPoll') for s in srv]), ',.0f')} "
              f"| {hs} "
              f"| {', '.join(str(r['clientsLost']) for r in reports)} "
              f"| {sum(1 for r in reports if r['passed'])}/{len(reports)} "
              f"| {show(med([s.get('otherCores') for s in srv]), '.2f')} |")
PY

if [ "$EXTRAS" = 1 ]; then
    for args in "--clients 10000 --messages 200 --size 64 --burst 10 --timeout 30" "--clients 1000 --messages 2000 --size 64 --burst 10"; do
        start_server gpoll
        # shellcheck disable=SC2086
        "$BIN/gpoll-bench" http "$POLL_URL" --publish-url "$PUBLISH_URL" --server-pid "$SERVER_PID" $args \
            | sed "s/^/   /" | tee -a "$OUT/summary.txt" || true
        stop_server
    done
    for args in "--clients 10000 --messages 100" "--clients 100000 --messages 100"; do
        echo "== in-process $args --size 64 --client-buffer 100" | tee -a "$OUT/summary.txt"
        # shellcheck disable=SC2086
        "$BIN/gpoll-bench" in-process $args --size 64 --client-buffer 100 | sed 's/^/   /' | tee -a "$OUT/summary.txt"
    done
fi
