#!/usr/bin/env python3
"""A small gpoll/1.1 client that follows Spec section 19 (CL-1..CL-26) and prints
the line protocol of Conformance/README.md ("Checking a client"): the reference
client of gpoll-conform client's own tests.

    gpoll_client.py URL [--ack] [--defect NAME]

--ack uses acknowledged delivery when the server offers it. --defect makes it
deliberately wrong in one named way (see DEFECTS), so that the tests can show
each client case failing against a client that breaks its requirement.
"""
import base64
import email.utils
import http.client
import json
import os
import random
import signal
import socket
import sys
import time
import urllib.parse

DEFECTS = {
    "post": "polls with POST (CL-1)",
    "raw-dollar": "sends the id's $ unencoded (CL-7)",
    "plus-encoding": "form-encodes the id: space as +, / kept (CL-6)",
    "exact-body": 'accepts only the exact body {"client-id":"..."} (CL-4)',
    "prefix-body": 'takes the id after the prefix {"client-id":" (CL-4)',
    "no-backoff": "retries at once after every failure (CL-16, CL-18, CL-19, CL-20)",
    "constant-backoff": "waits a fixed 0.3 s after every failure (CL-16)",
    "text-messages": "prints messages as stripped text (CL-8)",
    "slow-after-answer": "waits 1.5 s after every answer before polling (CL-11)",
    "always-repoll": "polls again after every early 204 (CL-12)",
    "half-close": "half-closes (FIN) each poll's connection after sending it (CL-2)",
    "two-polls": "after 5 s opens a second poll, leaving the first open (CL-9)",
    "poll-after-404": "polls the same id again after a 404 (CL-13)",
    "no-gap": "does not report a re-registration (CL-14)",
    "ignore-retry-after": "treats a 503 with Retry-After like one without (CL-17)",
    "reregister-on-drop": "registers again when a poll's connection is lost (CL-20)",
    "short-timeout": "a request timeout of 3 s whatever T is (CL-15)",
    "timeout-30": "a request timeout of 30 s, ignoring the advertised T (CL-21, CL-26)",
    "no-dedupe": "with ack, prints a re-sent message again (CL-23)",
    "ack-no-reset": "with ack, keeps its ack count across a re-registration (CL-24)",
    "follow-redirects": "follows a 302 to its Location (CL-18)",
    "repoll-on-4xx": "polls the same id again at once after a 400, 405 or 414 (CL-19)",
    "shared-id": "shares one id between instances through a file (CL-10)",
    "prints-id": "writes its id to standard error (CL-25)",
}

BASE, CAP = 0.5, 10.0          # CL-16: base in [0.1, 1] s, cap in [10, 300] s
UNKNOWN_T_TIMEOUT = 60.0       # CL-26


