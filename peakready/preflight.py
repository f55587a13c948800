"""Checks that run for every host before the first operation, so bad input changes nothing.

`check_host()` gathers what the checks need from the hosts (their sshd ports, architecture, libc,
cores and RAM) and hands it to peakready/validate.py: the inventory, the knobs, the app's source,
the secrets; then it sizes the whole inventory with the capacity plan from live facts and returns
this host's part of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyinfra import host, state
from pyinfra.facts.deb import DebArch, DebPackages
from pyinfra.facts.server import LinuxDistribution

from peakready import GROUP_ROLES, topology, validate
from peakready.dependencies import Target
from peakready.facts import Addresses, HostSize, ListeningTcpPorts, PythonTarget, UrlAnswers
from peakready.knobs import HOST_KNOBS, KnobError
from peakready.plan import HostFacts, HostPlan, Plan, make_plan
from peakready.release import Release, checked_source, prepare
from peakready.secrets import Secrets
from peakready.sources import proxysql_repository


@dataclass(frozen=True)
class Deployment:
    """What the pre-flight found for this host, handed to its roles as arguments: nothing is
    computed twice, and no role reads state the pre-flight left behind."""
    plan: HostPlan  # this host's part of the plan
    whole: Plan  # every host's (the monitoring host's alert rules carry the limits of each)
    secrets: Secrets  # the inventory's
    release: Release | None  # the app's, resolved and built on this machine (app hosts only)


def check_host() -> Deployment:
    """This host's deployment, or KnobError (one sentence naming the setting) when it cannot be deployed."""
    data = validate.inputs(host.name, host.groups, host.data.dict())
    if host.data.get("_peakready_public"):
        validate.public_server(data, host.name, f"inventories/group_data/{inventory_name()}.py")
    if data["firewall"]:
        listening = host.get_fact(ListeningTcpPorts)
        validate.sshd_port(data, host.name, sorted(p for p, programs in listening.items() if "sshd" in programs))
    from pyinfra.connectors.ssh import SSHConnector

    problem = validate.ssh_lockout(data, host.name, issubclass(host.connector_cls, SSHConnector),
                                   host.data.get("ssh_user"), bool(host.data.get("ssh_password")))
    if problem:
        raise KnobError(problem)
    if "app_servers" in host.groups and data["proxysql_enabled"] and data["proxysql_deb"]:
        libc = sorted(host.get_fact(DebPackages).get("libc6", [])) or [None]
        validate.proxysql_deb(data["proxysql_deb"], host.name, host.get_fact(DebArch), libc[-1])
    elif "app_servers" in host.groups and data["proxysql_enabled"]:
        codename = host.get_fact(LinuxDistribution)["release_meta"].get("VERSION_CODENAME", "bookworm")
        key = proxysql_repository(data["proxysql_series"], codename)["key"]
        validate.repository_reached(host.get_fact(UrlAnswers, url=key), host.name, key)
    release = app_release(data) if "app_servers" in host.groups else None
    secrets = inventory_secrets()
    secrets.check_all(data["app_secrets"])
    whole = inventory_plan(data)
    topo = topology.of_inventory(state.inventory)
    topo.check()
    if topo.addresses.get(host.name):
        validate.private_address(data, host.name, host.get_fact(Addresses))
    return Deployment(plan=whole[host.name], whole=whole, secrets=secrets, release=release)


def app_target() -> Target:
    return Target(**host.get_fact(PythonTarget))


def app_release(data: dict) -> Release:
    """The app's release for this host: its dependencies resolved and built here for the host's
    Python and platform, and its knobs checked against them."""
    src = checked_source(data["app_source"], data["app_ref"])
    release = prepare(src, app_target(), data["app_worker_class"], data["app_build_packages"],
                      data["app_builder_image"])
    validate.app_release(src, data, release.wheels)
    return release


def inventory_name() -> str:
    """The inventory's name (its secrets file's): the group named after the inventory file."""
    everyone = set(state.inventory)
    return file_group(host.groups, lambda group: set(state.inventory.get_group(group)) == everyone)


def file_group(groups: list[str], holds_everyone: Callable[[str], bool]) -> str:
    """pyinfra puts every host in a group named after the inventory file (docker, prod, vagrant),
    after the inventory's own groups: the last of a host's groups that holds every host and is
    neither a role's group nor a connector's (@vagrant). Another group of every host, such as
    sample_app, comes before it."""
    for group in reversed(groups):
        if group not in GROUP_ROLES and not group.startswith("@") and holds_everyone(group):
            return group
    return "default"


def inventory_secrets() -> Secrets:
    """The secrets of this inventory, named after its file."""
    return Secrets(inventory_name())


# The size a host that did not answer is planned at (see inventory_plan): big enough for any plan.
DEAD_HOST = {"cores": 1, "ram_mb": 1 << 20}


def inventory_plan(data: dict):
    """The plan of every host of the inventory (not only those this run is limited to)."""
    hosts = []
    for other in state.inventory:
        theirs = validate.knob_values(other.data.dict())
        validate.agreement(data, host.name, theirs, other.name)
        if other in state.failed_hosts:
            # A dead replica, cache or monitoring host (the old primary after a failover, Redis beside
            # it) gets no operation in this run, and its size counts on no peer: it is planned at a nominal size
            # (DEAD_HOST), and the others are deployed. A web, app or primary db host's size counts on
            # its peers (connections, clients): the deploy stops.
            if not set(other.groups) & set(GROUP_ROLES) <= {"db_replicas", "cache_servers", "monitoring",
                                                              "backup_servers"}:
                raise KnobError(f"host {other.name} did not answer: the plan needs its size (it counts on its "
                                "peers), so bring it back, or take it out of the inventory, and run again.")
            size = DEAD_HOST
        else:
            size = other.get_fact(HostSize)
        hosts.append(HostFacts(other.name, size["cores"], size["ram_mb"], tuple(other.groups),
                               own={key: theirs[key] for key in HOST_KNOBS}))
    return make_plan(hosts, data)
