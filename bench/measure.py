"""One measured run: wrk in a VPS's network namespace (targets/wrk.py) and what the VPS's services
counted around it, named by what it ran out of; and the same SQL read through ProxySQL and straight
to MariaDB (mariadb-slap)."""

from __future__ import annotations

import datetime as dt
import re
import statistics
import subprocess

from bench.report_figures import fail_kinds
from bench.sampler import Sampler
from bench.scenarios import AVAILABILITY_DAY, BOOKING_DAY, BUDGET, L0_PORT, THINK_MS, WRK_THREADS
from peakready import PORTS, SOCKETS
from targets import vps, wrk

# --- what the services counted -------------------------------------------------------------------


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


def listen_overflows(name: str) -> int:
    """The VPS's TcpExt ListenOverflows (its own network namespace's counter): connections the
    kernel dropped because a listener's accept queue (its backlog) was full."""
    text = vps.sh(name, "cat /proc/net/netstat")
    lines = [line.split() for line in text.splitlines() if line.startswith("TcpExt:")]
    if len(lines) < 2:
        return 0
    return int(dict(zip(lines[0][1:], lines[1][1:])).get("ListenOverflows", 0))


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
        return f"errors: {failed} of {r['requests'] + r['socket_errors']} failed ({fail_kinds(r)}{said})"
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
