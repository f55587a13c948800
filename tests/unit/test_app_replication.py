"""The sample app's view of replication (app/peakready_app/replication.py) without a database:
DB_SERVERS parsed, each replica's lag in transactions, the gauges for /metrics."""

import asyncio
import sys

import pytest

from peakready import ROOT

sys.path.insert(0, str(ROOT / "app"))
from peakready_app import config, replication
from peakready_app.config import DatabaseURL

URL = DatabaseURL("127.0.0.1", 6033, "app", "secret-0123456789", "peakready")
SERVERS = config.parse_servers("primary=10.0.0.5:3306,replica=10.0.0.6:3306, replica=10.0.0.7:3306")


def test_db_servers_are_parsed_and_a_bad_entry_is_refused():
    assert SERVERS == (("primary", "10.0.0.5", 3306), ("replica", "10.0.0.6", 3306), ("replica", "10.0.0.7", 3306))
    for bad in ("primary=10.0.0.5", "leader=10.0.0.5:3306", "primary=10.0.0.5:3306;DROP"):
        with pytest.raises(ValueError):
            config.parse_servers(bad)


def test_each_replica_is_behind_by_the_transactions_it_has_not_applied(monkeypatch):
    states = {"10.0.0.5": {"read_only": False, "seq": 120}, "10.0.0.6": {"read_only": True, "seq": 117},
              "10.0.0.7": None}

    async def read(url, host, port):
        return states[host]

    monkeypatch.setattr(replication, "_read", read)
    monkeypatch.setitem(replication._cache, "at", 0.0)
    monkeypatch.setitem(replication._cache, "status", None)
    found = asyncio.run(replication.status(URL, SERVERS))
    assert found == [
        {"server": "10.0.0.5:3306", "role": "primary", "up": True, "read_only": False},
        {"server": "10.0.0.6:3306", "role": "replica", "up": True, "read_only": True, "behind_transactions": 3},
        {"server": "10.0.0.7:3306", "role": "replica", "up": False}]
    text = replication.prometheus(found).decode()
    assert 'peakready_db_replica_behind_transactions{server="10.0.0.6:3306"} 3' in text
    assert 'peakready_db_server_up{server="10.0.0.7:3306",role="replica"} 0' in text
    assert 'peakready_db_server_read_only{server="10.0.0.5:3306",role="primary"} 0' in text
    assert replication.public(found)[1] == {"role": "replica", "up": True, "read_only": True, "behind_transactions": 3}
    assert "10.0.0" not in str(replication.public(found)), "no private address in the public /health"
    assert asyncio.run(replication.status(URL, SERVERS[:1])) is None, "one server: nothing to report"
    assert replication.prometheus(None) == b""
