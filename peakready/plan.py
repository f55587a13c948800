"""The capacity plan: the whole stack sized once, from each host's cores and RAM.

    python -m peakready.plan --cores 2 --ram 4G            a host you don't have yet
    python -m peakready.plan --inventory inventories/prod.py   every host of an inventory (live facts)

Every derived number a role uses (workers, pools, buffer pool, maxmemory, worker_connections,
backlogs, open-file limits, sysctls) comes from here, and `make_plan` refuses, with one sentence
naming the knob to change, a plan whose parts do not fit together:

  1. on each app host, workers x (pool + overflow) <= ProxySQL's frontend max_connections;
  2. the connections every app host opens to MariaDB (ProxySQL's backends, or the pools directly)
     <= MariaDB's max_connections less a reserve for admin, replication and monitoring;
  3. nginx worker_processes x worker_connections >= 2 x the clients it must hold (a proxied client
     holds two connections), and worker_connections <= its open-file limit;
  4. on each host, what its roles use (buffer pool, Redis and its fork headroom, workers x their
     memory cap, ProxySQL, nginx, the OS reserve) <= its RAM;
  5. somaxconn >= every listen backlog.

The deploy runs the same plan from live facts before its first operation (peakready/preflight.py).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from peakready import ROOT, knobs as knobs_mod

# Inventory group -> the role it gives a host (a host may be in several groups).
GROUP_ROLES = {
    "web_servers": "web",
    "app_servers": "app",
    "db_primary": "db",
    "db_replicas": "db",
    "cache_servers": "cache",
}
ROLE_NAMES = {"web": "nginx", "app": "app", "db": "MariaDB", "cache": "Redis"}
# The knobs make_plan reads, and only those: the plan sizes every host together, so each must be the
# same on every host of an inventory (the pre-flight refuses it otherwise). A unit test keeps this
# list equal to what make_plan reads.
PLAN_KNOBS = frozenset({
    "app_cache", "app_graceful_timeout_s", "app_timeout_s", "app_worker_concurrency", "app_worker_memory_mb",
    "app_workers", "db_pool_overflow", "db_pool_size", "file_max_min", "ip_local_port_range", "listen_backlog",
    "mariadb_buffer_pool_mb", "mariadb_max_connections", "mariadb_reserved_connections", "mariadb_wait_timeout_s",
    "memory_weight_app", "memory_weight_cache", "memory_weight_db", "nginx_keepalive_timeout_s",
    "nginx_upstream_keepalive", "nginx_upstream_keepalive_timeout_s", "nginx_worker_connections",
    "nginx_worker_rlimit_nofile", "os_reserve_mb", "proxysql_backend_share", "proxysql_enabled",
    "proxysql_free_connections_pct", "proxysql_max_connections", "rate_limit_burst", "rate_limit_rps",
    "redis_fork_headroom", "redis_maxclients", "redis_maxmemory_mb", "somaxconn", "target_concurrency",
    "tcp_max_syn_backlog", "vm_overcommit_memory", "vm_swappiness",
})

# What each service uses beyond the sizes the plan sets, in MB: estimates, kept on the high side.
NGINX_BASE_MB = 16  # master process and the shared zones (a 10 MB rate-limit zone)
NGINX_WORKER_MB = 8  # one worker's own resident size when idle
NGINX_CONN_KB = 32  # one active proxied request: client buffers + proxy_buffers (8 x 4k) + headers
APP_MASTER_MB = 48  # gunicorn's arbiter
PROXYSQL_BASE_MB = 64  # ProxySQL with its admin, stats and monitor tables
PROXYSQL_CONN_KB = 100  # one backend connection's buffers
PROXYSQL_CLIENT_KB = 64  # one idle client session (measured: 213 clients added 12.2 MB to ProxySQL 2.7.2)
# MariaDB beside its buffer pool: the server itself, and the caches the plan sets small because
# InnoDB holds the data (Debian's defaults: key buffer 128 MB, Aria page cache 128 MB).
MARIADB_SERVER_MB = 56
MARIADB_KEY_BUFFER_MB = 8  # MyISAM indexes: none of the app's tables
MARIADB_ARIA_CACHE_MB = 16  # Aria: MariaDB's internal temporary tables
MARIADB_LOG_BUFFER_MB = 16  # InnoDB log buffer (MariaDB's default)
TABLE_OPEN_CACHE_INSTANCES = 8  # MariaDB's default: the table cache is split this many ways
MARIADB_BASE_MB = MARIADB_SERVER_MB + MARIADB_KEY_BUFFER_MB + MARIADB_ARIA_CACHE_MB + MARIADB_LOG_BUFFER_MB
MARIADB_CONN_MB = 1  # one connection: thread stack (292K) plus net, sort and join buffers in use
REDIS_BASE_MB = 8  # Redis with nothing stored

# Smallest sizes worth running.
MIN_BUFFER_POOL_MB = 32
MIN_REDIS_MB = 16
MIN_BACKLOG = 511  # Redis's and nginx's default backlog


class PlanError(knobs_mod.KnobError):
    """The knobs ask for a stack that does not fit; the message names the knob to change."""


@dataclass(frozen=True)
class HostFacts:
    name: str
    cores: int
    ram_mb: int
    groups: tuple[str, ...] = tuple(GROUP_ROLES)

    @property
    def roles(self) -> set[str]:
        return {GROUP_ROLES[g] for g in self.groups if g in GROUP_ROLES}


@dataclass
class HostPlan:
    host: HostFacts
    proxysql: bool
    nginx: dict = field(default_factory=dict)
    app: dict = field(default_factory=dict)
    proxysql_cfg: dict = field(default_factory=dict)
    mariadb: dict = field(default_factory=dict)
    redis: dict = field(default_factory=dict)
    sysctl: dict = field(default_factory=dict)
    nofile: dict = field(default_factory=dict)  # LimitNOFILE per service
    memory_mb: dict = field(default_factory=dict)  # what each part of the host uses

    @property
    def memory_total_mb(self) -> int:
        return sum(self.memory_mb.values())


@dataclass
class Plan:
    hosts: dict[str, HostPlan]
    knobs: dict
    capacity: dict  # the whole inventory: clients, workers, requests in flight, DB connections

    def __getitem__(self, name: str) -> HostPlan:
        return self.hosts[name]


def ceil_to(value: float, step: int) -> int:
    return int(math.ceil(value / step) * step)


def pow2_at_least(value: float) -> int:
    return 1 << max(0, math.ceil(math.log2(max(1, value))))


def make_plan(hosts: list[HostFacts], knobs: dict) -> Plan:
    """Size every host of the topology from its facts and the knobs; raise PlanError if it cannot work."""
    k = knobs_mod.check(knobs)
    if not hosts:
        raise PlanError("the inventory has no hosts: add at least one.")
    by_role = {role: [h for h in hosts if role in h.roles] for role in ROLE_NAMES}
    check_topology(hosts, by_role, k)
    proxysql = k["proxysql_enabled"]
    web_clients = math.ceil(k["target_concurrency"] / len(by_role["web"])) if by_role["web"] else 0
    # One accept queue for every listener: a burst of all target clients arriving at once must fit
    # (listen(2): the backlog is capped by somaxconn, silently, so the plan caps it openly).
    backlog = k["listen_backlog"] or min(k["somaxconn"], max(MIN_BACKLOG, pow2_at_least(k["target_concurrency"])))

    plans = {h.name: HostPlan(host=h, proxysql=proxysql and "app" in h.roles) for h in hosts}
    app_names = {h.name for h in by_role["app"]}
    db_share = {h.name: plan_memory_and_services(plans[h.name], k, web_clients, backlog, app_names) for h in hosts}
    plan_mariadb(plans, by_role, k, backlog, db_share)
    for p in plans.values():
        plan_limits(p, k)

    plan = Plan(hosts=plans, knobs=k, capacity=capacity(plans, by_role))
    problems = violations(plan)
    if problems:
        raise PlanError(problems[0])
    return plan


def check_topology(hosts: list[HostFacts], by_role: dict[str, list[HostFacts]], k: dict) -> None:
    primaries = [h for h in hosts if "db_primary" in h.groups]
    if len(primaries) > 1:
        raise PlanError(f"inventory group db_primary has {len(primaries)} hosts: keep one, put the others in db_replicas.")
    if by_role["web"] and not by_role["app"]:
        raise PlanError("inventory: web_servers need app_servers to send requests to: add a host to app_servers.")
    if by_role["app"] and not primaries:
        raise PlanError("inventory: app_servers need a database: add a host to db_primary.")
    if by_role["app"] and not by_role["cache"] and k["app_cache"]:
        raise PlanError("inventory: app_servers need a cache: add a host to cache_servers.")
    if any("db_replicas" in h.groups for h in hosts) and not primaries:
        raise PlanError("inventory: db_replicas need a db_primary to replicate from: add one.")


def plan_memory_and_services(p: HostPlan, k: dict, web_clients: int, backlog: int, app_names: set) -> float | None:
    """nginx, ProxySQL, the app and Redis of one host, and how its RAM is shared between them.

    Returns the MB left for MariaDB, whose size also depends on the other hosts (its connections).
    """
    h, roles = p.host, p.host.roles
    p.memory_mb["OS reserve"] = k["os_reserve_mb"]
    conns_per_worker = k["db_pool_size"] + k["db_pool_overflow"]

    if "web" in roles:
        # nginx docs: one worker per core ("auto"); every proxied client holds two connections
        # (client + upstream), plus 25% headroom for keepalive and static files.
        workers = h.cores
        wc = k["nginx_worker_connections"] or max(1024, ceil_to(2 * web_clients * 1.25 / workers, 256))
        p.nginx = {
            "worker_processes": workers,
            "worker_connections": wc,
            # nginx docs (worker_rlimit_nofile): each connection may also hold an open file.
            "worker_rlimit_nofile": k["nginx_worker_rlimit_nofile"] or 2 * wc,
            "backlog": backlog,
            "clients": web_clients,
            "keepalive_timeout_s": k["nginx_keepalive_timeout_s"],
            "upstream_keepalive": k["nginx_upstream_keepalive"],
            "upstream_keepalive_timeout_s": k["nginx_upstream_keepalive_timeout_s"],
            "rate_limit_rps": k["rate_limit_rps"],
            "rate_limit_burst": k["rate_limit_burst"],
        }
        p.memory_mb["nginx"] = NGINX_BASE_MB + NGINX_WORKER_MB * workers + math.ceil(2 * web_clients * NGINX_CONN_KB / 1024)

    if p.proxysql:
        # Sized for the most workers this host could run, before the app's share is known.
        most_conns = (k["app_workers"] or 2 * h.cores + 1) * conns_per_worker
        clients = 2 * most_conns  # a graceful reload's two sets of pools, as the frontend below
        p.memory_mb["ProxySQL"] = PROXYSQL_BASE_MB + math.ceil(
            (clients * PROXYSQL_CLIENT_KB + most_conns * PROXYSQL_CONN_KB) / 1024)

    # What is left is shared by the app, MariaDB and Redis, by weight, among the roles present.
    weights = {role: k[f"memory_weight_{role}"] for role in ("app", "db", "cache") if role in roles}
    left = h.ram_mb - sum(p.memory_mb.values())
    # The least each weighted role runs with: one worker, the smallest Redis, the smallest buffer pool.
    least = {"app": APP_MASTER_MB + k["app_worker_memory_mb"],
             "cache": REDIS_BASE_MB + math.ceil(MIN_REDIS_MB * (1 + k["redis_fork_headroom"])),
             "db": MARIADB_BASE_MB + MIN_BUFFER_POOL_MB}
    need = sum(least[role] for role in weights)
    if left < need < h.ram_mb - left:
        # Not a matter of weights: what is taken before the share (OS, nginx, ProxySQL) is too big
        # (bigger than what the roles need), and the knob behind the biggest of those is to blame.
        # The other way round, the roles' own checks below name their knobs.
        part, mb = max(p.memory_mb.items(), key=lambda item: item[1])
        raise PlanError(
            f"on {h.name} ({h.ram_mb} MB), {', '.join(f'{n} {v} MB' for n, v in p.memory_mb.items())} leave "
            f"{left} MB, less than the {need} MB the {', '.join(ROLE_NAMES[r] for r in weights)} need at the least: "
            f"lower {MEMORY_KNOBS[part]} or give the host more RAM.")
    share = {role: left * w / sum(weights.values()) for role, w in weights.items()} if weights else {}

    if "app" in roles:
        # gunicorn docs (design, "how many workers"): 2 x cores + 1; fewer when RAM is short.
        by_memory = int((share["app"] - APP_MASTER_MB) // k["app_worker_memory_mb"])
        workers = k["app_workers"] or min(2 * h.cores + 1, by_memory)
        if workers < 1:
            raise PlanError(
                f"on {h.name} ({h.ram_mb} MB) no app worker of app_worker_memory_mb = {k['app_worker_memory_mb']} fits "
                f"the app's {int(share['app'])} MB: lower app_worker_memory_mb or raise memory_weight_app.")
        db_conns = workers * conns_per_worker
        p.app = {
            "workers": workers,
            "worker_memory_mb": k["app_worker_memory_mb"],
            # A cgroup ceiling above every worker's cap, so recycling (graceful) comes before the OOM kill.
            "memory_max_mb": ceil_to(APP_MASTER_MB + workers * k["app_worker_memory_mb"] * 1.25, 16),
            "worker_concurrency": k["app_worker_concurrency"],
            "db_pool_size": k["db_pool_size"],
            "db_pool_overflow": k["db_pool_overflow"],
            "db_connections": db_conns,
            "timeout_s": k["app_timeout_s"],
            "graceful_timeout_s": k["app_graceful_timeout_s"],
            # gunicorn --keep-alive must outlast nginx's idle upstream connections, or nginx reuses
            # one the app just closed and the client gets a 502.
            "keepalive_s": k["nginx_upstream_keepalive_timeout_s"] + 5,
            "backlog": backlog,
        }
        p.memory_mb["app"] = APP_MASTER_MB + workers * k["app_worker_memory_mb"]
        if p.proxysql:
            # A graceful reload runs the new workers' pools beside the old ones' for a moment: twice
            # the app's connections, plus headroom (a client costs ProxySQL a session, no backend).
            frontend = k["proxysql_max_connections"] or 2 * db_conns + max(16, math.ceil(db_conns * 0.25))
            p.proxysql_cfg = {
                # ProxySQL docs (mysql-threads): one thread per core.
                "mysql_threads": h.cores,
                "max_connections": frontend,
                "backend_max_connections": max(1, math.ceil(db_conns * k["proxysql_backend_share"])),
                "free_connections_pct": k["proxysql_free_connections_pct"],
                # Recycle idle backend connections well before MariaDB's wait_timeout closes them
                # (ProxySQL docs, mysql-connection_max_age_ms).
                "connection_max_age_ms": k["mariadb_wait_timeout_s"] // 2 * 1000,
                "backlog": backlog,
            }

    if "cache" in roles:
        # Redis docs (persistence, admin): an AOF rewrite forks; copy-on-write can need up to
        # maxmemory again, so fork headroom is budgeted beside it.
        maxmemory = k["redis_maxmemory_mb"] or int((share["cache"] - REDIS_BASE_MB) / (1 + k["redis_fork_headroom"]))
        if maxmemory < MIN_REDIS_MB:
            raise PlanError(
                f"on {h.name} Redis would get {maxmemory} MB (less than {MIN_REDIS_MB}): raise memory_weight_cache "
                "or redis_maxmemory_mb, or give the host more RAM.")
        headroom = math.ceil(maxmemory * k["redis_fork_headroom"])
        p.redis = {"maxmemory_mb": maxmemory, "fork_headroom_mb": headroom, "maxclients": k["redis_maxclients"],
                   "tcp_backlog": backlog, "serves_other_hosts": bool(app_names - {h.name})}
        p.memory_mb["Redis"] = REDIS_BASE_MB + maxmemory + headroom
    return share.get("db")


def plan_mariadb(plans: dict[str, HostPlan], by_role: dict, k: dict, backlog: int, db_share: dict) -> None:
    """MariaDB's connections come from every app host; its memory from its own host."""
    app_plans = [plans[h.name] for h in by_role["app"]]
    to_db = sum(p.proxysql_cfg["backend_max_connections"] if p.proxysql else p.app["db_connections"] for p in app_plans)
    max_connections = k["mariadb_max_connections"] or to_db + k["mariadb_reserved_connections"]
    app_names = {h.name for h in by_role["app"]}
    for server_id, h in enumerate(sorted(by_role["db"], key=lambda h: "db_primary" not in h.groups), start=1):
        p = plans[h.name]
        overhead = MARIADB_BASE_MB + max_connections * MARIADB_CONN_MB
        # MariaDB's buffer pool is sized in whole 8 MB steps here (it rounds to its chunk size).
        pool = k["mariadb_buffer_pool_mb"] or int((db_share[h.name] - overhead) // 8 * 8)
        if pool < MIN_BUFFER_POOL_MB:
            raise PlanError(
                f"on {h.name} MariaDB's buffer pool would be {pool} MB (less than {MIN_BUFFER_POOL_MB}) beside "
                f"{max_connections} connections: raise memory_weight_db or mariadb_buffer_pool_mb, lower "
                "db_pool_size, or give the host more RAM.")
        # MySQL docs (table_open_cache): max_connections x tables per join (4 here), within reason.
        table_open_cache = min(4000, max(400, max_connections * 4))
        p.mariadb = {
            # Replication needs a server_id unique in the topology: the primary is 1.
            "server_id": server_id,
            "primary": "db_primary" in h.groups,
            "serves_other_hosts": bool(app_names - {h.name}),
            "innodb_buffer_pool_mb": pool,
            # A quarter of the buffer pool, a common starting point for the redo log (MariaDB KB,
            # InnoDB redo log): big enough that checkpoints do not throttle write bursts.
            "innodb_log_file_mb": min(2048, max(48, pool // 4)),
            "innodb_log_buffer_mb": MARIADB_LOG_BUFFER_MB,
            "key_buffer_mb": MARIADB_KEY_BUFFER_MB,
            "aria_pagecache_mb": MARIADB_ARIA_CACHE_MB,
            "max_connections": max_connections,
            "reserved_connections": k["mariadb_reserved_connections"],
            # MariaDB docs (thread_cache_size): autosized up to 256; no more threads than connections.
            "thread_cache_size": min(256, max_connections),
            "table_open_cache": table_open_cache,
            "table_open_cache_instances": TABLE_OPEN_CACHE_INSTANCES,
            # What mariadbd asks for at start (sql/mysqld.cc): 10 + connections + 2 x every
            # instance's table cache, or 5 per connection; below that it shrinks its caches.
            "open_files_limit": max(10 + max_connections + 1 + 2 * table_open_cache * TABLE_OPEN_CACHE_INSTANCES,
                                    5 * max_connections),
            "back_log": backlog,
        }
        p.memory_mb["MariaDB"] = pool + overhead


def plan_limits(p: HostPlan, k: dict) -> None:
    """Open files per service, and the kernel settings that follow from the whole host."""
    if p.nginx:
        p.nofile["nginx"] = p.nginx["worker_rlimit_nofile"]
    if p.app:
        # Per worker: clients in flight and kept alive, its DB and Redis connections, files.
        per_worker = 2 * p.app["worker_concurrency"] + p.app["db_pool_size"] + p.app["db_pool_overflow"] + 64
        p.nofile["app"] = pow2_at_least(max(4096, p.app["workers"] * per_worker))
    if p.proxysql_cfg:
        p.nofile["proxysql"] = pow2_at_least(2 * (p.proxysql_cfg["max_connections"] + p.proxysql_cfg["backend_max_connections"]) + 1024)
    if p.mariadb:
        # Never below Debian's unit (LimitNOFILE=32768).
        p.nofile["mariadb"] = max(32768, p.mariadb["open_files_limit"])
    if p.redis:
        # Redis docs (clients): maxclients + 32 descriptors for its own use.
        p.nofile["redis"] = p.redis["maxclients"] + 32
    p.sysctl = {
        "net.core.somaxconn": k["somaxconn"],
        "net.ipv4.tcp_max_syn_backlog": k["tcp_max_syn_backlog"],
        "net.ipv4.ip_local_port_range": k["ip_local_port_range"],
        # Room for every service at its limit, twice over; never below the knob's floor.
        "fs.file-max": max(k["file_max_min"], 2 * sum(p.nofile.values())),
        "vm.overcommit_memory": k["vm_overcommit_memory"],
        "vm.swappiness": k["vm_swappiness"],
    }


def capacity(plans: dict[str, HostPlan], by_role: dict) -> dict:
    app = [plans[h.name].app for h in by_role["app"]]
    db = [plans[h.name].mariadb for h in by_role["db"]]
    proxies = [plans[h.name].proxysql_cfg for h in by_role["app"] if plans[h.name].proxysql]
    return {
        "proxysql": bool(proxies),
        "to_mariadb": sum(q["backend_max_connections"] for q in proxies) if proxies else sum(a["db_connections"] for a in app),
        "clients": sum(plans[h.name].nginx["worker_processes"] * plans[h.name].nginx["worker_connections"] // 2
                       for h in by_role["web"]),
        "app_workers": sum(a["workers"] for a in app),
        "requests_in_flight": sum(a["workers"] * a["worker_concurrency"] for a in app),
        "app_db_connections": sum(a["db_connections"] for a in app),
        "mariadb_max_connections": db[0]["max_connections"] if db else 0,
    }


# --- the invariants -------------------------------------------------------------------------------


def violations(plan: Plan) -> list[str]:
    """Every rule the plan breaks, each one sentence naming the knob to change (empty: it works)."""
    k, out = plan.knobs, []
    for name, p in plan.hosts.items():
        h = p.host
        if p.app and p.proxysql:
            # ProxySQL docs (mysql-max_connections): clients beyond it are refused.
            if p.app["db_connections"] > p.proxysql_cfg["max_connections"]:
                out.append(
                    f"on {name}, {p.app['workers']} workers x ({k['db_pool_size']} + {k['db_pool_overflow']}) = "
                    f"{p.app['db_connections']} app connections exceed ProxySQL's max_connections "
                    f"{p.proxysql_cfg['max_connections']}: raise proxysql_max_connections (0 derives it) or lower db_pool_size.")
        if p.nginx:
            held = p.nginx["worker_processes"] * p.nginx["worker_connections"]
            if held < 2 * p.nginx["clients"]:
                out.append(
                    f"on {name}, nginx holds {p.nginx['worker_processes']} x {p.nginx['worker_connections']} = {held} "
                    f"connections, fewer than 2 x {p.nginx['clients']} clients: raise nginx_worker_connections "
                    "(0 derives it) or lower target_concurrency.")
            if p.nginx["worker_connections"] > p.nginx["worker_rlimit_nofile"]:
                out.append(
                    f"on {name}, nginx worker_connections {p.nginx['worker_connections']} exceed its open-file limit "
                    f"{p.nginx['worker_rlimit_nofile']}: raise nginx_worker_rlimit_nofile (0 derives it).")
        # MariaDB docs (memory use), gunicorn, Redis and ProxySQL as estimated above: all must fit.
        if p.memory_total_mb > h.ram_mb:
            part, mb = max(p.memory_mb.items(), key=lambda item: item[1])
            out.append(
                f"on {name}, the plan needs {p.memory_total_mb} MB but the host has {h.ram_mb} MB "
                f"({', '.join(f'{n} {v}' for n, v in p.memory_mb.items())}): lower {MEMORY_KNOBS[part]}.")
        # listen(2): a backlog above somaxconn is silently cut to it.
        backlogs = {"nginx": p.nginx.get("backlog"), "app": p.app.get("backlog"), "Redis": p.redis.get("tcp_backlog"),
                    "MariaDB": p.mariadb.get("back_log"), "ProxySQL": p.proxysql_cfg.get("backlog")}
        for service, backlog in backlogs.items():
            if backlog and backlog > p.sysctl["net.core.somaxconn"]:
                out.append(f"on {name}, {service}'s listen backlog {backlog} exceeds somaxconn "
                           f"{p.sysctl['net.core.somaxconn']}: raise somaxconn or lower listen_backlog.")
                break
        if p.app and p.app["keepalive_s"] <= k["nginx_upstream_keepalive_timeout_s"]:
            out.append(f"on {name}, the app's keepalive must outlast nginx's: lower nginx_upstream_keepalive_timeout_s.")

    db_plans = [p for p in plan.hosts.values() if p.mariadb]
    if db_plans:
        app_plans = [p for p in plan.hosts.values() if p.app]
        available = db_plans[0].mariadb["max_connections"] - k["mariadb_reserved_connections"]
        if any(p.proxysql for p in app_plans):
            # ProxySQL docs (mysql_servers.max_connections): each ProxySQL opens at most this many.
            opened = sum(p.proxysql_cfg["backend_max_connections"] for p in app_plans)
            what, fix = "ProxySQL backend connections", "proxysql_backend_share"
        else:
            opened = sum(p.app["db_connections"] for p in app_plans)
            what, fix = "app pool connections (workers x (db_pool_size + db_pool_overflow))", "db_pool_size"
        if opened > available:
            out.append(
                f"{opened} {what} from {len(app_plans)} app host(s) exceed MariaDB's max_connections "
                f"{db_plans[0].mariadb['max_connections']} less {k['mariadb_reserved_connections']} reserved: raise "
                f"mariadb_max_connections (0 derives it) or lower {fix}.")
    return out


# The knob that shrinks each part of a host's memory.
MEMORY_KNOBS = {
    "OS reserve": "os_reserve_mb",
    "nginx": "target_concurrency",
    "ProxySQL": "db_pool_size (or app_workers)",
    "app": "app_workers or app_worker_memory_mb",
    "MariaDB": "mariadb_buffer_pool_mb (0 derives it) or db_pool_size",
    "Redis": "redis_maxmemory_mb (0 derives it)",
}


# --- for people: the table ------------------------------------------------------------------------


def rows(p: HostPlan) -> list[tuple[str, str, str]]:
    """(section, setting, value) lines for one host."""
    out: list[tuple[str, str, str]] = []

    def add(section, items):
        for i, (key, value) in enumerate(items):
            out.append((section if i == 0 else "", key, str(value)))

    if p.nginx:
        n = p.nginx
        add("nginx", [("worker_processes", n["worker_processes"]), ("worker_connections", n["worker_connections"]),
                      ("worker_rlimit_nofile", n["worker_rlimit_nofile"]), ("listen backlog", n["backlog"]),
                      ("keepalive client / upstream", f"{n['keepalive_timeout_s']} s / {n['upstream_keepalive_timeout_s']} s"),
                      ("rate limit", f"{n['rate_limit_rps']} r/s, burst {n['rate_limit_burst']}")])
    if p.app:
        a = p.app
        add("app", [("workers", a["workers"]), ("memory cap / worker", f"{a['worker_memory_mb']} MB"),
                    ("MemoryMax (service)", f"{a['memory_max_mb']} MB"),
                    ("DB pool / worker", f"{a['db_pool_size']} + {a['db_pool_overflow']} overflow"),
                    ("timeout / graceful", f"{a['timeout_s']} s / {a['graceful_timeout_s']} s"),
                    ("keepalive", f"{a['keepalive_s']} s")])
    if p.proxysql_cfg:
        q = p.proxysql_cfg
        add("proxysql", [("mysql-threads", q["mysql_threads"]), ("max_connections (frontend)", q["max_connections"]),
                         ("max_connections (backend)", q["backend_max_connections"]),
                         ("free_connections_pct", q["free_connections_pct"])])
    if p.mariadb:
        m = p.mariadb
        add("mariadb", [("innodb_buffer_pool_size", f"{m['innodb_buffer_pool_mb']} MB"),
                        ("max_connections", f"{m['max_connections']} ({m['reserved_connections']} reserved)"),
                        ("thread_cache_size", m["thread_cache_size"]), ("table_open_cache", m["table_open_cache"])])
    if p.redis:
        r = p.redis
        add("redis", [("maxmemory", f"{r['maxmemory_mb']} MB"), ("fork headroom", f"{r['fork_headroom_mb']} MB"),
                      ("maxclients", r["maxclients"])])
    add("kernel", [(key, value) for key, value in p.sysctl.items()])
    add("LimitNOFILE", [(service, n) for service, n in p.nofile.items()])
    add("memory", [*[(part, f"{mb} MB") for part, mb in p.memory_mb.items()],
                   ("total / RAM", f"{p.memory_total_mb} / {p.host.ram_mb} MB ({100 * p.memory_total_mb // p.host.ram_mb}%)")])
    return out


def table(plan: Plan) -> str:
    names = list(plan.hosts)
    headers = [f"{n} ({plan[n].host.cores} core{'s' * (plan[n].host.cores != 1)}, {plan[n].host.ram_mb / 1024:.1f} GB)"
               for n in names]
    per_host = {n: {(s or last, key): value for (s, key, value), last in _with_section(rows(plan[n]))} for n in names}
    keys: list[tuple[str, str]] = []
    for n in names:
        for key in per_host[n]:
            if key not in keys:
                keys.append(key)
    widths = [max(len(h), *(len(per_host[n].get(key, "")) for key in keys)) for n, h in zip(names, headers)]
    key_width = max(len(k[1]) for k in keys)
    lines = [f"{'':<12}{'':<{key_width}}  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    previous = None
    for section, key in keys:
        label = section if section != previous else ""
        previous = section
        values = [per_host[n].get((section, key), "-").ljust(w) for n, w in zip(names, widths)]
        lines.append(f"{label:<12}{key:<{key_width}}  " + "  ".join(values))
    c, k = plan.capacity, plan.knobs
    via = (f"through ProxySQL onto at most {c['to_mariadb']} MariaDB connections" if c["proxysql"]
           else "straight to MariaDB (no ProxySQL)")
    lines += [
        "",
        f"{'capacity':<12}clients     {c['clients']} concurrent clients accepted by nginx (target {k['target_concurrency']})",
        f"{'':<12}app         {c['app_workers']} workers, sized for {c['requests_in_flight']} requests at once",
        f"{'':<12}database    {c['app_db_connections']} app connections {via}",
        f"{'':<12}{'':<12}(MariaDB max_connections {c['mariadb_max_connections']})",
        f"{'verdict':<12}OK          every invariant holds",
    ]
    return "\n".join(line.rstrip() for line in lines)


def _with_section(items):
    last = ""
    for item in items:
        if item[0]:
            last = item[0]
        yield item, last


# --- command line ---------------------------------------------------------------------------------


def parse_size_mb(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([GgMm])?[Bb]?", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: write it like 4G or 512M")
    value, unit = float(match.group(1)), (match.group(2) or "M").upper()
    return int(value * 1024) if unit == "G" else int(value)


def parse_data(items: list[str]) -> dict:
    data = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise PlanError(f"--data {item!r}: write it as knob=value.")
        try:
            data[key] = json.loads(value)
        except json.JSONDecodeError:
            data[key] = value
    return data


def hosts_from_inventory(inventory: str) -> tuple[list[HostFacts], dict]:
    """Connect to every host of a pyinfra inventory for its size; the knobs from its data."""
    pyinfra = str(Path(sys.executable).with_name("pyinfra"))

    def pyinfra_json(*args):
        res = subprocess.run([pyinfra, inventory, *args, "--json"], cwd=ROOT, capture_output=True, text=True,
                             timeout=300)
        if res.returncode != 0:
            raise PlanError(f"pyinfra could not read {inventory}: {(res.stderr.strip().splitlines() or ['?'])[-1]}")
        return json.loads(res.stdout)

    inventory_hosts = pyinfra_json("debug-inventory")
    sizes = pyinfra_json("fact", "peakready.facts.HostSize")["peakready.facts.HostSize"]
    hosts = [HostFacts(h["name"], sizes[h["name"]]["cores"], sizes[h["name"]]["ram_mb"], tuple(h["groups"]))
             for h in inventory_hosts]
    knobs = {key: value for key, value in inventory_hosts[0]["data"].items() if key in knobs_mod.CHECKS}
    return hosts, knobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m peakready.plan", description="Print the capacity plan.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--inventory", help="a pyinfra inventory: plan its hosts from their live facts")
    source.add_argument("--cores", type=int, help="cores of a host you don't have yet (one host, every role)")
    parser.add_argument("--ram", type=parse_size_mb, help="its RAM, e.g. 4G or 512M")
    parser.add_argument("--data", action="append", default=[], metavar="KNOB=VALUE",
                        help="override a knob of group_data/all.py (repeatable)")
    args = parser.parse_args(argv)
    try:
        if args.inventory:
            hosts, knobs = hosts_from_inventory(args.inventory)
        else:
            if args.ram is None or args.cores < 1:
                parser.error("--cores needs --ram, e.g. --cores 2 --ram 4G")
            hosts, knobs = [HostFacts("vps", args.cores, args.ram)], {}
        plan = make_plan(hosts, {**knobs, **parse_data(args.data)})
    except knobs_mod.KnobError as exc:
        print(f"peakready plan: refused: {exc}", file=sys.stderr)
        return 1
    print(table(plan))
    return 0


if __name__ == "__main__":
    sys.exit(main())
