"""The modes of `make bench` on the run's VPSes: rounds (every scenario, the profiles alternating),
capacity (the users each profile holds, then overload at nginx's door) and the worker sweep; and
`make status` taken under load."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time

from bench.measure import bottleneck, measure
from bench.sampler import Sampler
from bench.scenarios import (
    APP_SWEEP,
    AVAILABILITY_DAY,
    BISECTIONS,
    BOOKING_DAY,
    BUDGET,
    OVERLOAD,
    STATUS_RUN_S,
    SWEEP_SCENARIOS,
    THINK_MS,
    USERS_FIRST,
    WRK_MOST_USERS,
    WRK_THREADS,
    planned,
    scenarios,
    slo_broken,
)
from bench.vpses import timed_deploy
from peakready import ROOT
from targets import door, vps, wrk


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



def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)
