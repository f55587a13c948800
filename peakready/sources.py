"""Where a package Debian does not carry comes from: ProxySQL's official apt repository."""

from __future__ import annotations

# The series ProxySQL builds for each Debian release (proxysql_series = ""): 2.7.x stops at
# bookworm, trixie starts with 3.0.x.
SERIES_BY_CODENAME = {"bookworm": "2.7.x", "trixie": "3.0.x"}
PROXYSQL_REPOSITORY = "https://repo.proxysql.com/ProxySQL"


def proxysql_repository(series: str, codename: str) -> dict:
    """ProxySQL's apt repository for `codename`: {"series", "url" (deb822 URIs), "key"}."""
    series = series or SERIES_BY_CODENAME.get(codename, SERIES_BY_CODENAME["trixie"])
    return {"series": series, "codename": codename, "url": f"{PROXYSQL_REPOSITORY}/proxysql-{series}/{codename}/",
            "key": f"{PROXYSQL_REPOSITORY}/proxysql-{series}/repo_pub_key.gpg"}
