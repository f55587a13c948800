"""Hardening on every host, part of role `base` (docs/security.md): who may log in over SSH and how,
fail2ban, what an audit of the system expects, and the file integrity baseline (its own role, last)."""

from __future__ import annotations

from pyinfra import host, state
from pyinfra.api import deploy
from pyinfra.operations import apt, files, server, systemd

from peakready import topology
from peakready.facts import SshClientAddress
from peakready.ops import config_file, once

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
        backup_from=backup_puller(),
    )
    # A reload (HUP) keeps the sessions that are open, this deploy's own included.
    systemd.service(name="Reload sshd for its login policy", service="ssh.service", reloaded=True,
                    _if=dropin.did_change)


def backup_puller() -> str:
    """The backup host's private address when this host is a db host it pulls from, else "": root may
    log in from there with the one key whose forced command starts a backup (peakready/backup.py)."""
    topo = topology.of_inventory(state.inventory)
    keepers = topo.in_tier("backup")
    return topo.address(keepers[0]) if keepers and "db" in topo.tiers(host.name) else ""


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
