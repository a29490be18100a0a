#!/usr/bin/env python3
"""Handshakes per second against a gpoll endpoint, and the server's CPU per handshake.

usage: Scripts/handshake-rate.py URL [--workers N] [--seconds S] [--pipeline K]
                                     [--new-connections] [--server-pid PID]

Each of N worker processes (default 2) sends `GET PATH?client-id=0` handshakes for S
seconds (default 5) and checks that every answer is a 200 with a `client-id`:

- default: on one kept-alive connection per worker, K requests pipelined at a time
  (default 32): what the server's handshake costs, without TCP connection setup;
- --new-connections: a new connection per handshake, closed after its answer, as a
  browser's first request or gpoll-bench's handshake phase makes it: the kernel's
  connect/accept/close then come on top.

With --server-pid, the server's CPU (utime + stime of /proc/PID/stat and of its
threads) over the run is divided by the handshakes. The workers' own CPU is reported
too: on a machine with few cores, the load generator takes CPU from the server.
Every handshake registers a client: give the server no client limit and no idle
expiry, or enough of both. Exit status 1 if any answer was not a 200 with an id.
"""
import argparse
import multiprocessing
import os
import socket
import sys
import time
from urllib.parse import urlsplit

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def read_answers(sock, wanted, pending):
    """Reads until `wanted` complete answers are in; returns (answers, good, rest)."""
    answers = good = 0
    data = pending
    while answers < wanted:
        # An answer ends after its Content-Length body; handshake answers are small,
        # so parse each head as it comes.
        while True:
            head_end = data.find(b"\r\n\r\n")
            if head_end < 0:
                break
            head = data[:head_end].lower()
            at = head.find(b"content-length:")
            if at < 0:
                raise SystemExit(f"an answer without Content-Length: {data[:200]!r}")
            line_end = head.find(b"\r\n", at)
            length = int(head[at + 15:line_end if line_end >= 0 else len(head)].strip())
            end = head_end + 4 + length
            if len(data) < end:
                break
            body = data[head_end + 4:end]
            answers += 1
            if data.startswith(b"HTTP/1.1 200") and b'"client-id":"' in body:
                good += 1
            data = data[end:]
            if answers == wanted:
                return answers, good, data
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise SystemExit(f"the server closed the connection after {answers} of {wanted} answers")
        data += chunk
    return answers, good, data


def worker(url, seconds, pipeline, new_connections, results):
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    target = (parts.path or "/") + "?client-id=0"
    request = f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    done = good = 0
    deadline = time.monotonic() + seconds
    if new_connections:
        while time.monotonic() < deadline:
            with socket.create_connection((host, port)) as sock:
                sock.sendall(request)
                answers, ok, _ = read_answers(sock, 1, b"")
                done += answers
                good += ok
    else:
        with socket.create_connection((host, port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            batch = request * pipeline
            rest = b""
            while time.monotonic() < deadline:
                sock.sendall(batch)
                answers, ok, rest = read_answers(sock, pipeline, rest)
                done += answers
                good += ok
    times = os.times()
    results.put((done, good, times.user + times.system))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("url")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--pipeline", type=int, default=32)
    parser.add_argument("--new-connections", action="store_true")
    parser.add_argument("--server-pid", type=int)
    args = parser.parse_args()
    if not args.url.startswith("http://"):
        parser.error("the URL must be http://HOST:PORT/PATH")
    if args.workers < 1 or args.pipeline < 1 or args.seconds <= 0:
        parser.error("--workers and --pipeline must be at least 1, --seconds positive")

    results = multiprocessing.Queue()
    cpu_before = process_cpu_seconds(args.server_pid) if args.server_pid else None
    start = time.monotonic()
    workers = [multiprocessing.Process(target=worker, args=(args.url, args.seconds, args.pipeline,
                                                            args.new_connections, results))
               for _ in range(args.workers)]
    for w in workers:
        w.start()
    outcomes = [results.get() for _ in workers]
    elapsed = time.monotonic() - start
    for w in workers:
        w.join()
    if any(w.exitcode for w in workers):
        sys.exit("a worker failed (see above)")
    total = sum(o[0] for o in outcomes)
    good = sum(o[1] for o in outcomes)
    bench_cpu = sum(o[2] for o in outcomes)
    mode = "a new connection each" if args.new_connections else f"kept-alive, {args.pipeline} pipelined"
    line = (f"{total / elapsed:,.0f} handshakes/s ({total} in {elapsed:.2f} s, {args.workers} workers, {mode}); "
            f"load generator CPU {bench_cpu / total * 1e6:.1f} us/handshake")
    if cpu_before is not None:
        server_cpu = process_cpu_seconds(args.server_pid) - cpu_before
        line += f"; server CPU {server_cpu / total * 1e6:.1f} us/handshake ({server_cpu / elapsed:.2f} cores)"
    print(line)
    if good != total:
        print(f"FAIL: {total - good} answers were not a 200 with a client-id", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
