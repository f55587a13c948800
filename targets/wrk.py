"""wrk against a local VPS, from inside the VPS's own network namespace, to its 127.0.0.1.

The load generator runs on this machine (the wrk binary from Debian) but in the container's network
namespace (nsenter --net): its traffic goes to the VPS's loopback and nowhere else, does not pass
through Docker's port proxy, and meets nginx as a local client (the docker inventory exempts
127.0.0.1 from the per-address limits, see inventories/docker.py). Every run is bounded in time
(-d) and in count (a request budget per thread, enforced by targets/wrk.lua).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from targets import vps

LUA = Path(__file__).with_name("wrk.lua")
T = TypeVar("T")
# Latencies above this are counted by wrk as timeouts (errors), not as slow answers.
TIMEOUT_S = 10
# A header that takes a request past nginx's micro-cache to the app: nginx never answers a request
# with Authorization from its cache, and the sample app ignores it on its public reads. The bench
# and the tests that measure the app itself (not nginx's cache) send it.
PAST_MICRO_CACHE = ("Authorization", "Bearer past-the-micro-cache")
# The same as wrk.lua's get mode takes it: NAME:VALUE.
PAST_MICRO_CACHE_ARG = ":".join(PAST_MICRO_CACHE)


class LoadError(RuntimeError):
    pass


def netns_pid(name: str) -> int:
    """The PID (on this machine) of the VPS's init: its network namespace is the VPS's."""
    pid = vps.client().containers.get(name).attrs["State"]["Pid"]
    if not pid:
        raise LoadError(f"{name} is not running")
    return pid


def in_vps(name: str, argv: list[str]) -> list[str]:
    """argv run on this machine inside the VPS's network namespace only."""
    return ["nsenter", f"--target={netns_pid(name)}", "--net", *argv]


def wrk_argv(path: str, connections: int, duration_s: float, *, threads: int = 1, budget: int = 2_000_000,
             mode: tuple[str, ...] = ("get",), port: int = 80) -> list[str]:
    """wrk's command line: whole seconds, a path on 127.0.0.1, the budget split over the threads."""
    if not path.startswith("/"):
        raise ValueError("a path on the VPS's 127.0.0.1, e.g. /health")
    if duration_s != int(duration_s) or duration_s < 1:
        raise ValueError("wrk takes whole seconds (-d30s, not -d30.0s)")
    per_thread = max(1, budget // threads)
    return ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(duration_s)}s", f"--timeout={TIMEOUT_S}s",
            "--latency", "-s", str(LUA), f"http://127.0.0.1:{port}{path}", "--", str(per_thread), *mode]


class Run:
    """One wrk run, started at once; result() waits for it (bounded) and parses its summary."""

    def __init__(self, name: str, path: str, connections: int, duration_s: float, *, threads: int = 1,
                 budget: int = 2_000_000, mode: tuple[str, ...] = ("get",), acked_file: Path | None = None,
                 port: int = 80):
        self.duration_s = int(duration_s)
        argv = wrk_argv(path, connections, duration_s, threads=threads, budget=budget, mode=mode, port=port)
        env = dict(os.environ)
        if acked_file is not None:
            env["WRK_ACKED"] = str(acked_file)
        self._stderr = tempfile.TemporaryFile(mode="w+")
        _raise_nofile()  # in this process, before the fork: wrk inherits it
        # nsenter execs wrk: the child is wrk itself, whose CPU time os.wait4 reports.
        self.proc = subprocess.Popen(in_vps(name, argv), stdout=subprocess.PIPE, stderr=self._stderr,
                                     text=True, env=env)

    def result(self) -> dict:
        """requests, rps, latency percentiles (ms), errors, statuses, and wrk's own CPU seconds."""
        limit = self.duration_s + 60
        killer = threading.Timer(limit, self.proc.kill)  # our own child, by its PID
        killer.start()
        try:
            out = self.proc.stdout.read()
            _, status, usage = os.wait4(self.proc.pid, 0)
        finally:
            killer.cancel()
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self._stderr.seek(0)
        err = self._stderr.read()
        self._stderr.close()
        line = next((x for x in out.splitlines() if x.startswith("WRK-JSON ")), None)
        if self.proc.returncode != 0 or line is None:
            raise LoadError(f"wrk failed ({self.proc.returncode}, limit {limit} s): {err.strip() or out.strip()}")
        raw = json.loads(line.removeprefix("WRK-JSON "))
        seconds = raw["duration_us"] / 1e6
        statuses = {int(k): v for k, v in raw["statuses"].items()}
        non2xx = sum(v for k, v in statuses.items() if not 200 <= k < 300)
        errors = raw["errors"]
        return {
            "requests": raw["requests"],
            "seconds": round(seconds, 2),
            "rps": round(raw["requests"] / seconds, 1) if seconds else 0.0,
            "p50_ms": raw["latency_us"]["p50"] / 1000, "p95_ms": raw["latency_us"]["p95"] / 1000,
            "p99_ms": raw["latency_us"]["p99"] / 1000, "max_ms": raw["latency_us"]["max"] / 1000,
            "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
            "errors": {k: errors[k] for k in ("connect", "read", "write", "timeout")},
            "non2xx": non2xx,
            "statuses": statuses,
            "acked": raw["acked"],
            "no_retry_after": raw.get("no_retry_after", 0),  # 503s without a Retry-After header
            "wrk_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        }


# wrk needs one open file per connection: the overload runs open tens of thousands.
NOFILE = 1 << 17


def _raise_nofile() -> None:
    """Open files up to NOFILE where this process may raise its hard limit (root), else up to the hard limit."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(hard, NOFILE), max(hard, NOFILE)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run(name: str, path: str, connections: int, duration_s: float, **kw) -> dict:
    return Run(name, path, connections, duration_s, **kw).result()


def while_running(name: str, path: str, connections: int, work: Callable[[], T], *, run_s: float = 5,
                  bound_s: float = 900, **kw) -> tuple[T, dict]:
    """`work()` in a thread while wrk loads `path` in runs of `run_s` back to back until it returns, so
    every moment of it is under load (at most `bound_s`, and as many runs as fit in it); its result and
    the runs' summed figures: requests, non2xx, socket_errors, statuses, runs."""
    total: dict = {"requests": 0, "non2xx": 0, "socket_errors": 0, "statuses": {}, "runs": 0}
    with ThreadPoolExecutor(max_workers=1) as pool:
        job = pool.submit(work)
        deadline = time.monotonic() + bound_s
        while time.monotonic() < deadline and total["runs"] < bound_s // run_s:
            figures = run(name, path, connections, run_s, **kw)
            total["runs"] += 1
            for key in ("requests", "non2xx", "socket_errors"):
                total[key] += figures[key]
            for status, count in figures["statuses"].items():
                total["statuses"][status] = total["statuses"].get(status, 0) + count
            if job.done():
                break
        return job.result(timeout=60), total
