"""Role `base`, on every host: apt, packages, time, kernel settings, swap, firewall, security updates."""

from __future__ import annotations

from pyinfra import host, logger, state
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.facts.server import Arch, Sysctl
from pyinfra.operations import apt, files, server, systemd

from peakready import PORTS, monitoring, topology
from peakready.facts import CanManageFirewall, HostSize, SshClientAddress, SwapMb, Virtualization
from peakready.ops import config_file, once, stat_override, timezone
from peakready.plan import HostPlan
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
# sshd's key exchange, ciphers and MACs: no SHA-1, no CBC, no encrypt-and-MAC; every one known to
# OpenSSH 9.2 (bookworm) and later, and the client side of pyinfra (paramiko) shares some of each.
SSHD_KEX = ["sntrup761x25519-sha512@openssh.com", "curve25519-sha256", "curve25519-sha256@libssh.org",
            "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512",
            "diffie-hellman-group-exchange-sha256"]
SSHD_CIPHERS = ["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
                "aes256-ctr", "aes192-ctr", "aes128-ctr"]
SSHD_MACS = ["hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "umac-128-etm@openssh.com"]
# A dead session is cut after two unanswered probes this far apart.
SSHD_CLIENT_ALIVE_S = 300
# /etc/login.defs: new users' files and home directories not readable by others, password aging
# and hashing rounds for the passwords a sudo user may set (logins are by key).
LOGIN_DEFS = {"UMASK": "027", "PASS_MAX_DAYS": "365", "PASS_MIN_DAYS": "1", "PASS_WARN_AGE": "14",
              "SHA_CRYPT_MIN_ROUNDS": "65536", "SHA_CRYPT_MAX_ROUNDS": "262144"}
AIDE_DB = "/var/lib/aide/aide.db"
AIDE_BASELINE_MARK = "/var/lib/peakready/aide-baseline-made"
FIRST_UPGRADE_MARK = "/var/lib/peakready/security-upgrades-applied"
SWAP_FILE = "/swapfile"
# How long apt waits for the dpkg lock: an unattended upgrade takes a minute or two at most.
APT_LOCK_TIMEOUT_S = 300
SHELL_TIMEOUT = "/etc/profile.d/peakready-timeout.sh"

FAIL2BAN_JAIL = "/etc/fail2ban/jail.local"
# fail2ban -t on the staged jail file, read with the rest of fail2ban's config as it will be.
FAIL2BAN_CHECK = (
    "t=$(mktemp -d) && cp -a /etc/fail2ban/. \"$t\"/ && cp {path} \"$t/jail.local\" && "
    "fail2ban-client -c \"$t\" -t >/dev/null; rc=$?; rm -rf \"$t\"; exit $rc"
)
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
    left_to_host: list[str] = []

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
        name="Kernel settings for many connections, and hardened (/etc/sysctl.d/60-peakready.conf)",
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
    fail2ban(data)
    system_hardening(data)

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
        allow_tcp_forwarding=data.sshd_allow_tcp_forwarding,
        client_alive_interval_s=SSHD_CLIENT_ALIVE_S,
        kex=SSHD_KEX, ciphers=SSHD_CIPHERS, macs=SSHD_MACS,
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


def fail2ban(data) -> None:
    """fail2ban guards sshd: an address that fails fail2ban_maxretry logins within the window is
    banned in nftables. Never banned: loopback, the deploy's own address, fail2ban_ignore_addresses."""
    deployer = host.get_fact(SshClientAddress, _sudo=False)
    ignore = ["127.0.0.1/8", "::1", *([deployer] if deployer else []), *data.fail2ban_ignore_addresses]
    jail = config_file(
        name=f"fail2ban: sshd, {data.fail2ban_maxretry} failures in {data.fail2ban_findtime_s} s ban for "
             f"{data.fail2ban_bantime_s} s, in nftables ({FAIL2BAN_JAIL})",
        template="base/jail.local.j2",
        dest=FAIL2BAN_JAIL,
        check=FAIL2BAN_CHECK,
        maxretry=data.fail2ban_maxretry,
        findtime_s=data.fail2ban_findtime_s,
        bantime_s=data.fail2ban_bantime_s,
        ignore=list(dict.fromkeys(ignore)),
        sshd_port=data.sshd_port,
    )
    systemd.service(name="fail2ban on, now and at boot", service="fail2ban.service", enabled=True, running=True)
    # On a first deploy apt has just started fail2ban, and a reload before its server answers fails
    # the job (seen on a loaded machine): wait until it answers (at most 10 s), then reload.
    server.shell(name="Reload fail2ban for its jail",
                 commands=["for i in $(seq 100); do fail2ban-client ping >/dev/null 2>&1 && break; sleep 0.1; done; "
                           "systemctl reload fail2ban.service"],
                 _if=jail.did_change)


def system_hardening(data) -> None:
    """What an audit of the system expects beyond the services: unused kernel modules blocked, no core
    dumps, new files not world-readable, idle shells logged out, a warning banner, services restarted
    after library updates. docs/security.md has each one and its test."""
    config_file(
        name=f"Kernel modules that never load: {', '.join(data.blocked_kernel_modules) or 'none'}",
        template="base/modprobe-blocked.conf.j2",
        dest="/etc/modprobe.d/peakready-blocked.conf",
        modules=list(data.blocked_kernel_modules),
    )
    config_file(name="No core dumps from logins (/etc/security/limits.d)", template="base/coredump-limits.conf.j2",
                dest="/etc/security/limits.d/peakready-core.conf")
    config_file(name="No core dumps from login shells (ulimit -c 0)", template="base/coredump-profile.sh.j2",
                dest="/etc/profile.d/peakready-core.sh")
    config_file(name="No core dumps kept by systemd-coredump", template="base/coredump.conf.j2",
                dest="/etc/systemd/coredump.conf.d/peakready.conf")
    manager = config_file(
        name="No core dumps from services (DefaultLimitCORE=0)",
        template="base/coredump-system.conf.j2",
        dest="/etc/systemd/system.conf.d/peakready-core.conf",
    )
    # systemd reads its own settings again on daemon-reload; services started after it get the limit
    # (the roles' services start later in this deploy; one already running keeps its limit until it restarts).
    systemd.daemon_reload(name="systemd reads DefaultLimitCORE", _if=manager.did_change)
    for key, value in LOGIN_DEFS.items():
        # Debian ships the SHA_CRYPT ones commented out ("#SHA_CRYPT_MIN_ROUNDS 5000").
        files.line(name=f"/etc/login.defs: {key} {value}", path="/etc/login.defs",
                   line=f"^#*{key}[[:space:]][[:space:]]*[0-9][0-9]*$", replace=f"{key} {value}")
    if data.shell_idle_timeout_s:
        config_file(name=f"Idle shells log out after {data.shell_idle_timeout_s} s (TMOUT)",
                    template="base/shell-timeout.sh.j2", dest=SHELL_TIMEOUT,
                    timeout_s=data.shell_idle_timeout_s)
    else:
        files.file(name="Idle shells stay (shell_idle_timeout_s = 0)", path=SHELL_TIMEOUT, present=False)
    for banner in ("/etc/issue", "/etc/issue.net"):
        config_file(name=f"Login banner ({banner})", template="base/issue.j2", dest=banner)
    config_file(name="An upgrade's NEWS shown and logged (apt-listchanges)", template="base/apt-listchanges.conf.j2",
                dest="/etc/apt/listchanges.conf")
    config_file(name="Restart services after a library update (needrestart)", template="base/needrestart.conf.j2",
                dest="/etc/needrestart/conf.d/peakready.conf")


@deploy("file integrity baseline")
def file_integrity():
    """AIDE (file_integrity): after the first deploy has installed everything, a database of every
    system file's hashes and attributes; Debian's dailyaidecheck.timer compares the host with it each
    night and writes what changed to /var/log/aide/. Later deploys leave the baseline alone (what
    they changed shows in the report; `aideinit -y -f` on the host accepts it)."""
    data = host.data
    if not data.file_integrity:
        return
    apt.packages(name="Install AIDE (file integrity)", packages=["aide", "aide-common"], no_recommends=True)
    once(name=f"AIDE's baseline of this host's files ({AIDE_DB})", marker=AIDE_BASELINE_MARK,
         commands=["aideinit --yes --force >/dev/null"])
    systemd.service(name="AIDE checks every night (dailyaidecheck.timer)", service="dailyaidecheck.timer",
                    enabled=True, running=True)
