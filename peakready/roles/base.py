"""Role `base`, on every host: apt, packages, time, kernel settings, swap, firewall, security updates."""

from __future__ import annotations

from pyinfra import host, logger, state
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.facts.server import Sysctl
from pyinfra.operations import apt, files, server, systemd

from peakready import topology
from peakready.facts import CanManageFirewall, HostSize, SwapMb, Virtualization
from peakready.ops import config_file, timezone
from peakready.plan import HostPlan
from peakready.secrets import Secrets

# What the role itself needs, whatever base_packages says (netbase: /etc/protocols and /etc/services,
# which nft reads names from; minimal images lack it).
ROLE_PACKAGES = ["netbase", "nftables", "procps", "systemd-timesyncd", "tzdata", "unattended-upgrades"]
SWAP_FILE = "/swapfile"
SSHD_DROPIN = "/etc/ssh/sshd_config.d/10-peakready.conf"
# The staged drop-in is checked as sshd will read it: first, then the whole current config
# (`sshd -t` on a throwaway main file including both); and the main file must include
# sshd_config.d/*.conf at all, or the drop-in would be silently ignored.
SSHD_CHECK = (
    "t=$(mktemp) && printf 'Include %s\\nInclude /etc/ssh/sshd_config\\n' {path} > \"$t\" && sshd -t -f \"$t\"; "
    "rc=$?; rm -f \"$t\"; [ $rc -eq 0 ] || exit 1; "
    "grep -Eq '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config\\.d/\\*\\.conf' /etc/ssh/sshd_config || "
    "{{ echo 'peakready: /etc/ssh/sshd_config does not include sshd_config.d/*.conf: add that Include line at its "
    "top, or the login policy would not apply' >&2; exit 1; }}"
)


def sysctls(plan: HostPlan, current_file_max: int | None) -> dict[str, object]:
    """The kernel settings of the plan; fs.file-max is a floor, never lowered below the kernel's own."""
    return {**plan.sysctl, "fs.file-max": max(plan.sysctl["fs.file-max"], current_file_max or 0)}


def split_for_container(settings: dict[str, object], container: str | None):
    """(applied, skipped): in a container only per-network-namespace keys (net.*) are its own."""
    if not container:
        return dict(settings), {}
    applied = {k: v for k, v in settings.items() if k.startswith("net.")}
    return applied, {k: v for k, v in settings.items() if k not in applied}


@deploy("base")
def base(plan: HostPlan, secrets: Secrets):
    data = host.data
    container = host.get_fact(Virtualization)["container"]
    left_to_host: list[str] = []

    apt.update(
        name=f"Refresh the apt cache (when older than {data.apt_cache_valid_s} s)",
        cache_time=data.apt_cache_valid_s,
    )
    apt.packages(
        name="Install base packages",
        packages=ROLE_PACKAGES + list(data.base_packages),
        no_recommends=True,
    )

    timezone(name=f"Set the timezone to {data.timezone}", timezone=data.timezone)
    # A container keeps the clock of the machine under it: timesyncd's own unit condition skips it
    # there, so it is only required to run on a VM or bare metal.
    systemd.service(
        name="Keep the clock in sync (systemd-timesyncd)",
        service="systemd-timesyncd.service",
        enabled=True,
        running=None if container else True,
    )

    # Kernel settings: persisted for boot, and set live key by key.
    wanted = sysctls(plan, host.get_fact(Sysctl, keys=["fs.file-max"]).get("fs.file-max"))
    applied, skipped = split_for_container(wanted, container)
    left_to_host += list(skipped)
    config_file(
        name="Kernel settings for many connections (/etc/sysctl.d/60-peakready.conf)",
        template="base/sysctl.conf.j2",
        dest="/etc/sysctl.d/60-peakready.conf",
        applied=applied,
        skipped=skipped,
        container=container,
    )
    for key, value in applied.items():
        server.sysctl(name=f"Set {key} = {value}", key=key, value=value)

    swap(data, container, left_to_host)
    firewall(data, container)
    sshd(data)

    config_file(
        name="Security updates every day (unattended-upgrades)",
        template="base/20auto-upgrades.j2",
        dest="/etc/apt/apt.conf.d/20auto-upgrades",
        check="apt-config -c {path} dump >/dev/null",
        enabled=data.unattended_upgrades,
    )
    config_file(
        name="Unattended-upgrades reboot policy",
        template="base/52peakready-unattended-upgrades.j2",
        dest="/etc/apt/apt.conf.d/52peakready-unattended-upgrades",
        check="apt-config -c {path} dump >/dev/null",
        reboot=data.unattended_reboot,
        reboot_time=data.unattended_reboot_time,
    )
    for timer in ("apt-daily.timer", "apt-daily-upgrade.timer"):
        systemd.service(name=f"Enable {timer}", service=timer, enabled=True, running=True)

    if left_to_host:
        logger.warning(
            f"{host.name}: container ({container}): {', '.join(left_to_host)} belong to the kernel of "
            "the machine under it, so the deploy leaves them alone; set them there."
        )


