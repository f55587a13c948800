"""Bounded traffic inside lb, to its own nginx on 127.0.0.1, or from a backup host to the nginx of
the VPS beside it (ADDRESS, its address on their Docker network; stdlib only): readers GET the menu and
writers POST bookings, each with its own Idempotency-Key, until the time or the request budget runs
out. Prints one JSON object: every request as [sent_at (epoch s), kind, status or error, answered_at
(epoch s: when its answer or error came)], the keys of the bookings nginx answered 201 for
(acknowledged), and each of those as [key, sent_at, answered_at] (acked).

    python3 - SECONDS MAX_REQUESTS READERS WRITERS [ADDRESS [STOP]] < traffic.py

STOP is a file: once it exists, no request is sent any more (those in flight are answered or time out),
and the summary is printed: how a drill ends its stream once the loss it measures has happened.
"""

import http.client
import json
import os
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

seconds, budget, readers, writers = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
address = sys.argv[5] if len(sys.argv) > 5 else "127.0.0.1"
stop = sys.argv[6] if len(sys.argv) > 6 else None
deadline = time.monotonic() + seconds
lock = threading.Lock()
log, acknowledged, acked = [], [], []
HEADERS = {"Host": "localhost", "Content-Type": "application/json"}


def booking() -> str:
    when = datetime.now(UTC) + timedelta(days=7, minutes=len(log) % 600)
    return json.dumps({"outlet_id": 1, "name": "Load", "phone": "+62 812 5550 1234", "party_size": 2,
                       "time": when.replace(microsecond=0).isoformat()})


def worker(kind: str) -> None:
    while time.monotonic() < deadline and not (stop and os.path.exists(stop)):
        with lock:
            if len(log) >= budget:
                return
        sent, key = time.time(), f"multi-{uuid.uuid4().hex}"
        try:
            conn = http.client.HTTPConnection(address, 80, timeout=10)
            if kind == "write":
                conn.request("POST", "/api/v1/bookings", body=booking(), headers={**HEADERS, "Idempotency-Key": key})
            else:
                conn.request("GET", "/api/v1/menu?outlet=2", headers=HEADERS)
            response = conn.getresponse()
            response.read()
            conn.close()
            outcome = response.status
        except Exception as exc:  # every failure is counted, by kind
            outcome = type(exc).__name__
        with lock:
            log.append([round(sent, 3), kind, outcome, round(time.time(), 3)])
            if outcome == 201:
                acknowledged.append(key)
                acked.append([key, round(sent, 3), round(time.time(), 3)])
        time.sleep(0.02)  # a steady stream, not a flood: the point is what fails, not how much fits


pool = [threading.Thread(target=worker, args=("read",)) for _ in range(readers)]
pool += [threading.Thread(target=worker, args=("write",)) for _ in range(writers)]
for t in pool:
    t.start()
for t in pool:
    t.join()
print(json.dumps({"log": log, "acknowledged": acknowledged, "acked": acked}))
