"""What Prometheus scrapes and alerts on, as data: prometheus.yml and the rule file are these dicts,
written as YAML (yaml.safe_dump), never text templates.

A host's targets follow from its tiers: node_exporter everywhere; the mysqld exporter on db hosts,
the Redis exporter on cache hosts, nginx's exporter and mtail (nginx's access log) on web hosts,
ProxySQL's REST API and the app's own /metrics on app hosts. Prometheus, on the one host of the
monitoring group, reaches each over the private network (loopback for its own host).
"""

from __future__ import annotations

import yaml

from peakready import PORTS, services

# From the one table of services: target -> Prometheus's job; the exporters by tier (None: every host)
# and by Debian package (= systemd unit).
JOBS, EXPORTERS, EXPORTER_UNITS = services.JOBS, services.EXPORTERS, services.EXPORTER_UNITS
RULES_FILE = "/etc/prometheus/rules/peakready.yml"
# Prometheus on the monitoring host's loopback, and what `make status` asks it:
PROMETHEUS = f"http://127.0.0.1:{PORTS['prometheus']}"
# name -> PromQL ({w}: the rate window), each by the host label every target carries.
QUERIES = {
    "requests_per_s": "sum by (host) (rate(nginx_responses_total[{w}]))",
    "p95_s": "histogram_quantile(0.95, sum by (host, le) (rate(nginx_response_seconds_bucket[{w}])))",
    "ratio_5xx": 'sum by (host) (rate(nginx_responses_total{{status=~"5.."}}[{w}])) / '
                 "sum by (host) (rate(nginx_responses_total[{w}]))",
    "ratio_429": 'sum by (host) (rate(nginx_responses_total{{status="429"}}[{w}])) / '
                 "sum by (host) (rate(nginx_responses_total[{w}]))",
    "db_connections": "max by (host) (mysql_global_status_threads_connected)",
    "db_max_connections": "max by (host) (mysql_global_variables_max_connections)",
    "db_read_only": "max by (host) (mysql_global_variables_read_only)",
    "replication_lag_s": "max by (host) (mysql_slave_status_seconds_behind_master)",
    "replication_running": "min by (host) (mysql_slave_status_slave_io_running * mysql_slave_status_slave_sql_running)",
    "proxysql_clients": "sum by (host) (proxysql_client_connections_connected)",
    "proxysql_backends_used": 'sum by (host) (proxysql_connpool_conns{{status="used"}})',
    "proxysql_backends_free": 'sum by (host) (proxysql_connpool_conns{{status="free"}})',
    "redis_hit_ratio": "sum by (host) (rate(redis_keyspace_hits_total[{w}])) / (sum by (host) "
                       "(rate(redis_keyspace_hits_total[{w}])) + sum by (host) (rate(redis_keyspace_misses_total[{w}])))",
    "redis_memory_bytes": "max by (host) (redis_memory_used_bytes)",
    "redis_maxmemory_bytes": "max by (host) (redis_memory_max_bytes)",
    "redis_evictions_per_s": "sum by (host) (rate(redis_evicted_keys_total[{w}]))",
    "app_requests_per_s": "sum by (host) (rate(peakready_http_requests_total[{w}]))",
    # The backup host's (peakready/backup.py).
    "backup_base_age_s": "max by (host) (time() - peakready_backup_base_last_timestamp_seconds)",
    "backup_binlog_lag_bytes": "max by (host) (peakready_backup_binlog_lag_bytes)",
    "backup_restore_test_age_s": "max by (host) (time() - peakready_backup_restore_test_timestamp_seconds)",
    "backup_restore_test_ok": "min by (host) (peakready_backup_restore_test_ok)",
}
TARGETS_DOWN = "targets_down"
QUERIES[TARGETS_DOWN] = "up == 0"
HEADER = "# Managed by peakready (peakready/monitoring.py): written from data on every deploy.\n"


def exporters(tiers: set[str]) -> list[str]:
    """The exporter services a host of `tiers` runs."""
    return [name for name, tier in EXPORTERS.items() if tier is None or tier in tiers]


