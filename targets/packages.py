"""Where the local VPS's ProxySQL comes from (neither Debian nor PyPI carries ProxySQL).

In this order, the first that applies:
  1. PEAKREADY_PROXYSQL_DEB: a package you were handed (checked like any proxysql_deb knob);
  2. a proxysql_*.deb in a shared/packages/ folder beside the checkout (a Debian 12 build: used on a
     bookworm VPS only);
  3. ProxySQL's official apt repository, when it answers (a machine with internet gets the real
     thing, the release series following the VPS's Debian release, as on a real server); not even
     tried with PEAKREADY_PROXYSQL_REPOSITORY=off, which `make test` sets unless told otherwise: a
     test run sends nothing beyond this machine (the GitHub workflow sets it to on: its runner is
     where the official repository is reachable);
  4. none: ProxySQL off on this VPS, the app talking to MariaDB directly, and one line says why.

inventories/docker.py, the tests and bench/run.py all ask `proxysql_package(release)`.
"""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_PACKAGES = ROOT.parent / "shared" / "packages"
# The release the packages in SHARED_PACKAGES are built for (its README says so).
SHARED_RELEASE = "bookworm"
REPOSITORY = ("repo.proxysql.com", 443)
REPOSITORY_TIMEOUT_S = 3


@dataclass(frozen=True)
class ProxysqlPackage:
    enabled: bool
    deb: str  # "" with the repository, or when off
    why: str  # one line: where it comes from, or why ProxySQL is off

    @property
    def data(self) -> dict:
        """The host data inventories/docker.py gives the VPS."""
        return {"proxysql_enabled": self.enabled, "proxysql_deb": self.deb}


def shared_debs() -> list[Path]:
    return sorted(SHARED_PACKAGES.glob("proxysql_*.deb")) if SHARED_PACKAGES.is_dir() else []


@functools.cache
def repository_answers() -> bool:
    """One bounded TCP connect to ProxySQL's repository (only asked when no package was found)."""
    try:
        with socket.create_connection(REPOSITORY, timeout=REPOSITORY_TIMEOUT_S):
            return True
    except OSError:
        return False


def proxysql_required() -> bool:
    """PEAKREADY_PROXYSQL_REQUIRED=1: a ProxySQL test fails where it would skip for want of a package."""
    return os.environ.get("PEAKREADY_PROXYSQL_REQUIRED") == "1"


def proxysql_package(release: str) -> ProxysqlPackage:
    given = os.environ.get("PEAKREADY_PROXYSQL_DEB", "")
    if given:
        return ProxysqlPackage(True, given, f"ProxySQL from {given} (PEAKREADY_PROXYSQL_DEB)")
    debs = shared_debs()
    if debs and release == SHARED_RELEASE:
        return ProxysqlPackage(True, str(debs[-1]), f"ProxySQL from {debs[-1].name} ({SHARED_PACKAGES})")
    offline = os.environ.get("PEAKREADY_PROXYSQL_REPOSITORY") == "off"
    if not offline and repository_answers():
        return ProxysqlPackage(True, "", "ProxySQL from its official repository")
    reason = (f"the package in {SHARED_PACKAGES} is a {SHARED_RELEASE} build and this VPS runs {release}"
              if debs else "PEAKREADY_PROXYSQL_DEB is not set, no proxysql_*.deb is in "
              f"{SHARED_PACKAGES}")
    repository = ("ProxySQL's repository is not tried (PEAKREADY_PROXYSQL_REPOSITORY=off)" if offline
                  else "ProxySQL's repository does not answer")
    return ProxysqlPackage(False, "", f"no ProxySQL on this VPS: {reason}, and {repository}; the app connects "
                                      "to MariaDB directly")
