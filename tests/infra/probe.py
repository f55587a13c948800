"""Is everything answering? Run inside a VPS's network namespace (nsenter --net), stdlib only:
every 0.1 s, GET /health (must say "ok": MariaDB and Redis answer) and GET PATH through nginx on
127.0.0.1. Prints a JSON line [unix time, ok] at start and at each change, and at the end.

    python3 probe.py SECONDS PATH [HEADER VALUE]   (one more header on every request)
"""

import http.client
import json
import sys
import time

seconds, path = float(sys.argv[1]), sys.argv[2]
extra = dict([sys.argv[3:5]]) if len(sys.argv) >= 5 else {}  # one more header: NAME VALUE
end = time.time() + min(seconds, 300)  # bounded in time; at most 10 requests a second


def get(conn_path):
    conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=2)
    try:
        conn.request("GET", conn_path, headers={"Host": "localhost", **extra})
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