def targets(tiers: set[str], knobs: dict) -> list[str]:
    """Everything Prometheus scrapes on a host of `tiers`: its exporters, and on an app host ProxySQL's
    metrics (where ProxySQL runs) and the app's (where it has them)."""
    found = exporters(tiers)
    if "app" in tiers and knobs["proxysql_enabled"]:
        found.append("proxysql_metrics")
    if "app" in tiers and knobs["app_metrics_path"]:
        found.append("app")
    return found


def duration(seconds: int) -> str:
    return f"{seconds}s"


def scrape_config(m, knobs: dict, hosts: dict[str, dict]) -> dict:
    """prometheus.yml, for the monitoring host's plan `m` (MonitoringPlan). `hosts`: name -> {"address": where Prometheus reaches it, "targets": [...],
    "app_port": its app's port}, for every host of the inventory."""
    jobs: dict[str, list[dict]] = {}
    for name, h in sorted(hosts.items()):
        for target in h["targets"]:
            port = h["app_port"] if target == "app" else PORTS[target]
            jobs.setdefault(target, []).append({"targets": [f"{h['address']}:{port}"], "labels": {"host": name}})
    config = {
        "global": {
            "scrape_interval": duration(m.scrape_interval_s),
            "scrape_timeout": duration(min(10, m.scrape_interval_s)),
            "evaluation_interval": duration(m.scrape_interval_s),
        },
        "rule_files": [RULES_FILE],
        "scrape_configs": [
            {"job_name": "prometheus",
             "static_configs": [{"targets": [f"127.0.0.1:{PORTS['prometheus']}"], "labels": {"host": plan_host(hosts)}}]},
            *[{"job_name": JOBS[target], **({"metrics_path": knobs["app_metrics_path"]} if target == "app" else {}),
               "static_configs": static} for target, static in jobs.items()],
        ],
    }
    if knobs["alertmanagers"]:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(knobs["alertmanagers"])}]}]}
    return config


def plan_host(hosts: dict[str, dict]) -> str:
    """The monitoring host itself: the one Prometheus reaches on loopback."""
    return next((name for name, h in hosts.items() if h["address"] == "127.0.0.1"), "")


# A base backup runs every day (backup_base_time, up to 5 minutes late): older than this, one was missed.
BASE_BACKUP_MAX_AGE_S = 26 * 3600
# The restore test runs every day too (backup_restore_test_time, up to 5 minutes late).
RESTORE_TEST_MAX_AGE_S = 26 * 3600
# The backup host writes its figures this often (peakready-backup-metrics.timer) into the node
# exporter's textfile directory (Debian's default place for it)...
BACKUP_FIGURES_EVERY_S = 60
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
# ...and five missed runs alert.
BACKUP_FIGURES_MAX_AGE_S = 5 * BACKUP_FIGURES_EVERY_S


