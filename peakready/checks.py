"""The checks a knob's declaration names (peakready/schema/: `name: "scope: check" = default`):
each returns None when the value is fine, else what a valid value looks like."""

from __future__ import annotations

import datetime
import difflib
import functools
import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peakready import PORTS, ROOT
from peakready.secrets import NAMES
from peakready.services import SERVICES

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


def address_or_empty(value: Any, _data: dict) -> str | None:
    what = 'the host\'s IPv4 address on its private network (not a loopback, unspecified or multicast one), or ""'
    if value == "":
        return None
    try:
        parsed = ipaddress.IPv4Address(value)
    except (TypeError, ValueError):
        return what
    return what if parsed.is_loopback or parsed.is_unspecified or parsed.is_multicast else None


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
    """A directory of this repository with the app, a git URL, or "" (not set). Whether it holds an
    app (its dependencies declared) is checked by the pre-flight (peakready/release.py checked_source)."""
    if value == "":
        return None  # not set: the pre-flight asks for it on an app host (validate.inputs)
    if isinstance(value, str) and re.fullmatch(r"(https://|git@|ssh://|file://)[\w.@:/~+-]+", value):
        return None
    # Inside the repository only: "/etc" or "../elsewhere" would upload whatever is there.
    if isinstance(value, str) and value and (ROOT / value).is_dir() and (ROOT / value).resolve().is_relative_to(ROOT):
        return None
    return "a directory of this repository (this one does not exist or is outside it) or a git URL (https://... or git@...)"


def command(value: Any, _data: dict) -> str | None:
    """A command line run in the release's directory: one program and its arguments, passed as
    written (the deploy quotes each word: no shell expansion)."""
    import shlex

    what = 'a command such as "python manage.py migrate --noinput" (no shell operators), or ""'
    if not isinstance(value, str) or "\n" in value:
        return what
    try:
        words = shlex.split(value)
    except ValueError:
        return what
    if value and not words:
        return what
    return what if any(re.search(r"[|;&<>`]|\$\(", w) for w in words) else None


def migrate_command(value: Any, data: dict) -> str | None:
    if value and data.get("app_migrate_module"):
        return '"" while app_migrate_module is set (one migrate step: a command or a module)'
    return command(value, data)


def static_command(value: Any, data: dict) -> str | None:
    if value and not data.get("app_static_dir"):
        return '"" while app_static_dir is "" (the command gathers the files into that directory)'
    return command(value, data)


def relative_dir(value: Any, _data: dict) -> str | None:
    if value == "" or (isinstance(value, str) and re.fullmatch(r"[\w.-]+(/[\w.-]+)*", value)
                       and ".." not in value.split("/") and not value.startswith(".")):
        return None
    return 'a directory inside the release such as "static" (relative, no ..), or ""'


def url_path(value: Any, _data: dict) -> str | None:
    return None if isinstance(value, str) and re.fullmatch(r"/[\w./~%+-]*(\?[\w.=&%+-]*)?", value) else \
        'a path such as "/health" (it starts with /)'


def url_path_or_empty(value: Any, data: dict) -> str | None:
    return None if value == "" else (url_path(value, data) and 'a path such as "/metrics", or ""')


def path_regex(value: Any, data: dict) -> str | None:
    """A regular expression of URL paths that nginx reads as written: no backslash (nginx's parser
    would take it as an escape; [0-9] for \\d), no quote, brace or space."""
    what = ('"" or a regular expression of paths that starts with ^, of letters, digits and ^$()[]|?*+.-_/~%, '
            'e.g. "^/api/v1/(menu|outlets/[0-9]+)$"')
    if value == "":
        return None
    if not isinstance(value, str) or not re.fullmatch(r"\^[\w^$()\[\]|?*+./~%-]*", value):
        return what
    try:
        re.compile(value)
    except re.error as exc:
        return f"{what} ({exc})"
    # A regular expression's location wins over a prefix's: one outside the app's paths would take
    # requests nginx answers with a 404 to the app.
    prefixes = data["nginx_app_paths"]
    if isinstance(prefixes, (list, tuple)) and not any(value.startswith("^" + p) for p in prefixes if isinstance(p, str)):
        return f"{what}, inside nginx_app_paths (it must start with ^ and one of {list(prefixes)})"
    return None


