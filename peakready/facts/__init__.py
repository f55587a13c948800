"""Facts peakready needs that pyinfra does not ship, one module per kind of thing they read:

    system.py    the host itself (size, virtualisation, addresses, ports, kernel and system settings)
    database.py  MariaDB and ProxySQL, as root on the host
    services.py  the services as a client sees them (URLs, certificates, units, Prometheus)

Each is named by pyinfra after its module (`peakready.facts.system.HostSize`): name a fact on
pyinfra's command line, or read its output, by the class's `name`.
"""

from peakready.facts.database import (
    PICK_PROXYSQL_ADMIN_CNF,
    PROXYSQL_ADMIN_CNF,
    PROXYSQL_ADMIN_CNF_LAST_GOOD,
    PROXYSQL_ADMIN_LOGS_IN,
    MariadbAccounts,
    MariadbReplication,
    ProxysqlRuntime,
)
from peakready.facts.services import CertificateNames, PrometheusQueries, ServiceStatus, UrlAnswers
from peakready.facts.system import (
    CAP_NET_ADMIN,
    Addresses,
    CanManageFirewall,
    HostSize,
    Ipv6Enabled,
    ListeningTcpPorts,
    PythonTarget,
    SshClientAddress,
    StatOverride,
    SwapMb,
    TimezoneIs,
    Virtualization,
)

__all__ = [
    "CAP_NET_ADMIN", "PICK_PROXYSQL_ADMIN_CNF", "PROXYSQL_ADMIN_CNF", "PROXYSQL_ADMIN_CNF_LAST_GOOD", "PROXYSQL_ADMIN_LOGS_IN",
    "Addresses", "CanManageFirewall", "CertificateNames", "HostSize", "Ipv6Enabled", "ListeningTcpPorts", "MariadbAccounts",
    "MariadbReplication", "PrometheusQueries", "ProxysqlRuntime", "PythonTarget", "ServiceStatus", "SshClientAddress",
    "StatOverride", "SwapMb", "TimezoneIs", "UrlAnswers", "Virtualization",
]
