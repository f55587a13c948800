"""Checks that run for every host before the first operation, so bad input changes nothing.

`check_host()` validates the inventory, the knobs, the app's source and the secrets, then sizes the whole inventory with the
capacity plan from live facts (every host's cores and RAM) and returns this host's part of it.
"""

from __future__ import annotations

import difflib
import re

from pyinfra import host, state
from pyinfra.facts.deb import DebArch, DebPackages

from peakready import knobs
from peakready.debfile import control, unfit_for
from peakready.facts import HostSize, ListeningTcpPorts
from peakready.plan import GROUP_ROLES, PLAN_KNOBS, HostFacts, HostPlan, make_plan
from peakready.release import checked_source
from peakready.secrets import Secrets

# RFC 1123 host names (or an IPv4/IPv6 address, or a connector name such as @docker/x).
HOSTNAME = re.compile(r"(@[a-z]+/)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?|[0-9a-fA-F:]+")


def check_host() -> HostPlan:
    """This host's plan, or KnobError (one sentence naming the setting) when it cannot be deployed."""
    data = check_inputs(host.name, host.groups, host.data.dict())
    if data["firewall"]:
        # The firewall opens sshd_port: it must be the port sshd really listens on, or the deploy
        # would lock itself (and the operator) out.
        listening = host.get_fact(ListeningTcpPorts)
        sshd_ports = sorted(p for p, programs in listening.items() if "sshd" in programs)
        if sshd_ports and data["sshd_port"] not in sshd_ports:
            raise knobs.KnobError(
                f"knob sshd_port = {data['sshd_port']} but sshd on {host.name} listens on "
                f"{', '.join(map(str, sshd_ports))}: set sshd_port to that port, or the firewall would lock you out."
            )
    from pyinfra.connectors.ssh import SSHConnector

    problem = ssh_lockout(data, host.name, issubclass(host.connector_cls, SSHConnector),
                          host.data.get("ssh_user"), bool(host.data.get("ssh_password")))
    if problem:
        raise knobs.KnobError(problem)
    if "app_servers" in host.groups and data["proxysql_enabled"] and data["proxysql_deb"]:
        check_proxysql_deb(data["proxysql_deb"])
    inventory_secrets().check_all()
    plan = inventory_plan(data)[host.name]
    for service, part in (("MariaDB", plan.mariadb), ("Redis", plan.redis)):
        if part.get("serves_other_hosts"):
            raise knobs.KnobError(
                f"{service} on {host.name} would serve app_servers on other hosts, which peakready does not "
                "set up yet: put app_servers, db_primary and cache_servers on one host for now.")
    return plan


def check_proxysql_deb(path: str) -> None:
    """A package that installs but cannot run on this host (another architecture, a newer glibc)
    would fail after MariaDB, Redis and the rest were changed: refused now instead."""
    libc = sorted(host.get_fact(DebPackages).get("libc6", [])) or [None]
    problem = unfit_for(control(path), host.get_fact(DebArch), libc[-1])
    if problem:
        raise knobs.KnobError(f"knob proxysql_deb = {path} cannot run on {host.name}: {problem}; "
                              "give a package built for the host's Debian release, or \"\" for ProxySQL's repository.")


def check_inputs(name: str, groups, data: dict) -> dict:
    """What is checked without asking the host: its name and groups in the inventory, the knobs, and
    the app's source (it exists, is fetched, has requirements.txt). Returns the knobs (defaults
    overlaid with `data`), or raises KnobError."""
    if not HOSTNAME.fullmatch(name):
        raise knobs.KnobError(f"host {name!r} in the inventory is not a valid host name or address.")
    for group in groups:
        # pyinfra also puts a host in a group named after its inventory file: only a name close
        # to one of ours is a typo (a host in "web_server" would silently get no web role).
        close = difflib.get_close_matches(group, GROUP_ROLES, n=1, cutoff=0.8)
        if group not in GROUP_ROLES and close:
            raise knobs.KnobError(f"host {name} is in inventory group {group!r}: did you mean {close[0]!r}?")
    checked = knobs.check(data)
    if "app_servers" in groups:
        checked_source(checked["app_source"], checked["app_ref"])
    return checked


def ssh_lockout(data: dict, host_name: str, via_ssh: bool, ssh_user: str | None, ssh_password: bool) -> str | None:
    """The sentence that stops a deploy whose sshd login policy would refuse the login the deploy
    itself uses (and lock the operator out with it), or None.

    The login is the inventory's: ssh_user (unset counts as root, pyinfra's usual login on a fresh
    VPS, so an unknown user errs on the side of refusing) and ssh_password (set: a password login,
    whatever keys paramiko may also try). Other connectors (@docker, @local) use no sshd login.
    """
    if not via_ssh:
        return None
    user = ssh_user or "root"
    if user == "root" and data["sshd_permit_root_login"] == "no":
        return (f"knob sshd_permit_root_login = 'no' but pyinfra logs in to {host_name} as root (ssh_user): "
                "log in as a sudo user (ssh_user, _sudo) first, or keep sshd_permit_root_login = 'prohibit-password'.")
    if ssh_password and not data["sshd_password_authentication"]:
        return (f"knob sshd_password_authentication = False but pyinfra logs in to {host_name} with a password "
                "(ssh_password): authorise a key for it (ssh-copy-id, then ssh_key) and drop ssh_password, or "
                "set sshd_password_authentication = True.")
    if ssh_password and user == "root":
        return (f"knob sshd_permit_root_login = 'prohibit-password' lets root in by key only but pyinfra logs in to "
                f"{host_name} as root with a password (ssh_password): authorise a key for root (ssh-copy-id, then "
                "ssh_key) and drop ssh_password.")
    return None


def inventory_secrets() -> Secrets:
    """The secrets of this inventory, named after its file (pyinfra puts every host in a group
    named after the inventory file: docker, prod, vagrant)."""
    everyone = set(state.inventory)
    for group in sorted(host.groups):
        if group not in GROUP_ROLES and set(state.inventory.get_group(group)) == everyone:
            return Secrets(group)
    return Secrets("default")


def inventory_plan(data: dict):
    """The plan of every host of the inventory (not only those this run is limited to)."""
    hosts = []
    for other in state.inventory:
        other_data = knobs.check(other.data.dict())
        for key, value in other_data.items():
            if value != data[key] and key not in HOST_KNOBS:
                why = ("the plan sizes every host together" if key in PLAN_KNOBS
                       else "the hosts' services must agree on it")
                raise knobs.KnobError(
                    f"knob {key} is {data[key]!r} on {host.name} but {value!r} on {other.name}: {why}, "
                    "so set it once for all (group_data/all.py).")
        size = other.get_fact(HostSize)
        hosts.append(HostFacts(other.name, size["cores"], size["ram_mb"], tuple(other.groups)))
    return make_plan(hosts, data)


# The only knobs that may differ between the hosts of an inventory: each host's own base settings.
# Every other knob is either read by the plan (PLAN_KNOBS) or names something the hosts' services
# share (database and user names, ports, the app), so it is set once for all.
HOST_KNOBS = frozenset({
    "timezone", "apt_cache_valid_s", "base_packages", "unattended_upgrades", "unattended_reboot",
    "unattended_reboot_time", "sshd_port", "sshd_password_authentication", "sshd_permit_root_login",
    "firewall", "firewall_tcp_ports", "firewall_allow_dhcp_client", "swap_file_mb", "swap_when_ram_below_mb",
})
