"""Facts peakready needs that pyinfra does not ship."""

from __future__ import annotations

import re
import shlex

from pyinfra.api import FactBase

CAP_NET_ADMIN = 12  # capabilities(7)


class Virtualization(FactBase):
    """What the host runs in, from systemd-detect-virt: {"container": "docker" | None, "vm": "kvm" | None}.

    A container shares its kernel with the machine under it: global kernel settings (vm.*, fs.*,
    swap) belong to that machine and are left alone there.
    """

    def command(self) -> str:
        return "echo container=$(systemd-detect-virt --container || true); echo vm=$(systemd-detect-virt --vm || true)"

    def process(self, output):
        found = dict(line.split("=", 1) for line in output if "=" in line)
        return {key: (None if found.get(key, "none") in ("none", "") else found[key]) for key in ("container", "vm")}


class CanManageFirewall(FactBase):
    """True when this host may load a netfilter ruleset (CAP_NET_ADMIN in its effective set).

    Always true for root on a VM or bare metal; a container may have been started without it.
    """

    def command(self) -> str:
        return "grep '^CapEff:' /proc/self/status"

    def process(self, output):
        caps = int(output[0].split()[1], 16)
        return bool(caps & (1 << CAP_NET_ADMIN))


class SwapMb(FactBase):
    """Swap space the host has right now, in MB (0 when none)."""

    def command(self) -> str:
        return "awk '/^SwapTotal:/ {print int($2 / 1024)}' /proc/meminfo"

    def process(self, output):
        return int(output[0])


class ListeningTcpPorts(FactBase):
    """TCP ports something listens on, with the programs listening: {22: {"sshd"}, ...}."""

    def command(self) -> str:
        return "ss -Hltnp"

    def process(self, output):
        ports: dict[int, set[str]] = {}
        for line in output:
            fields = line.split()
            if len(fields) < 4:
                continue
            port = int(fields[3].rsplit(":", 1)[1])
            programs = set(re.findall(r'\(\("([^"]+)"', line)) | set(re.findall(r'\),\("([^"]+)"', line))
            ports.setdefault(port, set()).update(programs)
        return ports


class TimezoneIs(FactBase):
    """True when /etc/localtime is the zone `timezone` (compared as files: UTC and Etc/UTC are one)."""

    def command(self, timezone: str) -> str:
        zone = shlex.quote(f"/usr/share/zoneinfo/{timezone}")
        return (f'[ -e {zone} ] && [ "$(readlink -f /etc/localtime)" = "$(readlink -f {zone})" ] '
                "&& echo yes || echo no")

    def process(self, output):
        return output[0] == "yes"
