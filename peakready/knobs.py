"""Every knob checked before the first change.

The defaults live in group_data/all.py (the one place a knob is defined); this module says what a
valid value is. `check(data)` raises KnobError with one sentence naming the knob and the fix, so a
wrong value stops the deploy while nothing on the host has been touched yet.
"""

from __future__ import annotations

import copy
import difflib
import functools
import ipaddress
import re
from pathlib import Path
from typing import Any, Callable

from pyinfra.api.exceptions import PyinfraError

ROOT = Path(__file__).resolve().parent.parent
ALL_FILE = ROOT / "group_data" / "all.py"

# Data that belongs to pyinfra or its connectors, not to peakready.
FOREIGN_PREFIXES = ("_", "ssh_", "docker_", "dockerssh_", "vagrant_", "chroot_", "local_", "winrm_")


class KnobError(PyinfraError):
    """A knob has a value peakready cannot use; the message names it and says what to set."""


def defaults() -> dict[str, Any]:
    """The knobs and their defaults, read from group_data/all.py as pyinfra reads it (once per
    process: a deploy checks every host's knobs, and each host's plan again). A copy each time, so
    no caller can change another's defaults."""
    return copy.deepcopy(_defaults())


@functools.cache
def _defaults() -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(ALL_FILE.read_text(), str(ALL_FILE), "exec"), namespace)
    return {k: v for k, v in namespace.items() if not k.startswith("__")}


# --- validators: each returns None when the value is fine, else what a valid value looks like ---

Check = Callable[[Any, dict], "str | None"]


def boolean(value: Any, _data: dict) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def integer(lo: int, hi: int) -> Check:
    def check(value: Any, _data: dict) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            return f"a whole number from {lo} to {hi}"
        return None

    return check


def number(lo: float, hi: float) -> Check:
    def check(value: Any, _data: dict) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            return f"a number from {lo} to {hi}"
        return None

    return check


def one_of(*choices: Any) -> Check:
    def check(value: Any, _data: dict) -> str | None:
        if isinstance(value, bool) or value not in choices:
            return "one of " + ", ".join(map(str, choices))
        return None

    return check


def matching(pattern: str, what: str) -> Check:
    def check(value: Any, _data: dict) -> str | None:
        return None if isinstance(value, str) and re.fullmatch(pattern, value) else what

    return check


def list_of(item: Check, what: str) -> Check:
    def check(value: Any, data: dict) -> str | None:
        if not isinstance(value, (list, tuple)) or any(item(v, data) for v in value):
            return f"a list of {what}"
        return None

    return check


def network(value: Any, _data: dict) -> str | None:
    try:
        ipaddress.ip_network(value)
    except (TypeError, ValueError):
        return "a network"
    return None


def port_range(value: Any, data: dict) -> str | None:
    what = 'two port numbers "low high" with 1024 <= low < high <= 65535, sshd_port outside'
    if not isinstance(value, str) or not re.fullmatch(r"\d+ \d+", value):
        return what
    low, high = map(int, value.split())
    if not 1024 <= low < high <= 65535 or low <= data.get("sshd_port", 22) <= high:
        return what
    return None


def proxysql_deb(value: Any, _data: dict) -> str | None:
    """"" or a ProxySQL 2.x/3.x package on this machine (checked before anything changes)."""
    if value == "":
        return None
    if not isinstance(value, str) or not Path(value).is_file():
        return "the path of a ProxySQL .deb file on this machine (this one does not exist), or \"\""
    from peakready.debfile import control

    try:
        fields = control(value)
    except ValueError as exc:
        return f"a ProxySQL .deb ({exc})"
    if fields.get("Package") != "proxysql" or not re.match(r"[23]\.", fields.get("Version", "")):
        return (f"a ProxySQL 2.x or 3.x package, not {fields.get('Package', '?')} {fields.get('Version', '?')}")
    return None


