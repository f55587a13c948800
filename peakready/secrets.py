"""Secrets: from the environment when set, otherwise generated once per inventory and reused.

    PEAKREADY_SECRET_<NAME>               wins when set, e.g. PEAKREADY_SECRET_MARIADB_APP_PASSWORD
    .peakready/secrets/<inventory>.json   generated values, mode 0600 in a 0700 directory;
                                          .peakready/ is git-ignored, so they never reach the repo

A variable set but empty is an error (an unset one means "generate"). Values are never logged:
roles put them in files (which pyinfra does not print) or in commands as pyinfra MaskString.
Deploys of one inventory may run at once (two terminals, `--limit` each): a value is generated under
a lock on the file, so every deploy gets the one that was stored first.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets as random
from contextlib import contextmanager
from pathlib import Path

from peakready import ROOT
from peakready.errors import KnobError

DIRECTORY = ROOT / ".peakready" / "secrets"

# Every secret the stack uses, and what it protects.
NAMES = {
    "mariadb_app_password": "the app's MariaDB user (its own database only)",
    "mariadb_migrate_password": "the MariaDB user that runs the app's migrations (DDL)",
    "mariadb_monitor_password": "the MariaDB user ProxySQL monitors with",
    "mariadb_replication_password": "the MariaDB user replicas replicate as",
    "redis_admin_password": "Redis's default user (administration)",
    "redis_app_password": "the app's Redis ACL user",
    "proxysql_admin_password": "ProxySQL's admin interface",
    "proxysql_stats_password": "ProxySQL's read-only stats login (upstream's default is stats:stats)",
    "mariadb_exporter_password": "the mysqld exporter's MariaDB user (status and variables, no data)",
    "redis_exporter_password": "the Redis exporter's ACL user (INFO and the slow log, no keys)",
    "mariadb_binlog_password": "the MariaDB user the backup host reads the binary logs as",
    "restic_password": "the key of the backup repository (restic encrypts every backup with it)",
    "backup_ssh_seed": "the backup host's SSH key, derived from it (db hosts let it start a backup, nothing else)",
}
# Quoted safely in every config file and SQL statement the stack writes.
VALID = re.compile(r"[A-Za-z0-9._~+/=-]{16,256}")


class SecretError(KnobError):
    """A secret from the environment cannot be used; the message names the variable."""


def variable(name: str) -> str:
    return f"PEAKREADY_SECRET_{name.upper()}"


class Secrets:
    """The secrets of one inventory.

    **Example:**

    .. code:: python

        Secrets("prod").get("mariadb_app_password")
    """

    def __init__(self, inventory: str, environ=None, directory: Path = DIRECTORY):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", inventory):
            raise SecretError(f"inventory name {inventory!r} cannot name a secrets file.")
        self.environ = os.environ if environ is None else environ
        self.path = directory / f"{inventory}.json"

    def get(self, name: str) -> str:
        if name not in NAMES:
            raise KeyError(f"unknown secret {name!r}: peakready/secrets.py lists them")
        return self._resolve(name, variable(name))

    def app(self, name: str) -> str:
        """One of the app's own secrets (knob app_secrets), by the variable the app reads it in:
        PEAKREADY_SECRET_<NAME> when set, else generated once and stored as app:<NAME>."""
        return self._resolve(f"app:{name}", variable(name))

    def _resolve(self, name: str, var: str) -> str:
        if var in self.environ:
            value = self.environ[var]
            if not value.strip():
                raise SecretError(f"{var} is set but empty: give it a value, or unset it and peakready generates one.")
            if not VALID.fullmatch(value):
                raise SecretError(f"{var} must be 16 to 256 of the characters A-Z a-z 0-9 . _ ~ + / = - "
                                  "(so every config file can hold it unquoted).")
            return value
        stored = self._load()
        if name not in stored:
            with self._locked():
                stored = self._load()  # another deploy may have stored it meanwhile
                if name not in stored:
                    stored[name] = random.token_urlsafe(32)
                    self._save(stored)
        return stored[name]

    def check_all(self, app_secrets=()) -> None:
        """Every secret resolves, the app's own too (an empty variable stops the deploy before its
        first change)."""
        for name in NAMES:
            self.get(name)
        for name in app_secrets:
            self.app(name)

    def _load(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        if self.path.stat().st_mode & 0o077:
            raise SecretError(f"{self.path} is readable by others: chmod 600 it (and rotate its secrets).")
        return json.loads(self.path.read_text())

    @contextmanager
    def _locked(self):
        """This inventory's secrets to one process at a time (flock on <inventory>.lock beside them)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _save(self, stored: dict[str, str]) -> None:
        os.chmod(self.path.parent, 0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(stored, out, indent=2, sort_keys=True)
        os.replace(tmp, self.path)
