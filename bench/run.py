#!/usr/bin/env python3
"""`make bench`: the naive setup and peakready side by side, in one run, on two local VPSes.

    .venv/bin/python bench/run.py                 # 3 rounds of 10 s runs, the capacity run, the worker sweep
    .venv/bin/python bench/run.py --duration 20   # longer runs
    .venv/bin/python bench/run.py --mode sweep    # only the worker sweep (peakready's VPS only)
    .venv/bin/python bench/run.py --short         # a few seconds a run, every mode: make test's smoke run

Profiles (each on its own local VPS, 2 CPUs and 4 GB, the same sample app and release):
  baseline   where the runbooks start (bench/baseline/deploy.py): one app worker, no Redis cache,
             no ProxySQL, Debian's default MariaDB and nginx (no upstream keepalive);
  peakready  `pyinfra inventories/docker.py deploy.py`: the full planned stack, ProxySQL included
             when a package is available (targets/packages.py).
References, on the peakready VPS: L0, nginx answering a constant JSON itself; L1, the app's
/health/live (a constant JSON, no I/O) through nginx. With ProxySQL: the same SQL read through
ProxySQL (6033) and straight to MariaDB (3306) at the same concurrency, with mariadb-slap.

wrk (targets/wrk.py) runs on this machine inside each VPS's network namespace against its
127.0.0.1, one thread (at most one core), alternating the profiles scenario by scenario. During
each run the CPU and memory of every service are sampled from this machine (/proc, the VPS's
cgroups), so that each result names what it ran out of.

Modes (all by default, in this order):
  rounds    every scenario, baseline and peakready alternating, --rounds times: each ratio's
            median and spread;
  capacity  simulated users (targets/wrk.lua users mode: a restaurant's spike traffic, each user
            thinking THINK_MS between clicks) stepped up on each profile, as deployed, until the
            SLO breaks; then peakready at OVERLOAD x the users it held (nginx's door, targets/door.py);
  sweep     peakready's app_workers from 1 to 2 x cores + 1 on the DB-bound and cached scenarios.

Writes <out>/<date>.json, <out>/<date>.md and <out>/<date>.png (bench/results by default).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import report  # noqa: E402
from peakready import PORTS, SOCKETS  # noqa: E402
from targets import door, vps, wrk  # noqa: E402
from targets.packages import proxysql_package  # noqa: E402

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
NETWORK = "peakready-bench"
DEFAULT_DURATION_S = 10  # each measured run; the knob is --duration (make bench DURATION=...)
DEFAULT_WARMUP_S = 3  # before each measured run, not measured
DEFAULT_ROUNDS = 3  # every scenario this many times, the profiles alternating: a median and a spread
SHORT_DURATION_S, SHORT_WARMUP_S, SHORT_ROUNDS = 2, 1, 1
# The run `make status` is taken halfway through lasts at least this long (it takes about 2.5 s).
STATUS_RUN_S = 12
MODES = ("rounds", "capacity", "sweep")
# Connection counts of the cached-menu sweep and of the L0 reference: the plot's x axis.
SWEEP = (50, 100, 200, 1000)
# Connection counts of the runs every request of which reaches the app (past the micro-cache, the
# database reads and writes, L1): clients that never pause, so they stay below the app's door
# (upstream max_conns: the plan's requests_in_flight, 64 at once on the 2-core VPS), which would
# otherwise answer the rest with 503s; main refuses a plan whose door is smaller.
APP_SWEEP = (12, 25, 50)
# Each run stops at this many requests if its time has not run out first.
BUDGET = 3_000_000
WRK_THREADS = 1
L0_PORT = 8090
UNITS = {"nginx": "nginx.service", "app": "peakready-app.service", "mariadb": "mariadb.service",
         "redis": "redis-server.service", "proxysql": "proxysql.service"}
BOOKING_DAY = 30  # bookings are made this many days ahead, at 19:00 UTC
AVAILABILITY_DAY = 7  # the uncached read asks about this day (no bench booking on it)
# The "via Redis" runs go past nginx's micro-cache (wrk.PAST_MICRO_CACHE): every request reaches the
# app and its Redis cache.
PAST_MICRO_CACHE = (wrk.PAST_MICRO_CACHE_ARG,)
VIA_REDIS = "menu via Redis (micro-cache passed)"
# The capacity run: each simulated user waits THINK_MS on average between two clicks; the number of
# users starts at USERS_FIRST and doubles until the SLO breaks (at most USERS_MAX), then the interval
# between the last step that held and the first that broke is halved BISECTIONS times (to a quarter
# of it: 3,200 held and 6,400 broke tries 4,800, then 4,000 or 5,600).
THINK_MS = 1000
USERS_FIRST, USERS_MAX, SHORT_USERS_MAX = 100, 12800, 200
BISECTIONS = 2
# Overload: peakready as deployed at these multiples of the users it held, all at once. One wrk holds
# at most WRK_MOST_USERS connections (its open files): more users are split over several wrk, run
# side by side. nginx's door must answer every one: targets/door.py judges the run.
OVERLOAD = (2, 4)
WRK_MOST_USERS = 15_000
SLO = {"p95_ms": 500, "p99_ms": 1000, "errors": 0.001}
# The worker sweep's scenarios: the DB-bound ones and the cached read past the micro-cache.
SWEEP_SCENARIOS = ("health", VIA_REDIS, "availability (uncached read)", "booking (write)")


def scenarios() -> list[dict]:
    """What is measured in a round, in order. `on`: the profiles or the reference it runs against."""
    day = (dt.date.today() + dt.timedelta(days=AVAILABILITY_DAY)).isoformat()
    both = ("baseline", "peakready")
    runs = [{"name": "health", "path": "/health", "connections": max(APP_SWEEP), "on": both}]
    runs += [{"name": "menu (cached)", "path": "/api/v1/menu?outlet=3", "connections": c, "on": both} for c in SWEEP]
    runs += [{"name": "availability (uncached read)", "path": f"/api/v1/outlets/3/availability?date={day}",
              "connections": max(APP_SWEEP), "on": both},
             {"name": "booking (write)", "path": "/api/v1/bookings", "connections": 50, "on": both, "write": True}]
    runs += [{"name": VIA_REDIS, "path": "/api/v1/menu?outlet=3", "connections": c, "on": ("peakready",),
              "headers": PAST_MICRO_CACHE} for c in APP_SWEEP]
    runs += [{"name": "L0 nginx constant", "path": "/", "connections": c, "on": ("L0",)} for c in SWEEP]
    # L1 goes through the app's door too: at more connections than it lets in it would measure
    # nginx's 503s, not the app.
    runs += [{"name": "L1 app constant", "path": "/health/live", "connections": c, "on": ("L1",)} for c in APP_SWEEP]
    return runs


# --- the VPSes ------------------------------------------------------------------------------------


# Knobs every deploy of peakready in this run gets (main sets them for --short).
PEAKREADY_DATA: list[str] = []


def timed_deploy(name: str, deploy_file: str, *extra: str) -> dict:
    start = time.monotonic()
    if deploy_file == "deploy.py":
        extra = (*PEAKREADY_DATA, *extra)
    res = subprocess.run([PYINFRA, "-y", "--json", "inventories/docker.py", deploy_file, *extra],
                         cwd=ROOT, env=dict(os.environ, PEAKREADY_VPS=name), capture_output=True, text=True,
                         timeout=1200)
    seconds = round(time.monotonic() - start, 1)
    if res.returncode != 0:
        raise SystemExit(f"bench: deploying {deploy_file} onto {name} failed:\n{res.stderr[-3000:]}")
    ops = json.loads(res.stdout)["results"]["operations"]
    return {"seconds": seconds, "operations": len(ops), "changed": sum(1 for op in ops if op["success"])}


BASELINE_DATA = ("--data", "app_workers=1", "--data", "app_cache=false", "--data", "proxysql_enabled=false",
                 "--data", "monitoring=false")
L0_CONF = (f"server {{\n    listen 127.0.0.1:{L0_PORT};\n    access_log off;\n    default_type application/json;\n"
           "    location / { return 200 '{\"status\":\"ok\"}'; }\n}\n")


def add_l0(name: str) -> None:
    """The L0 reference: a server in the peakready VPS's own nginx that answers without upstream."""
    vps.sh(name, "cat > /etc/nginx/conf.d/peakready-bench-l0.conf && nginx -t -q && systemctl reload nginx",
           stdin=L0_CONF)
    time.sleep(1)  # the reload is graceful: new workers take over


