"""The local VPSes of `make bench` and the machine they run on: each started and stopped, deployed
with pyinfra (timed, its changes counted), and the L0 reference added to peakready's."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.scenarios import L0_PORT
from peakready import ROOT
from targets import vps

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
NETWORK = "peakready-bench"

# Knobs every deploy of peakready in this run gets (run.py sets them for --short).
PEAKREADY_DATA: list[str] = []


def up(names: dict[str, str], release: str) -> None:
    """The run's VPSes, one a profile, on the benchmark's network."""
    for name in names.values():
        vps.up(name, release, NETWORK)


def down(names: dict[str, str]) -> None:
    for name in names.values():
        vps.down(name)


def timed_deploy(name: str, deploy_file: str, *extra: str) -> dict:
    start = time.monotonic()
    if deploy_file == "deploy.py":
        extra = (*PEAKREADY_DATA, *extra)
    res = subprocess.run([PYINFRA, "-y", "--json", "inventories/docker.py", deploy_file, *extra],
                         cwd=ROOT, env=dict(os.environ, PEAKREADY_VPS=name), capture_output=True, text=True,
                         timeout=1200)
    seconds = round(time.monotonic() - start, 1)
    if res.returncode != 0:
        raise SystemExit(f"bench: deploying {deploy_file} onto {name} failed:\n{res.stderr[-3000:]}")
    ops = json.loads(res.stdout)["results"]["operations"]
    return {"seconds": seconds, "operations": len(ops), "changed": sum(1 for op in ops if op["success"])}


BASELINE_DATA = ("--data", "app_workers=1", "--data", "app_cache=false", "--data", "proxysql_enabled=false",
                 "--data", "monitoring=false")
L0_CONF = (f"server {{\n    listen 127.0.0.1:{L0_PORT};\n    access_log off;\n    default_type application/json;\n"
           "    location / { return 200 '{\"status\":\"ok\"}'; }\n}\n")


def add_l0(name: str) -> None:
    """The L0 reference: a server in the peakready VPS's own nginx that answers without upstream."""
    vps.sh(name, "cat > /etc/nginx/conf.d/peakready-bench-l0.conf && nginx -t -q && systemctl reload nginx",
           stdin=L0_CONF)
    time.sleep(1)  # the reload is graceful: new workers take over


def machine() -> dict:
    model = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    virt = subprocess.run(["systemd-detect-virt"], capture_output=True, text=True).stdout.strip() or "unknown"
    docker = subprocess.run(["docker", "version", "-f", "{{.Server.Version}}"], capture_output=True,
                            text=True).stdout.strip()
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    return {"cores": os.cpu_count(), "cpu": model.group(1) if model else "?", "ram_gb": round(mem_kb / 2**20, 1),
            "kernel": platform.release(), "virtualization": virt, "docker": docker, "wrk": wrk_version.strip()}
