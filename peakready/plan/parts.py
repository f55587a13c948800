"""One sizing function per service: what make_plan (sizing.py) calls, host by host, in the order
the numbers depend on each other."""

from __future__ import annotations

import math
import zlib
from dataclasses import replace

from peakready.plan.estimates import (
    APP_MASTER_MB,
    MARIADB_ARIA_CACHE_MB,
    MARIADB_BASE_MB,
    MARIADB_KEY_BUFFER_MB,
    MARIADB_LOG_BUFFER_MB,
    MARIADB_SESSION_BUFFERS_KB,
    MAX_SORT_BUFFER_KB,
    MAX_TMP_TABLE_MB,
    MIN_BUFFER_POOL_MB,
    MIN_REDIS_MB,
    MIN_SORT_BUFFER_KB,
    MIN_TMP_TABLE_MB,
    NGINX_ACTIVE_REQUEST_KB,
    NGINX_BASE_MB,
    NGINX_IDLE_CLIENT_KB,
    NGINX_WORKER_MB,
    OVERLOAD_FACTOR,
    PROXYSQL_BASE_MB,
    PROXYSQL_CLIENT_KB,
    PROXYSQL_CONN_KB,
    REDIS_BASE_MB,
    TABLE_OPEN_CACHE_INSTANCES,
)
from peakready.plan.model import (
    AppPlan,
    HostFacts,
    HostPlan,
    MariaDBPlan,
    NginxPlan,
    PlanError,
    ProxySQLPlan,
    RedisPlan,
    part,
)


def ceil_to(value: float, step: int) -> int:
    return int(math.ceil(value / step) * step)


def pow2_at_least(value: float) -> int:
    return 1 << max(0, math.ceil(math.log2(max(1, value))))


def nginx_memory_mb(workers: int, clients: int, upstream: int) -> int:
    """nginx with `clients` client connections open (idle), and one request in flight on each of
    its `upstream` connections (the most its door lets through, and the idle ones it keeps)."""
    return NGINX_BASE_MB + NGINX_WORKER_MB * workers + math.ceil(
        (clients * NGINX_IDLE_CLIENT_KB + upstream * NGINX_ACTIVE_REQUEST_KB) / 1024)


def size_nginx(h: HostFacts, k: dict, clients: int, backlog: int) -> NginxPlan:
    """nginx docs: one worker per core ("auto"). Connections for OVERLOAD_FACTOR x its clients (a
    spike that big gets an answer, a 503 for those beyond the door), and for its upstream ones: the
    requests the door lets through to the app hosts, the idle keepalive ones: worker_connections is
    set once the app hosts are sized (size_upstreams)."""
    workers = h.cores
    slots = OVERLOAD_FACTOR * clients
    return NginxPlan(worker_processes=workers, worker_connections=k["nginx_worker_connections"] or 0,
                     worker_rlimit_nofile=k["nginx_worker_rlimit_nofile"] or 0, backlog=backlog, clients=clients,
                     slots=slots)


def size_upstreams(plans: dict[str, HostPlan], by_role: dict, k: dict) -> None:
    """Once the app hosts are sized: each web host's share of every app host's door (max_conns), and
    its worker_connections for its clients and those upstream connections, 25 % over: reuseport
    spreads new connections over the workers by a hash, not evenly (its memory was taken before the
    share, for the most the app hosts could take)."""
    webs = [plans[h.name] for h in by_role["web"]]
    for p in webs:
        n = part(p.nginx, "nginx")
        door = {h.name: max(1, math.ceil(part(plans[h.name].app, "app").max_in_flight / len(webs))) for h in by_role["app"]}
        upstream = sum(door.values()) + k["nginx_upstream_keepalive"] * n.worker_processes
        wc = k["nginx_worker_connections"] or max(1024, ceil_to((n.slots + upstream) * 1.25 / n.worker_processes, 256))
        # nginx docs (worker_rlimit_nofile): each connection may also hold an open file.
        p.nginx = replace(n, worker_connections=wc, worker_rlimit_nofile=k["nginx_worker_rlimit_nofile"] or 2 * wc,
                          app_max_conns=door)


def proxysql_budget_mb(h: HostFacts, k: dict) -> int:
    """ProxySQL's memory, taken before the share, so before the worker count is known: sized for the
    most workers this host could run (an upper bound), its clients doubled as the frontend below."""
    most_conns = (k["app_workers"] or derived_workers(h.cores, k)) * (k["db_pool_size"] + k["db_pool_overflow"])
    return PROXYSQL_BASE_MB + math.ceil((2 * most_conns * PROXYSQL_CLIENT_KB + most_conns * PROXYSQL_CONN_KB) / 1024)


