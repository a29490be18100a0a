#!/usr/bin/env bash
# The cluster figures of BENCHMARKS.md: gpoll-bench against one gpoll-server,
# then against three `gpoll-server --cluster` nodes behind nginx
# (Deploy/cluster-nginx.conf), on a throwaway PostgreSQL of its own.
#
#   swift build -c release && Scripts/cluster-bench.sh [outdir]
#
# Needs PostgreSQL 15 (Debian's postgresql) and nginx (nginx-light) with its lua
# module (libnginx-mod-http-lua, which the configuration loads). Every
# server listens on 127.0.0.1 only; everything started here is stopped by its
# pid at the end. Besides each run's JSON report, the CPU seconds that each
# process (the nodes, PostgreSQL with its backends, nginx, the bench) used
# during the run go to cpu-<run>.txt: the cost per message is read from those.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d /tmp/gpoll-cluster-bench.XXXXXX)}
mkdir -p "$out"
bin=.build/release
pgbin=${GPOLL_PG_BIN:-/usr/lib/postgresql/15/bin}
tmp=$(mktemp -d /tmp/gpoll-cluster-run.XXXXXX)
chmod 755 "$tmp"
pids=()
pgpid=""
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -n "$pgpid" ] && kill -INT "$pgpid" 2>/dev/null || true
    sleep 1
    rm -rf "$tmp"
}
trap cleanup EXIT

as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# PostgreSQL: a new data directory, port 18432, unix socket in the directory.
mkdir "$tmp/pg"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$tmp/pg"
as_postgres "$pgbin/initdb" -D "$tmp/pg/data" -A trust -U postgres --no-sync >/dev/null
as_postgres "$pgbin/postgres" -D "$tmp/pg/data" -p 18432 -h 127.0.0.1 -k "$tmp/pg" -c max_connections=200 \
    >"$out/postgres.log" 2>&1 &
pids+=($!)
until grep -q "ready to accept connections" "$out/postgres.log" 2>/dev/null; do sleep 0.2; done
pgpid=$(head -1 "$tmp/pg/data/postmaster.pid")
db=postgres://postgres@127.0.0.1:18432/postgres

common=(--client-buffer 100 --poll-timeout 300 --log-level warning)

# CPU seconds (user + system) of a process and its children that are still running.
cpu_of() {
    local total=0 pid
    for pid in "$@" $(for p in "$@"; do pgrep -P "$p" || true; done); do
        if [ -r "/proc/$pid/stat" ]; then
            total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
        fi
    done
    echo "$total"
}

# bench NAME POLLURL PUBLISHURL CLIENTS MESSAGES PID...: one lock-step run, with the CPU the listed processes used.
bench() {
    local name=$1 url=$2 publish=$3 clients=$4 messages=$5
    shift 5
    local before=() pid
    for pid in "$@"; do before+=("$(cpu_of "$pid")"); done
    local start=$(date +%s.%N)
    "$bin/gpoll-bench" http "$url" --publish-url "$publish" --clients "$clients" --messages "$messages" \
        --size 64 --burst 1 --timeout 30 --json --quiet >"$out/$name.json" || echo "$name: gpoll-bench exit $?" >&2
    local end=$(date +%s.%N)
    {
        echo "run $name: $clients clients, $messages messages, $(echo "$end - $start" | bc) s wall; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
        local i=0
        for pid in "$@"; do
            local used=$(( $(cpu_of "$pid") - ${before[$i]} ))
            echo "pid $pid ($(ps -o comm= -p "$pid")): $(echo "scale=2; $used / $(getconf CLK_TCK)" | bc) CPU s"
            i=$((i + 1))
        done
    } | tee "$out/cpu-$name.txt"
}

# One node alone (no database), for the baseline.
"$bin/gpoll-server" --port 18090 --admin-port 18190 "${common[@]}" >"$out/single.log" 2>&1 &
single=$!
pids+=($single)
sleep 1
bench single-c1000 http://127.0.0.1:18090/poll http://127.0.0.1:18190/publish 1000 500 "$single"
bench single-c3 http://127.0.0.1:18090/poll http://127.0.0.1:18190/publish 3 1000 "$single"
kill "$single"; wait "$single" 2>/dev/null || true

# Three nodes on the database, nginx in front (the shipped configuration, its ports changed).
nodes=()
for n in 1 2 3; do
    "$bin/gpoll-server" --port 1809$n --admin-port 1819$n "${common[@]}" \
        --cluster "$db" --node-name "node$n" --node-prefix "$n" >"$out/node$n.log" 2>&1 &
    nodes+=($!)
    pids+=($!)
done
sed -e 's/listen 127.0.0.1:8080;/listen 127.0.0.1:18080;/' -e 's/127.0.0.1:808\([123]\);/127.0.0.1:1809\1;/' \
    -e "s|^http {|http {\n    client_body_temp_path $tmp/body;\n    proxy_temp_path $tmp/proxy;|" \
    Deploy/cluster-nginx.conf >"$tmp/nginx.conf"
nginx -p "$tmp" -c "$tmp/nginx.conf" -g "daemon off; pid $tmp/nginx.pid; error_log $tmp/error.log;" &
ngx=$!
pids+=($ngx)
sleep 2
bench cluster-c1000 http://127.0.0.1:18080/poll http://127.0.0.1:18191/publish 1000 500 "${nodes[@]}" "$pgpid" "$ngx"
bench cluster-c3 http://127.0.0.1:18080/poll http://127.0.0.1:18191/publish 3 1000 "${nodes[@]}" "$pgpid" "$ngx"
echo "reports in $out"
