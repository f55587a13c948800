"""Is everything answering? Run inside a VPS's network namespace (nsenter --net), stdlib only:
every 0.1 s, GET /health (must say "ok": MariaDB and Redis answer) and GET PATH through nginx on
127.0.0.1. Prints a JSON line [unix time, ok] at start and at each change, and at the end.

    python3 probe.py SECONDS PATH
"""

import http.client
import json
import sys
import time

seconds, path = float(sys.argv[1]), sys.argv[2]
end = time.time() + min(seconds, 300)  # bounded in time; at most 10 requests a second


def get(conn_path):
    conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=2)
    try:
        # Authorization: past nginx's micro-cache, so the probe sees the app itself (test_faults.py).
        conn.request("GET", conn_path, headers={"Host": "localhost", "Authorization": "Bearer past-the-micro-cache"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def everything_answers():
    try:
        status, body = get("/health")
        if status != 200 or json.loads(body).get("status") != "ok":
            return False
        return get(path)[0] == 200
    except (OSError, http.client.HTTPException, ValueError):
        return False


last = None
while time.time() < end:
    now, ok = time.time(), everything_answers()
    if ok != last:
        print(json.dumps([now, ok]), flush=True)
        last = ok
    time.sleep(0.1)
print(json.dumps([time.time(), last]), flush=True)
