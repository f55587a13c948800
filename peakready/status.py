"""`python -m peakready.status --inventory inventories/prod.py [--json]` (`make status`): one screen
per host, what `pm2 status` and `redis-cli INFO` showed during a spike, for the whole stack.

Over SSH (pyinfra's facts, one connection per host): each service as systemd sees it (state, uptime,
memory) and the app's workers (memory against their cap); and from Prometheus's HTTP API on the
monitoring host's loopback: requests/s, p95, 5xx and 429, MariaDB's connections against
max_connections, ProxySQL's clients and backends, Redis's hit ratio and memory, replication, the
targets down and the alerts firing. Nothing but SSH is opened to the hosts.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from peakready import GROUP_ROLES
from peakready.facts import HostSize, PrometheusQueries, ServiceStatus
from peakready.knobs import KnobError
from peakready.monitoring import TARGETS_DOWN
from peakready.services import UNITS, unit_file

# The screen lists a request's path first (nginx, the app, ProxySQL, MariaDB, Redis), then the rest
# in the table's order.
FIRST = ("nginx", "app", "proxysql", "mariadb", "redis")


def units(app_name: str) -> list[str]:
    """Every unit of the table of services (peakready/services.py), the app's named by its knob."""
    return [unit_file(name, app_name) for name in sorted(UNITS, key=lambda n: FIRST.index(n) if n in FIRST else len(FIRST))]


def clean(value: float) -> float | None:
    """Prometheus's NaN (0/0: no traffic) and infinities are no figure."""
    return None if value is None or math.isnan(value) or math.isinf(value) else value


def collect(inventory: str) -> dict:
    """Everything `make status` shows, as data (the --json form)."""
    from peakready.plan.cli import hosts_from_inventory, pyinfra_json
    from peakready.plan.sizing import make_plan

    inventory_hosts = pyinfra_json(inventory, "debug-inventory")
    data = inventory_hosts[0]["data"]
    app_name = data.get("app_name", "peakready")
    # The alert rules' window (4 scrapes), at least 20 s: what is happening now, not an average.
    window = max(20, 4 * int(data.get("prometheus_scrape_interval_s", 15)))
    facts = pyinfra_json(inventory, "fact", HostSize.name,
                         ServiceStatus.name, f"units={','.join(units(app_name))}", f"app_unit={unit_file('app', app_name)}",
                         PrometheusQueries.name, f"window_s={window}")
    by_fact = {name.split(" ")[0]: values for name, values in facts.items()}
    sizes, services = by_fact[HostSize.name], by_fact[ServiceStatus.name]
    prometheus = next((v for v in by_fact[PrometheusQueries.name].values() if v), None)
    hosts, knobs = hosts_from_inventory(inventory, sizes)
    plan = make_plan(hosts, knobs)

    figures: dict[str, dict] = {h.name: {} for h in hosts}
    down: list[dict] = []
    for name, results in (prometheus or {}).get("queries", {}).items():
        for r in results:
            host = r["metric"].get("host", "")
            if name == TARGETS_DOWN:
                down.append({"host": host, "job": r["metric"].get("job", "")})
            elif host in figures:
                figures[host][name] = clean(r["value"])
    out: dict[str, Any] = {"prometheus": prometheus is not None, "window_s": window, "targets_down": down,
           "alerts": [a for a in (prometheus or {}).get("alerts", []) if a["state"] == "firing"],
           "pending": [a for a in (prometheus or {}).get("alerts", []) if a["state"] == "pending"],
           "hosts": {}}
    for h in hosts:
        p = plan[h.name]
        s = services.get(h.name) or {"units": {}, "workers": []}
        out["hosts"][h.name] = {
            "groups": [g for g in h.groups if g in GROUP_ROLES], "cores": h.cores, "ram_mb": h.ram_mb,
            "services": s["units"],
            "workers": [{**w, "cap_mb": knobs.get("app_worker_memory_mb", 0) or None} for w in s["workers"]],
            "app_memory_max_mb": p.app.memory_max_mb if p.app else None,
            "plan": {"max_connections": p.mariadb.max_connections if p.mariadb else None,
                     "redis_maxmemory_mb": p.redis.maxmemory_mb if p.redis else None,
                     "proxysql_backends": p.proxysql.backend_max_connections if p.proxysql else None},
            "figures": figures[h.name],
        }
    return out


def duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}d{hours:02d}h" if days else f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def render(status: dict) -> str:
    """The terminal screen."""
    lines = []
    for name, h in status["hosts"].items():
        lines.append(f"{name}  {', '.join(h['groups'])}  ({h['cores']} cores, {h['ram_mb']} MB)")
        lines.append(f"  {'service':<34}{'state':<18}{'uptime':>9}{'memory':>10}{'restarts':>10}")
        for unit, u in h["services"].items():
            memory = "-" if u["memory_mb"] is None else f"{u['memory_mb']} MB"
            lines.append(f"  {unit.removesuffix('.service'):<34}{u['state'] + '/' + u['sub']:<18}"
                         f"{duration(u['uptime_s']):>9}{memory:>10}{u['restarts'] if u['restarts'] is not None else '-':>10}")
            if unit.endswith("-app.service") and h["app_memory_max_mb"]:
                lines[-1] += f"  (MemoryMax {h['app_memory_max_mb']} MB)"
        for w in h["workers"]:
            cap = f" / {w['cap_mb']} MB cap" if w["cap_mb"] else ""
            lines.append(f"    worker {w['pid']:<26}{'up':<18}{duration(w['uptime_s']):>9}{w['rss_mb']:>7} MB{cap}")
        f, plan = h["figures"], h["plan"]
        if "requests_per_s" in f:
            p95 = f.get("p95_s")
            lines.append(f"  requests   {number(f.get('requests_per_s'), '/s')} at nginx, p95 "
                         f"{'-' if p95 is None else f'{1000 * p95:.0f} ms'}, 5xx {pct(f.get('ratio_5xx') or 0.0)}, "
                         f"429 {pct(f.get('ratio_429') or 0.0)}")
        if "app_requests_per_s" in f:
            lines.append(f"  app        {number(f.get('app_requests_per_s'), '/s')} served by the workers")
        if "db_connections" in f:
            role = ("replica, " + ("running" if f.get("replication_running") else "STOPPED")
                    + f", lag {number(f.get('replication_lag_s'), ' s')}") if "replication_running" in f else \
                ("read-only" if f.get("db_read_only") else "primary")
            lines.append(f"  MariaDB    connections {number(f.get('db_connections'))} / "
                         f"{number(f.get('db_max_connections'))} (plan: {plan['max_connections']}), {role}")
        if "proxysql_clients" in f:
            lines.append(f"  ProxySQL   clients {number(f.get('proxysql_clients'))} : backends "
                         f"{number(f.get('proxysql_backends_used'))} used, {number(f.get('proxysql_backends_free'))} "
                         f"free (plan: at most {plan['proxysql_backends']} a server)")
        if "redis_memory_bytes" in f:
            used = f.get("redis_memory_bytes")
            lines.append(f"  Redis      hit ratio {pct(f.get('redis_hit_ratio'))}, memory "
                         f"{'-' if used is None else f'{used / 2**20:.0f} MB'} / {plan['redis_maxmemory_mb']} MB, "
                         f"evictions {number(f.get('redis_evictions_per_s'), '/s')}")
        if "backup_base_age_s" in f:
            lag = f.get("backup_binlog_lag_bytes")
            lines.append(f"  backups    newest base backup {duration(f.get('backup_base_age_s'))} old, binary logs "
                         f"{'-' if lag is None else f'{lag:.0f}'} bytes behind")
            tested, ok = f.get("backup_restore_test_age_s"), f.get("backup_restore_test_ok")
            lines.append(f"             last restore test {'none yet' if tested is None else duration(tested) + ' ago'}"
                         f"{'' if ok is None else ': passed' if ok == 1 else ': FAILED'}")
        lines.append("")
    if not status["prometheus"]:
        lines.append("Prometheus: none answers on a host of the monitoring group (monitoring off, or no such group).")
    else:
        down = ", ".join(f"{d['job']} on {d['host']}" for d in status["targets_down"]) or "none"
        lines.append(f"targets down: {down}")
        lines.append(f"alerts firing: {len(status['alerts']) or 'none'}")
        lines += [f"  {a['severity']:<9}{a['name']:<28}{a['summary']}" for a in status["alerts"]]
        if status["pending"]:
            lines.append(f"pending: {', '.join(a['name'] + ' on ' + a['host'] for a in status['pending'])}")
    return "\n".join(lines)


def number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:.0f}{unit}" if abs(value) >= 10 or value == int(value) else f"{value:.1f}{unit}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m peakready.status", description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", default="inventories/docker.py", help="a pyinfra inventory file")
    parser.add_argument("--json", action="store_true", help="the same figures as JSON")
    args = parser.parse_args(argv)
    try:
        status = collect(args.inventory)
    except KnobError as error:
        print(f"peakready status: {error}", file=sys.stderr)
        return 2
    print(json.dumps(status, indent=2) if args.json else render(status))
    return 0


if __name__ == "__main__":
    sys.exit(main())
