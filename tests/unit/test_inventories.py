"""Inventories: a clear message, and no connection, when there is nothing to deploy to."""

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from peakready import ROOT

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
GROUP_ENV = ["PEAKREADY_HOSTS"] + [f"PEAKREADY_{g}" for g in
                                   ("WEB_SERVERS", "APP_SERVERS", "DB_PRIMARY", "DB_REPLICAS", "CACHE_SERVERS")]


@pytest.fixture
def clean_env(monkeypatch):
    for name in GROUP_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def deploy_prod(env_extra):
    env = {k: v for k, v in os.environ.items() if k not in GROUP_ENV} | env_extra
    return subprocess.run([PYINFRA, "-y", "inventories/prod.py", "deploy.py"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_prod_without_hosts_names_the_variable_and_connects_to_nothing():
    res = deploy_prod({})
    assert res.returncode != 0
    assert "PEAKREADY_HOSTS" in res.stderr and "inventories/prod.py" in res.stderr
    assert "Connecting" not in res.stderr


def test_prod_with_an_empty_variable_is_an_error():
    res = deploy_prod({"PEAKREADY_HOSTS": " , "})
    assert res.returncode != 0 and "PEAKREADY_HOSTS is set but empty" in res.stderr
    assert "Connecting" not in res.stderr


def test_prod_single_host_gets_every_group_but_replicas(clean_env):
    clean_env.setenv("PEAKREADY_HOSTS", "vps.example.org")
    inv = runpy.run_path(str(ROOT / "inventories/prod.py"))
    for group in ("web_servers", "app_servers", "db_primary", "cache_servers"):
        assert [h for h, _ in inv[group]] == ["vps.example.org"]
    assert inv["db_replicas"] == [] and inv["backup_servers"] == []
    assert inv["web_servers"][0][1]["ssh_user"] == "root" and "_sudo" not in inv["web_servers"][0][1]


def test_prod_single_host_with_a_backup_host_of_its_own(clean_env):
    clean_env.setenv("PEAKREADY_HOSTS", "vps.example.org")
    clean_env.setenv("PEAKREADY_BACKUP_SERVERS", "safe.example.org")
    clean_env.setenv("PEAKREADY_PRIVATE_ADDRESSES", "vps.example.org=10.0.0.2,safe.example.org=10.0.0.3")
    inv = runpy.run_path(str(ROOT / "inventories/prod.py"))
    for group in ("web_servers", "app_servers", "db_primary", "cache_servers", "monitoring"):
        assert [h for h, _ in inv[group]] == ["vps.example.org"], group
    assert [(h, d["private_address"]) for h, d in inv["backup_servers"]] == [("safe.example.org", "10.0.0.3")]


def test_prod_groups_from_the_environment_and_sudo_for_a_non_root_user(clean_env):
    clean_env.setenv("PEAKREADY_WEB_SERVERS", "web1,web2")
    clean_env.setenv("PEAKREADY_DB_PRIMARY", "db1")
    clean_env.setenv("PEAKREADY_SSH_USER", "deploy")
    inv = runpy.run_path(str(ROOT / "inventories/prod.py"))
    assert [h for h, _ in inv["web_servers"]] == ["web1", "web2"]
    assert [h for h, _ in inv["db_primary"]] == ["db1"] and inv["app_servers"] == []
    assert inv["db_primary"][0][1]["_sudo"] is True


def test_prod_refuses_two_primaries(clean_env):
    clean_env.setenv("PEAKREADY_DB_PRIMARY", "db1,db2")
    with pytest.raises(SystemExit, match="db_replicas"):
        runpy.run_path(str(ROOT / "inventories/prod.py"))


def test_docker_inventory_without_a_vps_says_how_to_make_one(clean_env):
    clean_env.setenv("PEAKREADY_VPS", "peakready-no-such-vps")
    with pytest.raises(SystemExit, match="make up"):
        runpy.run_path(str(ROOT / "inventories/docker.py"))


def test_docker_inventory_names_a_missing_or_misplaced_backup_host(clean_env, tmp_path):
    """PEAKREADY_BACKUP (the one-VPS deploy's backup host, tests/infra/test_drill.py): a VPS that does not
    exist, or one on another Docker network than the VPS's, is refused with the command that fixes it."""
    states = ROOT / ".peakready" / "vps"
    states.mkdir(parents=True, exist_ok=True)
    names = [f"peakready-unit-{os.getpid()}-{n}" for n in ("vps", "keeper")]
    for name, network in zip(names, ("peakready-a", "peakready-b"), strict=True):
        (states / f"{name}.json").write_text(json.dumps(
            {"name": name, "release": "bookworm", "image": "x", "network": network, "address": "10.9.0.2",
             "ports": {"ssh": 1}, "ssh_key": "k", "known_hosts": "h"}))
    try:
        clean_env.setenv("PEAKREADY_VPS", names[0])
        clean_env.setenv("PEAKREADY_PROXYSQL_REPOSITORY", "off")
        clean_env.setenv("PEAKREADY_BACKUP", "peakready-no-such-keeper")
        with pytest.raises(SystemExit, match="PEAKREADY_BACKUP=peakready-no-such-keeper: no local VPS"):
            runpy.run_path(str(ROOT / "inventories/docker.py"))
        clean_env.setenv("PEAKREADY_BACKUP", names[1])
        with pytest.raises(SystemExit, match="--network peakready-a"):
            runpy.run_path(str(ROOT / "inventories/docker.py"))
    finally:
        for name in names:
            (states / f"{name}.json").unlink()
