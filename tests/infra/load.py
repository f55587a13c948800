"""A bounded HTTP load run inside the VPS (stdlib only): N threads GET one URL until the time or
the request budget runs out; prints a JSON summary. Only ever pointed at 127.0.0.1.

    python3 load.py URL SECONDS MAX_REQUESTS THREADS
"""

import http.client
import json
import sys
import threading
import time
from urllib.parse import urlsplit

url, seconds, budget, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
parts = urlsplit(url)
assert parts.hostname in ("127.0.0.1", "localhost"), "load only ever goes to this host's loopback"
deadline = time.monotonic() + seconds
lock = threading.Lock()
counts = {"ok": 0, "failed": 0, "statuses": {}, "errors": {}}


def get(conn):
    conn.request("GET", parts.path or "/")
    response = conn.getresponse()
    response.read()
    return response


def worker():
    conn, reused = None, False
    while time.monotonic() < deadline:
        with lock:
            if counts["ok"] + counts["failed"] >= budget:
                return
        try:
            if conn is None:
                conn, reused = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10), False
            try:
                response = get(conn)
            except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError):
                if not reused:
                    raise
                # The server closed an idle keep-alive connection as we sent on it: the request was
                # never read, and a GET is retried once on a new connection (RFC 9112 9.3.1; nginx
                # does the same with its upstream keepalive connections).
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                with lock:
                    counts["retried"] = counts.get("retried", 0) + 1
                response = get(conn)
            reused = True
            with lock:
                counts["statuses"][response.status] = counts["statuses"].get(response.status, 0) + 1
                counts["ok" if response.status < 500 else "failed"] += 1
            if response.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except Exception as exc:  # every failure is counted, by kind
            with lock:
                counts["failed"] += 1
                counts["errors"][type(exc).__name__] = counts["errors"].get(type(exc).__name__, 0) + 1
            if conn is not None:
                conn.close()
            conn = None


pool = [threading.Thread(target=worker) for _ in range(threads)]
for t in pool:
    t.start()
for t in pool:
    t.join()
print(json.dumps(counts))
