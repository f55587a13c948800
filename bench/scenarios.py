"""What `make bench` measures: its knobs, the scenarios of a round, the sweeps and the SLO, and the
checks that a plan and a run's results are fit to be measured and reported (bench/run.py runs them)."""

from __future__ import annotations

import datetime as dt

from targets import vps, wrk

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
# otherwise answer the rest with 503s; check_door refuses a plan whose door is smaller.
APP_SWEEP = (12, 25, 50)
# Each run stops at this many requests if its time has not run out first.
BUDGET = 3_000_000
WRK_THREADS = 1
L0_PORT = 8090
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


# --- the plan ------------------------------------------------------------------------------------


def planned(**knobs):
    """The plan's capacity for the peakready VPS (2 cores, 4 GB; `make plan` prints the same)."""
    from peakready.plan import HostFacts, make_plan

    memory_gb = int(vps.DEFAULT_MEMORY.rstrip("g"))
    return make_plan([HostFacts("vps", int(vps.DEFAULT_CPUS), memory_gb * 1024)], knobs).capacity


def planned_users() -> int:
    return planned().users


def check_door() -> None:
    """Refuses a plan whose door is narrower than APP_SWEEP: its runs' clients never pause, and the
    door would answer the ones beyond it with 503s instead of the app measuring them."""
    if max(APP_SWEEP) > planned().requests_in_flight:
        raise SystemExit(f"bench: the app's runs use up to {max(APP_SWEEP)} clients that never pause, and the "
                         f"plan's door lets {planned().requests_in_flight} in at once: the rest would be 503s")


# --- what the runs must show ---------------------------------------------------------------------


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
