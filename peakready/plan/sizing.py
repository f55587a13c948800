"""Sizing: the whole plan, host by host, in the order the numbers depend on each other (each
service's own function is in parts.py).

    shared numbers (clients per web host, the listen backlog)
    per host: nginx -> the memory taken before the share (OS, nginx, ProxySQL's bound) -> the share
              -> app -> ProxySQL (from the app's connections) -> Redis
    MariaDB (its connections come from every app host) -> open files and sysctls -> capacity
"""

from __future__ import annotations

import math

from peakready import knobs, monitoring, validate
from peakready.plan.estimates import (
    APP_MASTER_MB,
    EXPORTER_MB,
    MARIADB_BASE_MB,
    MIN_BACKLOG,
    MIN_BUFFER_POOL_MB,
    MIN_REDIS_MB,
    NGINX_BASE_MB,
    NGINX_IDLE_CLIENT_KB,
    NGINX_RAM_SHARE,
    NGINX_WORKER_MB,
    OVERLOAD_FACTOR,
    PROMETHEUS_BASE_MB,
    PROMETHEUS_SAMPLE_BYTES,
    PROMETHEUS_SERIES_KB,
    REDIS_BASE_MB,
    SERIES,
    USERS_PER_CORE,
)
from peakready.plan.model import (
    ROLE_NAMES,
    Capacity,
    HostFacts,
    HostPlan,
    MonitoringPlan,
    Plan,
    PlanError,
    part,
)
from peakready.plan.parts import (
    derived_workers,
    in_flight,
    nginx_memory_mb,
    pow2_at_least,
    proxysql_budget_mb,
    size_app,
    size_mariadb,
    size_nginx,
    size_proxysql,
    size_redis,
    size_upstreams,
)
from peakready.plan.rules import MEMORY_KNOBS, violations


def make_plan(hosts: list[HostFacts], knobs: dict) -> Plan:
    """Size every host of the topology from its facts and the knobs; raise PlanError if it cannot work."""
    k = validate.knob_values(knobs)
    for h in hosts:
        validate.knob_values(h.own)  # each host's own kernel settings
    validate.topology({h.name: h.groups for h in hosts}, k["app_cache"])
    by_role = {role: [h for h in hosts if role in h.roles] for role in ROLE_NAMES}
    users = k["target_concurrency"] or derived_users(by_role, k)
    web_clients = math.ceil(users / len(by_role["web"])) if by_role["web"] else 0
    # One accept queue for every listener: a burst of all target clients arriving at once must fit
    # (listen(2): the backlog is capped by somaxconn, silently, so the plan caps it openly).
    backlog = k["listen_backlog"] or min(k["somaxconn"], max(MIN_BACKLOG, pow2_at_least(users)))

    # Prometheus's memory and disk follow from every target of the inventory.
    series = sum(SERIES[t] for h in hosts for t in monitoring.targets(h.roles, k)) + SERIES["prometheus"]
    # What each web host may proxy at once, before the app hosts are sized: their doors at the most
    # workers they could run (RAM may give them fewer), shared by the web hosts.
    proxied = math.ceil(sum(in_flight(k["app_workers"] or derived_workers(h.cores, k), k) for h in by_role["app"])
                        / max(1, len(by_role["web"])))
    plans = {h.name: size_host(h, k, web_clients, backlog, series, proxied) for h in hosts}
    size_upstreams(plans, by_role, k)
    size_mariadb(plans, by_role, k, backlog)
    for p in plans.values():
        p.nofile = open_files(p, k)
        p.sysctl = sysctls(p, k)
    plan = Plan(hosts=plans, knobs=k, capacity=capacity(plans, by_role, k, users))
    problems = violations(plan)
    if problems:
        raise PlanError(problems[0])
    return plan


