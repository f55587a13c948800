"""The roles, in the order a host gets them: each may rely on every role before it.

Each entry is (role, tier): a host gets the role when one of its inventory groups is of that tier
(peakready.GROUP_ROLES, the one table of groups); None means every host.
"""

from peakready import GROUP_ROLES
from peakready.plan import part
from peakready.preflight import Deployment
from peakready.roles.app import app
from peakready.roles.backup import backup
from peakready.roles.base import base
from peakready.roles.hardening import file_integrity
from peakready.roles.mariadb import mariadb
from peakready.roles.monitoring import exporters, prometheus
from peakready.roles.nginx import nginx
from peakready.roles.proxysql import proxysql
from peakready.roles.redis import redis

ROLES = [
    (base, None),
    (mariadb, "db"),
    (backup, "backup"),  # after the primary's accounts (its binary log reader) and the db hosts' key
    (redis, "cache"),
    (proxysql, "app"),  # only where proxysql_enabled
    (app, "app"),
    (nginx, "web"),
    (exporters, None),  # after the services they read (the exporters' users, nginx's stub_status)
    (prometheus, "monitoring"),
    (file_integrity, None),  # last: the baseline of the files every role above put in place
]


def roles_for(host_groups) -> list:
    """The roles a host in `host_groups` gets, in dependency order."""
    tiers = {GROUP_ROLES[g] for g in host_groups if g in GROUP_ROLES}
    return [role for role, tier in ROLES if tier is None or tier in tiers]


def apply(host_groups, d: Deployment) -> None:
    """Give a host its roles, with what the pre-flight found (`d`). One line per role, not a loop over
    ROLES: pyinfra orders the operations of every host by the lines that call them, so this puts
    every host's MariaDB (the primary's accounts before the replicas' first copy) before any app
    host's migrations, and the app hosts before nginx in front of them. A loop would order them by
    their line in each role's file."""
    todo = roles_for(host_groups)
    if base in todo:
        base(plan=d.plan, secrets=d.secrets)
    if mariadb in todo:
        mariadb(plan=d.plan, secrets=d.secrets)
    if backup in todo:
        backup(plan=d.plan, secrets=d.secrets)
    if redis in todo:
        redis(plan=d.plan, secrets=d.secrets)
    if proxysql in todo:
        proxysql(plan=d.plan, secrets=d.secrets)
    if app in todo:
        app(plan=d.plan, secrets=d.secrets, rel=part(d.release, "app release"))
    if nginx in todo:
        nginx(plan=d.plan, secrets=d.secrets)
    if exporters in todo:
        exporters(plan=d.plan, secrets=d.secrets)
    if prometheus in todo:
        prometheus(plan=d.plan, secrets=d.secrets, whole=d.whole)
    if file_integrity in todo:
        file_integrity()
