"""`python -m peakready.plan`: the plan of a host you do not have yet, or of a live inventory."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from peakready import ROOT
from peakready.facts.system import HostSize
from peakready.knobs import HOST_KNOBS, KNOBS, KnobError
from peakready.plan.model import HostFacts, PlanError
from peakready.plan.sizing import make_plan
from peakready.plan.table import table


def parse_size_mb(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([GgMm])?[Bb]?", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: write it like 4G or 512M")
    value, unit = float(match.group(1)), (match.group(2) or "M").upper()
    return int(value * 1024) if unit == "G" else int(value)


def parse_data(items: list[str]) -> dict:
    data = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise PlanError(f"--data {item!r}: write it as knob=value.")
        try:
            data[key] = json.loads(value)
        except json.JSONDecodeError:
            data[key] = value
    return data


def pyinfra_json(inventory: str, *args: str) -> Any:
    """`pyinfra <inventory> <args> --json` (debug-inventory, or facts of every host), parsed."""
    pyinfra = str(Path(sys.executable).with_name("pyinfra"))
    res = subprocess.run([pyinfra, inventory, *args, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        raise PlanError(f"pyinfra could not read {inventory}: {(res.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(res.stdout)


def hosts_from_inventory(inventory: str, sizes: dict | None = None) -> tuple[list[HostFacts], dict]:
    """Connect to every host of a pyinfra inventory for its size (unless `sizes` has every host's
    HostSize already); the knobs from its data."""
    inventory_hosts = pyinfra_json(inventory, "debug-inventory")
    if sizes is None:
        sizes = pyinfra_json(inventory, "fact", HostSize.name)[HostSize.name]
    hosts = [HostFacts(h["name"], sizes[h["name"]]["cores"], sizes[h["name"]]["ram_mb"], tuple(h["groups"]),
                       own={key: value for key, value in h["data"].items() if key in HOST_KNOBS})
             for h in inventory_hosts]
    knobs = {key: value for key, value in inventory_hosts[0]["data"].items() if key in KNOBS}
    return hosts, knobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m peakready.plan", description="Print the capacity plan.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--inventory", help="a pyinfra inventory: plan its hosts from their live facts")
    source.add_argument("--cores", type=int, help="cores of a host you don't have yet (one host, every role)")
    parser.add_argument("--ram", type=parse_size_mb, help="its RAM, e.g. 4G or 512M")
    parser.add_argument("--data", action="append", default=[], metavar="KNOB=VALUE",
                        help="override a knob of peakready/schema/ (repeatable)")
    args = parser.parse_args(argv)
    try:
        if args.inventory:
            hosts, knobs = hosts_from_inventory(args.inventory)
        else:
            if args.ram is None or args.cores < 1:
                parser.error("--cores needs --ram, e.g. --cores 2 --ram 4G")
            hosts, knobs = [HostFacts("vps", args.cores, args.ram)], {}
        data = parse_data(args.data)
        # A host-scope knob given with --data is every host's own (their kernel settings).
        hosts = [replace(h, own={**h.own, **{k: v for k, v in data.items() if k in HOST_KNOBS}}) for h in hosts]
        plan = make_plan(hosts, {**knobs, **data})
    except KnobError as exc:
        print(f"peakready plan: refused: {exc}", file=sys.stderr)
        return 1
    print(table(plan))
    return 0
