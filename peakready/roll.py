"""A release rolled across the app hosts, a batch at a time (`make release`):

    .venv/bin/python -m peakready.roll --inventory inventories/prod.py [--batch 1] [--data KNOB=VALUE ...]

For each batch of app hosts, in the inventory's order:
  1. drained from every nginx (drain.py --data app_drained=<batch>): no new request reaches it, and
     the ones it holds finish;
  2. deployed alone (deploy.py --limit <batch>): the release, started aside, must answer its health
     path before the switch, and the live service after it, else `current` goes back there;
  3. put back (drain.py, nothing drained): every app host takes requests again.
The next batch goes only once the last one's deploy passed (its live check included) and it is
back. A batch that fails stops the roll: it is put back in the upstreams (a release that failed its
checks is not live there: the deploy sees to it), the hosts after it were never touched, and the
roll says which release each app host serves, read from the hosts.

The deploy of a batch runs every role of its hosts, so settings reach them too; the other hosts
(db, web, the rest) get theirs from deploy.py. A release's migrations run on the first batch while
the others still serve the release before: a schema change must suit both (add first, drop in a
later release).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from peakready import GROUP_ROLES, ROOT
from peakready.knobs import KnobError, PlanError
from peakready.plan.cli import pyinfra_json

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
Run = Callable[[str, list[str], list[str]], bool]  # (script, --limit hosts, extra arguments) -> it passed
Look = Callable[[list[str]], dict[str, str]]  # app hosts -> the release each serves (its `current`)


class RollError(Exception):
    """A roll that cannot start: nothing was changed."""


@dataclass
class Roll:
    apps: list[str]
    webs: list[str]
    batch: int
    steps: list[tuple[str, float, bool]] = field(default_factory=list)  # (what, seconds, passed)

    def batches(self) -> list[list[str]]:
        return [self.apps[i:i + self.batch] for i in range(0, len(self.apps), self.batch)]

    def step(self, what: str, run: Run, script: str, hosts: list[str], args: list[str]) -> bool:
        print(f"[roll] {what}", file=sys.stderr, flush=True)
        start = time.monotonic()
        passed = run(script, hosts, args)
        self.steps.append((what, time.monotonic() - start, passed))
        return passed


def inventory_hosts(inventory: str) -> list[dict]:
    """`inventory`'s hosts, in its order: name, groups, data."""
    try:
        return pyinfra_json(inventory, "debug-inventory")
    except PlanError as exc:
        raise RollError(str(exc)) from exc


def hosts_by_tier(hosts: list[dict]) -> tuple[list[str], list[str]]:
    """The app hosts and the web hosts, in the inventory's order."""
    tier = lambda h, t: any(GROUP_ROLES.get(g) == t for g in h["groups"])  # noqa: E731
    return [h["name"] for h in hosts if tier(h, "app")], [h["name"] for h in hosts if tier(h, "web")]


def looker(inventory: str, app_name: str) -> Look:
    """Reads the release each app host serves (pyinfra's files.Link fact of /srv/<app>/current)."""
    def look(hosts: list[str]) -> dict[str, str]:
        limit = [arg for host in hosts for arg in ("--limit", host)]
        try:
            facts: dict = next(iter(pyinfra_json(inventory, *limit, "fact", "files.Link",
                                                 f"path=/srv/{app_name}/current").values()), {})
        except PlanError:
            facts = {}
        return {host: str((facts.get(host) or {}).get("link_target") or "unknown (not read)") for host in hosts}
    return look


def plan_roll(apps: list[str], webs: list[str], batch: int) -> Roll:
    """The roll, or RollError when it cannot be one: one app host, no web host, a batch of them all."""
    if len(apps) < 2:
        raise RollError(f"this inventory has {len(apps)} app host(s): nothing to roll across (deploy.py reloads "
                        "one app host gracefully, with no request lost).")
    if not webs:
        raise RollError("this inventory has no web host: no nginx to drain an app host from.")
    if not 1 <= batch < len(apps):
        raise RollError(f"--batch {batch}: give 1 to {len(apps) - 1} (of {len(apps)} app hosts), so that some "
                        "always serve.")
    return Roll(apps, webs, batch)


def roll(r: Roll, run: Run, look: Look) -> int:
    """Every batch in turn; 0 when each went live, 1 when one failed (the roll stops there)."""
    before = look(r.apps)
    print(f"[roll] live before: {serving(before)}", file=sys.stderr, flush=True)
    for i, hosts in enumerate(r.batches()):
        names = ",".join(hosts)
        drained = r.step(f"{names}: drained from every nginx ({', '.join(r.webs)})", run, "drain.py", r.webs,
                         ["--data", f"app_drained={names}"])
        deployed = drained and r.step(f"{names}: deployed alone (the release checked aside, switched, checked live)",
                                      run, "deploy.py", hosts, [])
        back = r.step(f"{names}: back in every nginx's upstream", run, "drain.py", r.webs, [])
        if not (deployed and back):
            rest = [h for b in r.batches()[i + 1:] for h in b]
            why = ("draining it failed, so it was not deployed" if not drained else
                   "its deploy failed (its output is above)" if not deployed else
                   "it was deployed but putting it back failed: run drain.py again")
            now = look(hosts + rest)
            print(f"[roll] stopped at {names}: {why}. Live now: {serving(now, before)}"
                  + (f"; not touched: {', '.join(rest)}" if rest else ""), file=sys.stderr)
            return 1
    print(f"[roll] live now: {serving(look(r.apps), before)}", file=sys.stderr)
    return 0


def serving(now: dict[str, str], before: dict[str, str] | None = None) -> str:
    """app1 releases/<id> (the release it had | a new release), ..."""
    def said(host: str) -> str:
        if before is None:
            return now[host]
        return f"{now[host]} ({'the release it had' if now[host] == before.get(host) else 'a new release'})"
    return ", ".join(f"{host} {said(host)}" for host in now)


def pyinfra_run(inventory: str, extra: list[str]) -> Run:
    def run(script: str, hosts: list[str], args: list[str]) -> bool:
        limit = [arg for host in hosts for arg in ("--limit", host)]
        return subprocess.run([PYINFRA, "-y", *extra, *args, *limit, inventory, script], cwd=ROOT).returncode == 0
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m peakready.roll", description=__doc__.split("\n")[0])
    parser.add_argument("--inventory", required=True, help="a pyinfra inventory with two app hosts or more")
    parser.add_argument("--batch", type=int, default=1, help="app hosts deployed at once (default 1)")
    parser.add_argument("--data", action="append", default=[], metavar="KNOB=VALUE",
                        help="passed to every pyinfra run (e.g. app_source=...), repeatable")
    args = parser.parse_args(argv)
    try:
        hosts = inventory_hosts(args.inventory)
        r = plan_roll(*hosts_by_tier(hosts), args.batch)
    except (RollError, KnobError) as exc:
        print(f"peakready.roll: {exc} Nothing was changed.", file=sys.stderr)
        return 2
    given = dict(kv.split("=", 1) for kv in args.data if "=" in kv)
    app_name = given.get("app_name") or next(h["data"].get("app_name", "peakready") for h in hosts if h["name"] == r.apps[0])
    code = roll(r, pyinfra_run(args.inventory, [arg for kv in args.data for arg in ("--data", kv)]),
                looker(args.inventory, app_name))
    print("\n".join(f"[roll] {seconds:6.1f} s  {'ok  ' if passed else 'FAIL'}  {what}" for what, seconds, passed in r.steps),
          file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
