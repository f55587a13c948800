"""One table of services (peakready/services.py): everything a new exporter needs is on its row,
and the tables the firewall, the monitoring, the status screen and the plan read are views of it."""

from peakready import PORTS, checks, monitoring, services, topology
from peakready.plan import estimates


def test_an_exporter_row_says_all_the_stack_needs_of_it():
    for s in services.SERVICES:
        if s.package:
            assert s.port and s.job and s.memory_mb and s.series and "monitoring" in s.clients, s


def test_the_other_tables_are_views_of_the_one_table():
    assert PORTS == services.PORTS and topology.CLIENTS is services.CLIENTS
    assert monitoring.JOBS is services.JOBS and monitoring.EXPORTERS is services.EXPORTERS
    assert estimates.EXPORTER_MB is services.EXPORTER_MB and estimates.SERIES is services.SERIES
    assert set(checks.SERVICE_NAMES) == {s.name for s in services.SERVICES}
    # Every port of the stack is one the app may not take.
    assert set(checks.STACK_PORTS) == set(PORTS.values())


def test_the_order_of_the_config_files_written_from_it_is_kept():
    """The firewall's rules follow CLIENTS, the scrape jobs and the exporters' installs follow
    EXPORTERS: a host deployed before the table existed must see no change."""
    assert list(topology.CLIENTS) == ["mariadb", "redis", "app", "node_exporter", "mysqld_exporter", "redis_exporter",
                                      "nginx_exporter", "mtail", "proxysql_metrics"]
    assert list(monitoring.EXPORTERS) == ["node_exporter", "mysqld_exporter", "redis_exporter", "nginx_exporter", "mtail"]
