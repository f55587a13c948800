"""Role `base`, on every host: apt, packages, time, kernel settings, swap, firewall, security updates."""

from __future__ import annotations

from pyinfra import host, logger, state
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.facts.server import Arch, Sysctl
from pyinfra.operations import apt, files, server, systemd

from peakready import PORTS, monitoring, topology
from peakready.facts import CanManageFirewall, HostSize, SwapMb, Virtualization
from peakready.ops import config_file, once, stat_override, timezone
from peakready.plan import HostPlan
from peakready.roles.hardening import fail2ban, sshd, system_hardening
from peakready.secrets import Secrets

# What the role itself needs, whatever base_packages says (netbase: /etc/protocols and /etc/services,
# which nft reads names from; minimal images lack it).
ROLE_PACKAGES = ["netbase", "nftables", "procps", "systemd-timesyncd", "tzdata", "unattended-upgrades",
                 # Hardening (docs/security.md): bans after failed logins (fail2ban reads sshd's journal
                 # through python3-systemd), services restarted after a library update (needrestart),
                 # installed files checked against their packages (debsums), packages and their
                 # upgrades listed (apt-show-versions), password strength when one is set
                 # (libpam-pwquality), modprobe (kmod) for the module blocklist, an upgrade's NEWS
                 # logged (apt-listchanges). Not libpam-tmpdir: docs/security.md says why.
                 "fail2ban", "python3-systemd", "needrestart", "debsums", "apt-show-versions",
                 "libpam-pwquality", "kmod", "apt-listchanges",
                 # Every process's command, user and exit kept for the record (acct).
                 "acct"]
# Kernel settings a hardening guide expects (CIS Debian, Lynis's KRNL-6000 profile), written to the
# same sysctl file as the plan's. The net.* ones are per network namespace, so a container VPS gets
# them too; the rest belong to the kernel and are left to the machine under a container.
HARDENING_SYSCTLS = {
    # No routing through this host, no redirects accepted or sent, no source-routed packets.
    "net.ipv4.ip_forward": 0,
    "net.ipv6.conf.all.forwarding": 0,
    "net.ipv4.conf.all.send_redirects": 0,
    "net.ipv4.conf.default.send_redirects": 0,
    "net.ipv4.conf.all.accept_redirects": 0,
    "net.ipv4.conf.default.accept_redirects": 0,
    "net.ipv4.conf.all.secure_redirects": 0,
    "net.ipv4.conf.default.secure_redirects": 0,
    "net.ipv6.conf.all.accept_redirects": 0,
    "net.ipv6.conf.default.accept_redirects": 0,
    "net.ipv4.conf.all.accept_source_route": 0,
    "net.ipv4.conf.default.accept_source_route": 0,
    "net.ipv6.conf.all.accept_source_route": 0,
    "net.ipv6.conf.default.accept_source_route": 0,
    # Strict reverse-path filter: a packet whose source would not be routed back out the interface
    # it came in on is spoofed; logged as a martian.
    "net.ipv4.conf.all.rp_filter": 1,
    "net.ipv4.conf.default.rp_filter": 1,
    "net.ipv4.conf.all.log_martians": 1,
    "net.ipv4.conf.default.log_martians": 1,
    # SYN floods answered with cookies once the SYN backlog is full.
    "net.ipv4.tcp_syncookies": 1,
    "net.ipv4.icmp_echo_ignore_broadcasts": 1,
    "net.ipv4.icmp_ignore_bogus_error_responses": 1,
    # The kernel's own: links and FIFOs in world-writable directories, kernel pointers and logs
    # hidden from users, no core dumps of setuid programs, no unprivileged BPF or perf.
    "fs.protected_hardlinks": 1,
    "fs.protected_symlinks": 1,
    "fs.protected_fifos": 2,
    "fs.protected_regular": 2,
    "fs.suid_dumpable": 0,
    "kernel.core_uses_pid": 1,
    "kernel.dmesg_restrict": 1,
    "kernel.kptr_restrict": 2,
    "kernel.randomize_va_space": 2,
    "kernel.sysrq": 0,
    "kernel.perf_event_paranoid": 3,
    "kernel.unprivileged_bpf_disabled": 1,
    "dev.tty.ldisc_autoload": 0,
}
FIRST_UPGRADE_MARK = "/var/lib/peakready/security-upgrades-applied"
SWAP_FILE = "/swapfile"
# How long apt waits for the dpkg lock: an unattended upgrade takes a minute or two at most.
APT_LOCK_TIMEOUT_S = 300


def sysctls(plan: HostPlan, current_file_max: int | None) -> dict[str, object]:
    """The kernel settings of the plan; fs.file-max is a floor, never lowered below the kernel's own."""
    return {**plan.sysctl, "fs.file-max": max(plan.sysctl["fs.file-max"], current_file_max or 0),
            **HARDENING_SYSCTLS}


def split_for_container(settings: dict[str, object], container: str | None):
    """(applied, skipped): in a container only per-network-namespace keys (net.*) are its own."""
    if not container:
        return dict(settings), {}
    applied = {k: v for k, v in settings.items() if k.startswith("net.")}
    return applied, {k: v for k, v in settings.items() if k not in applied}