# --- what the services do during a run -----------------------------------------------------------


class Sampler(threading.Thread):
    """CPU seconds and peak RSS of each unit of a VPS, read every 0.5 s from this machine: the
    unit's processes (its systemd cgroup) and their /proc/<pid>/stat and status."""

    def __init__(self, name: str):
        super().__init__(daemon=True)
        units_root, self.cpu_usage = vps_cgroups(wrk.netns_pid(name))
        self.procs = {u: units_root / "system.slice" / unit / "cgroup.procs" for u, unit in UNITS.items()}
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.first: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.unit_of: dict[int, str] = {}
        self.rss_peak = {u: 0 for u in UNITS}
        self.nproc = {u: 0 for u in UNITS}
        self.stop = threading.Event()
        self._sample(initial=True)
        self.vps_ns0, self.busy0, self.t0 = self.cpu_usage(), busy_ticks(), time.monotonic()

    def _sample(self, initial: bool = False) -> None:
        for unit, path in self.procs.items():
            try:
                pids = [int(p) for p in path.read_text().split()]
            except OSError:
                continue
            rss = 0
            for pid in pids:
                try:
                    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                cpu = int(stat[11]) + int(stat[12])  # utime + stime
                if pid not in self.first:
                    self.first[pid] = cpu if initial else 0
                    self.unit_of[pid] = unit
                self.last[pid] = cpu
                match = re.search(r"VmRSS:\s+(\d+) kB", status)
                rss += int(match.group(1)) if match else 0
            self.rss_peak[unit] = max(self.rss_peak[unit], rss)
            self.nproc[unit] = max(self.nproc[unit], len(pids))

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self._sample()

    def result(self) -> dict:
        self.stop.set()
        self.join()
        self._sample()
        seconds = time.monotonic() - self.t0
        vps_cores = (self.cpu_usage() - self.vps_ns0) / 1e9 / seconds
        machine_cores = (busy_ticks() - self.busy0) / self.ticks / seconds
        cpu = {u: 0.0 for u in UNITS}
        for pid, unit in self.unit_of.items():
            cpu[unit] += (self.last[pid] - self.first[pid]) / self.ticks
        present = [u for u in UNITS if self.nproc[u]]
        return {"cores": {u: round(cpu[u] / seconds, 2) for u in present} | {"vps_total": round(vps_cores, 2)},
                "machine_busy_cores": round(machine_cores, 2),
                "rss_mb": {u: round(self.rss_peak[u] / 1024, 1) for u in present},
                "processes": {u: self.nproc[u] for u in present}}


