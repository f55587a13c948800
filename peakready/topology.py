"""Who talks to whom across the hosts of an inventory: each host's private address, the address a
client uses to reach a service, what each service binds, and what the firewall admits from whom.

One host with every role needs none of it: everything stays on loopback. As soon as a peer on
another host needs a service, the service also binds the host's private address (knob
private_address, which must be one of the host's own addresses) and the firewall admits that
service's port from those peers only:

    MariaDB (3306)  from the app hosts (ProxySQL's backends, the migrations) and the other db hosts
                    (replication, both ways: a switchover turns a replica into the primary)
    Redis (6379)    from the app hosts
    the app (app_port)  from the web hosts, and the monitoring host (its /metrics)
    each exporter       from the monitoring host (Prometheus), when monitoring is on
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from peakready import GROUP_ROLES, PORTS, ROOT, services
from peakready.knobs import PlanError

LOOPBACK = "127.0.0.1"
MARIADB_PORT, REDIS_PORT = PORTS["mariadb"], PORTS["redis"]
# service -> (the tiers whose hosts are its clients, the tier of the hosts that run it; None: every host)
CLIENTS = services.CLIENTS


@dataclass(frozen=True)
class Topology:
    """The hosts of an inventory: name -> its groups, and name -> its private address ("" unset)."""

    groups: dict[str, tuple[str, ...]]
    addresses: dict[str, str] = field(default_factory=dict)
    monitoring: bool = True  # the knob: without it the monitoring group is no tier

    def tiers(self, name: str) -> set[str]:
        return {GROUP_ROLES[g] for g in self.groups[name]
                if g in GROUP_ROLES and (self.monitoring or GROUP_ROLES[g] != "monitoring")}

    @property
    def monitor(self) -> str | None:
        """The host Prometheus runs on, if any."""
        found = self.in_tier("monitoring")
        return found[0] if found else None

    def exporter_bind(self, name: str) -> str:
        """The one address `name`'s exporters listen on: its private one when Prometheus scrapes it
        from another host, else loopback."""
        monitor = self.monitor
        return self.address(name) if monitor and monitor != name else LOOPBACK

    def in_tier(self, tier: str) -> list[str]:
        return [name for name in self.groups if tier in self.tiers(name)]

    def in_group(self, group: str) -> list[str]:
        return [name for name, groups in self.groups.items() if group in groups]

    @property
    def primary(self) -> str | None:
        found = self.in_group("db_primary")
        return found[0] if found else None

    def reach_primary(self, client: str) -> str:
        """How `client` reaches the primary; the pre-flight refused an inventory without one."""
        if self.primary is None:
            raise PlanError("the inventory names no db_primary host")
        return self.reach(client, self.primary)

    @property
    def replicas(self) -> list[str]:
        return [name for name in self.in_group("db_replicas") if name != self.primary]

    def address(self, name: str) -> str:
        """The private address of `name`, which a peer on another host needs, or PlanError."""
        found = self.addresses.get(name, "")
        if not found:
            raise PlanError(f"host {name} serves other hosts of the inventory but has no private_address: set it to "
                            "the address its peers reach it on (its private network's, never a public one).")
        return found

    def remote_clients(self, name: str, service: str) -> list[str]:
        """The other hosts that connect to `service` on `name` (empty: it stays on loopback)."""
        tiers, own = CLIENTS[service]
        if own is not None and own not in self.tiers(name):
            return []
        return [other for other in self.groups if other != name and self.tiers(other) & tiers]

    def reach(self, client: str, server: str) -> str:
        """The address `client` connects to for a service on `server`."""
        return LOOPBACK if client == server else self.address(server)

    def binds(self, name: str, service: str) -> list[str]:
        """The addresses `service` listens on, on `name`."""
        return [LOOPBACK] + ([self.address(name)] if self.remote_clients(name, service) else [])

    def admitted(self, name: str, ports: dict[str, int]) -> list[dict]:
        """The firewall's openings on `name` for its peers: [{"service", "port", "sources"}]."""
        return [{"service": service, "port": ports[service],
                 "sources": sorted(self.address(peer) for peer in peers)}
                for service in CLIENTS if service in ports and (peers := self.remote_clients(name, service))]

    def check(self) -> None:
        """Every address a service must bind or a client must reach is set, and no two hosts share one."""
        for name in self.groups:
            for service in CLIENTS:
                for peer in self.remote_clients(name, service):
                    self.address(name), self.address(peer)
        seen: dict[str, str] = {}
        for name, address in self.addresses.items():
            if address and address in seen:
                raise PlanError(f"hosts {seen[address]} and {name} have the same private_address {address}: "
                                "give each host its own.")
            seen[address] = name


def of_inventory(inventory) -> Topology:
    """The topology of pyinfra's inventory (every host, not only those a run is limited to)."""
    hosts = list(inventory)
    return Topology({h.name: tuple(h.groups) for h in hosts},
                    {h.name: h.data.get("private_address") or "" for h in hosts},
                    monitoring=bool(hosts[0].data.get("monitoring", True)) if hosts else True)


# --- which db host is the primary, after promote.py --------------------------------------------

STATE = ROOT / ".peakready" / "topology"


def state_file(inventory: str) -> Path:
    """Where promote.py records the primary of an inventory (named by the inventory file)."""
    return STATE / f"{inventory}.json"


def promoted(groups: dict[str, list[str]], path: Path) -> dict[str, list[str]]:
    """The inventory's groups with the primary that promote.py recorded in `path`: that host moves
    from db_replicas to db_primary, and the primary the inventory names becomes a replica."""
    if not path.exists():
        return groups
    primary = json.loads(path.read_text())["db_primary"]
    db_hosts = list(dict.fromkeys(groups.get("db_primary", []) + groups.get("db_replicas", [])))
    if primary not in db_hosts:
        raise PlanError(f"{path} says {primary} is the primary since promote.py, but it is not a db host of the "
                        "inventory any more: fix the inventory, or remove that file.")
    return {**groups, "db_primary": [primary], "db_replicas": [h for h in db_hosts if h != primary]}


def record_primary(path: Path, primary: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"db_primary": primary}) + "\n")
    tmp.replace(path)
