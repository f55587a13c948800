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
}

# The stack's fixed ports beside the knobs' (sshd_port, app_port, 80/443): service -> port. Each
# exporter's is its upstream default (Prometheus's default port allocations wiki page).
PORTS = {
    "mariadb": 3306,
    "redis": 6379,
    "proxysql_admin": 6032,
    "proxysql": 6033,
    "nginx_status": 8081,  # stub_status, on loopback only
    "prometheus": 9090,  # on loopback only: make status and the SSH tunnel reach it there
    "node_exporter": 9100,
    "mysqld_exporter": 9104,
    "nginx_exporter": 9113,
    "redis_exporter": 9121,
    "mtail": 3903,  # nginx's access log as metrics
    "proxysql_metrics": 6070,  # ProxySQL's REST API (/metrics); it binds every address
}

# The Unix sockets a client on the same host uses instead of loopback TCP (less CPU a statement or
# command): service -> path. MariaDB's is where Debian's package puts it; ProxySQL's and Redis's are
# in their units' RuntimeDirectory.
SOCKETS = {
    "mariadb": "/run/mysqld/mysqld.sock",
    "proxysql": "/run/proxysql/mysql.sock",
    "redis": "/run/redis/redis-server.sock",  # in Debian's unit's RuntimeDirectory
}
