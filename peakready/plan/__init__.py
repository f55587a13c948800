"""The capacity plan: the whole stack sized once, from each host's cores and RAM.

    python -m peakready.plan --cores 2 --ram 4G            a host you don't have yet
    python -m peakready.plan --inventory inventories/prod.py   every host of an inventory (live facts)

Every derived number a role uses (workers, pools, buffer pool, maxmemory, worker_connections,
backlogs, open-file limits, sysctls) comes from here, and `make_plan` refuses, with one sentence
naming the knob to change, a plan whose parts do not fit together (rules.py), after the inventory
and the knobs passed peakready/validate.py.

    model.py      what a plan is: one typed part per service, derived numbers only
    estimates.py  what each service uses beyond the sizes the plan sets
    sizing.py     make_plan: the hosts sized in the order their numbers depend on each other
    parts.py      one sizing function per service
    rules.py      the invariants the derived numbers keep
    table.py      the table for people
    cli.py        the command line

The deploy runs the same plan from live facts before its first operation (peakready/preflight.py).
"""

from peakready.plan.cli import hosts_from_inventory
from peakready.plan.model import (
    GROUP_ROLES,
    ROLE_NAMES,
    AppPlan,
    Capacity,
    HostFacts,
    HostPlan,
    MariaDBPlan,
    MonitoringPlan,
    NginxPlan,
    Plan,
    PlanError,
    ProxySQLPlan,
    RedisPlan,
    part,
)
from peakready.plan.rules import violations
from peakready.plan.sizing import make_plan
from peakready.plan.table import table

__all__ = [
    "GROUP_ROLES", "ROLE_NAMES", "AppPlan", "Capacity", "HostFacts", "HostPlan", "MariaDBPlan", "MonitoringPlan", "NginxPlan", "Plan",
    "PlanError", "ProxySQLPlan", "RedisPlan", "hosts_from_inventory", "make_plan", "part", "table", "violations",
]