def vps_cgroups(init_pid: int) -> tuple[Path, Callable[[], int]]:
    """Where the VPS's systemd puts its units' cgroups, and a reader of the whole VPS's CPU time
    (ns), both found from the cgroups of its init as this machine sees them: cgroup v1 (the
    name=systemd and cpuacct hierarchies) or v2 (one hierarchy, cpu.stat's usage_usec)."""
    paths = dict(line.split(":", 2)[1:] for line in Path(f"/proc/{init_pid}/cgroup").read_text().splitlines())
    if "name=systemd" in paths:
        units = Path("/sys/fs/cgroup/systemd" + paths["name=systemd"]).parent  # .../init.scope's parent
        usage = Path("/sys/fs/cgroup/cpuacct" + (paths.get("cpuacct") or paths["cpu,cpuacct"]), "cpuacct.usage")
        return units, lambda: int(usage.read_text())
    units = Path("/sys/fs/cgroup" + paths[""]).parent
    stat = units / "cpu.stat"
    return units, lambda: int(re.search(r"usage_usec (\d+)", stat.read_text()).group(1)) * 1000


def busy_ticks() -> int:
    """Clock ticks every CPU of this machine spent not idle (/proc/stat), whoever used them."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]  # minus idle and iowait


def proxysql_admin(name: str, secrets, sql: str) -> str:
    """`sql` on the VPS's ProxySQL admin interface. Credentials on stdin, into a 0600 file that is
    removed at once: never on a command line."""
    return vps.sh(name, "f=$(mktemp) && cat > $f && mariadb --defaults-extra-file=$f -h 127.0.0.1 -P 6032 -N -B "
                        f"-e \"{sql}\"; rc=$?; rm -f $f; exit $rc",
                  stdin=f"[client]\nuser=admin\npassword={secrets.get('proxysql_admin_password')}\n")


def db_stats_reset(name: str, secrets, proxysql: bool) -> None:
    vps.sh(name, "mariadb -e 'FLUSH STATUS'")
    if proxysql:  # reading the _reset table zeroes MaxConnUsed
        proxysql_admin(name, secrets, "SELECT COUNT(*) FROM stats_mysql_connection_pool_reset")


def db_stats(name: str, secrets, proxysql: bool) -> dict:
    out = vps.sh(name, "mariadb -N -B -e \"SHOW GLOBAL STATUS WHERE Variable_name IN "
                      "('Max_used_connections','Threads_connected','Questions')\"")
    status = dict(line.split("\t") for line in out.splitlines() if "\t" in line)
    stats = {"mariadb_peak_threads_connected": int(status.get("Max_used_connections", 0))}
    if proxysql:
        out = proxysql_admin(name, secrets, "SELECT SUM(ConnUsed), SUM(ConnFree), SUM(MaxConnUsed), (SELECT "
                                            "Variable_Value FROM stats_mysql_global WHERE Variable_Name = "
                                            "'Client_Connections_connected') FROM stats_mysql_connection_pool")
        used, free, peak, clients = (out.split() + ["?"] * 4)[:4]
        stats["proxysql_backend"] = {"used": used, "free": free, "max_used": peak, "clients": clients}
    return stats


# The same read, through ProxySQL (its Unix socket, the app's way in, and 6033) and straight to
# MariaDB over TCP (3306, the naive app's way), at the same concurrency: mariadb-slap in the peakready
# VPS, as the app's user, each client on one connection (as the app's pools are). The concurrency is
# about what the app's pools open; ProxySQL refuses clients beyond its frontend max_connections and
# MariaDB beyond its own, so a higher one measures the limits instead. The three paths alternate,
# DB_PATH_ROUNDS times (one run each is noise on a shared machine): medians, and ProxySQL's own CPU
# per statement (its processes' /proc times), which the other load on the cores moves far less.
DB_PATH_QUERY = "SELECT id, name, price_idr FROM menu_items WHERE outlet_id = 3 AND category = 'grills' ORDER BY name"
DB_PATH_CONCURRENCY = 20
DB_PATH_QUERIES, SHORT_DB_PATH_QUERIES = 40_000, 2_000
DB_PATH_ROUNDS = 3
DB_PATH_TIMEOUT_S = 300
PROXYSQL_CPU_TICKS = ("t=0; for p in $(pidof proxysql); do set -- $(cut -d' ' -f14,15 /proc/$p/stat); "
                      "t=$((t + $1 + $2)); done; echo $t $(getconf CLK_TCK)")


def proxysql_cpu_s(name: str) -> float:
    ticks, hz = vps.sh(name, PROXYSQL_CPU_TICKS).split()
    return int(ticks) / int(hz)


def db_path(name: str, secrets, queries: int) -> dict:
    """{"socket": {...}, "6033": {...}, "3306": {...}}: the median queries a second and seconds for
    `queries` queries, every round's queries a second, and through ProxySQL its CPU us a statement."""
    paths = {"socket": f"-S {SOCKETS['proxysql']}", "6033": f"-h 127.0.0.1 -P {PORTS['proxysql']}",
             "3306": f"-h 127.0.0.1 -P {PORTS['mariadb']}"}
    runs: dict[str, list] = {path: [] for path in paths}
    errors: dict[str, str] = {}
    for _ in range(DB_PATH_ROUNDS):
        for path, where in paths.items():
            script = (f"f=$(mktemp) && cat > $f && timeout {DB_PATH_TIMEOUT_S} mariadb-slap --defaults-extra-file=$f "
                      f"{where} --create-schema=peakready --concurrency={DB_PATH_CONCURRENCY} "
                      f"--number-of-queries={queries} --iterations=1 --query=\"{DB_PATH_QUERY}\"; rc=$?; rm -f $f; exit $rc")
            before = proxysql_cpu_s(name)
            # The password on stdin, into a 0600 file removed at once: never on a command line.
            res = subprocess.run(["docker", "exec", "-i", name, "sh", "-c", script], capture_output=True, text=True,
                                 input=f"[client]\nuser=app\npassword={secrets.get('mariadb_app_password')}\n",
                                 timeout=DB_PATH_TIMEOUT_S + 30)
            cpu = proxysql_cpu_s(name) - before
            took = re.search(r"Average number of seconds to run all queries: ([\d.]+)", res.stdout)
            if res.returncode != 0 or not took:
                errors[path] = (res.stderr.strip() or res.stdout.strip())[-200:]
                continue
            runs[path].append((float(took.group(1)), cpu))
    out = {}
    for path in paths:
        if path in errors or not runs[path]:
            out[path] = {"error": errors.get(path, "no run")}
            continue
        seconds = statistics.median(s for s, _ in runs[path])
        out[path] = {"seconds": seconds, "qps": round(queries / seconds, 1),
                     "rounds_qps": [round(queries / s, 1) for s, _ in runs[path]]}
        if path != "3306":
            out[path]["proxysql_us_per_query"] = round(statistics.median(c for _, c in runs[path]) * 1e6 / queries, 1)
    return {"query": DB_PATH_QUERY, "concurrency": DB_PATH_CONCURRENCY, "queries": queries,
            "rounds": DB_PATH_ROUNDS, "ports": out}