def derived_workers(cores: int, k: dict) -> int:
    """app_workers = 0: the workers a host of `cores` runs, before RAM caps them.

    Async workers (uvicorn) one per core, at least two (one recycled never leaves the host without a
    worker): make bench's worker sweep (bench/results/2026-11-27.md, "App workers") on 2 cores beside
    MariaDB, Redis, ProxySQL and nginx gave, from 2 to 5 workers, the same throughput within the noise
    on every DB-bound and cached scenario (health -15 %, availability +5 %, booking +1 %, the cached
    read -8 %) and a p99 that grew with each worker past the cores (health 24 -> 59 ms, booking
    47 -> 65 ms, the cached read 33 -> 70 ms). Sync and gthread workers serve a request (a thread) at
    a time and wait on the database: gunicorn's 2 x cores + 1."""
    if k["app_worker_class"] == "uvicorn":
        return max(2, cores)
    return 2 * cores + 1


def size_app(h: HostFacts, k: dict, share_mb: float, backlog: int) -> AppPlan:
    by_memory = int((share_mb - APP_MASTER_MB) // k["app_worker_memory_mb"])
    workers = k["app_workers"] or min(derived_workers(h.cores, k), by_memory)
    if workers < 1:
        raise PlanError(
            f"on {h.name} ({h.ram_mb} MB) no app worker of app_worker_memory_mb = {k['app_worker_memory_mb']} fits "
            f"the app's {int(share_mb)} MB: lower app_worker_memory_mb or raise memory_weight_app.")
    return AppPlan(
        workers=workers,
        # A cgroup ceiling above every worker's cap, so recycling (graceful) comes before the OOM kill.
        memory_max_mb=ceil_to(APP_MASTER_MB + workers * k["app_worker_memory_mb"] * 1.25, 16),
        db_connections=workers * (k["db_pool_size"] + k["db_pool_overflow"]),
        # gunicorn --keep-alive must outlast nginx's idle upstream connections, or nginx reuses
        # one the app just closed and the client gets a 502.
        keepalive_s=k["nginx_upstream_keepalive_timeout_s"] + 5,
        backlog=backlog,
        threads=worker_threads(k),
        max_in_flight=in_flight(workers, k),
    )


def worker_threads(k: dict) -> int:
    """A WSGI thread holds a database connection while it serves (Django: one per thread), so gthread
    gets as many threads as a worker's pool may open; sync and uvicorn workers need none."""
    return k["db_pool_size"] + k["db_pool_overflow"] if k["app_worker_class"] == "gthread" else 1


def in_flight(workers: int, k: dict) -> int:
    """The requests an app host of `workers` takes at once (nginx's door, upstream max_conns):
    app_worker_concurrency a worker, served or waiting (an async worker serves them together; a
    sync or gthread worker serves one a thread and the rest wait in its listen queue)."""
    return workers * k["app_worker_concurrency"]


def size_proxysql(h: HostFacts, k: dict, app: AppPlan, backlog: int) -> ProxySQLPlan:
    # A graceful reload runs the new workers' pools beside the old ones' for a moment: twice the
    # app's connections, plus headroom (a client costs ProxySQL a session, no backend).
    db_conns = app.db_connections
    return ProxySQLPlan(
        # ProxySQL docs (mysql-threads): one thread per core.
        mysql_threads=h.cores,
        max_connections=k["proxysql_max_connections"] or 2 * db_conns + max(16, math.ceil(db_conns * 0.25)),
        backend_max_connections=max(1, math.ceil(db_conns * k["proxysql_backend_share"])),
        # Recycle idle backend connections well before MariaDB's wait_timeout closes them
        # (ProxySQL docs, mysql-connection_max_age_ms).
        connection_max_age_ms=k["mariadb_wait_timeout_s"] // 2 * 1000,
        backlog=backlog,
    )


def size_redis(h: HostFacts, k: dict, share_mb: float, backlog: int) -> RedisPlan:
    # Redis docs (persistence, admin): an AOF rewrite forks; copy-on-write can need up to
    # maxmemory again, so fork headroom is budgeted beside it.
    maxmemory = k["redis_maxmemory_mb"] or int((share_mb - REDIS_BASE_MB) / (1 + k["redis_fork_headroom"]))
    if maxmemory < MIN_REDIS_MB:
        raise PlanError(
            f"on {h.name} Redis would get {maxmemory} MB (less than {MIN_REDIS_MB}): raise memory_weight_cache "
            "or redis_maxmemory_mb, or give the host more RAM.")
    return RedisPlan(maxmemory_mb=maxmemory, fork_headroom_mb=math.ceil(maxmemory * k["redis_fork_headroom"]),
                     tcp_backlog=backlog)


def size_mariadb(plans: dict[str, HostPlan], by_role: dict, k: dict, backlog: int) -> None:
    """MariaDB's connections come from every app host; its memory from its own host's share."""
    app_plans = [plans[h.name] for h in by_role["app"]]
    to_db = sum(p.proxysql.backend_max_connections if p.proxysql else part(p.app, "app").db_connections for p in app_plans)
    max_connections = k["mariadb_max_connections"] or to_db + k["mariadb_reserved_connections"]
    ids = server_ids([h.name for h in by_role["db"]])
    for h in by_role["db"]:
        server_id = ids[h.name]
        p = plans[h.name]
        session = session_buffers(p.share_mb["db"], max_connections, k)
        overhead = MARIADB_BASE_MB + math.ceil(max_connections * session_kb(session) / 1024)
        # MariaDB's buffer pool is sized in whole 8 MB steps here (it rounds to its chunk size).
        pool = k["mariadb_buffer_pool_mb"] or int((p.share_mb["db"] - overhead) // 8 * 8)
        if pool < MIN_BUFFER_POOL_MB:
            raise PlanError(
                f"on {h.name} ({h.ram_mb} MB) MariaDB's buffer pool would be {pool} MB (less than {MIN_BUFFER_POOL_MB}) "
                f"beside {max_connections} connections at their worst: raise memory_weight_db, lower db_pool_size or "
                "app_workers (or mariadb_session_memory_share), or give the host more RAM.")
        p.mariadb = mariadb_settings(server_id, "db_primary" in h.groups, pool, max_connections, backlog,
                                     session, worst_case_mb=pool + overhead)
        p.memory_mb["MariaDB"] = pool + overhead


def server_ids(names: list[str]) -> dict[str, int]:
    """Each db host's server_id: unique in the topology, and its own for good (from its name), so
    neither promote.py nor adding or removing a replica renumbers (and restarts) the others. A lone
    db host is 1 (its first replica changes its config, read_only and semi-sync, anyway)."""
    if len(names) == 1:
        return {names[0]: 1}
    ids = {name: 2 + zlib.crc32(name.encode()) % (2**32 - 3) for name in names}
    if len(set(ids.values())) < len(ids):
        raise PlanError(f"db hosts {', '.join(sorted(names))} would share a server_id: rename one of them.")
    return ids


def session_buffers(share_mb: float, max_connections: int, k: dict) -> dict[str, int]:
    """Each connection's buffers (KB), so that every connection at its worst at once stays within
    mariadb_session_memory_share of MariaDB's memory: MariaDB's defaults for the small ones, then a
    sort buffer (up to MariaDB's default, a quarter of what is left) and in-memory temporary tables
    (tmp_table_size = max_heap_table_size) as big as the rest allows."""
    per_connection_kb = share_mb * k["mariadb_session_memory_share"] * 1024 / max_connections
    left_kb = per_connection_kb - sum(MARIADB_SESSION_BUFFERS_KB.values())
    sort_kb = min(MAX_SORT_BUFFER_KB, max(MIN_SORT_BUFFER_KB, int(left_kb / 4) // 64 * 64))
    # At the least MIN_TMP_TABLE_MB: when even that does not fit, the buffer pool (or the worst-case
    # rule) refuses the plan, naming the knobs.
    tmp_mb = max(MIN_TMP_TABLE_MB, min(MAX_TMP_TABLE_MB, int((left_kb - sort_kb) // 1024)))
    return {**MARIADB_SESSION_BUFFERS_KB, "sort_buffer_size": sort_kb,
            "tmp_table_size": tmp_mb * 1024, "max_heap_table_size": tmp_mb * 1024}


def session_kb(session: dict[str, int]) -> int:
    """One connection at its worst: every buffer, and one in-memory temporary table (max_heap_table_size
    is the same bound, not a second table)."""
    return sum(v for name, v in session.items() if name != "max_heap_table_size")


def mariadb_settings(server_id: int, primary: bool, pool: int, max_connections: int, backlog: int,
                     session: dict[str, int], worst_case_mb: int) -> MariaDBPlan:
    # MySQL docs (table_open_cache): max_connections x tables per join (4 here), within reason.
    table_open_cache = min(4000, max(400, max_connections * 4))
    return MariaDBPlan(
        # Replication needs a server_id unique in the topology.
        server_id=server_id, primary=primary,
        innodb_buffer_pool_mb=pool,
        # A quarter of the buffer pool, a common starting point for the redo log (MariaDB KB,
        # InnoDB redo log): big enough that checkpoints do not throttle write bursts.
        innodb_log_file_mb=min(2048, max(48, pool // 4)),
        innodb_log_buffer_mb=MARIADB_LOG_BUFFER_MB, key_buffer_mb=MARIADB_KEY_BUFFER_MB,
        aria_pagecache_mb=MARIADB_ARIA_CACHE_MB,
        max_connections=max_connections,
        # MariaDB docs (thread_cache_size): autosized up to 256; no more threads than connections.
        thread_cache_size=min(256, max_connections),
        table_open_cache=table_open_cache, table_open_cache_instances=TABLE_OPEN_CACHE_INSTANCES,
        # What mariadbd asks for at start (sql/mysqld.cc): 10 + connections + 2 x every instance's
        # table cache, or 5 per connection; below that it shrinks its caches.
        open_files_limit=max(10 + max_connections + 1 + 2 * table_open_cache * TABLE_OPEN_CACHE_INSTANCES,
                             5 * max_connections),
        back_log=backlog,
        session_buffers_kb=session,
        worst_case_mb=worst_case_mb,
    )
