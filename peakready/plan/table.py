"""The plan for people: one column per host, then the capacity of the whole inventory."""

from __future__ import annotations

from peakready.plan.estimates import OVERLOAD_FACTOR, USERS_PER_CORE
from peakready.plan.model import HostPlan, Plan
from peakready.plan.parts import session_kb


def rows(p: HostPlan, k: dict) -> list[tuple[str, str, str]]:
    """(section, setting, value) lines for one host; the knobs the plan does not change beside
    what it derives, so the table shows each service whole."""
    out: list[tuple[str, str, str]] = []

    def add(name, items):
        out.extend(section(name, items))

    if p.nginx:
        n = p.nginx
        add("nginx", [("users / connections held", f"{n.clients} / {n.slots}"),
                      ("worker_processes", n.worker_processes), ("worker_connections", n.worker_connections),
                      ("worker_rlimit_nofile", n.worker_rlimit_nofile), ("listen backlog", n.backlog),
                      ("keepalive client / upstream",
                       f"{k['nginx_keepalive_timeout_s']} s / {k['nginx_upstream_keepalive_timeout_s']} s"),
                      ("rate limit", f"{k['rate_limit_rps']} r/s, burst {k['rate_limit_burst']}"),
                      ("door: to each app host", ", ".join(f"{v} at once" if len(n.app_max_conns) == 1 else f"{a} {v}"
                                                         for a, v in n.app_max_conns.items()) or "-")])
    if p.app:
        a = p.app
        add("app", [("workers", a.workers), ("memory cap / worker", f"{k['app_worker_memory_mb']} MB"),
                    ("MemoryMax (service)", f"{a.memory_max_mb} MB"),
                    ("DB pool / worker", f"{k['db_pool_size']} + {k['db_pool_overflow']} overflow"),
                    ("timeout / graceful", f"{k['app_timeout_s']} s / {k['app_graceful_timeout_s']} s"),
                    ("keepalive", f"{a.keepalive_s} s"),
                    *([("threads / worker (gthread)", a.threads)] if a.threads > 1 else [])])
    if p.proxysql:
        q = p.proxysql
        add("proxysql", [("mysql-threads", q.mysql_threads), ("max_connections (frontend)", q.max_connections),
                         ("max_connections (backend)", q.backend_max_connections),
                         ("free_connections_pct", k["proxysql_free_connections_pct"])])
    if p.mariadb:
        m = p.mariadb
        add("mariadb", [("innodb_buffer_pool_size", f"{m.innodb_buffer_pool_mb} MB"),
                        ("max_connections", f"{m.max_connections} ({k['mariadb_reserved_connections']} reserved)"),
                        ("thread_cache_size", m.thread_cache_size), ("table_open_cache", m.table_open_cache),
                        ("tmp_table_size", f"{m.session_buffers_kb['tmp_table_size'] // 1024} MB"),
                        ("per connection, worst", f"{session_kb(m.session_buffers_kb) / 1024:.1f} MB"),
                        ("worst case / share", f"{m.worst_case_mb} / {int(p.share_mb['db'])} MB")])
    if p.redis:
        r = p.redis
        add("redis", [("maxmemory", f"{r.maxmemory_mb} MB"), ("fork headroom", f"{r.fork_headroom_mb} MB"),
                      ("maxclients", k["redis_maxclients"])])
    if p.exporters:
        add("monitoring", [("exporters", ", ".join(p.exporters)),
                           *([("scrape / rate window", f"{p.monitoring.scrape_interval_s} s / {p.monitoring.rate_window_s} s"),
                              ("series (every target)", p.monitoring.series),
                              ("retention", f"{k['prometheus_retention_days']} days, at most "
                                            f"{p.monitoring.retention_size_mb} MB")] if p.monitoring else [])])
    return out + section("kernel", list(p.sysctl.items())) + section("LimitNOFILE", list(p.nofile.items())) + section(
        "memory", [*[(part, f"{mb} MB") for part, mb in p.memory_mb.items()],
                   ("total / RAM", f"{p.memory_total_mb} / {p.host.ram_mb} MB ({100 * p.memory_total_mb // p.host.ram_mb}%)")])


def section(name: str, items: list) -> list[tuple[str, str, str]]:
    """(section, setting, value) lines, the section named on the first."""
    return [(name if i == 0 else "", key, str(value)) for i, (key, value) in enumerate(items)]


def table(plan: Plan) -> str:
    names = list(plan.hosts)
    headers = [f"{n} ({plan[n].host.cores} core{'s' * (plan[n].host.cores != 1)}, {plan[n].host.ram_mb / 1024:.1f} GB)"
               for n in names]
    per_host = {n: keyed(rows(plan[n], plan.knobs)) for n in names}
    keys = list(dict.fromkeys(key for n in names for key in per_host[n]))
    widths = [max(len(h), *(len(per_host[n].get(key, "")) for key in keys)) for n, h in zip(names, headers)]
    key_width = max(len(k[1]) for k in keys)
    lines = [f"{'':<12}{'':<{key_width}}  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    previous = None
    for section, key in keys:
        label = section if section != previous else ""
        previous = section
        values = [per_host[n].get((section, key), "-").ljust(w) for n, w in zip(names, widths)]
        lines.append(f"{label:<12}{key:<{key_width}}  " + "  ".join(values))
    return "\n".join(line.rstrip() for line in lines + summary(plan))


def keyed(rows_: list[tuple[str, str, str]]) -> dict[tuple[str, str], str]:
    """{(section, setting): value}, each row under the section last named above it."""
    out, section = {}, ""
    for name, key, value in rows_:
        section = name or section
        out[(section, key)] = value
    return out


def summary(plan: Plan) -> list[str]:
    c = plan.capacity
    via = (f"through ProxySQL onto at most {c.to_mariadb} MariaDB connections" if c.proxysql
           else "straight to MariaDB (no ProxySQL)")
    how = (f"derived: {c.app_cores} app core(s) x {USERS_PER_CORE} users a core at the SLO" if c.derived
           else "target_concurrency")
    return [
        "",
        f"{'capacity':<12}users       {c.users} users at once ({how})",
        f"{'':<12}connections {c.clients} held by nginx ({OVERLOAD_FACTOR} x the users: a bigger spike is answered)",
        f"{'':<12}app         {c.app_workers} workers, {c.requests_in_flight} requests at once; beyond, "
        f"nginx answers 503 + Retry-After",
        f"{'':<12}database    {c.app_db_connections} app connections {via}",
        f"{'':<12}{'':<12}(MariaDB max_connections {c.mariadb_max_connections})",
        f"{'verdict':<12}OK          every invariant holds",
    ]
