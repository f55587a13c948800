"""The roles, in the order a host gets them: each may rely on every role before it.

Each entry is (role, groups): a host in any of `groups` gets the role; None means every host.
The groups are the inventory's (peakready.plan.GROUP_ROLES).
"""

from peakready.roles.app import app
from peakready.roles.base import base
from peakready.roles.mariadb import mariadb
from peakready.roles.nginx import nginx
from peakready.roles.proxysql import proxysql
from peakready.roles.redis import redis

ROLES = [
    (base, None),
    (mariadb, ("db_primary", "db_replicas")),
    (redis, ("cache_servers",)),
    (proxysql, ("app_servers",)),  # only where proxysql_enabled
    (app, ("app_servers",)),
    (nginx, ("web_servers",)),
]


def roles_for(host_groups) -> list:
    """The roles a host in `host_groups` gets, in dependency order."""
    return [role for role, groups in ROLES if groups is None or set(groups) & set(host_groups)]