# The prefix locations the site has of its own (static files, certbot's answers): an app path of the
# same name would be a duplicate location, which nginx refuses.
NGINX_OWN_PREFIXES = ("/static/", "/.well-known/acme-challenge/")


def path_prefixes(value: Any, _data: dict) -> str | None:
    what = ('a list of path prefixes, each starting and ending with /, e.g. ["/"] or ["/api/", "/admin/"], '
            f"none of nginx's own ({', '.join(NGINX_OWN_PREFIXES)})")
    if (not isinstance(value, (list, tuple)) or not value or len(set(value)) != len(value)
            or any(not isinstance(v, str) or not re.fullmatch(r"/([\w.~%+-]+/)*", v) for v in value)
            or set(value) & set(NGINX_OWN_PREFIXES)):
        return what
    return None


def header_value(value: Any, _data: dict) -> str | None:
    """A header value nginx prints inside "...": printable ASCII, none of the characters its parser
    or its variables read (" \\ $ { })."""
    if isinstance(value, str) and len(value) <= 2048 and re.fullmatch(r"[ !#%&'()*+,./0-9:;<=>?@A-Z\[\]^_`a-z|~-]*", value):
        return None
    return 'a header value of printable characters but " \\ $ { } (at most 2048), or ""'


# Variables peakready sets itself: an app's own may not replace them.
RESERVED_ENV = {"DATABASE_URL", "MIGRATE_DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "FORWARDED_ALLOW_IPS", "DB_SERVERS",
                "STATIC_ROOT", "PATH", "HOME", "PROMETHEUS_MULTIPROC_DIR", "DB_POOL_SIZE", "DB_POOL_OVERFLOW",
                "STATE_DIRECTORY", "PEAKREADY_RELEASE_DIR", "GUNICORN_CMD_ARGS"}
ENV_NAME = r"[A-Z_][A-Z0-9_]{0,63}"


def environment(value: Any, _data: dict) -> str | None:
    what = ('a mapping of variable names (A-Z, 0-9, _) to strings without quotes or newlines, '
            f'e.g. {{"DJANGO_SETTINGS_MODULE": "mysite.settings"}}, none of {", ".join(sorted(RESERVED_ENV))}')
    if not isinstance(value, dict) or any(
            not isinstance(k, str) or not re.fullmatch(ENV_NAME, k) or k in RESERVED_ENV or not isinstance(v, str)
            or re.search(r"['\n\r\\]", v) for k, v in value.items()):
        return what
    return None


def secret_names(value: Any, data: dict) -> str | None:
    what = ('a list of variable names (A-Z, 0-9, _) the app reads its secrets from, e.g. ["DJANGO_SECRET_KEY"], '
            "none of the stack's own secrets nor a variable peakready sets or app_env has")
    if not isinstance(value, (list, tuple)) or any(not isinstance(v, str) or not re.fullmatch(ENV_NAME, v)
                                                   for v in value):
        return what
    taken = RESERVED_ENV | {n.upper() for n in NAMES} | set(data.get("app_env") or {})
    return what if set(value) & taken or len(set(value)) != len(value) else None


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


# Top-level names no one on the internet resolves (RFC 6761, RFC 8375 and the usual private ones).
LOCAL_TLDS = ("localhost", "local", "test", "invalid", "example", "internal", "lan", "home", "arpa")


def local_name(name: str) -> bool:
    """A name (or address) that reaches no one beyond the host and its private network."""
    try:
        return not ipaddress.ip_address(name).is_global
    except ValueError:
        return "." not in name.rstrip(".") or name.rstrip(".").rsplit(".", 1)[-1].lower() in LOCAL_TLDS


