#!/usr/bin/env python3
"""The reference multi-host topology on this machine: five local VPSes on one Docker network.

    .venv/bin/python targets/multi.py up   [--prefix peakready-multi] [--release bookworm]
    .venv/bin/python targets/multi.py down [--prefix peakready-multi]

Each host is a local VPS of targets/vps.py (systemd, sshd, its own address on the network named
after the prefix), sized like the small VPSes a team would rent for each tier, so the whole topology
fits this 2-core machine. inventories/docker_multi.py reads them (PEAKREADY_MULTI=<prefix>).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from targets import vps

DEFAULT_PREFIX = "peakready-multi"
# host -> (inventory groups, RAM, CPUs). Redis shares db1 with the primary: a cache host of its own
# would be a sixth VPS for a few hundred MB; the inventory moves it with one line. So do the backups:
# app2 pulls them (backup_servers), off the db hosts and off the public web host; a team gives them
# a small host of its own (docs/backups.md).
HOSTS = {
    "lb": (("web_servers", "monitoring"), "768m", "1"),
    "app1": (("app_servers",), "1g", "1"),
    "app2": (("app_servers", "backup_servers"), "1g", "1"),
    "db1": (("db_primary", "cache_servers"), "1536m", "1"),
    "db2": (("db_replicas",), "1g", "1"),
}


def container(prefix: str, host: str) -> str:
    return f"{prefix}-{host}"


def up(prefix: str, release: str) -> dict[str, dict]:
    return {host: vps.up(container(prefix, host), release, prefix, memory, cpus)
            for host, (_groups, memory, cpus) in HOSTS.items()}


def down(prefix: str) -> None:
    """The hosts, their network, and the primary promote.py recorded for them."""
    from peakready import topology

    for host in HOSTS:
        vps.down(container(prefix, host))
    topology.state_file(f"docker_multi-{prefix}").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("--prefix", default=os.environ.get("PEAKREADY_MULTI", DEFAULT_PREFIX))
    parser.add_argument("--release", default=os.environ.get("PEAKREADY_RELEASE", vps.DEFAULT_RELEASE))
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            infos = up(args.prefix, args.release)
            print(json.dumps({h: {"address": i["address"], "ssh": i["ports"]["ssh"], "http": i["ports"]["http"]}
                              for h, i in infos.items()}, indent=2))
        else:
            down(args.prefix)
    except (vps.VpsError, vps.DockerException) as exc:
        print(f"peakready: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
