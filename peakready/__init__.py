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
}