def alert_rules(plan, m, knobs: dict) -> dict:
    """The alert rules, thresholds from the plan (the inventory's `plan`) where it owns the number
    (MariaDB's max_connections, Redis's maxmemory per cache host, ProxySQL's backend connections),
    else from the knobs; rate windows from the monitoring host's `m`."""
    w = duration(m.rate_window_s)
    near = knobs["alert_near_limit_ratio"]
    rules = [
        rule("TargetDown", "up == 0", "critical",
             "{{ $labels.job }} on {{ $labels.host }} does not answer Prometheus's scrape"),
        rule("NginxServerErrors",
             f'sum by (host) (rate(nginx_responses_total{{status=~"5.."}}[{w}])) / '
             f"sum by (host) (rate(nginx_responses_total[{w}])) > {knobs['alert_5xx_ratio']}",
             "critical", f"more than {knobs['alert_5xx_ratio']:.1%} of the answers of nginx on {{{{ $labels.host }}}} "
             "are server errors (5xx: the app failing, or 503s from the door when more arrive than it takes)"),
        rule("NginxRateLimited",
             f'sum by (host) (rate(nginx_responses_total{{status="429"}}[{w}])) / '
             f"sum by (host) (rate(nginx_responses_total[{w}])) > {knobs['alert_429_ratio']}",
             "warning", f"more than {knobs['alert_429_ratio']:.1%} of the requests to nginx on {{{{ $labels.host }}}} "
             "are rate-limited (429)"),
        rule("SlowResponses",
             f"histogram_quantile(0.95, sum by (host, le) (rate(nginx_response_seconds_bucket[{w}]))) "
             f"> {knobs['slo_p95_ms'] / 1000:g}",
             "warning", f"nginx on {{{{ $labels.host }}}} answers slower than the SLO ({knobs['slo_p95_ms']} ms) at p95"),
        rule("MariaDBDown", "mysql_up == 0", "critical", "MariaDB on {{ $labels.host }} does not answer its exporter"),
        rule("RedisDown", "redis_up == 0", "critical", "Redis on {{ $labels.host }} does not answer its exporter"),
        rule("ReplicaStopped", "mysql_slave_status_slave_io_running == 0 or mysql_slave_status_slave_sql_running == 0",
             "critical", "replication on {{ $labels.host }} is stopped"),
        rule("ReplicationLag", f"mysql_slave_status_seconds_behind_master > {knobs['proxysql_max_replication_lag_s']}",
             "warning", f"the replica on {{{{ $labels.host }}}} lags more than {knobs['proxysql_max_replication_lag_s']} s "
             "(ProxySQL stops sending it reads)"),
        rule("ProxySQLBackendErrors", f'increase(proxysql_connpool_conns_total{{status="err"}}[{w}]) > 0',
             "warning", "ProxySQL on {{ $labels.host }} fails to connect to MariaDB {{ $labels.endpoint }}"),
        # The server's state in ProxySQL's pool: 1 ONLINE, 2 SHUNNED, 3 OFFLINE_SOFT, 4 OFFLINE_HARD.
        # Not 4: ProxySQL keeps a server taken out of its config (after promote.py) in its pool stats as
        # OFFLINE_HARD until it restarts, which would alert for ever.
        rule("ProxySQLServerShunned", "proxysql_connpool_conns_status == 2",
             "warning", "ProxySQL on {{ $labels.host }} shuns MariaDB {{ $labels.endpoint }} "
             "(hostgroup {{ $labels.hostgroup }}): connection errors, or a replica lagging"),
        rule("RedisEvicting", f"rate(redis_evicted_keys_total[{w}]) > {knobs['alert_redis_evictions_per_s']:g}",
             "warning", f"Redis on {{{{ $labels.host }}}} evicts more than {knobs['alert_redis_evictions_per_s']:g} "
             "keys a second: the cache is too small for what is read"),
        rule("AppWorkersRecycled", f"sum by (host) (increase(peakready_app_worker_recycles_total[10m])) "
             f"> {knobs['alert_app_worker_recycles']}",
             "warning", f"more than {knobs['alert_app_worker_recycles']} app workers on {{{{ $labels.host }}}} were "
             "recycled in 10 minutes (over their memory cap, or at their timeout)"),
        rule("DiskFilling",
             'node_filesystem_avail_bytes{fstype!~"tmpfs|overlay|squashfs"} / '
             f'node_filesystem_size_bytes{{fstype!~"tmpfs|overlay|squashfs"}} < {1 - near:.2f}',
             "warning", "{{ $labels.mountpoint }} on {{ $labels.host }} is more than "
             f"{near:.0%} full"),
        rule("MemoryPressure", f"node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes < {1 - near:.2f}",
             "warning", f"less than {1 - near:.0%} of the RAM of {{{{ $labels.host }}}} is available"),
        # The backup host's figures (peakready/backup.py), through its node exporter's textfile collector.
        rule("BaseBackupOld", f"time() - peakready_backup_base_last_timestamp_seconds > {BASE_BACKUP_MAX_AGE_S}",
             "critical", "the newest base backup of {{ $labels.source }} on {{ $labels.host }} is more than "
             f"{BASE_BACKUP_MAX_AGE_S // 3600} hours old: a daily one was missed (journalctl -u peakready-backup-base)"),
        rule("BinlogShippingBehind", f"min_over_time(peakready_backup_binlog_lag_bytes[{w}]) > 0",
             "critical", "the binary logs of {{ $labels.source }} have not all reached the backup host "
             "{{ $labels.host }} for a while (journalctl -u peakready-binlog-ship): a loss of the primary now "
             "loses those writes"),
        rule("BackupBroken", "peakready_backup_ok == 0", "critical",
             "the backup host {{ $labels.host }} cannot read its repository or the binary logs of "
             "{{ $labels.source }} (journalctl -u peakready-backup-metrics): no backup is being made"),
        rule("RestoreTestFailed", "peakready_backup_restore_test_ok == 0", "critical",
             "the last restore test of the backups of {{ $labels.source }} on {{ $labels.host }} failed: the "
             "newest base backup and the binary logs since it did not restore (journalctl -u "
             "peakready-backup-restore-test)"),
        rule("RestoreTestOld", f"time() - peakready_backup_restore_test_timestamp_seconds > {RESTORE_TEST_MAX_AGE_S}",
             "warning", "no restore test of the backups of {{ $labels.source }} on {{ $labels.host }} for more "
             f"than {RESTORE_TEST_MAX_AGE_S // 3600} hours (peakready-backup-restore-test.timer)"),
        rule("BackupFiguresStale", f"time() - peakready_backup_metrics_timestamp_seconds > {BACKUP_FIGURES_MAX_AGE_S}",
             "warning", "the backup figures of {{ $labels.host }} are not being renewed "
             "(peakready-backup-metrics.timer)"),
    ]
    rules += plan_rules(plan, near, knobs["redis_maxmemory_policy"])
    for r in rules:
        r["for"] = duration(knobs["alert_for_s"])
    return {"groups": [{"name": "peakready", "rules": rules}]}


