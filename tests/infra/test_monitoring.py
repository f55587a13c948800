"""Monitoring live on the test VPS: every target up, alerts that fire and resolve for real, the
exporters' users unable to write, nothing reachable from outside, no secret where others can read
it, the memory within the plan, and `make status` (text and --json).

The local VPS scrapes every 5 s and fires an alert after 10 s (targets/inventory.py); every wait
below is a bound several times what it took here, and the time it took is printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from peakready import PORTS, ROOT
from peakready.monitoring import EXPORTER_UNITS
from peakready.plan.estimates import EXPORTER_MB, SERIES
from peakready.roles.monitoring import MYSQLD_CNF, REDIS_ENV
from peakready.secrets import DIRECTORY
from tests.infra.conftest import proxysql_or_skip
from tests.infra.test_base import reachable
from tests.infra.test_exposure import resp
from tests.leaks import Redacted, in_text

PROM = f"http://127.0.0.1:{PORTS['prometheus']}"
ALERT_BOUND_S = 120  # measured 15-25 s to fire, 20-40 s to resolve (5 s scrapes, for: 10 s, 20 s windows)
FIGURES: dict[str, str] = {}


def prom(host, path: str, **params) -> dict:
    """GET Prometheus's API on the VPS's loopback (curl in the VPS), the `data` of its answer."""
    args = " ".join(f"--data-urlencode {json.dumps(f'{k}={v}')}" for k, v in params.items())
    out = host.check_output(f"curl -sf --get {args} {PROM}{path}")
    return json.loads(out)["data"]


def query(host, promql: str) -> list[dict]:
    return prom(host, "/api/v1/query", query=promql)["result"]


def wait_for(what: str, check, bound_s: float, every_s: float = 1.0):
    """Poll `check` until it returns something true; (its value, the seconds it took)."""
    start = time.monotonic()
    while True:
        value = check()
        if value:
            return value, time.monotonic() - start
        assert time.monotonic() - start < bound_s, f"{what}: not within {bound_s} s"
        time.sleep(every_s)


def alert_state(host, name: str) -> str | None:
    """'firing', 'pending' or None for the alert `name`."""
    states = [a["state"] for a in prom(host, "/api/v1/alerts")["alerts"] if a["labels"]["alertname"] == name]
    return "firing" if "firing" in states else states[0] if states else None


@pytest.fixture(scope="module")
def targets(host, plan):
    """Every scrape target, once all are up (the first scrapes follow the deploy by a few seconds)."""
    def all_up():
        active = prom(host, "/api/v1/targets")["activeTargets"]
        return active if active and all(t["health"] == "up" for t in active) else None

    found, took = wait_for("every target up", all_up, 60)
    FIGURES["every target up after"] = f"{took:.0f} s"
    return found


@pytest.mark.box
def test_every_exporter_of_the_vps_is_scraped_and_up(targets, plan):
    jobs = {t["labels"]["job"]: t for t in targets}
    expected = {"prometheus", "node", "mariadb", "redis", "nginx", "nginx_log", "app"} | (
        {"proxysql"} if plan.proxysql else set())
    assert set(jobs) == expected
    for job, t in jobs.items():
        assert t["scrapeUrl"].startswith("http://127.0.0.1:"), f"{job} scraped at {t['scrapeUrl']}"
        assert t["labels"]["host"], f"{job} has no host label"
        print(f"{job:<11} {t['scrapeUrl']:<36} {t['health']}  last scrape {1000 * t['lastScrapeDuration']:.1f} ms")


def test_the_exporters_read_their_services(host, targets):
    """Up is not enough: each exporter reached its service (a wrong password still answers /metrics)."""
    assert [float(r["value"][1]) for r in query(host, "mysql_up")] == [1.0]
    assert [float(r["value"][1]) for r in query(host, "redis_up")] == [1.0]
    assert [float(r["value"][1]) for r in query(host, "nginx_up")] == [1.0]
    assert [float(r["value"][1]) for r in query(host, "redis_exporter_last_scrape_error")] == [0.0]
    # mtail counts the answers nginx logs: one more request shows up within a scrape or two.
    host.check_output("curl -s -o /dev/null -H 'Host: localhost' http://127.0.0.1/health")
    counted, _ = wait_for("mtail counts nginx's answers",
                          lambda: query(host, 'sum(nginx_responses_total{status="200"})'), 30)
    assert float(counted[0]["value"][1]) >= 1


def test_a_second_look_finds_the_series_and_memory_within_the_plan(host, targets, plan):
    """The plan counts each target's series and each exporter's memory on the high side: the live
    figures stay under them (measured here, printed for docs/monitoring.md)."""
    series = {r["metric"]["job"]: int(float(r["value"][1]))
              for r in query(host, 'count by (job) ({__name__=~".+"})')}
    jobs = {"node": "node_exporter", "mariadb": "mysqld_exporter", "redis": "redis_exporter",
            "nginx": "nginx_exporter", "nginx_log": "mtail", "proxysql": "proxysql_metrics", "app": "app",
            "prometheus": "prometheus"}
    for job, count in sorted(series.items()):
        print(f"series {job:<11} {count:>6} (plan: {SERIES[jobs[job]]})")
        assert count <= SERIES[jobs[job]], f"{job} exposes {count} series, more than the plan's {SERIES[jobs[job]]}"
    assert sum(series.values()) <= plan.monitoring.series
    rss = {}
    for name, unit in EXPORTER_UNITS.items():
        pid = host.check_output(f"systemctl show -p MainPID --value {unit}")
        rss[name] = int(host.check_output(f"ps -o rss= -p {pid}")) // 1024
        assert rss[name] <= EXPORTER_MB[name], f"{unit} uses {rss[name]} MB, more than the plan's {EXPORTER_MB[name]}"
    pid = host.check_output("systemctl show -p MainPID --value prometheus")
    rss["prometheus"] = int(host.check_output(f"ps -o rss= -p {pid}")) // 1024
    assert rss["prometheus"] <= plan.memory_mb["Prometheus"]
    total = sum(rss.values())
    FIGURES["monitoring memory (RSS)"] = (f"{total} MB: Prometheus {rss['prometheus']}, "
                                          + ", ".join(f"{n} {mb}" for n, mb in rss.items() if n != "prometheus")
                                          + f" (plan: {plan.memory_mb['exporters'] + plan.memory_mb['Prometheus']} MB)")
    FIGURES["series"] = f"{sum(series.values())} (plan: {plan.monitoring.series})"
    print(FIGURES["monitoring memory (RSS)"])


@pytest.mark.box
def test_exporters_and_prometheus_listen_on_loopback_only(host):
    listening = host.check_output("ss -Hltn").splitlines()
    for name in ("prometheus", "node_exporter", "mysqld_exporter", "nginx_exporter", "redis_exporter", "mtail"):
        found = [line.split()[3] for line in listening if line.split()[3].endswith(f":{PORTS[name]}")]
        assert found == [f"127.0.0.1:{PORTS[name]}"], f"{name}: {found}"


def test_no_exporter_or_prometheus_port_answers_from_the_host_machine(test_vps, plan):
    ports = [PORTS[n] for n in ("prometheus", "node_exporter", "mysqld_exporter", "nginx_exporter",
                                "redis_exporter", "mtail")] + ([PORTS["proxysql_metrics"]] if plan.proxysql else [])
    assert not [p for p in ports if reachable(test_vps.address, p)]


def test_proxysql_metrics_port_is_kept_private_by_the_firewall(test_vps, host, plan):
    """ProxySQL 2.7 binds its REST API to every address: inside the VPS it answers on the VPS's own
    address, from the host machine the same address and port do not (the firewall drops it)."""
    proxysql_or_skip(plan)
    port = PORTS["proxysql_metrics"]
    assert f"0.0.0.0:{port}" in host.check_output("ss -Hltn")
    inside = host.run(f"curl -sf -m 5 http://{test_vps.address}:{port}/metrics")
    assert inside.rc == 0 and "proxysql_uptime_seconds_total" in inside.stdout
    assert not reachable(test_vps.address, port)


@pytest.fixture(scope="module")
def secrets():
    return Redacted(json.loads((DIRECTORY / "docker.json").read_text()))


def test_the_mysqld_exporters_user_reads_status_and_nothing_else(host, knobs, plan):
    user = knobs["mariadb_exporter_user"]
    client = f"mariadb --defaults-extra-file={MYSQLD_CNF} -N -B -e"
    grants = host.check_output(f"{client} 'SHOW GRANTS'")
    assert "GRANT SLAVE MONITOR ON *.*" in grants and grants.count("GRANT") == 1, grants
    assert host.run(f"{client} 'SHOW GLOBAL STATUS LIKE \"Threads_connected\"'").rc == 0  # the control
    for sql in (f"SELECT * FROM {knobs['app_db_name']}.outlets LIMIT 1", "CREATE DATABASE exporter_was_here",
                f"INSERT INTO {knobs['app_db_name']}.outlets (name) VALUES ('x')", "SET GLOBAL max_connections = 1",
                "SHOW ENGINE INNODB STATUS"):
        res = host.run(f"{client} {json.dumps(sql)}")
        assert res.rc != 0 and "denied" in res.stderr, f"{user} may run {sql}: {res.stdout}"


def test_the_redis_exporters_user_reads_info_and_no_key(test_vps, knobs, secrets):
    login = ["AUTH", knobs["redis_exporter_user"], "{redis_exporter_password}"]
    # INFO last: resp() reads one line of each reply, and INFO's is many.
    replies = resp(test_vps, secrets, login, ["PING"], ["SET", "menu:1", "x"], ["GET", "menu:1"], ["DEL", "menu:1"],
                   ["FLUSHALL"], ["CONFIG", "GET", "*"], ["KEYS", "*"], ["ACL", "LIST"], ["INFO", "memory"])
    assert replies[:2] == ["+OK", "+PONG"] and replies[-1].startswith("$")
    assert all(r.startswith("-NOPERM") for r in replies[2:-1]), replies


def test_the_exporters_logins_are_readable_by_them_only(host):
    cnf, env = host.file(MYSQLD_CNF), host.file(REDIS_ENV)
    assert (cnf.user, cnf.group, cnf.mode) == ("root", "prometheus", 0o640)
    assert (env.user, env.group, env.mode) == ("root", "root", 0o600)


def test_no_secret_in_what_others_may_read(test_vps, host, secrets):
    """The rendered YAML, the drop-ins and mtail's program are world-readable: no secret in them, nor
    on any exporter's command line, nor in the monitoring units' journal."""
    readable = host.check_output(
        "find /etc/prometheus /etc/mtail /etc/systemd/system -type f -perm -o=r "
        "\\( -path '/etc/prometheus/*' -o -path '/etc/mtail/*' -o -name peakready.conf \\)").split()
    assert "/etc/prometheus/prometheus.yml" not in readable  # 0640 root:prometheus, like the rules
    assert any(p.endswith("prometheus-redis-exporter.service.d/peakready.conf") for p in readable)
    texts = {path: host.file(path).content_string for path in readable}
    texts["prometheus.yml"] = host.file("/etc/prometheus/prometheus.yml").content_string
    for unit in [*EXPORTER_UNITS.values(), "prometheus"]:
        pid = host.check_output(f"systemctl show -p MainPID --value {unit}")
        texts[f"{unit} command line"] = host.check_output(f"tr '\\0' ' ' < /proc/{pid}/cmdline")
    units = " ".join(f"-u {u}" for u in [*EXPORTER_UNITS.values(), "prometheus"])
    texts["journal"] = host.check_output(f"journalctl {units} --no-pager -q")
    for where, text in texts.items():
        assert not in_text(text, secrets), f"a secret in {where}"


def test_redis_stopped_fires_its_alert_and_it_resolves(host):
    host.check_output("systemctl stop redis-server")
    try:
        _, fired = wait_for("RedisDown firing", lambda: alert_state(host, "RedisDown") == "firing", ALERT_BOUND_S)
    finally:
        host.check_output("systemctl start redis-server")
    _, resolved = wait_for("RedisDown resolved", lambda: alert_state(host, "RedisDown") is None, ALERT_BOUND_S)
    FIGURES["Redis stopped: RedisDown firing after"] = f"{fired:.0f} s, resolved {resolved:.0f} s after the start"
    print(FIGURES["Redis stopped: RedisDown firing after"])


def test_server_errors_fire_the_5xx_alert_and_it_resolves(host, knobs):
    """The app stopped: nginx answers 502 to every request (a load of 5 a second, from inside the VPS,
    bounded in time); the 5xx alert fires, then resolves once the app is back and answers."""
    app = f"{knobs['app_name']}-app"
    traffic = ("for i in $(seq {n}); do curl -s -o /dev/null -m 2 -H 'Host: localhost' http://127.0.0.1/health & "
               "sleep 0.2; done; wait")
    host.check_output(f"systemctl stop {app}")
    try:
        def firing():
            host.run(traffic.format(n=10))  # 2 s of requests between looks
            return alert_state(host, "NginxServerErrors") == "firing"

        _, fired = wait_for("NginxServerErrors firing", firing, ALERT_BOUND_S, every_s=0)
        assert float(query(host, 'sum(nginx_responses_total{status="502"})')[0]["value"][1]) > 0
    finally:
        host.check_output(f"systemctl start {app}")
    host.run_expect([0], "for i in $(seq 60); do curl -sf -o /dev/null -H 'Host: localhost' http://127.0.0.1/health && exit 0; sleep 1; done; "
                         "exit 1")

    def resolved():
        host.run(traffic.format(n=10))
        return alert_state(host, "NginxServerErrors") is None

    _, cleared = wait_for("NginxServerErrors resolved", resolved, ALERT_BOUND_S, every_s=0)
    FIGURES["app stopped (502s): NginxServerErrors firing after"] = f"{fired:.0f} s, resolved {cleared:.0f} s after"
    print(FIGURES["app stopped (502s): NginxServerErrors firing after"])


def status(test_vps, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "peakready.status", "--inventory", "inventories/docker.py", *args],
                          cwd=ROOT, env={**os.environ, "PEAKREADY_VPS": test_vps.name},
                          capture_output=True, text=True, timeout=120)


def test_make_status_shows_the_stack_and_its_json_parses(test_vps, host, plan, knobs):
    host.run("for i in $(seq 20); do curl -s -o /dev/null -H 'Host: localhost' http://127.0.0.1/api/v1/outlets; done")
    # Prometheus has scraped those answers (status shows rates over its last 20 s).
    wait_for("a rate of nginx's answers", lambda: query(host, "sum(rate(nginx_responses_total[20s])) > 0"), 30)
    res = status(test_vps, "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    found = json.loads(res.stdout)
    h = found["hosts"][test_vps.name]
    app_unit = f"{knobs['app_name']}-app.service"
    for unit in ("nginx.service", app_unit, "mariadb.service", "redis-server.service", "prometheus.service",
                 *(f"{u}.service" for u in EXPORTER_UNITS.values())):
        assert h["services"][unit]["state"] == "active", unit
        assert h["services"][unit]["uptime_s"] >= 0 and h["services"][unit]["memory_mb"] is not None, unit
    assert len(h["workers"]) == plan.app.workers
    assert all(0 < w["rss_mb"] <= w["cap_mb"] == knobs["app_worker_memory_mb"] for w in h["workers"])
    f = h["figures"]
    assert 0 < f["db_connections"] <= f["db_max_connections"] == plan.mariadb.max_connections
    assert 0 < f["redis_memory_bytes"] <= plan.redis.maxmemory_mb * 2**20
    assert f["requests_per_s"] > 0 and "proxysql_clients" in f
    assert found["prometheus"] and found["targets_down"] == []
    text = status(test_vps)
    assert text.returncode == 0, text.stderr[-2000:]
    for line in ("prometheus-node-exporter", "requests ", "MariaDB    connections", "Redis      hit ratio",
                 "ProxySQL   clients", "alerts firing:", "worker "):
        assert line in text.stdout, line
    (ROOT / ".peakready" / "status.txt").write_text(text.stdout + "\n")
    print(text.stdout)


def test_printed_figures():
    """The figures measured above, in one table (docs/monitoring.md quotes them)."""
    for name, value in FIGURES.items():
        print(f"{name:<56} {value}")
    (ROOT / ".peakready" / "monitoring.txt").write_text(
        "".join(f"{name}: {value}\n" for name, value in FIGURES.items()))