def first_upgrade(timeout_s: int) -> str:
    """unattended-upgrade, waiting up to timeout_s for apt. It does not honour DPkg::Lock::Timeout:
    while apt's daily units run (or a cloud image's first-boot updates hold apt's lock) it fails,
    saying "Cache lock can not be acquired" or, beside another unattended-upgrade, "Lock file is
    already taken" (-v puts that one on its output too). So it waits while apt-daily.service or
    apt-daily-upgrade.service is active and tries again every 5 s while it reports a lock; any other
    failure fails at once, with its own output and exit code."""
    t = int(timeout_s)
    locked = "*'ock can not be acquired'*|*'ock could not be acquired'*|*'already taken'*"
    return (f"end=$(( $(date +%s) + {t} )); while :; do "
            "if ! systemctl is-active -q apt-daily.service apt-daily-upgrade.service 2>/dev/null; then "
            "out=$(unattended-upgrade -v 2>&1); rc=$?; [ -z \"$out\" ] || printf '%s\\n' \"$out\"; "
            "[ $rc -eq 0 ] && exit 0; "
            f"case \"$out\" in {locked}) ;; *) exit $rc ;; esac; fi; "
            f"[ $(date +%s) -lt $end ] || {{ echo \"apt is still busy after {t} s\" >&2; exit 1; }}; "
            "sleep 5; done")


@deploy("base")
def base(plan: HostPlan, secrets: Secrets):
    data = host.data
    container = host.get_fact(Virtualization)["container"]
    packages(data)
    timezone(name=f"Set the timezone to {data.timezone}", timezone=data.timezone)
    # A container keeps the clock of the machine under it: timesyncd's own unit condition skips it
    # there, so it is only required to run on a VM or bare metal.
    systemd.service(
        name="Keep the clock in sync (systemd-timesyncd)",
        service="systemd-timesyncd.service",
        enabled=True,
        running=None if container else True,
    )
    left_to_host = kernel_settings(plan, container)
    swap(data, container, left_to_host)
    firewall(data, container)
    sshd(data)
    fail2ban(data)
    system_hardening(data)
    automatic_updates(data)
    if left_to_host:
        logger.warning(
            f"{host.name}: container ({container}): {', '.join(left_to_host)} belong to the kernel of "
            "the machine under it, so the deploy leaves them alone; set them there."
        )


def packages(data) -> None:
    """apt's lock wait, the cache, the role's and base_packages, and the first deploy's security updates."""
    config_file(name=f"apt waits for the dpkg lock (up to {APT_LOCK_TIMEOUT_S} s)", template="base/apt-lock-timeout.j2",
                dest="/etc/apt/apt.conf.d/10peakready-lock-timeout", check="apt-config -c {path} dump >/dev/null",
                timeout_s=APT_LOCK_TIMEOUT_S)
    apt.update(
        name=f"Refresh the apt cache (when older than {data.apt_cache_valid_s} s)",
        cache_time=data.apt_cache_valid_s,
    )
    # needrestart needs binutils, whose assembler would be the one compiler on the host: nobody but
    # root needs it. Recorded before the package comes, so dpkg installs it that way.
    stat_override(name="Only root may run the assembler (dpkg-statoverride 0750)",
                  path=f"/usr/bin/{host.get_fact(Arch)}-linux-gnu-as", mode="0750")
    apt.packages(
        name="Install base packages",
        packages=ROLE_PACKAGES + list(data.base_packages),
        no_recommends=True,
    )
    # A fresh image is as old as its build; the daily timer would wait up to a day.
    once(name="Apply the pending security updates now (first deploy; then apt-daily-upgrade.timer)",
         marker=FIRST_UPGRADE_MARK, commands=[first_upgrade(APT_LOCK_TIMEOUT_S)])


def kernel_settings(plan: HostPlan, container: str | None) -> list[str]:
    """Kernel settings: persisted for boot, and set live key by key. Returns those a container must
    leave to the machine under it."""
    wanted = sysctls(plan, host.get_fact(Sysctl, keys=["fs.file-max"]).get("fs.file-max"))
    applied, skipped = split_for_container(wanted, container)
    config_file(
        name="Kernel settings for many connections, and hardened (/etc/sysctl.d/60-peakready.conf)",
        template="base/sysctl.conf.j2",
        dest="/etc/sysctl.d/60-peakready.conf",
        applied=applied,
        skipped=skipped,
        container=container,
    )
    for key, value in applied.items():
        server.sysctl(name=f"Set {key} = {value}", key=key, value=value)
    return list(skipped)


def automatic_updates(data) -> None:
    """Security updates every day, and the reboot policy they follow."""
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
        peers=topology.of_inventory(state.inventory).admitted(host.name, firewall_ports(data)),
    )
    systemd.service(name="Firewall on, now and at boot", service="nftables.service",
                    enabled=True, running=True)
    systemd.service(name="Load the new firewall ruleset", service="nftables.service",
                    reloaded=True, _if=ruleset.did_change)


def firewall_ports(data) -> dict[str, int]:
    """The port of each service the firewall may open to peers (topology.admitted says to whom)."""
    ports = {"mariadb": PORTS["mariadb"], "redis": PORTS["redis"], "app": data.app_port}
    if data.monitoring:
        ports.update({name: PORTS[name] for name in monitoring.EXPORTERS})
        if data.proxysql_enabled:
            ports["proxysql_metrics"] = PORTS["proxysql_metrics"]
    return ports
