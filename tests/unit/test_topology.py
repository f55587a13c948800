"""Several hosts without a host: who binds what, who the firewall admits, the recorded primary,
promote.py's choice, and the refusals of a topology that cannot be resolved."""

import runpy

import pytest

from peakready import ROOT, topology, validate
from peakready.knobs import KnobError, PlanError
from peakready.promote import seq, target
from peakready.topology import Topology

GROUPS = {"lb": ("web_servers",), "app1": ("app_servers",), "app2": ("app_servers",),
          "db1": ("db_primary", "cache_servers"), "db2": ("db_replicas",)}
ADDRESSES = {"lb": "10.0.0.2", "app1": "10.0.0.3", "app2": "10.0.0.4", "db1": "10.0.0.5", "db2": "10.0.0.6"}
REFERENCE = Topology(GROUPS, ADDRESSES)
PORTS = {"mariadb": 3306, "redis": 6379, "app": 8000}


def test_one_host_keeps_everything_on_loopback():
    alone = Topology({"vps": ("web_servers", "app_servers", "db_primary", "cache_servers")})
    alone.check()
    assert all(alone.binds("vps", s) == ["127.0.0.1"] for s in PORTS)
    assert alone.admitted("vps", PORTS) == []
    assert alone.reach("vps", "vps") == "127.0.0.1"


def test_each_service_binds_the_private_address_only_where_a_peer_needs_it():
    REFERENCE.check()
    assert REFERENCE.binds("db1", "mariadb") == ["127.0.0.1", "10.0.0.5"]
    assert REFERENCE.binds("db1", "redis") == ["127.0.0.1", "10.0.0.5"]
    assert REFERENCE.binds("app1", "app") == ["127.0.0.1", "10.0.0.3"]
    assert REFERENCE.binds("lb", "app") == ["127.0.0.1"], "no app on lb"
    assert REFERENCE.reach("app1", "db1") == "10.0.0.5"


def test_the_firewall_admits_each_tier_from_its_clients_only():
    assert REFERENCE.admitted("db1", PORTS) == [
        {"service": "mariadb", "port": 3306, "sources": ["10.0.0.3", "10.0.0.4", "10.0.0.6"]},
        {"service": "redis", "port": 6379, "sources": ["10.0.0.3", "10.0.0.4"]}]
    # The replica: the app hosts (reads through ProxySQL) and the primary (it replicates from db2
    # after a switchover).
    assert REFERENCE.admitted("db2", PORTS) == [
        {"service": "mariadb", "port": 3306, "sources": ["10.0.0.3", "10.0.0.4", "10.0.0.5"]}]
    assert REFERENCE.admitted("app1", PORTS) == [{"service": "app", "port": 8000, "sources": ["10.0.0.2"]}]
    assert REFERENCE.admitted("lb", PORTS) == []


def test_a_host_peers_need_without_a_private_address_is_refused():
    missing = Topology(GROUPS, {**ADDRESSES, "db1": ""})
    with pytest.raises(PlanError, match="host db1 serves other hosts .* private_address"):
        missing.check()
    with pytest.raises(PlanError, match="the same private_address 10.0.0.5"):
        Topology(GROUPS, {**ADDRESSES, "db2": "10.0.0.5"}).check()


def test_private_address_must_be_one_of_the_hosts_own():
    data = validate.knob_values({"private_address": "10.0.0.9"})
    with pytest.raises(KnobError, match="not an address of db1 .*10.0.0.5"):
        validate.private_address(data, "db1", ["127.0.0.1", "10.0.0.5"])
    validate.private_address(validate.knob_values({"private_address": "10.0.0.5"}), "db1", ["10.0.0.5"])
    for bad in ("127.0.0.1", "0.0.0.0", "db1", "fd00::1", "10.0.0.300"):
        with pytest.raises(KnobError, match="private_address"):
            validate.knob_values({"private_address": bad})


def test_the_primary_promote_recorded_wins_over_the_inventorys(tmp_path):
    groups = {"db_primary": ["db1"], "db_replicas": ["db2", "db3"], "app_servers": ["app1"]}
    path = tmp_path / "prod.json"
    assert topology.promoted(groups, path) == groups, "nothing recorded: the inventory as written"
    topology.record_primary(path, "db2")
    assert topology.promoted(groups, path) == {**groups, "db_primary": ["db2"], "db_replicas": ["db1", "db3"]}
    topology.record_primary(path, "db9")
    with pytest.raises(PlanError, match="db9 .* not a db host"):
        topology.promoted(groups, path)


def test_promote_takes_a_replica_only():
    assert target(REFERENCE, "db2") == "db2"
    with pytest.raises(KnobError, match="db1 is the primary already"):
        target(REFERENCE, "db1")
    with pytest.raises(KnobError, match="not a replica of this inventory: name one of db2"):
        target(REFERENCE, "app1")
    assert seq("0-1-42,1-2-7") == 42 and seq("") == 0


def test_prod_takes_private_addresses_from_the_environment(monkeypatch):
    for name in ("PEAKREADY_HOSTS", "PEAKREADY_WEB_SERVERS", "PEAKREADY_APP_SERVERS", "PEAKREADY_CACHE_SERVERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PEAKREADY_DB_PRIMARY", "db1.example.org")
    monkeypatch.setenv("PEAKREADY_DB_REPLICAS", "db2.example.org")
    monkeypatch.setenv("PEAKREADY_PRIVATE_ADDRESSES", "db1.example.org=10.0.0.5,db2.example.org=10.0.0.6")
    monkeypatch.setattr(topology, "STATE", ROOT / "tests" / "no-such-dir")
    inv = runpy.run_path(str(ROOT / "inventories/prod.py"))
    assert inv["db_primary"][0][1]["private_address"] == "10.0.0.5"
    assert inv["db_replicas"][0][1]["private_address"] == "10.0.0.6"
    monkeypatch.setenv("PEAKREADY_PRIVATE_ADDRESSES", "db1.example.org")
    with pytest.raises(SystemExit, match="host=address pairs"):
        runpy.run_path(str(ROOT / "inventories/prod.py"))
