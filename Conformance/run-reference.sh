#!/usr/bin/env bash
# Regenerates Conformance/reports/reference/: builds, starts the reference server
# with known settings on free ports, runs gpoll-conform --strict against it, and
# stops the server. The client-limit cases need a server that fills faster than
# idle expiry empties it, so they run in a second pass against a second server
# with --max-clients 200; the stress tier (--stress) in a third, with T = 30 s.
#
# Committed: the JUnit XML (<name>.xml) and the console text (<name>.txt), small
# enough to review in a diff. On demand, not committed (.gitignore there):
#   --json   also the full JSON with every transcript (<name>.json, about 2 MB)
#   --html   also the HTML page (<name>.html)
# e.g. bash Conformance/run-reference.sh --json --html
set -euo pipefail
cd "$(dirname "$0")/.."
want_json=false want_html=false
for argument in "$@"; do
    case $argument in
        --json) want_json=true ;;
        --html) want_html=true ;;
        *) echo "usage: $0 [--json] [--html]" >&2; exit 2 ;;
    esac
done
swift build --product gpoll-server >/dev/null
swift build --product gpoll-conform >/dev/null
bin=$(swift build --show-bin-path)
out=Conformance/reports/reference
mkdir -p "$out"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run() { # name, settings (for server and tester alike), extra server args, extra conform args
    local name=$1 settings=$2 server_args=$3 conform_args=$4 port admin pid status=0 reports
    reports=(--junit "$out/$name.xml")
    if $want_json; then reports+=(--json "$out/$name.json"); fi
    if $want_html; then reports+=(--html "$out/$name.html"); fi
    port=$(free_port); admin=$(free_port)
    "$bin/gpoll-server" --port "$port" --admin-port "$admin" --endpoint /poll --endpoint /poll2 \
        $settings $server_args --log-level warning &
    pid=$!
    trap 'kill $pid 2>/dev/null || true' EXIT
    for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/poll?client-id=0" >/dev/null 2>&1 && break; sleep 0.1; done
    "$bin/gpoll-conform" "http://127.0.0.1:$port/poll" \
        --publish-url "http://127.0.0.1:$admin/publish/poll" \
        --second-endpoint "http://127.0.0.1:$port/poll2" --second-publish-url "http://127.0.0.1:$admin/publish/poll2" \
        $settings --settle-ms 50 --strict \
        "${reports[@]}" $conform_args | tee "$out/$name.txt" || status=$?
    kill "$pid"; wait "$pid" 2>/dev/null || true
    trap - EXIT
    return $status
}

status=0
short="--client-buffer 100 --poll-timeout 2 --idle-expiry 1"
run main "$short" "" "--exclude limits/007 --exclude limits/008 --exclude transport/013" || status=$?
run client-limit "$short" "--max-clients 200" "--max-clients 200 --case limits/007 --case limits/008 --case transport/013" || status=$?
# The stress tier registers clients for seconds: polls must stay waiting meanwhile (T = 30 s,
# no expiry), and 10,000 of them must fit (no client limit, whatever the open-file limit).
run stress "--client-buffer 100 --poll-timeout 30 --idle-expiry 0" "--max-clients 0" "--stress --case stress/*" || status=$?
exit $status
