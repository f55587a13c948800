"""Monitoring without a target: what Prometheus scrapes where, the alert rules' thresholds from the
plan, the firewall's openings for the exporters, the plan's memory and retention, `make status`'s
screen. tests/infra/test_monitoring.py proves them live."""

from __future__ import annotations

import pytest
import yaml

from peakready import PORTS, knobs, monitoring
from peakready.knobs import PlanError
from peakready.plan import HostFacts, make_plan
from peakready.plan.estimates import EXPORTER_MB, SERIES
from peakready.status import clean, render
from peakready.topology import Topology

# The sample app's settings, which say where its metrics are (group_data/sample_app.py).
K = {**knobs.defaults(), "app_metrics_path": "/metrics"}
MULTI = {"lb": ("web_servers", "monitoring"), "app1": ("app_servers",), "app2": ("app_servers",),
         "db1": ("db_primary", "cache_servers"), "db2": ("db_replicas",)}
ADDRESSES = {"lb": "10.0.0.2", "app1": "10.0.0.3", "app2": "10.0.0.4", "db1": "10.0.0.5", "db2": "10.0.0.6"}


def multi_plan(**overrides):
    return make_plan([HostFacts(name, 2, 4096, groups) for name, groups in MULTI.items()], {**K, **overrides})


def hosts_seen_from(topo: Topology, monitor: str, k=K) -> dict:
    return {name: {"address": topo.reach(monitor, name), "targets": monitoring.targets(topo.tiers(name), k),
                   "app_port": k["app_port"]} for name in topo.groups}


def test_each_host_gets_the_exporters_of_its_tiers():
    assert monitoring.exporters({"db"}) == ["node_exporter", "mysqld_exporter"]
    assert monitoring.exporters({"web"}) == ["node_exporter", "nginx_exporter", "mtail"]
    assert monitoring.targets({"app"}, K) == ["node_exporter", "proxysql_metrics", "app"]
    assert monitoring.targets({"app"}, {**K, "proxysql_enabled": False, "app_metrics_path": ""}) == ["node_exporter"]
    # An app says where its metrics are, or is not asked (a 404 would keep TargetDown firing).
    assert monitoring.targets({"app"}, knobs.defaults()) == ["node_exporter", "proxysql_metrics"]


