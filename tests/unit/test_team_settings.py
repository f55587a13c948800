"""A team's settings live in a file of its own beside its inventory (pyinfra's group_data), laid
over peakready's defaults, checked like every knob, and never touched by an update of peakready."""

import json
import re
import shutil
import subprocess
import sys

import pytest

from peakready import ROOT, validate
from peakready.knobs import KnobError
from peakready.preflight import file_group

TEAM_FILE = "inventories/group_data/prod.py"
APP = 'app_source = "app"\napp_module = "peakready_app.main:app"\n'  # an app of this repository (the sample's code)
SETTINGS = 'server_names = ["shop.example.com"]\n' + APP + 'app_workers = 3\n'
# pyinfra's CLI builds the inventory from the files (it monkey-patches the process with gevent, so
# in a process of its own): the host's data, and the knobs its settings name (not the defaults).
LOAD = """
import json, sys
from pyinfra.api import State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory_from_files
with ctx_state.use(State()):
    inventory = make_inventory_from_files(sys.argv[1], cwd=sys.argv[2])
host = inventory.get_host("vps.example.org")
explicit = set(inventory.get_groups_data(host.groups)) | set(inventory.get_host_data(host.name))
everyone = set(inventory)
print(json.dumps({"data": host.data.dict(), "explicit": sorted(explicit), "groups": host.groups,
                  "everyone": [g for g in host.groups if set(inventory.get_group(g)) == everyone]}, default=str))
"""


def prod_inventory(tmp_path, monkeypatch, settings: str, sample: bool = False) -> dict:
    """inventories/prod.py with one host and `settings` as the team's file beside it, the defaults
    from this checkout's group_data/all.py (pyinfra reads both, as `pyinfra inventories/prod.py` does):
    the host's data, the knobs its settings name ("explicit"), its groups and those that hold every host."""
    monkeypatch.setenv("PEAKREADY_HOSTS", "vps.example.org")
    if sample:
        monkeypatch.setenv("PEAKREADY_SAMPLE_APP", "1")
    (tmp_path / "inventories" / "group_data").mkdir(parents=True)
    shutil.copy(ROOT / "inventories" / "prod.py", tmp_path / "inventories" / "prod.py")
    (tmp_path / TEAM_FILE).write_text(settings)
    out = subprocess.run([sys.executable, "-c", LOAD, str(tmp_path / "inventories" / "prod.py"), str(ROOT)],
                         cwd=ROOT, check=True, capture_output=True, text=True, timeout=60).stdout
    return json.loads(out.splitlines()[-1])


def test_the_teams_file_is_laid_over_the_defaults_and_checked(tmp_path, monkeypatch):
    loaded = prod_inventory(tmp_path, monkeypatch, SETTINGS)
    data, explicit = loaded["data"], set(loaded["explicit"])
    knobs = validate.knob_values(data)
    assert knobs["server_names"] == ["shop.example.com"] and knobs["app_workers"] == 3
    assert knobs["timezone"] == "UTC"  # a default, from peakready/schema/ through group_data/all.py
    assert {"server_names", "app_source", "app_workers"} <= explicit and "timezone" not in explicit
    validate.public_server(knobs, "vps.example.org", TEAM_FILE)


def test_a_real_server_is_reached_only_with_a_host_key_already_known(tmp_path, monkeypatch):
    """pyinfra's default accepts a new host key on first use; prod.py refuses it (strict checking)."""
    data = prod_inventory(tmp_path, monkeypatch, SETTINGS)["data"]
    assert data["ssh_strict_host_key_checking"] == "yes"


def test_an_unknown_name_in_the_teams_file_is_refused_with_the_nearest_knob(tmp_path, monkeypatch):
    data = prod_inventory(tmp_path, monkeypatch, SETTINGS + "app_worker = 4\n")["data"]
    with pytest.raises(KnobError, match="unknown knob 'app_worker': did you mean 'app_workers'"):
        validate.knob_values(data)


