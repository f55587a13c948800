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

This file runs the modes asked for; the rest is in its siblings: scenarios.py (what is measured, the
sweeps and the checks), vpses.py (the VPSes and their deploys), sampler.py (each unit's CPU and
memory), measure.py (one run), modes.py (rounds, capacity, sweep) and report.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import report, vpses  # noqa: E402
from bench.measure import DB_PATH_QUERIES, SHORT_DB_PATH_QUERIES, db_path  # noqa: E402
from bench.modes import Bench, log  # noqa: E402
from bench.scenarios import (  # noqa: E402
    BISECTIONS,
    BUDGET,
    DEFAULT_DURATION_S,
    DEFAULT_ROUNDS,
    DEFAULT_WARMUP_S,
    MODES,
    SHORT_DURATION_S,
    SHORT_ROUNDS,
    SHORT_USERS_MAX,
    SHORT_WARMUP_S,
    SLO,
    THINK_MS,
    USERS_MAX,
    WRK_MOST_USERS,
    WRK_THREADS,
    broken_runs,
    check_door,
    planned_users,
)
from bench.vpses import BASELINE_DATA, PEAKREADY_DATA, add_l0, machine, timed_deploy  # noqa: E402
from targets import vps  # noqa: E402
from targets.packages import proxysql_package  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line, checked; --short sets the durations and the rounds, and the knobs of its deploys."""
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
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    modes = MODES if args.mode == "all" else (args.mode,)
    check_door()

    from peakready.secrets import Secrets

    started = dt.datetime.now(dt.UTC)
    run_id = str(os.getpid())
    profiles = ("peakready",) if modes == ("sweep",) else ("baseline", "peakready")
    names = {p: f"peakready-bench-{p}-{run_id}" for p in profiles}
    t0 = time.monotonic()
    vps.ensure_engine({"wrk": "wrk"})
    vps.vps_image(args.release)
    log(f"engine, wrk and image ready ({time.monotonic() - t0:.0f} s)")
    results = header(args, modes, started, argv)
    try:
        vpses.up(names, args.release)
        deploy(names, results["deploy"], beside=args.short)
        add_l0(names["peakready"])
        secrets = Secrets("docker")
        proxysql = proxysql_package(args.release)
        log(proxysql.why)
        proxysql = proxysql.enabled
        run_modes(Bench(names, args, secrets, proxysql, run_id, results["machine"]["cores"]), modes, results)
    finally:
        if not args.keep:
            vpses.down(names)
    results["total_s"] = round(time.monotonic() - t0, 1)
    paths = report.write(results, args.out, started.strftime("%Y-%m-%d"))
    log("wrote " + ", ".join(str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in paths))
    broken = broken_runs(results)
    if broken:
        log("the benchmark itself is broken: " + "; ".join(broken))
        return 1
    return 0


def header(args: argparse.Namespace, modes: tuple[str, ...], started: dt.datetime, argv: list[str] | None) -> dict:
    """The results before any run: the machine, the command and the settings the report quotes."""
    return {"date": started.isoformat(timespec="seconds"), "machine": machine(),
            "command": " ".join(["bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
            "duration_s": args.duration, "warmup_s": args.warmup, "wrk_threads": WRK_THREADS,
            "budget": BUDGET, "rounds": args.rounds if "rounds" in modes else 0, "modes": list(modes),
            "bisections": BISECTIONS,
            "think_ms": THINK_MS, "slo": SLO, "runs": [], "deploy": {},
            "planned_users": planned_users(), "wrk_most_users": WRK_MOST_USERS}


def deploy(names: dict[str, str], deploys: dict, beside: bool = False) -> None:
    """peakready fresh, then again (no change), then the baseline: each timed, into `deploys`. With
    `beside` (--short, whose deploy times the report does not quote), the baseline deploys while
    peakready does: a deploy spends most of its time waiting, and the two share the cores."""
    log("deploying peakready (fresh), then again (no change)"
        + ((", the baseline beside it" if beside else ", then the baseline") if len(names) > 1 else ""))
    with ThreadPoolExecutor(max_workers=1) as pool:
        baseline = (pool.submit(timed_deploy, names["baseline"], "bench/baseline/deploy.py", *BASELINE_DATA)
                    if beside and "baseline" in names else None)
        deploys["peakready first"] = timed_deploy(names["peakready"], "deploy.py")
        deploys["peakready re-run"] = timed_deploy(names["peakready"], "deploy.py")
        if baseline:
            deploys["baseline first (beside)"] = baseline.result()
        elif "baseline" in names:
            deploys["baseline first"] = timed_deploy(names["baseline"], "bench/baseline/deploy.py", *BASELINE_DATA)
    for what, d in deploys.items():
        log(f"  {what}: {d['seconds']} s, {d['changed']} of {d['operations']} operations changed")


def run_modes(bench: Bench, modes: tuple[str, ...], results: dict) -> None:
    """The modes asked for, in their order, each into its part of the results."""
    if "rounds" in modes:
        results["runs"] = bench.rounds()
        if bench.proxysql:
            results["db_path"] = db_path(bench.names["peakready"], bench.secrets,
                                         SHORT_DB_PATH_QUERIES if bench.args.short else DB_PATH_QUERIES)
            log(f"  the same read through ProxySQL's socket, 6033 and 3306: {results['db_path']['ports']}")
        results["status"] = bench.status_under_load()
    if "capacity" in modes:
        results["capacity"] = bench.capacity(SHORT_USERS_MAX if bench.args.short else USERS_MAX)
    if "sweep" in modes:
        results["sweep"] = bench.sweep()


if __name__ == "__main__":
    sys.exit(main())