def nginx_errors(name: str, offset: int) -> dict[str, int]:
    """What nginx's error log said during the run: each kind of message and how often."""
    out = vps.sh(name, f"tail -c +{offset + 1} /var/log/nginx/error.log 2>/dev/null | "
                      "sed -E 's/^[0-9\\/: ]+\\[[a-z]+\\] [0-9#]+: (\\*[0-9]+ )?//; s/(, client|: [0-9]|\\().*//' | "
                      "sort | uniq -c | sort -rn | head -5")
    kinds = {}
    for line in out.splitlines():
        count, _, message = line.strip().partition(" ")
        if count.isdigit():
            kinds[message[:100]] = int(count)
    return kinds


def redis_counts(name: str, secrets) -> tuple[int, int] | None:
    out = vps.sh(name, "read -r REDISCLI_AUTH && export REDISCLI_AUTH && redis-cli --no-auth-warning INFO stats",
                stdin=secrets.get("redis_admin_password") + "\n")
    found = dict(re.findall(r"(keyspace_hits|keyspace_misses):(\d+)", out))
    if not found:
        return None
    return int(found["keyspace_hits"]), int(found["keyspace_misses"])


# --- one run ---------------------------------------------------------------------------------------


def bottleneck(r: dict, machine_cores: int) -> str:
    """What this run ran out of, from its own numbers."""
    cores = r["cores"]
    total = cores["vps_total"] + r["wrk_cpu_s"] / r["seconds"]
    others = r["machine_busy_cores"] - total  # other processes of this machine
    units = sorted(((v, u) for u, v in cores.items() if u != "vps_total"), reverse=True)
    top = ", ".join(f"{u} {v:.2f}" for v, u in units[:3])
    failed = r["socket_errors"] + r["non2xx"]
    if failed > 0.001 * max(r["requests"], 1):
        said = "; nginx: " + ", ".join(f"{m} ×{n}" for m, n in r["nginx_errors"].items()) if r["nginx_errors"] else ""
        if r.get("listen_overflows"):
            said += f"; the kernel dropped {r['listen_overflows']} connections at a full listen backlog"
        return f"errors: {failed} of {r['requests'] + r['socket_errors']} failed ({report.fail_kinds(r)}{said})"
    app_procs = max(r["processes"].get("app", 1) - 1, 1)  # the master does not serve
    if "app" in cores and cores["app"] >= 0.85 * app_procs and app_procs < machine_cores:
        return f"the app's {app_procs} worker(s) at {cores['app']:.2f} cores: one process cannot use more"
    busy = f"wrk {r['wrk_cpu_s'] / r['seconds']:.2f}; {top}" + (f"; other processes {others:.2f}" if others > 0.1 else "")
    if r["machine_busy_cores"] >= 0.85 * machine_cores:
        return f"CPU: {r['machine_busy_cores']:.2f} of {machine_cores} cores busy ({busy})"
    return f"not CPU ({r['machine_busy_cores']:.2f} of {machine_cores} cores busy): waiting on I/O or locks ({busy})"