def emit(**event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


class Lost(Exception):
    """The connection ended before an answer."""


class TimedOut(Exception):
    """No answer within the request timeout."""


class Client:
    def __init__(self, url, use_ack, defect):
        self.url = urllib.parse.urlsplit(url)
        self.defect = defect
        self.want_ack = use_ack
        self.failures = 0
        self.lost = 0
        self.early = 0
        self.had_id = False
        self.id = None
        self.t = None
        self.use_ack = False
        self.acked = 0
        self.first_poll = False
        self.stale = []       # connections left open by the two-polls defect

    # -- the wire -----------------------------------------------------------

    def request(self, query, timeout, method="GET", target=None):
        url = self.url
        if target is not None:
            url = urllib.parse.urlsplit(target)
            query = url.query
        conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=timeout)
        try:
            conn.request(method, (url.path or "/") + "?" + query, headers={"Connection": "close"})
            if self.defect == "half-close" and query != "client-id=0":   # polls only
                conn.sock.shutdown(socket.SHUT_WR)
            response = conn.getresponse()
            body = response.read()
            return response.status, response, body
        except socket.timeout:
            if self.defect == "two-polls":
                self.stale.append(conn)   # never closed: still in flight
                conn = None
            raise TimedOut()
        except (ConnectionError, http.client.HTTPException, OSError):
            raise Lost()
        finally:
            if conn is not None:
                conn.close()

    def encode(self, value):
        if self.defect == "raw-dollar":
            return urllib.parse.quote(value, safe="$")
        if self.defect == "plus-encoding":
            return urllib.parse.quote_plus(value, safe="/$")
        return urllib.parse.quote(value, safe="")

    # -- waiting ------------------------------------------------------------

    def backoff(self, reason):
        self.failures += 1
        if self.defect == "no-backoff":
            delay = 0.0
        elif self.defect == "constant-backoff":
            delay = 0.3
        else:
            delay = random.uniform(0, min(CAP, BASE * 2 ** (self.failures - 1)))
        emit(event="backoff", seconds=round(delay, 3), reason=reason)
        time.sleep(delay)

    def retry_after(self, response):
        value = response.getheader("Retry-After")
        if value is None or self.defect == "ignore-retry-after":
            return None
        value = value.strip()
        if value.isdigit():
            return min(int(value), 600)
        try:
            when = email.utils.parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return None
        return max(0.0, min(when - time.time(), 600))

    def wait_retry_after(self, seconds, status):
        emit(event="backoff", seconds=round(seconds, 3), reason="%d with Retry-After" % status)
        # Sleep to the end (a signal can cut time.sleep short only by raising).
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(end - time.monotonic())

    # -- the algorithm (Spec 19.3) --------------------------------------------

    def handshake_id(self, body):
        if self.defect == "exact-body":
            text = body.decode("utf-8", "replace")
            if text.startswith('{"client-id":"') and text.endswith('"}') and text.count('"') == 4:
                return text[len('{"client-id":"'):-2], {}
            return None, None
        if self.defect == "prefix-body":
            text = body.decode("utf-8", "replace")
            prefix = '{"client-id":"'
            if text.startswith(prefix) and '"' in text[len(prefix):]:
                return text[len(prefix):text.index('"', len(prefix))], {}
            return None, None
        pairs = []
        try:
            obj = json.loads(body.decode("utf-8"), object_pairs_hook=lambda items: pairs.append(items) or dict(items))
        except (UnicodeDecodeError, ValueError):
            return None, None
        if not isinstance(obj, dict):
            return None, None
        top = pairs[-1]           # the outermost object is built last
        ids = [value for key, value in top if key == "client-id"]
        if len(ids) != 1 or not isinstance(ids[0], str) or len(ids[0].encode("utf-8")) < 10:
            return None, None
        return ids[0], obj

    def register(self):
        while True:
            try:
                status, response, body = self.request("client-id=0", 30)
            except (Lost, TimedOut):
                self.backoff("lost connection")
                continue
            if status == 200:
                client_id, obj = self.handshake_id(body)
                if client_id is None:
                    self.backoff("200 that is not a handshake object")
                    continue
                shared = os.environ.get("GPOLL_SHARED_ID_FILE")
                if self.defect == "shared-id" and shared:
                    if os.path.exists(shared):
                        client_id = open(shared).read()
                    else:
                        open(shared, "w").write(client_id)
                self.id = client_id
                timeout = obj.get("poll-timeout")
                self.t = float(timeout) if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) \
                    and self.defect != "timeout-30" else None
                extensions = obj.get("extensions")
                self.use_ack = self.want_ack and isinstance(extensions, list) and "ack" in extensions
                if self.defect != "ack-no-reset":
                    self.acked = 0
                if self.defect == "prints-id":
                    sys.stderr.write("registered as %s\n" % client_id)
                if self.had_id:
                    if self.defect != "no-gap":
                        emit(**{"event": "registered-again", "client-id": client_id, "missed": True})
                else:
                    emit(**{"event": "registered", "client-id": client_id})
                self.had_id = True
                self.failures = 0
                self.first_poll = True
                return
            seconds = self.retry_after(response) if status in (429, 503) else None
            if seconds is not None:
                self.wait_retry_after(seconds, status)
                continue
            self.backoff("%d %s" % (status, response.reason))

    def timeout(self):
        if self.defect == "short-timeout":
            return 3.0
        if self.defect == "timeout-30":
            return 30.0
        if self.defect == "two-polls":
            return 5.0
        return self.t + 5 if self.t else UNKNOWN_T_TIMEOUT

    def deliver(self, body):
        event = {"event": "message", "data": base64.b64encode(body).decode("ascii")}
        if self.defect == "text-messages":
            body = body.decode("utf-8", "replace").strip().encode("utf-8")
            event["data"] = base64.b64encode(body).decode("ascii")
        try:
            event["text"] = body.decode("utf-8")
        except UnicodeDecodeError:
            pass
        emit(**event)

    def poll_once(self, target=None):
        """One poll; returns False when the client must register again."""
        query = "client-id=" + self.encode(self.id)
        if self.use_ack:
            query += "&ack=%d" % self.acked
        started = time.monotonic()
        method = "POST" if self.defect == "post" else "GET"
        try:
            status, response, body = self.request(query, self.timeout(), method=method, target=target)
        except TimedOut:
            return True                     # close, poll again at once (CL-15, CL-26)
        except Lost:
            if self.defect == "reregister-on-drop":
                return False
            self.lost += 1
            if self.lost >= 2:
                self.backoff("lost connection")
            return True
        fresh, self.first_poll = self.first_poll, False
        if self.defect == "slow-after-answer":
            time.sleep(1.5)
        if status == 200:
            sequence = response.getheader("GPoll-Sequence")
            if self.use_ack and sequence is not None and sequence.isdigit():
                if int(sequence) > self.acked or self.defect == "no-dedupe":
                    self.deliver(body)
                self.acked = max(self.acked, int(sequence))
            else:
                self.deliver(body)
                self.use_ack = False
            self.failures = self.lost = self.early = 0
            return True
        if status == 204:
            self.lost = 0
            limit = self.t - 1 if self.t else 1.0
            if time.monotonic() - started < limit:
                self.early += 1
                if self.early >= 2 and self.defect != "always-repoll":
                    self.early = 0
                    return False
            else:
                self.early = 0
            return True
        if status == 404:
            if self.defect == "poll-after-404":
                return True
            if fresh:
                self.backoff("404 to the first poll of a new id")
            return False
        seconds = self.retry_after(response) if status in (429, 503) else None
        if seconds is not None:
            self.wait_retry_after(seconds, status)
            return True
        if 300 <= status < 400:
            location = response.getheader("Location")
            if self.defect == "follow-redirects" and location:
                return self.poll_once(target=urllib.parse.urljoin(self.url.geturl(), location))
            self.backoff("%d %s (not followed)" % (status, response.reason))
            return True
        if 400 <= status < 500 and status != 429:
            if self.defect == "repoll-on-4xx":
                return True
            self.backoff("%d %s" % (status, response.reason))
            return False
        self.backoff("%d %s" % (status, response.reason))
        return True

    def run(self):
        while True:
            self.register()
            while self.poll_once():
                pass


def main():
    args = sys.argv[1:]
    use_ack = "--ack" in args
    defect = None
    if "--defect" in args:
        defect = args[args.index("--defect") + 1]
        if defect not in DEFECTS:
            sys.exit("unknown defect %r; known: %s" % (defect, ", ".join(sorted(DEFECTS))))
    urls = [a for a in args if a.startswith("http")]
    if len(urls) != 1:
        sys.exit("usage: gpoll_client.py URL [--ack] [--defect NAME]")

    def stop(signum, frame):
        emit(event="closed", reason="SIGTERM")
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    Client(urls[0], use_ack, defect).run()


if __name__ == "__main__":
    main()
