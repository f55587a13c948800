#!/usr/bin/env python3
"""Everything `make test` runs on this machine, in one place, before any suite starts:

    .venv/bin/python targets/tools.py      # `make tools`, the first step of `make test`

the Docker engine (installed and started by targets/vps.py's ensure_engine: every VPS, and the
Vagrant box's docker provider, need it before `make vagrant` runs beside `make infra`), wrk (the
load of the infra, fault and user-app tests, and the benchmark), Vagrant (`make vagrant`) and
ShellCheck (tests/unit/test_ci_files.py). As root on Debian the missing ones are installed with apt
in one go; anywhere else the run stops here with one line naming them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from targets import vps  # noqa: E402

# command -> the Debian package that provides it
TOOLS = {"wrk": "wrk", "vagrant": "vagrant", "shellcheck": "shellcheck"}


def missing() -> dict[str, str]:
    return {tool: package for tool, package in TOOLS.items() if not shutil.which(tool)}


def ensure() -> None:
    """Install what is missing (root on Debian) or raise VpsError naming it, then start the engine."""
    need = missing()
    if need:
        packages = sorted(set(need.values()))
        if not (os.geteuid() == 0 and vps.is_debian() and shutil.which("apt-get")):
            raise vps.VpsError(f"{', '.join(need)} not found: on Debian, as root, "
                               f"`apt-get install --no-install-recommends {' '.join(packages)}`, then run this again.")
        vps.log(f"installing {' '.join(packages)} with apt ({', '.join(need)} missing)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], env=env, check=True)
    vps.ensure_engine()


def main() -> int:
    try:
        ensure()
    except vps.VpsError as exc:
        print(f"peakready: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