def test_a_single_vps_is_scraped_on_loopback_with_every_job():
    topo = Topology({"vps": tuple(MULTI["lb"] + MULTI["app1"] + MULTI["db1"])})
    plan = make_plan([HostFacts("vps", 2, 4096)], K)["vps"]
    config = monitoring.scrape_config(plan.monitoring, K, hosts_seen_from(topo, "vps"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"prometheus", "node", "mariadb", "redis", "nginx", "nginx_log", "proxysql", "app"}
    for job in jobs.values():
        (static,) = job["static_configs"]
        assert static["targets"][0].startswith("127.0.0.1:") and static["labels"] == {"host": "vps"}
    assert jobs["app"]["metrics_path"] == "/metrics"
    assert jobs["proxysql"]["static_configs"][0]["targets"] == [f"127.0.0.1:{PORTS['proxysql_metrics']}"]
    assert config["global"]["scrape_interval"] == "15s" and "alerting" not in config


def test_several_hosts_are_scraped_on_their_private_addresses_and_bind_only_that():
    topo = Topology(MULTI, ADDRESSES)
    assert topo.monitor == "lb"
    assert topo.exporter_bind("lb") == "127.0.0.1" and topo.exporter_bind("db2") == "10.0.0.6"
    plan = multi_plan()
    config = monitoring.scrape_config(plan["lb"].monitoring, K, hosts_seen_from(topo, "lb"))
    seen = {(s["labels"]["host"], job["job_name"]): s["targets"][0]
            for job in config["scrape_configs"] for s in job["static_configs"]}
    assert seen[("db2", "mariadb")] == f"10.0.0.6:{PORTS['mysqld_exporter']}"
    assert seen[("db1", "redis")] == f"10.0.0.5:{PORTS['redis_exporter']}"
    assert seen[("app1", "app")] == f"10.0.0.3:{K['app_port']}"
    assert seen[("lb", "nginx_log")] == f"127.0.0.1:{PORTS['mtail']}"
    assert ("db2", "redis") not in seen and ("lb", "mariadb") not in seen


def test_the_firewall_admits_each_exporter_from_the_monitoring_host_only():
    topo = Topology(MULTI, ADDRESSES)
    ports = {"mariadb": 3306, "redis": 6379, "app": 8000, **{n: PORTS[n] for n in monitoring.EXPORTERS},
             "proxysql_metrics": PORTS["proxysql_metrics"]}
    opened = {(rule["service"], tuple(rule["sources"])) for rule in topo.admitted("db1", ports)}
    assert ("mysqld_exporter", ("10.0.0.2",)) in opened and ("redis_exporter", ("10.0.0.2",)) in opened
    assert ("node_exporter", ("10.0.0.2",)) in opened and not any(s == "mtail" for s, _ in opened)
    app = {rule["service"]: rule["sources"] for rule in topo.admitted("app1", ports)}
    assert app["app"] == ["10.0.0.2"]  # lb: nginx and Prometheus both
    assert app["proxysql_metrics"] == ["10.0.0.2"]
    assert topo.admitted("lb", ports) == []  # Prometheus scrapes lb on loopback
    # Without monitoring the group is no tier: nothing opened for it, exporters bind loopback.
    off = Topology(MULTI, ADDRESSES, monitoring=False)
    assert off.monitor is None and off.exporter_bind("db1") == "127.0.0.1"
    assert all(r["service"] in ("mariadb", "redis") for r in off.admitted("db1", ports))


def test_alert_rules_take_the_plans_limits_and_the_knobs_windows():
    plan = multi_plan(alert_for_s=30)
    rules = monitoring.alert_rules(plan, plan["lb"].monitoring, {**K, "alert_for_s": 30})
    by_name: dict[str, list[dict]] = {}
    for r in rules["groups"][0]["rules"]:
        by_name.setdefault(r["alert"], []).append(r)
    assert all(r["for"] == "30s" for rs in by_name.values() for r in rs)
    max_connections = plan["db1"].mariadb.max_connections
    (conns,) = by_name["MariaDBConnectionsNearMax"]
    assert conns["expr"].endswith(f"> {int(max_connections * 0.9)}")
    # A warm allkeys-lru cache sits at maxmemory by design: no memory alert then, RedisEvicting says it.
    assert "RedisMemoryNearMax" not in by_name
    strict = monitoring.alert_rules(plan, plan["lb"].monitoring, {**K, "redis_maxmemory_policy": "noeviction"})
    (redis,) = [r for r in strict["groups"][0]["rules"] if r["alert"] == "RedisMemoryNearMax"]
    assert 'host="db1"' in redis["expr"] and redis["expr"].endswith(
        f"> {int(plan['db1'].redis.maxmemory_mb * 0.9 * 2**20)}")
    assert {r["expr"].split('host="')[1].split('"')[0] for r in by_name["ProxySQLBackendsNearMax"]} == {"app1", "app2"}
    # The plan's backend limit is per server: each server compared alone.
    assert all(r["expr"].startswith("max by (host, hostgroup, endpoint)") for r in by_name["ProxySQLBackendsNearMax"])
    assert by_name["ProxySQLServerShunned"][0]["expr"] == "proxysql_connpool_conns_status == 2"
    assert "[60s]" in by_name["NginxServerErrors"][0]["expr"]  # 4 scrapes of 15 s
    assert by_name["SlowResponses"][0]["expr"].endswith(f"> {K['slo_p95_ms'] / 1000:g}")
    for needed in ("TargetDown", "RedisDown", "ReplicaStopped", "ReplicationLag", "ProxySQLServerShunned",
                   "RedisEvicting", "AppWorkersRecycled", "DiskFilling", "MemoryPressure", "NginxRateLimited",
                   "BaseBackupOld", "BinlogShippingBehind", "BackupBroken", "RestoreTestFailed", "RestoreTestOld"):
        assert needed in by_name, needed


def test_the_yaml_is_the_data_and_names_its_maker():
    plan = make_plan([HostFacts("vps", 2, 4096)], {**K, "alertmanagers": ["10.0.0.9:9093"]})["vps"]
    topo = Topology({"vps": ("web_servers", "app_servers", "db_primary", "cache_servers", "monitoring")})
    config = monitoring.scrape_config(plan.monitoring, {**K, "alertmanagers": ["10.0.0.9:9093"]},
                                      hosts_seen_from(topo, "vps"))
    text = monitoring.dump(config)
    assert text.startswith("# Managed by peakready") and yaml.safe_load(text) == config
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["10.0.0.9:9093"]


def test_the_plan_counts_the_exporters_everywhere_and_prometheus_on_its_host():
    plan = multi_plan()
    assert "Prometheus" in plan["lb"].memory_mb and all("Prometheus" not in plan[h].memory_mb for h in ADDRESSES
                                                         if h != "lb")
    assert plan["db2"].memory_mb["exporters"] == EXPORTER_MB["node_exporter"] + EXPORTER_MB["mysqld_exporter"]
    m = plan["lb"].monitoring
    expected = sum(SERIES[t] for name, groups in MULTI.items()
                   for t in monitoring.targets(Topology(MULTI).tiers(name), K)) + SERIES["prometheus"]
    assert m.series == expected
    assert m.retention_size_mb == pytest.approx(expected / 15 * 86400 * 15 * 2 / 2**20, rel=0.01)
    off = multi_plan(monitoring=False)
    assert all(p.exporters == () and "exporters" not in p.memory_mb for p in off.hosts.values())
    assert off["db1"].mariadb.innodb_buffer_pool_mb > plan["db1"].mariadb.innodb_buffer_pool_mb


def test_one_monitoring_host_at_most():
    with pytest.raises(PlanError, match="monitoring has 2 hosts"):
        make_plan([HostFacts("a", 2, 4096, ("web_servers", "app_servers", "db_primary", "cache_servers", "monitoring")),
                   HostFacts("b", 2, 4096, ("monitoring",))], K)


def test_status_screen_from_its_data():
    status = {"prometheus": True, "window_s": 20, "targets_down": [{"host": "db2", "job": "mariadb"}],
              "alerts": [{"name": "RedisDown", "host": "vps", "state": "firing", "severity": "critical",
                          "summary": "Redis on vps does not answer its exporter"}], "pending": [],
              "hosts": {"vps": {"groups": ["web_servers"], "cores": 2, "ram_mb": 4096,
                                "services": {"peakready-app.service": {"state": "active", "sub": "running", "pid": 1,
                                                                       "uptime_s": 3725, "memory_mb": 120,
                                                                       "restarts": 0}},
                                "workers": [{"pid": 7, "rss_mb": 90, "uptime_s": 60, "cap_mb": 192}],
                                "app_memory_max_mb": 528,
                                "plan": {"max_connections": 30, "redis_maxmemory_mb": 459, "proxysql_backends": 20},
                                "figures": {"requests_per_s": 812.4, "p95_s": 0.0234, "ratio_5xx": 0.0,
                                            "db_connections": 12.0, "db_max_connections": 30.0,
                                            "redis_memory_bytes": 52428800.0, "redis_hit_ratio": None}}}}
    screen = render(status)
    assert "peakready-app" in screen and "1h02m" in screen and "(MemoryMax 528 MB)" in screen
    assert "90 MB / 192 MB cap" in screen
    assert "812/s at nginx, p95 23 ms, 5xx 0.0%" in screen
    assert "connections 12 / 30 (plan: 30), primary" in screen and "memory 50 MB / 459 MB" in screen
    assert "targets down: mariadb on db2" in screen and "RedisDown" in screen
    assert clean(float("nan")) is None and clean(1.5) == 1.5


def test_status_screen_shows_the_backups_where_a_host_keeps_them():
    host = {"groups": ["backup_servers"], "cores": 1, "ram_mb": 1024, "services": {}, "workers": [],
            "app_memory_max_mb": None, "plan": {}, "figures": {"backup_base_age_s": 7260.0, "backup_binlog_lag_bytes": 0.0}}
    screen = render({"prometheus": True, "window_s": 20, "targets_down": [], "alerts": [], "pending": [],
                     "hosts": {"safe": host}})
    assert "backups    newest base backup 2h01m old, binary logs 0 bytes behind" in screen
    assert "last restore test none yet" in screen
    host["figures"].update(backup_restore_test_age_s=3900.0, backup_restore_test_ok=0.0)
    screen = render({"prometheus": True, "window_s": 20, "targets_down": [], "alerts": [], "pending": [],
                     "hosts": {"safe": host}})
    assert "last restore test 1h05m ago: FAILED" in screen
    # The control: a host without the figures has no such line.
    host["figures"] = {}
    assert "backups" not in render({"prometheus": True, "window_s": 20, "targets_down": [], "alerts": [], "pending": [],
                                    "hosts": {"safe": host}})