def size_host(h: HostFacts, k: dict, web_clients: int, backlog: int, series: int, proxied: int) -> HostPlan:
    """Everything on one host but MariaDB, which also depends on the other hosts."""
    p = HostPlan(host=h)
    p.memory_mb["OS reserve"] = k["os_reserve_mb"]
    if k["monitoring"]:
        # Taken before the share, like nginx: small, and known from the roles alone.
        p.exporters = tuple(monitoring.exporters(h.roles))
        p.memory_mb["exporters"] = sum(EXPORTER_MB[e] for e in p.exporters)
        if "monitoring" in h.roles:
            p.monitoring = size_monitoring(k, series)
            p.memory_mb["Prometheus"] = p.monitoring.memory_mb
    if "web" in h.roles:
        p.nginx = size_nginx(h, k, web_clients, backlog)
        p.memory_mb["nginx"] = nginx_memory_mb(p.nginx.worker_processes, p.nginx.slots,
                                               proxied + k["nginx_upstream_keepalive"] * p.nginx.worker_processes)
    runs_proxysql = k["proxysql_enabled"] and "app" in h.roles
    if runs_proxysql:
        p.memory_mb["ProxySQL"] = proxysql_budget_mb(h, k)
    p.share_mb = memory_shares(p, k)
    if "app" in h.roles:
        try:
            p.app = size_app(h, k, p.share_mb["app"], backlog)
        except PlanError as error:
            if not p.exporters:
                raise
            taken = p.memory_mb["exporters"] + p.memory_mb.get("Prometheus", 0)
            raise PlanError(f"{error} Or set monitoring = False: its exporters and Prometheus take {taken} MB "
                            "of this host.") from None
        p.memory_mb["app"] = APP_MASTER_MB + p.app.workers * k["app_worker_memory_mb"]
        if runs_proxysql:
            p.proxysql = size_proxysql(h, k, p.app, backlog)
    if "cache" in h.roles:
        p.redis = size_redis(h, k, p.share_mb["cache"], backlog)
        p.memory_mb["Redis"] = REDIS_BASE_MB + p.redis.maxmemory_mb + p.redis.fork_headroom_mb
    return p


def size_monitoring(k: dict, series: int) -> MonitoringPlan:
    interval = k["prometheus_scrape_interval_s"]
    samples = series / interval * 86400 * k["prometheus_retention_days"]
    return MonitoringPlan(
        scrape_interval_s=interval,
        # rate() needs two samples in its window; four scrapes ride out a missed one (Prometheus docs
        # and the common practice of windows of at least 4 x the scrape interval).
        rate_window_s=4 * interval,
        series=series,
        memory_mb=PROMETHEUS_BASE_MB + math.ceil(series * PROMETHEUS_SERIES_KB / 1024),
        retention_size_mb=max(64, math.ceil(samples * PROMETHEUS_SAMPLE_BYTES / 1024 / 1024)),
    )


