#!/usr/bin/env python3
"""Everything `make test` runs on this machine, in one place, before any suite starts:

    .venv/bin/python targets/tools.py      # `make tools`, the first step of `make test`

the Docker engine (installed and started by targets/vps.py's ensure_engine: every VPS, and the
Vagrant box's docker provider, need it before `make vagrant` runs beside `make infra`), wrk (the
load of the infra, fault and user-app tests, and the benchmark), Vagrant (`make vagrant`) and
ShellCheck (tests/unit/test_ci_files.py). As root on Debian the missing ones are installed with apt
with the engine's own; anywhere else the run stops here with one line naming them.

First of all, ProxySQL for the test VPSes (targets/packages.py): no ProxySQL test may skip, so a run
that would deploy them without it stops here, with one line saying how to give it one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from targets import vps  # noqa: E402
from targets.packages import proxysql_package  # noqa: E402

# command -> the Debian package that provides it
TOOLS = {"wrk": "wrk", "vagrant": "vagrant", "shellcheck": "shellcheck"}


def ensure() -> None:
    """Install what is missing (root on Debian) or raise VpsError naming all of it at once, then start
    the engine: targets/vps.py's ensure_engine, with these tools beside its own."""
    proxysql()
    vps.ensure_engine(TOOLS)


def proxysql(release: str | None = None) -> None:
    """VpsError unless the test VPSes of `release` (the suites': PEAKREADY_RELEASE, else bookworm) get
    ProxySQL (a package, or its repository)."""
    release = release or os.environ.get("PEAKREADY_RELEASE", vps.DEFAULT_RELEASE)
    choice = proxysql_package(release)
    if not choice.enabled:
        raise vps.VpsError(f"the tests need ProxySQL on the local VPS, and it would get none ({choice.why}): give a "
                           f"proxysql .deb built for Debian {release} with PEAKREADY_PROXYSQL_DEB=<file>, or let it "
                           "come from ProxySQL's repository with PEAKREADY_PROXYSQL_REPOSITORY=on.")


def main() -> int:
    try:
        ensure()
    except vps.VpsError as exc:
        print(f"peakready: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