def app_source(value: Any, _data: dict) -> str | None:
    """A directory of this repository with the app, or a git URL. Whether it holds an app
    (requirements.txt) is checked by the pre-flight (peakready/roles/app.py checked_source)."""
    if isinstance(value, str) and re.fullmatch(r"(https://|git@|ssh://|file://)[\w.@:/~+-]+", value):
        return None
    # Inside the repository only: "/etc" or "../elsewhere" would upload whatever is there.
    if isinstance(value, str) and value and (ROOT / value).is_dir() and (ROOT / value).resolve().is_relative_to(ROOT):
        return None
    return "a directory of this repository (this one does not exist or is outside it) or a git URL (https://... or git@...)"


def timezone(value: Any, _data: dict) -> str | None:
    """An IANA zone this machine's tz database knows (Debian's tzdata has the same names)."""
    shape = r"UTC|[A-Z][A-Za-z_+-]*(/[A-Za-z0-9_+-]+){1,2}"
    known = available_timezones()
    if isinstance(value, str) and re.fullmatch(shape, value) and (not known or value in known):
        return None
    close = difflib.get_close_matches(value, known, n=1) if isinstance(value, str) and known else []
    hint = f" (the closest is {close[0]!r})" if close else ""
    return f'an IANA name such as "UTC" or "Asia/Jakarta"{hint}'


@functools.cache
def available_timezones() -> frozenset[str]:
    try:
        import zoneinfo

        return frozenset(zoneinfo.available_timezones())
    except Exception:  # no tz database here: the shape check alone
        return frozenset()


HOST = r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"


def server_names(value: Any, data: dict) -> str | None:
    """At least one host name; with Let's Encrypt, only names it can certify (public DNS names)."""
    if not isinstance(value, (list, tuple)) or not value or any(
            not isinstance(v, str) or not re.fullmatch(HOST, v) for v in value):
        return "a non-empty list of host names (example.com, localhost)"
    if data.get("tls") == "letsencrypt":
        private = [v for v in value if "." not in v or re.fullmatch(r"[0-9.]+", v)
                   or v.rsplit(".", 1)[-1] in ("localhost", "local", "test", "invalid", "example", "internal")]
        if private:
            return f"public DNS names with tls = \"letsencrypt\" (Let's Encrypt cannot certify {private[0]!r})"
    return None


# Directories a backup_dir must never be (the role makes it 0700 root) nor lie under.
SYSTEM_DIRS = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/run", "/sbin", "/sys", "/tmp", "/usr")
SHARED_DIRS = ("/home", "/media", "/mnt", "/opt", "/root", "/srv", "/var", "/var/backups", "/var/cache", "/var/lib",
               "/var/log", "/var/spool", "/var/tmp")


def backup_dir(value: Any, _data: dict) -> str | None:
    what = "a directory of its own, e.g. /var/backups/mariadb (absolute, no . or .. parts, not a system directory)"
    if not isinstance(value, str) or not re.fullmatch(r"(/[A-Za-z0-9_][A-Za-z0-9._-]*)+", value):
        return what
    # (The pattern already refuses . and .. parts: no name starts with a dot.)
    if value in SYSTEM_DIRS or value in SHARED_DIRS or value.startswith(tuple(d + "/" for d in SYSTEM_DIRS)):
        return what
    return None


# Ports the stack's own services listen on: the app must not take one of them.
STACK_PORTS = {3306: "MariaDB", 6379: "Redis", 6032: "ProxySQL admin", 6033: "ProxySQL", 8081: "nginx status"}


def app_port(value: Any, data: dict) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1024 <= value <= 65535:
        return "a whole number from 1024 to 65535"
    taken = {**STACK_PORTS, data.get("sshd_port"): "sshd"}
    if value in taken:
        return f"a port no other service uses ({value} is {taken[value]}'s)"
    return None


def letsencrypt_email(value: Any, data: dict) -> str | None:
    if data.get("tls") == "letsencrypt" and not (isinstance(value, str) and re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value)):
        return "an e-mail address (Let's Encrypt needs one with tls = \"letsencrypt\")"
    if not isinstance(value, str):
        return "an e-mail address, or \"\""
    return None


