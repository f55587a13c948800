"""Checks that run for every host before the first operation, so bad input changes nothing."""

from __future__ import annotations

import difflib
import re

from pyinfra import host

from peakready import knobs
from peakready.facts import ListeningTcpPorts
from peakready.roles import GROUPS

# RFC 1123 host names (or an IPv4/IPv6 address, or a connector name such as @docker/x).
HOSTNAME = re.compile(r"(@[a-z]+/)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?|[0-9a-fA-F:]+")


def check_host() -> None:
    """Raise KnobError (one sentence naming the setting) when this host cannot be deployed."""
    if not HOSTNAME.fullmatch(host.name):
        raise knobs.KnobError(f"host {host.name!r} in the inventory is not a valid host name or address.")
    for group in host.groups:
        # pyinfra also puts a host in a group named after its inventory file: only a name close
        # to one of ours is a typo (a host in "web_server" would silently get no web role).
        close = difflib.get_close_matches(group, GROUPS, n=1, cutoff=0.8)
        if group not in GROUPS and close:
            raise knobs.KnobError(f"host {host.name} is in inventory group {group!r}: did you mean {close[0]!r}?")
    data = knobs.check(host.data.dict())
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