def server_names(value: Any, data: dict) -> str | None:
    """At least one host name; with Let's Encrypt, only names it can certify (public DNS names)."""
    if not isinstance(value, (list, tuple)) or not value or any(
            not isinstance(v, str) or not re.fullmatch(HOST, v) for v in value):
        return "a non-empty list of host names (example.com, localhost)"
    if data.get("tls") == "letsencrypt":
        private = [v for v in value if local_name(v) or re.fullmatch(r"[0-9.]+", v)]
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
SERVICE_NAMES = {s.name: s.label for s in SERVICES}
STACK_PORTS = {port: SERVICE_NAMES[service] for service, port in PORTS.items()}


def app_port(value: Any, data: dict) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1024 <= value <= 65535:
        return "a whole number from 1024 to 65535"
    taken: dict[Any, str] = {**STACK_PORTS, data.get("sshd_port"): "sshd"}
    if value in taken:
        return f"a port no other service uses ({value} is {taken[value]}'s)"
    return None


def letsencrypt_email(value: Any, data: dict) -> str | None:
    if data.get("tls") == "letsencrypt" and not (isinstance(value, str) and re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value)):
        return "an e-mail address (Let's Encrypt needs one with tls = \"letsencrypt\")"
    if not isinstance(value, str):
        return "an e-mail address, or \"\""
    return None


def acme_url(value: Any, _data: dict) -> str | None:
    """An ACME directory: HTTPS, a host name, a path (certbot --server)."""
    if not (isinstance(value, str) and re.fullmatch(rf"https://{HOST}(:\d{{1,5}})?(/[\w.~%-]*)+", value)):
        return "an ACME directory URL such as https://acme-v02.api.letsencrypt.org/directory"
    return None


# Checks with a name, for the declarations in peakready/schema/.
port = integer(1, 65535)
ports = list_of(port, "port numbers from 1 to 65535")
clock_time = matching(r"([01]\d|2[0-3]):[0-5]\d", 'a time "HH:MM"')
builder_image = matching(r"[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_.{}-]+)?(@sha256:[0-9a-f]{64})?",
                         "a Docker image name, e.g. \"debian:{codename}\" ({codename}: the host's Debian release)")
package_names = list_of(matching(r"[a-z0-9][a-z0-9+.-]+", "a package name"), "Debian package names")
module_names = list_of(matching(r"[a-z0-9][a-z0-9_-]{0,63}", "a kernel module name"), "kernel module names")
host_ports = list_of(matching(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?:\d{1,5}", "host:port"),
                     '"host:port" entries such as "10.0.0.9:9093"')
networks = list_of(network, 'networks such as "127.0.0.1/32" or "10.0.0.0/8"')
USER = r"[a-z_][a-z0-9_]{0,31}"
user_name = matching(USER, "a user name of a-z, 0-9 and _ (at most 32)")
database_name = matching(r"[a-z_][a-z0-9_]{0,63}", "a database name of a-z, 0-9 and _")
unit_name = matching(r"[a-z][a-z0-9-]{0,30}", "a name of a-z, 0-9 and - (at most 31)")
git_ref = matching(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}", "a branch, tag or commit")
module_object = matching(r"([A-Za-z_][\w.]*:[A-Za-z_]\w*)?",
                         '"module:object", e.g. shop.wsgi:app or mysite.wsgi:application ("": not set yet)')
module_or_empty = matching(r"([A-Za-z_][\w.]*)?", "a Python module name, or \"\"")
release_series = matching(r"([23]\.\d+\.x)?", 'a release series such as "2.7.x", or "" for the release\'s own')
# Redis docs (eviction policies): the policies Redis knows.
eviction_policy = one_of("allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu",
                         "volatile-random", "volatile-ttl", "noeviction")


def utc_second_or_empty(value: Any, _data: dict) -> str | None:
    """"", "latest" or a second of the calendar, "YYYY-MM-DD HH:MM:SS" (UTC)."""
    what = ('a time "YYYY-MM-DD HH:MM:SS" (UTC), e.g. --data restore_at="2026-12-06 19:59:59", or latest (the '
            "newest second the backups cover)")
    if value in ("", "latest"):
        return None
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", value):
        return what
    try:
        datetime.datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return what
    return None
