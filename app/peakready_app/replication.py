"""Replication as the app sees it, for /health and /metrics: each db server's read_only flag and
GTID position, read straight from it (ProxySQL would pick the server) with the app's own user and
no privilege beyond it (global variables are readable by anyone), within a second, and kept for
CACHE_S: one refresh at a time per worker, so health checks and scrapes open at most one connection
per db server per worker every CACHE_S.

DB_SERVERS lists them (set by peakready, primary first): "primary=10.0.0.5:3306,replica=10.0.0.6:3306".
A replica is "behind_transactions" behind the primary: the primary's GTID sequence minus its own.
"""

import asyncio
import re
import time
from typing import Any

from .config import DatabaseURL

TIMEOUT_S = 1.0
CACHE_S = 2.0
_cache: dict[str, Any] = {"at": 0.0, "status": None}
_refreshing = asyncio.Lock()  # one refresh at a time: callers meanwhile get its result


def seq(gtid_pos: str) -> int:
    """The highest sequence number of a GTID position ("0-1-42" -> 42)."""
    return max((int(n) for n in re.findall(r"\d+-\d+-(\d+)", gtid_pos or "")), default=0)


async def _read(url: DatabaseURL, host: str, port: int) -> dict | None:
    import asyncmy  # here: the unit tests import this module without the app's packages

    try:
        async with asyncio.timeout(TIMEOUT_S):
            conn = await asyncmy.connect(host=host, port=port, user=url.user, password=url.password,
                                         database=url.database, connect_timeout=1)
            try:
                async with conn.cursor() as cur:
                    await cur.execute("SELECT @@global.read_only, @@global.gtid_current_pos")
                    read_only, position = await cur.fetchone()
            finally:
                conn.close()
    except Exception:
        return None
    return {"read_only": bool(read_only), "seq": seq(position)}


async def status(url: DatabaseURL, servers: tuple[tuple[str, str, int], ...]) -> list[dict] | None:
    """Each db server's state, or None when there are no replicas (nothing to report)."""
    if not any(role == "replica" for role, _, _ in servers):
        return None
    async with _refreshing:
        if time.monotonic() - _cache["at"] >= CACHE_S:
            _cache.update(at=time.monotonic(), status=await _refresh(url, servers))
    return _cache["status"]


async def _refresh(url: DatabaseURL, servers: tuple[tuple[str, str, int], ...]) -> list[dict]:
    states = await asyncio.gather(*(_read(url, host, port) for _, host, port in servers))
    primary = next((s for (role, _, _), s in zip(servers, states) if role == "primary"), None)
    result = []
    for (role, host, port), state in zip(servers, states):
        entry = {"server": f"{host}:{port}", "role": role, "up": state is not None}
        if state is not None:
            entry["read_only"] = state["read_only"]
            if role == "replica" and primary is not None:
                entry["behind_transactions"] = max(0, primary["seq"] - state["seq"])
        result.append(entry)
    return result


def public(servers: list[dict] | None) -> list[dict] | None:
    """What /health shows (it answers anyone): the state, not the servers' private addresses."""
    return None if servers is None else [{k: v for k, v in s.items() if k != "server"} for s in servers]


def prometheus(servers: list[dict] | None) -> bytes:
    """The replication gauges in Prometheus' text format (empty without replicas)."""
    if not servers:
        return b""
    lines = ["# HELP peakready_db_server_up 1 when the app can reach the db server.",
             "# TYPE peakready_db_server_up gauge"]
    lines += [f'peakready_db_server_up{{server="{s["server"]}",role="{s["role"]}"}} {int(s["up"])}' for s in servers]
    lines += ["# HELP peakready_db_server_read_only 1 when the db server refuses writes (read_only).",
              "# TYPE peakready_db_server_read_only gauge"]
    lines += [f'peakready_db_server_read_only{{server="{s["server"]}",role="{s["role"]}"}} {int(s["read_only"])}'
              for s in servers if "read_only" in s]
    lines += ["# HELP peakready_db_replica_behind_transactions Transactions the replica has not applied yet.",
              "# TYPE peakready_db_replica_behind_transactions gauge"]
    lines += [f'peakready_db_replica_behind_transactions{{server="{s["server"]}"}} {s["behind_transactions"]}'
              for s in servers if "behind_transactions" in s]
    return ("\n".join(lines) + "\n").encode()