@pytest.mark.parametrize("settings,refused", [
    (APP, "server_names is ['localhost']"),
    ('server_names = ["shop.internal"]\n' + APP, "server_names is ['shop.internal']"),
    ('server_names = ["127.0.0.1"]\n' + APP, "server_names is ['127.0.0.1']"),
])
def test_a_public_server_that_would_serve_no_one_is_refused(tmp_path, monkeypatch, settings, refused):
    data = prod_inventory(tmp_path, monkeypatch, settings)["data"]
    assert data.get("_peakready_public") is True
    knobs = validate.knob_values(data)
    with pytest.raises(KnobError, match=rf"^{re.escape(refused)}.*{re.escape(TEAM_FILE)}"):
        validate.public_server(knobs, "vps.example.org", TEAM_FILE)


def test_no_app_is_refused_with_where_to_name_it(tmp_path, monkeypatch):
    data = prod_inventory(tmp_path, monkeypatch, 'server_names = ["shop.example.com"]\n')["data"]
    with pytest.raises(KnobError, match=r"^knob app_source is not set: .*inventories/group_data/<inventory>\.py.*sample_app group"):
        validate.inputs("vps.example.org", ["app_servers"], data)


def test_the_sample_app_is_deployed_on_purpose_with_its_own_settings(tmp_path, monkeypatch):
    """PEAKREADY_SAMPLE_APP=1 puts the hosts in the sample_app group: its settings file
    (group_data/sample_app.py) gives the app's knobs; the team's file still gives the names."""
    loaded = prod_inventory(tmp_path, monkeypatch, 'server_names = ["shop.example.com"]\n', sample=True)
    data, explicit = loaded["data"], set(loaded["explicit"])
    knobs = validate.knob_values(data)
    # Its secrets stay the inventory's (prod.json): sample_app holds every host too, but is not the file's group.
    assert "sample_app" in loaded["everyone"]
    assert file_group(loaded["groups"], lambda g: g in loaded["everyone"]) == "prod"
    # The Vagrant box's groups as pyinfra gives them: the file's group comes last, after sample_app.
    assert file_group(["web_servers", "app_servers", "sample_app", "@vagrant", "vagrant"], lambda g: True) == "vagrant"
    assert knobs["app_source"] == "app" and knobs["nginx_app_paths"] == ["/api/"] and knobs["app_secrets"] == ["ADMIN_TOKEN"]
    assert {"app_source", "nginx_public_reads", "server_names"} <= explicit
    validate.public_server(knobs, "vps.example.org", TEAM_FILE)


def test_a_public_address_is_a_name_the_site_can_answer_to():
    validate.public_server({"server_names": ["93.184.216.34"]}, "vps", TEAM_FILE)


def git(cwd, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=team", "-c", "user.email=team@example.org", *args], cwd=cwd,
                          check=True, capture_output=True, text=True, timeout=120).stdout


def test_peakready_ships_no_file_where_a_team_keeps_its_settings():
    """Its own group_data (beside deploy.py) holds the defaults and the sample app's settings."""
    tracked = git(ROOT, "ls-files", "inventories/group_data", "group_data").split()
    assert tracked == ["group_data/all.py", "group_data/sample_app.py"], tracked


def test_updating_a_checkout_with_a_teams_settings_file_to_a_newer_peakready_does_not_conflict(tmp_path):
    """The team's checkout is an older peakready with its settings file committed; merging the newer
    one (this commit) applies cleanly and leaves the file as the team wrote it."""
    if len(git(ROOT, "rev-list", "--max-count=2", "HEAD").split()) < 2:
        pytest.fail("this test needs the repository's history (a clone with at least two commits)")
    team, newer = tmp_path / "team", git(ROOT, "rev-parse", "HEAD").strip()
    git(tmp_path, "clone", "--quiet", str(ROOT), str(team))
    git(team, "checkout", "--quiet", "-b", "ours", "HEAD~1")
    (team / TEAM_FILE).parent.mkdir(parents=True, exist_ok=True)
    (team / TEAM_FILE).write_text(SETTINGS)
    git(team, "add", TEAM_FILE)
    git(team, "commit", "--quiet", "-m", "Our shop's settings")
    git(team, "merge", "--no-edit", "--quiet", newer)
    assert git(team, "status", "--porcelain") == ""
    assert (team / TEAM_FILE).read_text() == SETTINGS
    assert git(team, "diff", newer, "--stat", "--", ".", f":!{TEAM_FILE}") == ""
