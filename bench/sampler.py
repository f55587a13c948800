"""What the services of a VPS do during a run, read from this machine: each unit's CPU and peak RSS
(its systemd cgroup), the whole VPS's CPU, and how busy this machine's cores were."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from peakready import knobs
from peakready.services import unit_file
from targets import wrk

# The services whose CPU and memory each run reports (their units from the table of services).
UNITS = {name: unit_file(name, knobs.defaults()["app_name"]) for name in ("nginx", "app", "mariadb", "redis", "proxysql")}


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