PORT = integer(1, 65535)
USER = r"[a-z_][a-z0-9_]{0,31}"
CHECKS: dict[str, Check] = {
    "timezone": timezone,
    "apt_cache_valid_s": integer(0, 7 * 86400),
    "base_packages": list_of(matching(r"[a-z0-9][a-z0-9+.-]+", "a package name"), "Debian package names"),
    "unattended_upgrades": boolean,
    "unattended_reboot": boolean,
    "unattended_reboot_time": matching(r"([01]\d|2[0-3]):[0-5]\d", 'a time "HH:MM"'),
    "sshd_port": PORT,
    "sshd_password_authentication": boolean,
    # sshd_config(5) also knows "yes" and "forced-commands-only": a root password login is what
    # this knob exists to forbid, and forced commands are not how anyone deploys.
    "sshd_permit_root_login": one_of("prohibit-password", "no"),
    "firewall": boolean,
    "firewall_tcp_ports": list_of(PORT, "port numbers from 1 to 65535"),
    "firewall_allow_dhcp_client": boolean,
    # somaxconn is an int since Linux 5.4; 65535 is as far as any listener here would use.
    "somaxconn": integer(128, 65535),
    "tcp_max_syn_backlog": integer(128, 1 << 20),
    "ip_local_port_range": port_range,
    "file_max_min": integer(65536, 1 << 31),
    # proc(5): 0 heuristic, 1 always, 2 never overcommit.
    "vm_overcommit_memory": one_of(0, 1, 2),
    "vm_swappiness": integer(0, 100),
    "swap_file_mb": integer(0, 64 * 1024),
    "swap_when_ram_below_mb": integer(0, 1 << 20),
    # The plan's knobs. Ranges are what a sane deploy can ask for; the plan itself refuses the
    # combinations that do not fit a host.
    "target_concurrency": integer(1, 1_000_000),
    "os_reserve_mb": integer(128, 1 << 20),
    "memory_weight_app": integer(1, 100),
    "memory_weight_db": integer(1, 100),
    "memory_weight_cache": integer(1, 100),
    "app_workers": integer(0, 1024),
    "app_worker_memory_mb": integer(32, 1 << 16),
    "app_worker_concurrency": integer(1, 100_000),
    "app_timeout_s": integer(1, 3600),
    "app_graceful_timeout_s": integer(1, 3600),
    "db_pool_size": integer(1, 1000),
    "db_pool_overflow": integer(0, 1000),
    "proxysql_enabled": boolean,
    "proxysql_max_connections": integer(0, 1_000_000),
    "proxysql_backend_share": number(0.01, 1),
    "proxysql_free_connections_pct": integer(0, 100),
    "mariadb_reserved_connections": integer(1, 1000),
    # MariaDB's own range for max_connections (server system variables).
    "mariadb_max_connections": integer(0, 100_000),
    "mariadb_buffer_pool_mb": integer(0, 1 << 24),
    "redis_maxmemory_mb": integer(0, 1 << 24),
    "redis_fork_headroom": number(0, 1),
    "redis_maxclients": integer(1, 1_000_000),
    "nginx_worker_connections": integer(0, 1_000_000),
    "nginx_worker_rlimit_nofile": integer(0, 1 << 20),
    "nginx_upstream_keepalive": integer(1, 10_000),
    "nginx_upstream_keepalive_timeout_s": integer(1, 3600),
    "nginx_keepalive_timeout_s": integer(0, 3600),
    "rate_limit_rps": integer(1, 1_000_000),
    "rate_limit_burst": integer(0, 1_000_000),
    "listen_backlog": integer(0, 1 << 20),
    "app_db_name": matching(r"[a-z_][a-z0-9_]{0,63}", "a database name of a-z, 0-9 and _"),
    "mariadb_app_user": matching(USER, "a user name of a-z, 0-9 and _ (at most 32)"),
    "mariadb_migrate_user": matching(USER, "a user name of a-z, 0-9 and _ (at most 32)"),
    "mariadb_monitor_user": matching(USER, "a user name of a-z, 0-9 and _ (at most 32)"),
    "mariadb_wait_timeout_s": integer(10, 31_536_000),
    "mariadb_max_allowed_packet_mb": integer(1, 1024),
    "mariadb_long_query_time_s": number(0, 3600),
    "mariadb_binlog_expire_days": integer(1, 99),
    "backup_time": matching(r"([01]\d|2[0-3]):[0-5]\d", 'a time "HH:MM"'),
    "backup_retention_days": integer(1, 3650),
    "backup_dir": backup_dir,
    # Redis docs (eviction policies): the policies Redis knows.
    "redis_maxmemory_policy": one_of("allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru",
                                     "volatile-lfu", "volatile-random", "volatile-ttl", "noeviction"),
    "redis_maxmemory_samples": integer(1, 64),
    "redis_app_user": matching(USER, "a user name of a-z, 0-9 and _ (at most 32)"),
    "redis_aof_rewrite_percentage": integer(0, 1000),
    "redis_aof_rewrite_min_mb": integer(1, 1 << 16),
    "proxysql_series": matching(r"([23]\.\d+\.x)?", 'a release series such as "2.7.x", or "" for the release\'s own'),
    "proxysql_deb": proxysql_deb,
    "app_name": matching(r"[a-z][a-z0-9-]{0,30}", "a name of a-z, 0-9 and - (at most 31)"),
    "app_source": app_source,
    "app_ref": matching(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}", "a branch, tag or commit"),
    "app_module": matching(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", '"module:object", e.g. peakready_app.main:app'),
    "app_worker_class": one_of("uvicorn", "sync", "gthread"),
    "app_migrate_module": matching(r"([A-Za-z_][\w.]*)?", "a Python module name, or \"\""),
    "app_port": app_port,
    "app_releases_kept": integer(2, 100),
    "app_max_requests": integer(0, 10_000_000),
    "app_max_requests_jitter": integer(0, 10_000_000),
    "app_cache": boolean,
    "app_cache_ttl_outlets_s": integer(1, 86400),
    "app_cache_ttl_outlet_s": integer(1, 86400),
    "app_cache_ttl_menu_s": integer(1, 86400),
    "app_cache_ttl_featured_s": integer(1, 86400),
    "server_names": server_names,
    "tls": one_of("off", "self-signed", "letsencrypt"),
    "letsencrypt_email": letsencrypt_email,
    "rate_limit_write_rps": integer(1, 1_000_000),
    "rate_limit_write_burst": integer(0, 1_000_000),
    "limit_conn_per_ip": integer(1, 1_000_000),
    "rate_limit_exempt": list_of(network, 'networks such as "127.0.0.1/32" or "10.0.0.0/8"'),
    "client_max_body_size_kb": integer(1, 1 << 20),
    "nginx_proxy_timeout_s": integer(1, 3600),
    "nginx_micro_cache_s": integer(0, 5),
    "static_max_age_days": integer(0, 365),
}


# The arguments of the one-off commands (restore.py), given with --data for one run: checked here
# like the knobs, with the same kind of sentence.
RUN_ARGS: dict[str, tuple[Any, Check]] = {
    "restore_into": ("", matching(r"[a-z_][a-z0-9_]{0,63}", "the database to restore into (a-z, 0-9, _), "
                                                               "e.g. --data restore_into=scratch_db")),
    "restore_from": ("latest", matching(r"latest|/[A-Za-z0-9._/-]+\.sql\.gz",
                                        "latest or the path of a .sql.gz dump on the host")),
    "restore_replace": (False, boolean),
}


def check_args(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The run arguments `names` (RUN_ARGS) from `data`, defaults filled in, or KnobError."""
    args = {}
    for name in names:
        default, validate = RUN_ARGS[name]
        value = data.get(name, default)
        problem = validate(value, data)
        if problem:
            raise KnobError(f"{name} = {value!r} is not valid: set it to {problem}.")
        args[name] = value
    return args


def check(data: dict[str, Any]) -> dict[str, Any]:
    """Return the knobs (defaults overlaid with `data`) or raise KnobError for the first bad one."""
    known = defaults()
    for key in data:
        if key in known or key.startswith(FOREIGN_PREFIXES):
            continue
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "see group_data/all.py for every knob."
        raise KnobError(f"unknown knob {key!r}: {hint}")
    merged = {**known, **{k: v for k, v in data.items() if k in known}}
    for key, validate in CHECKS.items():
        problem = validate(merged[key], merged)
        if problem:
            raise KnobError(f"knob {key} = {merged[key]!r} is not valid: set it to {problem} "
                            "(group_data/all.py says what it does).")
    return merged
