"""Every check of what a user hands peakready, in one module: each entry calls it before it changes
anything, and each refusal is one sentence naming the setting to change.

    deploy.py             preflight.check_host(): host_entry, knob_values, the app's source, sshd_port,
                          ssh_lockout, proxysql_deb, app_release, agreement, then the plan (topology
                          and its rules)
    python -m peakready.plan    knob_values and topology, through make_plan
    restore.py            run_args
    rollback.py           knob_values
    inventories/prod.py   host_list and inventory

What a valid value of a knob is, is declared with the knob (peakready/schema/, with the checks of
peakready/checks.py). The rules the plan's derived numbers keep are the plan's (peakready/plan/rules.py).
"""

from __future__ import annotations

import ast
import configparser
import difflib
import re
import shlex
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from peakready import GROUP_ROLES, checks, knobs
from peakready.knobs import FOREIGN_PREFIXES, KNOBS, RUN_ARGS, KnobError, PlanError

# RFC 1123 host names (or an IPv4/IPv6 address, or a connector name such as @docker/x).
HOSTNAME = re.compile(r"(@[a-z]+/)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?|[0-9a-fA-F:]+")


def knob_values(data: dict[str, Any]) -> dict[str, Any]:
    """The knobs (defaults overlaid with `data`), or KnobError for an unknown knob or the first bad value.
    A run argument (RUN_ARGS: drain.py's app_drained beside the deploy's checks) is run_args' to check."""
    known = knobs.defaults()
    for key in data:
        if key in known or key in RUN_ARGS or key.startswith(FOREIGN_PREFIXES):
            continue
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "see peakready/schema/ for every knob."
        raise KnobError(f"unknown knob {key!r}: {hint}")
    merged = {**known, **{k: v for k, v in data.items() if k in known}}
    for key, knob in KNOBS.items():
        problem = knob.check(merged[key], merged)
        if problem:
            raise KnobError(f"knob {key} = {merged[key]!r} is not valid: set it to {problem} "
                            "(peakready/schema/ says what it does).")
    return merged


