"""targets/vps.py: one sentence and a non-zero exit wherever a local VPS cannot be made."""

import pytest

from targets import vps


@pytest.fixture
def no_engine(monkeypatch):
    monkeypatch.setattr(vps, "engine_answers", lambda: False)
    monkeypatch.delenv("PEAKREADY_BASE_IMAGE", raising=False)
    calls = []
    monkeypatch.setattr(vps, "run", lambda cmd, **kw: calls.append(cmd))
    return calls


def test_not_root_without_docker_says_what_to_install(monkeypatch, no_engine):
    monkeypatch.setattr(vps.shutil, "which", lambda tool: None)
    monkeypatch.setattr(vps.os, "geteuid", lambda: 1000)
    with pytest.raises(vps.VpsError, match=r"apt-get install debootstrap docker.io openssh-client"):
        vps.ensure_engine()
    assert no_engine == []  # nothing installed, nothing started


def test_not_debian_says_what_to_install(monkeypatch, no_engine):
    monkeypatch.setattr(vps.shutil, "which", lambda tool: None)
    monkeypatch.setattr(vps.os, "geteuid", lambda: 0)
    monkeypatch.setattr(vps, "is_debian", lambda: False)
    with pytest.raises(vps.VpsError, match=r"not found: install them \(Docker Engine, debootstrap and an SSH client"):
        vps.ensure_engine()
    assert no_engine == []


def test_root_on_debian_installs_with_apt(monkeypatch, no_engine, tmp_path):
    monkeypatch.setattr(vps.shutil, "which", lambda tool: None if tool == "dockerd" else f"/usr/bin/{tool}")
    monkeypatch.setattr(vps.os, "geteuid", lambda: 0)
    monkeypatch.setattr(vps, "is_debian", lambda: True)
    monkeypatch.setattr(vps, "ENGINE_TIMEOUT_S", 0)
    monkeypatch.setattr(vps.subprocess, "Popen", lambda *a, **kw: None)
    monkeypatch.setattr(vps, "DOCKERD_LOG", tmp_path / "dockerd.log")
    with pytest.raises(vps.VpsError, match="dockerd did not answer"):
        vps.ensure_engine()
    assert ["apt-get", "install", "-y", "-qq", "docker.io"] in no_engine


def test_engine_that_will_not_start_as_non_root(monkeypatch, no_engine):
    monkeypatch.setattr(vps.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(vps.os, "geteuid", lambda: 1000)
    with pytest.raises(vps.VpsError, match="no Docker engine answers: start it"):
        vps.ensure_engine()


@pytest.mark.parametrize("args,message", [
    (["up", "--release", "buster"], "--release 'buster' is not supported"),
    (["up", "--name", "Bad_Name!"], "not a valid host name"),
    (["image", "--release", "sid"], "--release 'sid' is not supported"),
    (["show", "--name", "peakready-no-such-vps"], "no local VPS named peakready-no-such-vps"),
])
def test_bad_arguments_exit_2_with_one_sentence(args, message, capsys):
    assert vps.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0


def test_mirror_comes_from_this_machines_apt(monkeypatch, tmp_path):
    monkeypatch.delenv("PEAKREADY_DEBIAN_MIRROR", raising=False)
    assert vps.debian_mirror().startswith("http")
    monkeypatch.setenv("PEAKREADY_DEBIAN_MIRROR", "http://mirror.test/debian/")
    assert vps.debian_mirror() == "http://mirror.test/debian"


def test_make_tools_names_every_missing_tool_before_any_suite_and_installs_them(monkeypatch, no_engine, tmp_path):
    from targets import tools

    monkeypatch.setattr(vps.shutil, "which", lambda tool: None if tool in ("wrk", "vagrant") else f"/usr/bin/{tool}")
    monkeypatch.setattr(vps.os, "geteuid", lambda: 1000)
    with pytest.raises(vps.VpsError, match=r"^wrk, vagrant not found: install them .*apt-get install vagrant wrk`"):
        tools.ensure()
    assert no_engine == [], "nothing installed, no engine started"
    monkeypatch.setattr(vps.os, "geteuid", lambda: 0)
    monkeypatch.setattr(vps, "is_debian", lambda: True)
    monkeypatch.setattr(vps, "ENGINE_TIMEOUT_S", 0)
    monkeypatch.setattr(vps.subprocess, "Popen", lambda *a, **kw: None)  # no dockerd started in a unit test
    monkeypatch.setattr(vps, "DOCKERD_LOG", tmp_path / "dockerd.log")
    with pytest.raises(vps.VpsError, match="dockerd did not answer"):
        tools.ensure()
    installs = [cmd for cmd in no_engine if cmd[:2] == ["apt-get", "install"]]
    assert installs == [["apt-get", "install", "-y", "-qq", "--no-install-recommends", "vagrant", "wrk"]], no_engine


def test_a_restarted_vps_is_reached_at_its_new_ports(monkeypatch, tmp_path):
    """After `docker restart` Docker publishes the ports anew: refresh() rewrites the state file and
    the pinned host key's line for them (the inventories call it), and changes nothing else; a VPS
    whose ports did not change is left as it was (the control)."""
    import json

    monkeypatch.setattr(vps, "VPS_STATE", tmp_path)
    known_hosts = tmp_path / "box.known_hosts"
    known_hosts.write_text(vps.known_hosts_line(32768, "ssh-ed25519", "AAAAkey"))
    before = {"name": "box", "release": "bookworm", "ports": {"ssh": 32768, "http": 32769, "https": 32770},
              "address": "172.18.0.2", "known_hosts": str(known_hosts), "ssh_key": "/k"}
    vps.state_file("box").write_text(json.dumps(before))
    monkeypatch.setattr(vps, "engine_answers", lambda: True)
    monkeypatch.setattr(vps, "container", lambda name: type("Box", (), {"status": "running"})())
    now = {"ssh": 32771, "http": 32772, "https": 32773}
    monkeypatch.setattr(vps, "reached_at", lambda box: (now, "172.18.0.2"))

    assert vps.refresh("box") == {**before, "ports": now}
    assert json.loads(vps.state_file("box").read_text()) == {**before, "ports": now}
    assert known_hosts.read_text() == vps.known_hosts_line(32771, "ssh-ed25519", "AAAAkey")

    import os

    os.utime(vps.state_file("box"), ns=(0, 0))  # a rewrite now would move it, however coarse the clock
    assert vps.refresh("box")["ports"] == now
    assert vps.state_file("box").stat().st_mtime_ns == 0  # unchanged: not rewritten
