"""Every knob, declared once: its default, check, scope and comment.

peakready/schema/ declares each knob (`name: "scope: check" = default`, under the comment saying
what it does); this module reads those declarations, with the checks they name from
peakready/checks.py. peakready/validate.py applies them.
"""

from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peakready import checks
from peakready.checks import Check, boolean, matching
from peakready.errors import KnobError, PlanError  # noqa: F401 (raised by knobs' users as knobs.KnobError)

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
# The schema's files, in the order their knobs are listed (peakready/schema/__init__.py).
SCHEMA_FILES = tuple(SCHEMA_DIR / f"{name}.py"
                     for name in ("base", "plan", "mariadb", "redis", "proxysql", "app", "nginx", "monitoring",
                                  "backup"))

# Data that belongs to pyinfra or its connectors, not to peakready.
FOREIGN_PREFIXES = ("_", "ssh_", "docker_", "dockerssh_", "vagrant_", "chroot_", "local_", "winrm_")


def defaults() -> dict[str, Any]:
    """The knobs and their defaults (a copy each time, so no caller can change another's)."""
    return copy.deepcopy({name: knob.default for name, knob in KNOBS.items()})


# --- the declarations: read from peakready/schema/ --------------------------------------------

SCOPES = ("host", "plan", "group")


@dataclass(frozen=True)
class Knob:
    name: str
    default: Any
    check: Check
    scope: str  # host: may differ between hosts; plan, group: the same on every host
    comment: str


def declarations(*paths: Path) -> dict[str, Knob]:
    """Every knob of the schema's files (or of `paths`), each an annotated assignment
    `name: "scope: check" = default` under the comment saying what it does. Anything else at the
    top level is refused, so a knob cannot be added without its check and scope, and so is a name
    declared twice or a schema file left out of SCHEMA_FILES."""
    if not paths:
        unread = sorted(p.name for p in SCHEMA_DIR.glob("*.py") if p not in SCHEMA_FILES and p.name != "__init__.py")
        if unread:
            raise KnobError(f"peakready/schema/{unread[0]} is not in knobs.SCHEMA_FILES: add it there.")
        paths = SCHEMA_FILES
    out: dict[str, Knob] = {}
    for path in paths:
        for name, knob in declared_in(path).items():
            if name in out:
                raise KnobError(f"{path.name}: knob {name} is declared twice in peakready/schema/.")
            out[name] = knob
    return out


def declared_in(path: Path) -> dict[str, Knob]:
    """The knobs of one schema file."""
    source = path.read_text()
    lines, values = source.splitlines(), dict[str, Any]()
    exec(compile(source, str(path), "exec"), values)
    validators = {name: obj for name, obj in vars(checks).items() if callable(obj) and not name.startswith("_")}
    out = {}
    for node in ast.parse(source).body:
        where = f"{path.name}:{node.lineno}"
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(node.annotation, ast.Constant) and isinstance(node.annotation.value, str)):
            raise KnobError(f"{where}: every statement is a knob, written `name: \"scope: check\" = default`.")
        name = node.target.id
        scope, _, expr = node.annotation.value.partition(":")
        if scope not in SCOPES:
            raise KnobError(f"{where}: knob {name} has scope {scope!r}: use one of {', '.join(SCOPES)}.")
        check = eval(expr, {"__builtins__": {}}, validators)
        out[name] = Knob(name, values[name], check, scope, comment_above(lines, node.lineno - 1))
    return out


def comment_above(lines: list[str], index: int) -> str:
    """The comment block over line `index`, shared by the knobs declared right under it."""
    while index > 0 and re.match(r"\w+: ", lines[index - 1]):
        index -= 1
    block: list[str] = []
    while index > 0 and lines[index - 1].startswith("# ") and not lines[index - 1].startswith("# ---"):
        index -= 1
        block.insert(0, lines[index][2:])
    return " ".join(block)


KNOBS = declarations()
# The knobs the capacity plan reads (each the same on every host: the plan sizes them together), and
# the only ones that may differ between the hosts of an inventory (each host's own base settings).
PLAN_KNOBS = frozenset(name for name, knob in KNOBS.items() if knob.scope == "plan")
HOST_KNOBS = frozenset(name for name, knob in KNOBS.items() if knob.scope == "host")


# The arguments of the one-off commands (restore.py), given with --data for one run: declared here,
# default and check, and checked like the knobs (peakready/validate.py run_args).
RUN_ARGS: dict[str, tuple[Any, Check]] = {
    "restore_into": ("", matching(r"[a-z_][a-z0-9_]{0,63}", "the database to restore into (a-z, 0-9, _), "
                                                               "e.g. --data restore_into=scratch_db")),
    "restore_from": ("latest", matching(r"latest|/[A-Za-z0-9._/-]+\.sql\.gz",
                                        "latest or the path of a .sql.gz dump on the host")),
    "restore_replace": (False, boolean),
    # Point-in-time: the second (UTC) to rebuild a db host to, from the backup host's backups.
    "restore_at": ("", checks.utc_second_or_empty),
    # ...the host to rebuild (a fresh one of the inventory; default: the db_primary host)...
    "restore_to": ("", matching(r"|[A-Za-z0-9][A-Za-z0-9.-]{0,252}", "a host of this inventory, e.g. --data restore_to=db1")),
    # ...and whose backups (default: the db_primary host's name: the host it replaces).
    "restore_source": ("", matching(r"|[A-Za-z0-9][A-Za-z0-9.-]{0,252}", "the name of the backed-up db host, e.g. "
                                                                           "--data restore_source=db1")),
    # Rolling releases (drain.py, run by python -m peakready.roll): the app hosts every nginx passes over.
    "app_drained": ("", matching(r"|[A-Za-z0-9][A-Za-z0-9.-]{0,252}(,[A-Za-z0-9][A-Za-z0-9.-]{0,252})*",
                                 "app hosts of this inventory, comma-separated, e.g. --data app_drained=app1")),
    "promote": ("", matching(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}", "the replica to make the primary, e.g. "
                                                                   "--data promote=db2")),
}
