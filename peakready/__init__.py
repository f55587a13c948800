"""peakready: a Debian VPS that survives a traffic spike, provisioned with pyinfra."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Inventory group -> the tier it gives a host (a host may be in several groups): the one table of
# groups, for the checks (validate.py), the plan and the roles.
GROUP_ROLES = {
    "web_servers": "web",
    "app_servers": "app",
    "db_primary": "db",
    "db_replicas": "db",
    "cache_servers": "cache",
    # Prometheus: at most one host, which scrapes every host's exporters over the private network.
    "monitoring": "monitoring",
    # Backups: at most one host, never a db host; it pulls base backups and binary logs from the primary.
    "backup_servers": "backup",
}

# The stack's fixed ports beside the knobs' (sshd_port, app_port, 80/443): service -> port, from the
# one table of services (peakready/services.py).
from peakready.services import PORTS as PORTS  # noqa: E402 (after ROOT and GROUP_ROLES, which it does not need)

# The Unix sockets a client on the same host uses instead of loopback TCP (less CPU a statement or
# command): service -> path. MariaDB's is where Debian's package puts it; ProxySQL's and Redis's are
# in their units' RuntimeDirectory.
SOCKETS = {
    "mariadb": "/run/mysqld/mysqld.sock",
    "proxysql": "/run/proxysql/mysql.sock",
    "redis": "/run/redis/redis-server.sock",  # in Debian's unit's RuntimeDirectory
}
