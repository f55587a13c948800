"""The rules a plan must keep; each broken one is one sentence naming the knob to change.

  1. on each app host, workers x (pool + overflow) <= ProxySQL's frontend max_connections;
  2. the connections every app host opens to MariaDB (ProxySQL's backends, or the pools directly)
     <= MariaDB's max_connections less a reserve for admin, replication and monitoring;
  3. nginx worker_processes x worker_connections >= the connections it must hold (8 x its users, so
     a bigger spike is answered, plus its connections to the app hosts), and worker_connections <=
     its open-file limit;
  4. on each host, what its roles use (buffer pool, Redis and its fork headroom, workers x their
     memory cap, ProxySQL, nginx, the OS reserve) <= its RAM;
  5. somaxconn >= every listen backlog;
  6. MariaDB's worst case (global buffers + max_connections x each connection's buffers) <= its share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from peakready.plan.model import HostPlan, part

if TYPE_CHECKING:
    from peakready.plan.model import Plan

# The knob that shrinks each part of a host's memory.
MEMORY_KNOBS = {
    "OS reserve": "os_reserve_mb",
    "nginx": "target_concurrency",
    "ProxySQL": "db_pool_size (or app_workers)",
    "app": "app_workers or app_worker_memory_mb",
    "MariaDB": "mariadb_buffer_pool_mb (0 derives it) or db_pool_size",
    "Redis": "redis_maxmemory_mb (0 derives it)",
    "exporters": "monitoring (false: no exporters, no Prometheus)",
    "Prometheus": "monitoring (false: no exporters, no Prometheus)",
}


def violations(plan: Plan) -> list[str]:
    """Every rule the plan breaks (empty: it works)."""
    out = [problem for name, p in plan.hosts.items() for problem in host_violations(name, p, plan.knobs)]
    return out + database_violations(plan)


def host_violations(name: str, p: HostPlan, k: dict) -> list[str]:
    out = []
    if p.app and p.proxysql and p.app.db_connections > p.proxysql.max_connections:
        # ProxySQL docs (mysql-max_connections): clients beyond it are refused.
        out.append(
            f"on {name}, {p.app.workers} workers x ({k['db_pool_size']} + {k['db_pool_overflow']}) = "
            f"{p.app.db_connections} app connections exceed ProxySQL's max_connections "
            f"{p.proxysql.max_connections}: raise proxysql_max_connections (0 derives it) or lower db_pool_size.")
    if p.nginx:
        n, held = p.nginx, p.nginx.worker_processes * p.nginx.worker_connections
        needed = n.slots + sum(n.app_max_conns.values())
        if held < needed:
            out.append(
                f"on {name}, nginx holds {n.worker_processes} x {n.worker_connections} = {held} connections, fewer "
                f"than the {needed} it needs ({n.slots} for {n.clients} users and a spike of 8 times as many, "
                f"{needed - n.slots} to the app): raise nginx_worker_connections (0 derives it) or lower "
                "target_concurrency.")
        if n.worker_connections > n.worker_rlimit_nofile:
            out.append(
                f"on {name}, nginx worker_connections {n.worker_connections} exceed its open-file limit "
                f"{n.worker_rlimit_nofile}: raise nginx_worker_rlimit_nofile (0 derives it).")
    # MariaDB docs (memory use), gunicorn, Redis and ProxySQL as estimated: all must fit.
    if p.memory_total_mb > p.host.ram_mb:
        part, _ = max(p.memory_mb.items(), key=lambda item: item[1])
        out.append(
            f"on {name}, the plan needs {p.memory_total_mb} MB but the host has {p.host.ram_mb} MB "
            f"({', '.join(f'{n} {v}' for n, v in p.memory_mb.items())}): lower {MEMORY_KNOBS[part]}.")
    # MariaDB KB (memory use): every connection at its worst at once, on top of the global buffers.
    if p.mariadb and p.mariadb.worst_case_mb > p.share_mb["db"]:
        out.append(
            f"on {name}, MariaDB's worst case ({p.mariadb.innodb_buffer_pool_mb} MB buffer pool + its other buffers + "
            f"{p.mariadb.max_connections} connections at their worst = {p.mariadb.worst_case_mb} MB) exceeds its share of "
            f"{int(p.share_mb['db'])} MB: lower mariadb_buffer_pool_mb (0 derives it) or mariadb_max_connections, "
            "or raise memory_weight_db.")
    # listen(2): a backlog above somaxconn is silently cut to it.
    backlogs = {"nginx": p.nginx and p.nginx.backlog, "app": p.app and p.app.backlog,
                "Redis": p.redis and p.redis.tcp_backlog, "MariaDB": p.mariadb and p.mariadb.back_log,
                "ProxySQL": p.proxysql and p.proxysql.backlog}
    for service, backlog in backlogs.items():
        if backlog and backlog > int(p.sysctl["net.core.somaxconn"]):
            out.append(f"on {name}, {service}'s listen backlog {backlog} exceeds somaxconn "
                       f"{p.sysctl['net.core.somaxconn']}: raise somaxconn or lower listen_backlog.")
            break
    if p.app and p.app.keepalive_s <= k["nginx_upstream_keepalive_timeout_s"]:
        out.append(f"on {name}, the app's keepalive must outlast nginx's: lower nginx_upstream_keepalive_timeout_s.")
    return out


def database_violations(plan: Plan) -> list[str]:
    """What every app host opens to MariaDB must fit its max_connections less the reserve."""
    k = plan.knobs
    db_plans = [p for p in plan.hosts.values() if p.mariadb]
    if not db_plans:
        return []
    app_plans = [p for p in plan.hosts.values() if p.app]
    max_connections = part(db_plans[0].mariadb, "MariaDB").max_connections
    if any(p.proxysql for p in app_plans):
        # ProxySQL docs (mysql_servers.max_connections): each ProxySQL opens at most this many.
        opened = sum(part(p.proxysql, "ProxySQL").backend_max_connections for p in app_plans)
        what, fix = "ProxySQL backend connections", "proxysql_backend_share"
    else:
        opened = sum(part(p.app, "app").db_connections for p in app_plans)
        what, fix = "app pool connections (workers x (db_pool_size + db_pool_overflow))", "db_pool_size"
    if opened <= max_connections - k["mariadb_reserved_connections"]:
        return []
    return [f"{opened} {what} from {len(app_plans)} app host(s) exceed MariaDB's max_connections "
            f"{max_connections} less {k['mariadb_reserved_connections']} reserved: raise "
            f"mariadb_max_connections (0 derives it) or lower {fix}."]
