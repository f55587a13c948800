"""Facts about the host itself: its size, its virtualisation, its addresses and ports, its kernel and system settings."""

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


class HostSize(FactBase):
    """What the host may use: {"cores": int, "ram_mb": int}.

    The smaller of what the kernel reports and the host's cgroup limits (cgroup v1 or v2, every
    level up from this process), so a container VPS started with --memory/--cpus (or an LXC one) is
    planned for its own size, not the machine under it.
    """

    def command(self) -> str:
        return r"""
echo "ram_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
echo "cpus=$(getconf _NPROCESSORS_ONLN)"
walk() {  # walk BASE PATH FILE...: print each FILE's content at every level from PATH up to /
    base=$1; d=${2:-/}; shift 2
    while :; do
        if [ -r "$base$d/$1" ]; then echo "$1=$(cd "$base$d" && cat "$@" | tr '\n' ' ')"; fi
        case $d in /|.) break ;; esac
        d=$(dirname "$d")
    done
}
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    p=$(sed -n 's/^0:://p' /proc/self/cgroup)
    walk /sys/fs/cgroup "$p" memory.max
    walk /sys/fs/cgroup "$p" cpu.max
else
    walk /sys/fs/cgroup/memory "$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' /proc/self/cgroup)" memory.limit_in_bytes
    walk /sys/fs/cgroup/cpu "$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ {print $3}' /proc/self/cgroup)" cpu.cfs_quota_us cpu.cfs_period_us
fi
"""

    def process(self, output):
        ram_mb: int | None = None
        cores: int | None = None
        for line in output:
            key, _, value = line.partition("=")
            fields = value.split()
            if key == "ram_kb":
                ram_mb = int(fields[0]) // 1024
            elif key == "cpus":
                cores = int(fields[0])
        if ram_mb is None or cores is None:
            return {"cores": cores, "ram_mb": ram_mb}  # no size to narrow by the cgroup's limits
        for line in output:
            key, _, value = line.partition("=")
            fields = value.split()
            if key in ("memory.max", "memory.limit_in_bytes") and fields and fields[0].isdigit():
                ram_mb = min(ram_mb, int(fields[0]) // (1024 * 1024))
            elif key in ("cpu.max", "cpu.cfs_quota_us") and len(fields) == 2 and fields[0].lstrip("-").isdigit():
                quota, period = int(fields[0]), int(fields[1])
                if quota > 0:
                    cores = min(cores, max(1, -(-quota // period)))
        return {"cores": cores, "ram_mb": ram_mb}


class Ipv6Enabled(FactBase):
    """True when the host can listen on IPv6 (a container often cannot)."""

    def command(self) -> str:
        return ('[ -e /proc/net/if_inet6 ] && [ "$(cat /proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null)" = 0 ] '
                "&& echo yes || echo no")

    def process(self, output):
        return output[0] == "yes"


class PythonTarget(FactBase):
    """What the app's wheels must fit on this host: {"python": "3.11.2", "glibc": "2.36",
    "arch": "amd64", "codename": "bookworm"}."""

    def command(self) -> str:
        return ("python3 -c 'import platform; print(\"python=\" + platform.python_version())'; "
                "echo glibc=$(getconf GNU_LIBC_VERSION | cut -d' ' -f2); echo arch=$(dpkg --print-architecture); "
                ". /etc/os-release; echo codename=$VERSION_CODENAME")

    def process(self, output):
        return dict(line.split("=", 1) for line in output if "=" in line)


class Addresses(FactBase):
    """The host's own IP addresses (every interface), for the check of private_address."""

    def command(self) -> str:
        return "ip -o addr show | awk '{print $4}' | cut -d/ -f1"

    def process(self, output):
        return sorted(set(output))


class SshClientAddress(FactBase):
    """The address this deploy's SSH connection comes from, as the host sees it (sshd's SSH_CLIENT),
    or None when the connector is not SSH. Read without sudo, which would drop the variable."""

    def command(self) -> str:
        return 'printf "%s\\n" "${SSH_CLIENT%% *}"'

    def process(self, output):
        address = output[0].strip() if output else ""
        return address or None


class StatOverride(FactBase):
    """dpkg-statoverride's record for a path: "user group mode" (e.g. "root root 0750"), or None."""

    def command(self, path: str) -> str:
        return f"dpkg-statoverride --list {shlex.quote(path)} || true"

    def process(self, output):
        return " ".join(output[0].split()[:3]) if output and output[0].strip() else None