def derived_users(by_role: dict, k: dict) -> int:
    """target_concurrency = 0: the users the inventory serves within the SLO. The app hosts' cores
    at the measured USERS_PER_CORE (estimates.py), at most what every web host's nginx can hold in
    NGINX_RAM_SHARE of its RAM (OVERLOAD_FACTOR x its share of the users, idle, beside the requests
    it proxies)."""
    users = sum(h.cores for h in by_role["app"]) * USERS_PER_CORE or USERS_PER_CORE
    for h in by_role["web"]:
        room_kb = (h.ram_mb * NGINX_RAM_SHARE - NGINX_BASE_MB - NGINX_WORKER_MB * h.cores) * 1024
        by_ram = int(room_kb / (OVERLOAD_FACTOR * NGINX_IDLE_CLIENT_KB)) * len(by_role["web"])
        users = min(users, max(by_ram, 1))
    return max(1, users // 100 * 100 or users)


def memory_shares(p: HostPlan, k: dict) -> dict[str, float]:
    """What is left after the OS, nginx and ProxySQL, shared by the app, MariaDB and Redis by weight,
    among the roles present."""
    h = p.host
    weights = {role: k[f"memory_weight_{role}"] for role in ("app", "db", "cache") if role in h.roles}
    left = h.ram_mb - sum(p.memory_mb.values())
    # The least each weighted role runs with: one worker, the smallest Redis, the smallest buffer pool.
    least = {"app": APP_MASTER_MB + k["app_worker_memory_mb"],
             "cache": REDIS_BASE_MB + math.ceil(MIN_REDIS_MB * (1 + k["redis_fork_headroom"])),
             "db": MARIADB_BASE_MB + MIN_BUFFER_POOL_MB}
    need = sum(least[role] for role in weights)
    if left < need < h.ram_mb - left:
        # Not a matter of weights: what is taken before the share (OS, nginx, ProxySQL, monitoring) is
        # too big (bigger than what the roles need), and the knobs behind those are to blame, the
        # biggest first. The other way round, the roles' own checks name their knobs.
        by_size = sorted(p.memory_mb.items(), key=lambda item: -item[1])
        blame = " or ".join(dict.fromkeys(MEMORY_KNOBS[part] for part, _ in by_size))
        raise PlanError(
            f"on {h.name} ({h.ram_mb} MB), {', '.join(f'{n} {v} MB' for n, v in p.memory_mb.items())} leave "
            f"{left} MB, less than the {need} MB the {', '.join(ROLE_NAMES[r] for r in weights)} need at the least: "
            f"lower {blame}, or give the host more RAM.")
    return {role: left * w / sum(weights.values()) for role, w in weights.items()} if weights else {}


def open_files(p: HostPlan, k: dict) -> dict[str, int]:
    """LimitNOFILE of each service on the host."""
    nofile = {}
    if p.nginx:
        nofile["nginx"] = p.nginx.worker_rlimit_nofile
    if p.app:
        # Per worker: clients in flight and kept alive, its DB and Redis connections, files.
        per_worker = 2 * k["app_worker_concurrency"] + k["db_pool_size"] + k["db_pool_overflow"] + 64
        nofile["app"] = pow2_at_least(max(4096, p.app.workers * per_worker))
    if p.proxysql:
        nofile["proxysql"] = pow2_at_least(2 * (p.proxysql.max_connections + p.proxysql.backend_max_connections) + 1024)
    if p.mariadb:
        # Never below Debian's unit (LimitNOFILE=32768).
        nofile["mariadb"] = max(32768, p.mariadb.open_files_limit)
    if p.redis:
        # Redis docs (clients): maxclients + 32 descriptors for its own use.
        nofile["redis"] = k["redis_maxclients"] + 32
    return nofile


def sysctls(p: HostPlan, k: dict) -> dict[str, int | str]:
    """The kernel settings that follow from the whole host: somaxconn is the plan's (every backlog is
    sized under it), the rest the host's own (HostFacts.own, per group or host)."""
    own = {**knobs.defaults(), **p.host.own}
    return {
        "net.core.somaxconn": k["somaxconn"],
        "net.ipv4.tcp_max_syn_backlog": own["tcp_max_syn_backlog"],
        "net.ipv4.ip_local_port_range": own["ip_local_port_range"],
        # Room for every service at its limit, twice over; never below the knob's floor.
        "fs.file-max": max(own["file_max_min"], 2 * sum(p.nofile.values())),
        "vm.overcommit_memory": own["vm_overcommit_memory"],
        "vm.swappiness": own["vm_swappiness"],
    }


def capacity(plans: dict[str, HostPlan], by_role: dict, k: dict, users: int) -> Capacity:
    app = [part(plans[h.name].app, "app") for h in by_role["app"]]
    db = [part(plans[h.name].mariadb, "MariaDB") for h in by_role["db"]]
    proxies = [q for q in (plans[h.name].proxysql for h in by_role["app"]) if q]
    return Capacity(
        users=users, derived=not k["target_concurrency"], app_cores=sum(h.cores for h in by_role["app"]),
        proxysql=bool(proxies),
        to_mariadb=(sum(q.backend_max_connections for q in proxies) if proxies
                    else sum(a.db_connections for a in app)),
        clients=sum(part(plans[h.name].nginx, "nginx").slots for h in by_role["web"]),
        app_workers=sum(a.workers for a in app),
        requests_in_flight=sum(a.max_in_flight for a in app),
        app_db_connections=sum(a.db_connections for a in app),
        mariadb_max_connections=db[0].max_connections if db else 0,
    )