def swap(data, container: str | None, left_to_host: list[str]) -> None:
    """A swap file on small hosts that have none, so a spike slows the host instead of killing it."""
    if data.swap_file_mb == 0:
        return
    ram_mb = host.get_fact(HostSize)["ram_mb"]
    has_swap = host.get_fact(SwapMb) > 0
    ours = bool(host.get_fact(File, path=SWAP_FILE))
    if ram_mb >= data.swap_when_ram_below_mb or (has_swap and not ours):
        return
    if container:
        left_to_host.append(f"a {data.swap_file_mb} MB swap file")
        return
    if not ours:
        server.shell(
            name=f"Create a {data.swap_file_mb} MB swap file at {SWAP_FILE}",
            commands=[
                f"fallocate -l {data.swap_file_mb}M {SWAP_FILE} || dd if=/dev/zero of={SWAP_FILE} "
                f"bs=1M count={data.swap_file_mb} status=none",
                f"chmod 600 {SWAP_FILE}",
                f"mkswap {SWAP_FILE} >/dev/null",
            ],
        )
    if not has_swap:
        server.shell(name=f"Turn on swap at {SWAP_FILE}", commands=[f"swapon {SWAP_FILE}"])
    files.line(name="Keep the swap file on at boot", path="/etc/fstab",
               line=f"{SWAP_FILE} none swap sw 0 0")


def sshd(data) -> None:
    """Who may log in over SSH: keys only and root by key only by default (pre-flight has already
    refused a policy that would lock this deploy out). Checked with `sshd -t` before sshd reloads."""
    dropin = config_file(
        name=f"SSH logins: passwords {'on' if data.sshd_password_authentication else 'off'}, "
             f"root {data.sshd_permit_root_login} ({SSHD_DROPIN})",
        template="base/sshd.conf.j2",
        dest=SSHD_DROPIN,
        check=SSHD_CHECK,
        password_authentication=data.sshd_password_authentication,
        permit_root_login=data.sshd_permit_root_login,
    )
    # A reload (HUP) keeps the sessions that are open, this deploy's own included.
    systemd.service(name="Reload sshd for its login policy", service="ssh.service", reloaded=True,
                    _if=dropin.did_change)


def firewall(data, container: str | None) -> None:
    """nftables: inbound dropped except SSH and firewall_tcp_ports (80, 443), and each service other
    hosts of the inventory use, from those hosts' private addresses only (peakready/topology.py)."""
    if not data.firewall:
        return
    if not host.get_fact(CanManageFirewall):
        # Only a container can lack CAP_NET_ADMIN as root; a VM or bare metal always has it.
        logger.warning(
            f"{host.name}: container ({container}) started without CAP_NET_ADMIN: no firewall here; "
            "the machine under it must filter its traffic."
        )
        return
    ruleset = config_file(
        name="Firewall: SSH, HTTP and HTTPS inbound, peers to their services only (/etc/nftables.conf)",
        template="base/nftables.conf.j2",
        dest="/etc/nftables.conf",
        check="nft -c -f {path}",
        mode=755,
        sshd_port=data.sshd_port,
        tcp_ports=list(data.firewall_tcp_ports),
        allow_dhcp_client=data.firewall_allow_dhcp_client,
        peers=topology.of_inventory(state.inventory).admitted(
            host.name, {"mariadb": topology.MARIADB_PORT, "redis": topology.REDIS_PORT, "app": data.app_port}),
    )
    systemd.service(name="Firewall on, now and at boot", service="nftables.service",
                    enabled=True, running=True)
    systemd.service(name="Load the new firewall ruleset", service="nftables.service",
                    reloaded=True, _if=ruleset.did_change)
