#!/usr/bin/env python3
"""A webhook receiver for the tests and the bench: checks each POST's
X-KVS-Infer-Signature the way the README tells a receiver to (HMAC-SHA256
over "<t>.<raw body>", at most 300 s old, compared in constant time),
answers 401 to a bad one, and can misbehave on purpose: --fail-first N
answers 503 to the first N requests (a 5xx storm), --slow-every K delays
every K-th answer by --slow-ms. Each accepted event is appended to --out as
one JSON line with "_received_ms" (wall clock) and the headers asked for
with --keep-header. Listens on 127.0.0.1 only; ends by itself after
--max-seconds."""
import argparse, hashlib, hmac, json, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--secret", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--rejected", help="a line per request refused for its signature")
ap.add_argument("--fail-first", type=int, default=0)
ap.add_argument("--slow-every", type=int, default=0)
ap.add_argument("--slow-ms", type=int, default=0)
ap.add_argument("--keep-header", action="append", default=[])
ap.add_argument("--max-seconds", type=int, default=600)
a = ap.parse_args()
lock = threading.Lock()
requests = 0


def verify(secret, header, body, now):
    """The receiver's check: the README's example, word for word."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
    except (AttributeError, KeyError, ValueError):
        return False
    if abs(now - t) > 300:  # an old message replayed
        return False
    want = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, parts.get("v1", ""))


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver

    def answer(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        global requests
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            requests += 1
            n = requests
        if n <= a.fail_first:
            return self.answer(503)
        if a.slow_every and n % a.slow_every == 0:
            time.sleep(a.slow_ms / 1000)
        if not verify(a.secret, self.headers.get("X-KVS-Infer-Signature"), body, time.time()):
            if a.rejected:
                with lock, open(a.rejected, "a") as f:
                    f.write(json.dumps({"signature": self.headers.get("X-KVS-Infer-Signature")}) + "\n")
            return self.answer(401)
        e = json.loads(body)
        e["_received_ms"] = int(time.time() * 1000)
        for h in a.keep_header:
            e["_h_" + h] = self.headers.get(h)
        with lock, open(a.out, "a") as f:
            f.write(json.dumps(e) + "\n")
        self.answer(204)

    def log_message(self, *args):
        pass


s = ThreadingHTTPServer(("127.0.0.1", a.port), H)
s.daemon_threads = True
threading.Timer(a.max_seconds, s.shutdown).start()
print("ready", flush=True)
s.serve_forever()