def measure(target: str, name: str, sc: dict, duration: float, warmup: float, secrets, proxysql: bool,
            run_id: str) -> dict:
    kw: dict = {"threads": WRK_THREADS, "budget": BUDGET}
    path = sc["path"]
    if target == "L0":
        kw["port"] = L0_PORT
    if sc.get("headers"):
        kw["mode"] = ("get", *sc["headers"])
    if sc.get("users"):
        day = (dt.date.today() + dt.timedelta(days=AVAILABILITY_DAY)).isoformat()
        when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=BOOKING_DAY)).strftime("%Y-%m-%dT19:00:00Z")
        kw["mode"] = ("users", f"bench{run_id}{target}c{sc['connections']}", when, str(THINK_MS), day)
    if sc.get("write"):
        when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=BOOKING_DAY)).strftime("%Y-%m-%dT19:00:00Z")
        kw["mode"] = ("booking", f"bench{run_id}{target}w", when)
    if warmup:
        warm = dict(kw)
        if sc.get("write"):
            warm["mode"] = ("booking", f"bench{run_id}{target}u", kw["mode"][2])
        wrk.run(name, path, sc["connections"], warmup, **warm)
    db_stats_reset(name, secrets, proxysql and target != "baseline")
    log_offset = int(vps.sh(name, "stat -c %s /var/log/nginx/error.log 2>/dev/null || echo 0").strip() or 0)
    redis_before = redis_counts(name, secrets) if target == "peakready" else None
    overflows = listen_overflows(name)
    sampler = Sampler(name)
    sampler.start()
    result = wrk.run(name, path, sc["connections"], duration, **kw)
    result |= sampler.result()
    result["listen_overflows"] = listen_overflows(name) - overflows
    result |= db_stats(name, secrets, proxysql and target != "baseline")
    result["nginx_errors"] = nginx_errors(name, log_offset)
    if redis_before:
        after = redis_counts(name, secrets)
        hits, misses = after[0] - redis_before[0], after[1] - redis_before[1]
        result["redis_hit_ratio"] = round(hits / (hits + misses), 4) if hits + misses else None
    return result


# --- the run ---------------------------------------------------------------------------------------


