#!/usr/bin/env python3
"""What one client costs the host's memory, behind peakready's nginx: the plan's NGINX_IDLE_CLIENT_KB
and NGINX_ACTIVE_REQUEST_KB (peakready/plan/estimates.py) come from this.

    .venv/bin/python bench/nginx_memory.py [--vps peakready-vps] [--clients 4000] [--requests 150]

On a deployed local VPS (`make up`), from inside it (its 127.0.0.1, no load leaves it):
  slots    what a slot of worker_connections costs (each is allocated when a worker starts): the
          workers' resident memory with twice the planned worker_connections (nginx reloaded, then
          put back), per slot added;
  idle    --clients keep-alive connections, each after one answer nginx gives itself, left idle:
          the nginx workers' resident memory before and after, per client; and the kernel's part
          of each socket (the slab objects one accepted TCP connection holds, sizes read from this
          machine's /proc/slabinfo, whose kernel the VPS shares);
  active  --requests requests held in flight to the app (its workers stopped with SIGSTOP, then
          continued): the workers' memory per request, on top of an idle client.
Writes bench/results/nginx-memory.json and prints it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from targets import vps  # noqa: E402

# Run inside the VPS with its own python3: opens the connections and reads nginx's memory.
PROBE = r'''
import json, resource, socket, subprocess, sys, time
clients, requests, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
def rss_kb():
    """The resident memory of nginx's workers (not its master, cache manager or loader)."""
    pids = subprocess.run(["pgrep", "-f", "^nginx: worker"], capture_output=True, text=True).stdout.split()
    total = 0
    for pid in pids:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total
def answer(s):
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
    while len(body) < length:
        body += s.recv(65536)
    return head.split(b" ")[1]
def reload_with(connections):
    """nginx reloaded with worker_connections = connections (its own config file, put back after)."""
    subprocess.run(["sed", "-i", "-E", f"s/worker_connections [0-9]+;/worker_connections {connections};/",
                    "/etc/nginx/nginx.conf"], check=True)
    subprocess.run(["nginx", "-t", "-q"], check=True)
    subprocess.run(["systemctl", "reload", "nginx"], check=True)
    time.sleep(3)  # the old workers finish, the new ones start
import re
planned = int(re.search(r"worker_connections (\d+);", open("/etc/nginx/nginx.conf").read()).group(1))
reload_with(planned)  # fresh workers: nothing freed earlier to reuse
out, socks = {"before_kb": rss_kb()}, []
if mode == "slots":
    # Every slot of worker_connections is allocated and set up when a worker starts, used or not.
    try:
        reload_with(2 * planned)
        out["after_kb"] = rss_kb()
    finally:
        reload_with(planned)
    out["workers"] = len(subprocess.run(["pgrep", "-f", "^nginx: worker"], capture_output=True, text=True).stdout.split())
    out["slots_added"] = planned * out["workers"]
elif mode == "idle":
    for _ in range(clients):
        s = socket.create_connection(("127.0.0.1", 80))
        s.sendall(b"GET /no-such-page HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert answer(s) == b"404"
        socks.append(s)
    time.sleep(2)
    out["after_kb"] = rss_kb()
else:
    app = sys.argv[4]
    subprocess.run(["systemctl", "kill", "--signal=SIGSTOP", app], check=True)
    try:
        for i in range(requests):
            s = socket.create_connection(("127.0.0.1", 80))
            s.sendall(b"GET /api/v1/outlets/1/availability?date=2030-01-0%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % (i % 9 + 1))
            socks.append(s)
        time.sleep(3)
        out["after_kb"] = rss_kb()
    finally:
        subprocess.run(["systemctl", "kill", "--signal=SIGCONT", app], check=True)
for s in socks:
    s.close()
print(json.dumps(out))
'''

# The slab objects the kernel holds for one accepted TCP connection handed to a process: the socket
# (TCP), its inode (sock_inode_cache), the open file (filp), its dentry, and the epoll entry.
SLABS = ("TCP", "sock_inode_cache", "filp", "dentry", "eventpoll_epi")


def kernel_socket_kb() -> float:
    sizes = {}
    for line in Path("/proc/slabinfo").read_text().splitlines()[2:]:
        fields = line.split()
        if fields[0] in SLABS:
            sizes[fields[0]] = int(fields[3])  # objsize, bytes
    missing = set(SLABS) - set(sizes)
    if missing:
        raise SystemExit(f"nginx_memory: no slab cache {', '.join(sorted(missing))} in /proc/slabinfo")
    return sum(sizes.values()) / 1024


def probe(name: str, *args: str) -> dict:
    out = vps.sh(name, "python3 - " + " ".join(args), stdin=PROBE)
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vps", default=vps.DEFAULT_NAME)
    ap.add_argument("--clients", type=int, default=4000)
    ap.add_argument("--requests", type=int, default=150)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "nginx-memory.json")
    args = ap.parse_args()
    if not 100 <= args.clients <= 20000 or not 10 <= args.requests <= 1000:
        ap.error("--clients 100 to 20000, --requests 10 to 1000")
    slots = probe(args.vps, "0", "0", "slots")
    idle = probe(args.vps, str(args.clients), "0", "idle")
    active = probe(args.vps, "0", str(args.requests), "active", "peakready-app.service")
    kernel = kernel_socket_kb()
    slot_kb = (slots["after_kb"] - slots["before_kb"]) / slots["slots_added"]
    idle_kb = (idle["after_kb"] - idle["before_kb"]) / args.clients
    # A request in flight holds its client's connection too: what it adds beyond an idle client.
    active_kb = (active["after_kb"] - active["before_kb"]) / args.requests - idle_kb
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "bench/nginx_memory.py " + " ".join(sys.argv[1:]),
        "clients": args.clients, "requests": args.requests,
        "nginx_slot_kb": round(slot_kb, 2),
        "nginx_idle_client_kb": round(idle_kb, 2),
        "kernel_socket_kb": round(kernel, 2),
        "idle_client_kb": round(slot_kb + idle_kb + kernel, 2),
        "active_request_kb": round(active_kb, 2),
        "raw": {"slots": slots, "idle": idle, "active": active},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