def run_args(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The run arguments `names` (knobs.RUN_ARGS) from `data`, defaults filled in, or KnobError."""
    args = {}
    for name in names:
        default, check = RUN_ARGS[name]
        value = data.get(name, default)
        problem = check(value, data)
        if problem:
            raise KnobError(f"{name} = {value!r} is not valid: set it to {problem}.")
        args[name] = value
    return args


def host_list(variable: str, value: str) -> list[str]:
    """Host names from a comma-separated environment variable (inventories/prod.py)."""
    hosts = [h.strip() for h in value.split(",") if h.strip()]
    if not hosts:
        raise KnobError(f"{variable} is set but empty: give it host names or addresses, or unset it.")
    return hosts


def host_map(variable: str, value: str) -> dict[str, str]:
    """host=value pairs from a comma-separated environment variable (inventories/prod.py)."""
    pairs = [p.strip() for p in value.split(",") if p.strip()]
    if not pairs or any(p.count("=") != 1 or not all(p.split("=")) for p in pairs):
        raise KnobError(f"{variable} must be host=address pairs, comma-separated (e.g. db1.example.com=10.0.0.3).")
    return dict(p.split("=") for p in pairs)


def host_entry(name: str, groups: Iterable[str]) -> None:
    """A host's name and groups in the inventory."""
    if not HOSTNAME.fullmatch(name):
        raise KnobError(f"host {name!r} in the inventory is not a valid host name or address.")
    for group in groups:
        # pyinfra also puts a host in a group named after its inventory file: only a name close
        # to one of ours is a typo (a host in "web_server" would silently get no web role).
        close = difflib.get_close_matches(group, GROUP_ROLES, n=1, cutoff=0.8)
        if group not in GROUP_ROLES and close:
            raise KnobError(f"host {name} is in inventory group {group!r}: did you mean {close[0]!r}?")


def inventory(host_groups: dict[str, Iterable[str]]) -> None:
    """What an inventory file can check alone: it has hosts, and one db_primary at most."""
    if not host_groups:
        raise PlanError("the inventory has no hosts: add at least one.")
    primaries = [name for name, groups in host_groups.items() if "db_primary" in groups]
    if len(primaries) > 1:
        raise PlanError(f"inventory group db_primary has {len(primaries)} hosts: keep one, put the others in db_replicas.")


def topology(host_groups: dict[str, Iterable[str]], app_cache: bool) -> None:
    """The inventory's groups make a stack that can work: each tier has the tiers it needs."""
    inventory(host_groups)
    groups = {name: set(g) for name, g in host_groups.items()}
    tiers = {tier for g in groups.values() for group, tier in GROUP_ROLES.items() if group in g}
    primaries = [name for name, g in groups.items() if "db_primary" in g]
    if "web" in tiers and "app" not in tiers:
        raise PlanError("inventory: web_servers need app_servers to send requests to: add a host to app_servers.")
    if "app" in tiers and not primaries:
        raise PlanError("inventory: app_servers need a database: add a host to db_primary.")
    if "app" in tiers and "cache" not in tiers and app_cache:
        raise PlanError("inventory: app_servers need a cache: add a host to cache_servers.")
    if any("db_replicas" in g for g in groups.values()) and not primaries:
        raise PlanError("inventory: db_replicas need a db_primary to replicate from: add one.")
    monitors = [name for name, g in groups.items() if "monitoring" in g]
    if len(monitors) > 1:
        raise PlanError(f"inventory: monitoring has {len(monitors)} hosts ({', '.join(monitors)}) but Prometheus runs on "
                        "one, which scrapes every host: keep one host in it.")
    keepers = [name for name, g in groups.items() if "backup_servers" in g]
    if len(keepers) > 1:
        raise PlanError(f"inventory: backup_servers has {len(keepers)} hosts ({', '.join(keepers)}) but one pulls "
                        "the backups: keep one host in it.")
    if keepers and groups[keepers[0]] & {"db_primary", "db_replicas"}:
        raise PlanError(f"inventory: {keepers[0]} is in backup_servers and is a db host: backups must survive the loss "
                        "of the database's host, so give them a host that is not in db_primary or db_replicas.")
    if keepers and not primaries:
        raise PlanError("inventory: backup_servers back up the db_primary host: add one.")


def agreement(data: dict, host_name: str, other: dict, other_name: str) -> None:
    """Two hosts of one inventory: every knob but the hosts' own base settings must be equal."""
    for key, value in other.items():
        if value != data[key] and KNOBS[key].scope != "host":
            why = ("the plan sizes every host together" if KNOBS[key].scope == "plan"
                   else "the hosts' services must agree on it")
            raise KnobError(f"knob {key} is {data[key]!r} on {host_name} but {value!r} on {other_name}: {why}, "
                            "so set it once for every host (inventories/group_data/<inventory>.py).")


def private_address(data: dict, host_name: str, addresses: list[str]) -> None:
    """A private_address the host does not have could not be bound: MariaDB, Redis or the app would
    fail to start after the first changes."""
    if data["private_address"] not in addresses:
        raise KnobError(f"knob private_address = {data['private_address']!r} is not an address of {host_name} "
                        f"(it has {', '.join(a for a in addresses if a) or 'none'}): set it to the host's address on "
                        "the private network its peers share.")


def sshd_port(data: dict, host_name: str, sshd_ports: list[int]) -> None:
    """The firewall opens sshd_port: it must be the port sshd really listens on, or the deploy would
    lock itself (and the operator) out."""
    if data["firewall"] and sshd_ports and data["sshd_port"] not in sshd_ports:
        raise KnobError(
            f"knob sshd_port = {data['sshd_port']} but sshd on {host_name} listens on "
            f"{', '.join(map(str, sshd_ports))}: set sshd_port to that port, or the firewall would lock you out.")


def ssh_lockout(data: dict, host_name: str, via_ssh: bool, ssh_user: str | None, ssh_password: bool) -> str | None:
    """The sentence that stops a deploy whose sshd login policy would refuse the login the deploy
    itself uses (and lock the operator out with it), or None.

    The login is the inventory's: ssh_user (unset counts as root, pyinfra's usual login on a fresh
    VPS, so an unknown user errs on the side of refusing) and ssh_password (set: a password login,
    whatever keys paramiko may also try). Other connectors (@docker, @local) use no sshd login.
    """
    if not via_ssh:
        return None
    user = ssh_user or "root"
    if user == "root" and data["sshd_permit_root_login"] == "no":
        return (f"knob sshd_permit_root_login = 'no' but pyinfra logs in to {host_name} as root (ssh_user): "
                "log in as a sudo user (ssh_user, _sudo) first, or keep sshd_permit_root_login = 'prohibit-password'.")
    if ssh_password and not data["sshd_password_authentication"]:
        return (f"knob sshd_password_authentication = False but pyinfra logs in to {host_name} with a password "
                "(ssh_password): authorise a key for it (ssh-copy-id, then ssh_key) and drop ssh_password, or "
                "set sshd_password_authentication = True.")
    if ssh_password and user == "root":
        return (f"knob sshd_permit_root_login = 'prohibit-password' lets root in by key only but pyinfra logs in to "
                f"{host_name} as root with a password (ssh_password): authorise a key for root (ssh-copy-id, then "
                "ssh_key) and drop ssh_password.")
    return None


def proxysql_deb(path: str, host_name: str, arch: str, libc: str | None) -> None:
    """A package that installs but cannot run on the host (another architecture, a newer glibc)
    would fail after MariaDB, Redis and the rest were changed: refused before."""
    from peakready.debfile import control, unfit_for

    problem = unfit_for(control(path), arch, libc)
    if problem:
        raise KnobError(f"knob proxysql_deb = {path} cannot run on {host_name}: {problem}; "
                        "give a package built for the host's Debian release, or \"\" for ProxySQL's repository.")


def public_server(data: dict, host_name: str, settings: str) -> None:
    """A server people reach over the internet (inventories/prod.py's hosts) is deployed for the
    team's site or not at all: names it answers to (its app, app_source, has no default)."""
    if all(checks.local_name(name) for name in data["server_names"]):
        raise KnobError(
            f"server_names is {data['server_names']!r} on {host_name}, a server reached over the internet: nginx "
            "answers only those names and closes every other request (its address included), so the site would "
            f"serve no one; set server_names = [\"shop.example.com\"] (your site's names, or the server's public "
            f"address) in {settings}.")


def repository_reached(answer: dict | None, host_name: str, url: str) -> None:
    """ProxySQL comes from its repository (proxysql_deb = ""): the host must reach it, or the deploy
    would stop half-way, at the repository's key, after changing the host. None: the host has
    nothing to ask with, not even bash (UrlAnswers)."""
    if answer is not None and not answer["ok"]:
        raise KnobError(
            f"{host_name} cannot reach ProxySQL's repository ({url}: {answer['why']}), which the deploy installs "
            "ProxySQL from while proxysql_deb is \"\": let the host reach it, or set proxysql_deb to a proxysql "
            ".deb built for the host's Debian release (proxysql_enabled = False leaves ProxySQL out).")


def inputs(name: str, groups: Iterable[str], data: dict) -> dict:
    """What is checked without asking the host: its name and groups in the inventory, the knobs, and
    the app's source (it exists, is fetched, declares its dependencies). Returns the knobs."""
    from peakready.release import checked_source

    host_entry(name, groups)
    checked = knob_values(data)
    if "app_servers" in groups:
        app_named(checked)
        checked_source(checked["app_source"], checked["app_ref"])
    return checked


def app_named(data: dict) -> None:
    """An app host deploys the team's app: its code (app_source) and the object gunicorn serves
    (app_module) have no default."""
    for knob, example in (("app_source", 'app_source = "apps/shop" (your app\'s directory in this repository, or '
                                         "its git URL)"),
                          ("app_module", 'app_module = "shop.wsgi:app" (the WSGI or ASGI object gunicorn serves)')):
        if not data[knob]:
            raise KnobError(f"knob {knob} is not set: peakready deploys your app, so set {example} in your "
                            "settings (inventories/group_data/<inventory>.py); the sample app comes with its own "
                            "settings (group_data/sample_app.py) to the hosts of an inventory's sample_app group.")


# --- the app's release: what its knobs name must be in its code or its packages ---------------


def app_release(src: Path, data: dict, wheels: Path) -> None:
    """app_module, the migrate step and the static files, checked against the app's source and the
    wheels built for it, before the first change."""
    module, _, obj = data["app_module"].partition(":")
    found = module_source(module, src, wheels)
    if found is None:
        raise KnobError(f"knob app_module = {data['app_module']!r}: no module {module} in app_source or its "
                        "dependencies: name the module that holds the app (e.g. mysite.wsgi:application).")
    if found and not defines(found, obj):
        raise KnobError(f"knob app_module = {data['app_module']!r}: {module} defines no {obj}: name the object "
                        "that is the WSGI or ASGI application.")
    if data["app_migrate_module"] and module_source(data["app_migrate_module"], src, wheels) is None:
        raise KnobError(f"knob app_migrate_module = {data['app_migrate_module']!r}: no such module in app_source "
                        "or its dependencies: fix it, or set it to \"\".")
    for knob in ("app_migrate_command", "app_static_command"):
        problem = data[knob] and command_problem(data[knob], src, wheels)
        if problem:
            raise KnobError(f"knob {knob} = {data[knob]!r} cannot run: {problem}.")
    static = data["app_static_dir"]
    if static and not data["app_static_command"] and not (src / static).is_dir():
        raise KnobError(f"knob app_static_dir = {static!r}: app_source has no such directory: set it to the "
                        "directory of the app's static files, set app_static_command to gather them, or set it to \"\".")


def module_source(module: str, src: Path, wheels: Path) -> str | None:
    """The source of `module` in the app's code (flat or src/ layout) or its wheels; "" when it is
    compiled; None when it is nowhere."""
    rel = module.replace(".", "/")
    names = (f"{rel}.py", f"{rel}/__init__.py")
    for base in (src, src / "src"):
        for name in names:
            if (base / name).is_file():
                return (base / name).read_text(errors="replace")
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            members = set(archive.namelist())
            for name in names:
                if name in members:
                    return archive.read(name).decode(errors="replace")
            if any(m.startswith(f"{rel}.") and m.endswith(".so") for m in members):
                return ""
    return None


def defines(source: str, name: str) -> bool:
    """Whether a module's top level binds `name` (or may: a star import)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return True  # not ours to judge: the readiness check will run it
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id == name:
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(a.name == "*" or (a.asname or a.name.split(".")[0]) == name for a in node.names):
                return True
    return False


def console_scripts(wheels: Path) -> set[str]:
    """The commands the app's packages install in its virtualenv's bin/."""
    scripts = set()
    for wheel in wheels.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if member.endswith(".dist-info/entry_points.txt"):
                    parser = configparser.ConfigParser(delimiters=("=",))
                    parser.read_string(archive.read(member).decode(errors="replace"))
                    scripts |= set(parser["console_scripts"]) if parser.has_section("console_scripts") else set()
                elif re.search(r"\.data/scripts/[^/]+$", member):
                    scripts.add(member.rsplit("/", 1)[1])
    return scripts


def command_problem(command: str, src: Path, wheels: Path) -> str | None:
    """Why `command` cannot run in the release (its program or script is missing), or None."""
    words = shlex.split(command)
    program, args = words[0], words[1:]
    if program in ("python", "python3"):
        if args[:1] == ["-m"] and len(args) > 1:
            return None if module_source(args[1], src, wheels) is not None else f"no module {args[1]} in the app"
        if args and not args[0].startswith("-"):
            return None if (src / args[0]).is_file() else f"app_source has no {args[0]}"
        return None
    if "/" in program:
        return None if (src / program).is_file() else f"app_source has no {program}"
    if program in console_scripts(wheels):
        return None
    return f"no package of the app installs a {program} command (add the package that has it to its dependencies)"