def machine() -> dict:
    model = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    virt = subprocess.run(["systemd-detect-virt"], capture_output=True, text=True).stdout.strip() or "unknown"
    docker = subprocess.run(["docker", "version", "-f", "{{.Server.Version}}"], capture_output=True,
                            text=True).stdout.strip()
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    return {"cores": os.cpu_count(), "cpu": model.group(1) if model else "?", "ram_gb": round(mem_kb / 2**20, 1),
            "kernel": platform.release(), "virtualization": virt, "docker": docker, "wrk": wrk_version.strip()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_DURATION_S", DEFAULT_DURATION_S)))
    ap.add_argument("--warmup", type=int, default=DEFAULT_WARMUP_S)
    ap.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    ap.add_argument("--mode", choices=("all", *MODES), default="all", help="what to run (default: all)")
    ap.add_argument("--short", action="store_true", help="a few seconds a run: checks the benchmark runs")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--release", default=vps.DEFAULT_RELEASE)
    ap.add_argument("--keep", action="store_true", help="leave the two VPSes running")
    args = ap.parse_args(argv)
    if args.short:
        args.duration, args.warmup, args.rounds = SHORT_DURATION_S, SHORT_WARMUP_S, SHORT_ROUNDS
        # No AIDE baseline (45 s of a core, at the end of the first deploy, not under load): the short
        # run proves the benchmark runs; its deploy time is not the one the report quotes.
        PEAKREADY_DATA.extend(["--data", "file_integrity=false"])
    if not 1 <= args.duration <= 600 or not 0 <= args.warmup <= 120 or not 1 <= args.rounds <= 20:
        ap.error("--duration must be 1 to 600 s, --warmup 0 to 120 s and --rounds 1 to 20")
    modes = MODES if args.mode == "all" else (args.mode,)
    if max(APP_SWEEP) > planned().requests_in_flight:
        raise SystemExit(f"bench: the app's runs use up to {max(APP_SWEEP)} clients that never pause, and the "
                         f"plan's door lets {planned().requests_in_flight} in at once: the rest would be 503s")

    from peakready.secrets import Secrets

    started = dt.datetime.now(dt.UTC)
    run_id = str(os.getpid())
    profiles = ("peakready",) if modes == ("sweep",) else ("baseline", "peakready")
    names = {p: f"peakready-bench-{p}-{run_id}" for p in profiles}
    t0 = time.monotonic()
    vps.ensure_engine({"wrk": "wrk"})
    vps.vps_image(args.release)
    log(f"engine, wrk and image ready ({time.monotonic() - t0:.0f} s)")
    results: dict = {"date": started.isoformat(timespec="seconds"), "machine": machine(),
                     "command": " ".join(["bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
                     "duration_s": args.duration, "warmup_s": args.warmup, "wrk_threads": WRK_THREADS,
                     "budget": BUDGET, "rounds": args.rounds if "rounds" in modes else 0, "modes": list(modes),
                     "bisections": BISECTIONS,
                     "think_ms": THINK_MS, "slo": SLO, "runs": [], "deploy": {},
                     "planned_users": planned_users(), "wrk_most_users": WRK_MOST_USERS}
    try:
        for name in names.values():
            vps.up(name, args.release, NETWORK)
        log("deploying peakready (fresh), then again (no change)" + (", then the baseline" if len(names) > 1 else ""))
        results["deploy"]["peakready first"] = timed_deploy(names["peakready"], "deploy.py")
        results["deploy"]["peakready re-run"] = timed_deploy(names["peakready"], "deploy.py")
        if "baseline" in names:
            results["deploy"]["baseline first"] = timed_deploy(names["baseline"], "bench/baseline/deploy.py",
                                                               *BASELINE_DATA)
        for what, d in results["deploy"].items():
            log(f"  {what}: {d['seconds']} s, {d['changed']} of {d['operations']} operations changed")
        add_l0(names["peakready"])
        secrets = Secrets("docker")
        proxysql = proxysql_package(args.release)
        log(proxysql.why)
        proxysql = proxysql.enabled
        bench = Bench(names, args, secrets, proxysql, run_id, results["machine"]["cores"])
        if "rounds" in modes:
            results["runs"] = bench.rounds()
            if proxysql:
                results["db_path"] = db_path(names["peakready"], secrets,
                                             SHORT_DB_PATH_QUERIES if args.short else DB_PATH_QUERIES)
                log(f"  the same read through ProxySQL's socket, 6033 and 3306: {results['db_path']['ports']}")
            results["status"] = bench.status_under_load()
        if "capacity" in modes:
            results["capacity"] = bench.capacity(SHORT_USERS_MAX if args.short else USERS_MAX)
        if "sweep" in modes:
            results["sweep"] = bench.sweep()
    finally:
        if not args.keep:
            for name in names.values():
                vps.down(name)
    results["total_s"] = round(time.monotonic() - t0, 1)
    paths = report.write(results, args.out, started.strftime("%Y-%m-%d"))
    log("wrote " + ", ".join(str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in paths))
    broken = broken_runs(results)
    if broken:
        log("the benchmark itself is broken: " + "; ".join(broken))
        return 1
    return 0


class Bench:
    """The measured runs of one `make bench`, on its VPSes."""

    def __init__(self, names: dict[str, str], args, secrets, proxysql: bool, run_id: str, cores: int):
        self.names, self.args, self.secrets, self.proxysql = names, args, secrets, proxysql
        self.run_id, self.cores = run_id, cores

    def run(self, target: str, sc: dict, tag: str, warmup: float | None = None, **extra) -> dict:
        name = self.names["baseline" if target == "baseline" else "peakready"]
        r = measure(target, name, sc, self.args.duration, self.args.warmup if warmup is None else warmup,
                    self.secrets, self.proxysql, f"{self.run_id}{tag}")
        r |= {"scenario": sc["name"], "target": target, "connections": sc["connections"], "path": sc["path"], **extra}
        r["bottleneck"] = bottleneck(r, self.cores)
        log(f"  {sc['name'][:34]:<34} c={sc['connections']:<5} {target:<10} {r['rps']:>9.1f} r/s  "
            f"p99 {r['p99_ms']:8.1f} ms  failed {r['socket_errors'] + r['non2xx']}")
        return r

    def status_under_load(self) -> dict:
        """`make status` of the peakready VPS halfway through a load run (the uncached read, DB-bound):
        the screen an operator watches during a spike, for the report."""
        sc = next(s for s in scenarios() if s["name"].startswith("availability"))
        duration = max(self.args.duration, STATUS_RUN_S)
        box: dict = {}
        run = threading.Thread(target=lambda: box.update(measure(
            "peakready", self.names["peakready"], sc, duration, self.args.warmup, self.secrets, self.proxysql,
            f"{self.run_id}-status")))
        run.start()
        time.sleep(self.args.warmup + duration / 2)
        res = subprocess.run([sys.executable, "-m", "peakready.status", "--inventory", "inventories/docker.py"],
                             cwd=ROOT, env={**os.environ, "PEAKREADY_VPS": self.names["peakready"]},
                             capture_output=True, text=True, timeout=120)
        run.join()
        log(f"  make status halfway through {sc['name']} (c={sc['connections']}): rc {res.returncode}")
        return {"scenario": sc["name"], "connections": sc["connections"], "seconds": duration,
                "rps": box.get("rps"), "screen": res.stdout if res.returncode == 0 else res.stderr[-2000:],
                "ok": res.returncode == 0}

    def rounds(self) -> list[dict]:
        """Every scenario, --rounds times; which profile goes first alternates by scenario and round."""
        runs = []
        for rnd in range(1, self.args.rounds + 1):
            log(f"round {rnd} of {self.args.rounds}")
            for order, sc in enumerate(scenarios()):
                targets = list(sc["on"])
                if len(targets) == 2 and (order + rnd) % 2:
                    targets.reverse()
                runs += [self.run(target, sc, f"r{rnd}", round=rnd) for target in targets]
        return runs

    def capacity(self, users_max: int) -> dict:
        """Per profile, as deployed: simulated users stepped up until the SLO breaks; the most it held.
        Then peakready at OVERLOAD x the users it held: what its door does with the rest."""
        found = {profile: self.held(profile, users_max) for profile in ("baseline", "peakready")}
        held = found["peakready"]["holds"] or USERS_FIRST
        found["peakready"]["overload"] = [self.overload(m * held, m) for m in OVERLOAD]
        return found

    def overload(self, users: int, multiple: int) -> dict:
        """peakready with `users` arriving at once (in wrk's users mode, split over enough wrk): wrk's
        counts summed, nginx's times of the admitted and the refused (targets/door.py), the CPU."""
        name = self.names["peakready"]
        day = (dt.date.today() + dt.timedelta(days=AVAILABILITY_DAY)).isoformat()
        when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=BOOKING_DAY)).strftime("%Y-%m-%dT19:00:00Z")
        parts = -(-users // WRK_MOST_USERS)
        offset = door.log_offset(name)
        sampler = Sampler(name)
        sampler.start()
        runs = [wrk.Run(name, "/", users // parts + (i < users % parts), self.args.duration, threads=WRK_THREADS,
                        budget=BUDGET // parts,
                        mode=("users", f"bench{self.run_id}over{multiple}x{i}", when, str(THINK_MS), day))
                for i in range(parts)]
        done = [run.result() for run in runs]
        r = {"requests": sum(d["requests"] for d in done), "seconds": max(d["seconds"] for d in done),
             "socket_errors": sum(d["socket_errors"] for d in done),
             "errors": {k: sum(d["errors"][k] for d in done) for k in done[0]["errors"]},
             "statuses": {s: sum(d["statuses"].get(s, 0) for d in done) for d in done for s in d["statuses"]},
             "no_retry_after": sum(d["no_retry_after"] for d in done),
             "p95_ms": max(d["p95_ms"] for d in done), "p99_ms": max(d["p99_ms"] for d in done),
             "wrk_cpu_s": sum(d["wrk_cpu_s"] for d in done), "non2xx": 0}
        r["rps"] = round(r["requests"] / r["seconds"], 1) if r["seconds"] else 0.0
        r |= sampler.result()
        f = door.figures(r, door.logged(name, offset))
        out = {"users": users, "multiple": multiple, "wrk": parts, "rps": r["rps"], "client_p95_ms": r["p95_ms"],
               "client_p99_ms": r["p99_ms"], "cores": r["cores"], "wrk_cores": round(r["wrk_cpu_s"] / r["seconds"], 2),
               "machine_busy_cores": r["machine_busy_cores"], **f, "broken": door.broken(f)}
        log(f"  overload {multiple}x: {users} users, {f['admitted']} admitted (p95 {f['admitted_p95_s']} s), "
            f"{f['refused']} refused (p99 {f['refused_p99_s']} s), {f['socket_errors']} socket errors; "
            + ("; ".join(out["broken"]) or "the door held"))
        return out

    def held(self, profile: str, users_max: int) -> dict:
        """Users doubled from USERS_FIRST until a step breaks the SLO, then the interval halved BISECTIONS times."""
        log(f"capacity: {profile}, users thinking {THINK_MS} ms between clicks")
        steps, held, broke = [], None, None
        users = USERS_FIRST
        while users <= users_max:
            r = self.step(profile, users)
            steps.append(r)
            if r["slo_ok"]:
                held = r
                users *= 2
            else:
                broke = r
                break
        for _ in range(BISECTIONS):
            if not (held and broke and broke["connections"] - held["connections"] > 1):
                break
            middle = self.step(profile, (held["connections"] + broke["connections"]) // 2)
            steps.append(middle)
            if middle["slo_ok"]:
                held = middle
            else:
                broke = middle
        log(f"  {profile} holds {held['connections'] if held else 0} users" +
            (f"; at {broke['connections']}: {broke['slo_broken']}" if broke else f" (the most tried: {users_max})"))
        return {"steps": steps, "holds": held["connections"] if held else 0,
                "broke": ({"users": broke["connections"], "why": broke["slo_broken"],
                           "bottleneck": broke["bottleneck"]} if broke else None)}

    def step(self, profile: str, users: int) -> dict:
        sc = {"name": "users", "path": "/", "connections": users, "users": True}
        # No warm-up: the users connect at once, as a spike's do (wrk delays each first click too).
        r = self.run(profile, sc, "cap", warmup=0)
        r["slo_broken"] = slo_broken(r)
        r["slo_ok"] = not r["slo_broken"]
        return r

    def sweep(self) -> list[dict]:
        """peakready with app_workers from 1 to 2 x cores + 1 (each a re-deploy), the same scenarios at
        the same connections; the planned count is deployed again at the end."""
        name, runs = self.names["peakready"], []
        wanted = [sc for sc in scenarios() if sc["name"] in SWEEP_SCENARIOS and sc["connections"] == max(APP_SWEEP)
                  and "peakready" in sc["on"]]
        cores = int(float(vps.DEFAULT_CPUS))  # the VPS's, not this machine's
        most = 2 if self.args.short else 2 * cores + 1  # the short run only proves the mode runs
        try:
            for workers in range(1, most + 1):
                log(f"sweep: app_workers={workers}")
                # The door held as wide as with 2 workers (the sweep's clients stay below it): the sweep
                # measures what the workers serve, not what the door turns away.
                door = planned().requests_in_flight
                timed_deploy(name, "deploy.py", "--data", f"app_workers={workers}",
                             "--data", f"app_worker_concurrency={-(-door // workers)}")
                runs += [self.run("peakready", sc, f"w{workers}", workers=workers) for sc in wanted]
        finally:
            timed_deploy(name, "deploy.py")
        return runs


def settle(name: str, timeout_s: float = 60.0) -> None:
    """After a re-deploy that restarted services (a new backlog restarts MariaDB): until /health
    answers 200 five times in a row, at most timeout_s, then a moment for the pools to fill."""
    deadline, good = time.monotonic() + timeout_s, 0
    while good < 5 and time.monotonic() < deadline:
        code = vps.sh(name, "curl -s -o /dev/null -w '%{http_code}' -H 'Host: localhost' http://127.0.0.1/health || true")
        good = good + 1 if code.strip() == "200" else 0
        time.sleep(0.5)
    if good < 5:
        raise SystemExit(f"bench: {name} did not answer /health after the re-deploy")
    time.sleep(2)


def listen_overflows(name: str) -> int:
    """The VPS's TcpExt ListenOverflows (its own network namespace's counter): connections the
    kernel dropped because a listener's accept queue (its backlog) was full."""
    text = vps.sh(name, "cat /proc/net/netstat")
    lines = [line.split() for line in text.splitlines() if line.startswith("TcpExt:")]
    if len(lines) < 2:
        return 0
    return int(dict(zip(lines[0][1:], lines[1][1:])).get("ListenOverflows", 0))


def slo_broken(r: dict) -> str:
    """What of the SLO a run broke ("" when it held): p95, p99, the share of failed requests."""
    answered = r["requests"] + r["socket_errors"]
    failed_share = (r["socket_errors"] + r["non2xx"]) / answered if answered else 1.0
    broken = [f"p95 {r['p95_ms']:.0f} ms > {SLO['p95_ms']}" if r["p95_ms"] >= SLO["p95_ms"] else "",
              f"p99 {r['p99_ms']:.0f} ms > {SLO['p99_ms']}" if r["p99_ms"] >= SLO["p99_ms"] else "",
              f"{failed_share:.2%} failed > {SLO['errors']:.1%}" if failed_share >= SLO["errors"] else ""]
    return ", ".join(b for b in broken if b)


def broken_runs(results: dict) -> list[str]:
    """Runs that measured nothing: no answer at all, or none that succeeded at the lowest load.
    The numbers are not judged (the short run's are noise); a scenario that cannot run is."""
    problems = []
    every = results["runs"] + results.get("sweep", [])
    every += [r for c in results.get("capacity", {}).values() for r in c["steps"]]
    for o in results.get("capacity", {}).get("peakready", {}).get("overload", []):
        # Not judged by their times here (the short run's are noise): an answer the door should
        # never give, or a dropped connection, is a broken benchmark or a broken door.
        wrong = [p for p in o["broken"] if not p.startswith(("admitted p95", "refused p99", "nothing refused"))]
        if wrong:
            problems.append(f"overload {o['multiple']}x ({o['users']} users): {'; '.join(wrong)}")
    for r in every:
        ok = r["requests"] - r["non2xx"]
        if r["requests"] == 0 or (r["connections"] <= 200 and ok < r["requests"] / 2):
            problems.append(f"{r['scenario']} c={r['connections']} on {r['target']}: {r['requests']} answers, "
                            f"{ok} of them 2xx")
    for port, r in results.get("db_path", {}).get("ports", {}).items():
        if "error" in r:
            problems.append(f"the read through {port}: {r['error']}")
    status = results.get("status")
    if status and not (status["ok"] and "MariaDB    connections" in status["screen"]):
        problems.append(f"make status under load: {status['screen'][-300:]}")
    return problems


def planned(**knobs):
    """The plan's capacity for the peakready VPS (2 cores, 4 GB; `make plan` prints the same)."""
    from peakready.plan import HostFacts, make_plan

    memory_gb = int(vps.DEFAULT_MEMORY.rstrip("g"))
    return make_plan([HostFacts("vps", int(vps.DEFAULT_CPUS), memory_gb * 1024)], knobs).capacity


def planned_users() -> int:
    return planned().users


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