def plan_rules(plan, near: float, policy: str) -> list[dict]:
    """The rules whose limits the plan sets, one per host that has the limit."""
    rules = []
    max_connections = next((p.mariadb.max_connections for p in plan.hosts.values() if p.mariadb), 0)
    if max_connections:
        rules.append(rule(
            "MariaDBConnectionsNearMax", f"mysql_global_status_threads_connected > {int(max_connections * near)}",
            "warning", f"MariaDB on {{{{ $labels.host }}}} holds more than {near:.0%} of its {max_connections} "
                       "connections (the plan's max_connections)"))
    for name, p in sorted(plan.hosts.items()):
        # A cache that evicts (allkeys-*) sits at maxmemory by design once warm: RedisEvicting says when
        # that hurts. With another policy, writes fail (noeviction) or only keys with a TTL go.
        if p.redis and not policy.startswith("allkeys-"):
            limit = int(p.redis.maxmemory_mb * near * 1024 * 1024)
            rules.append(rule(
                "RedisMemoryNearMax", f'redis_memory_used_bytes{{host="{name}"}} > {limit}', "warning",
                f"Redis on {name} uses more than {near:.0%} of its {p.redis.maxmemory_mb} MB maxmemory (the plan's)"))
        if p.proxysql:
            limit = int(p.proxysql.backend_max_connections * near)
            # The plan's limit is per server (each row of mysql_servers), so each is compared alone.
            rules.append(rule(
                "ProxySQLBackendsNearMax",
                f'max by (host, hostgroup, endpoint) (proxysql_connpool_conns{{host="{name}",status="used"}}) '
                f"> {limit}", "warning",
                f"ProxySQL on {name} uses more than {near:.0%} of its {p.proxysql.backend_max_connections} "
                "connections to MariaDB {{ $labels.endpoint }} (the plan's)"))
    return rules


def rule(name: str, expr: str, severity: str, summary: str) -> dict:
    return {"alert": name, "expr": expr, "for": "0s", "labels": {"severity": severity},
            "annotations": {"summary": summary}}


def dump(data: dict) -> str:
    """The YAML a config file holds: peakready's header, then the data, keys in the order built."""
    return HEADER + yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=120)
