"""Knobs: every default valid and documented, every bad value refused with the knob's name."""

import re

import pytest

from peakready import knobs, validate
from tests import sample_app


def test_defaults_pass_their_own_checks():
    assert validate.knob_values({}) == knobs.defaults()


def test_an_app_host_is_refused_without_its_app():
    """The app's own knobs have no default: the sample app's settings name them for it; an app host
    without them is refused before anything changes, with where to set them."""
    assert validate.knob_values(sample_app.SETTINGS) == sample_app.data()
    validate.app_named(sample_app.data())
    for required in ("app_source", "app_module"):
        with pytest.raises(knobs.KnobError, match=f"^knob {required} is not set: .*inventories/group_data/<inventory>.py"):
            validate.app_named({**sample_app.data(), required: ""})


def test_every_knob_has_a_check_a_scope_and_a_comment():
    assert set(knobs.defaults()) == set(knobs.KNOBS)
    for knob in knobs.KNOBS.values():
        assert knob.comment, f"knob {knob.name} has no comment above it"
        assert knob.scope in knobs.SCOPES and callable(knob.check)
    # The comment above a run of knobs belongs to each of them (memory_weight_*).
    assert knobs.KNOBS["memory_weight_cache"].comment == knobs.KNOBS["memory_weight_app"].comment


@pytest.mark.parametrize("line,refused", [
    ("firewall = True", "every statement is a knob"),
    ('firewall: "everywhere: boolean" = True', "scope 'everywhere'"),
    ("import os", "every statement is a knob"),
])
def test_a_knob_is_declared_with_its_scope_and_check_or_refused(tmp_path, line, refused):
    path = tmp_path / "all.py"
    path.write_text(f"# Whether.\n{line}\n")
    with pytest.raises(knobs.KnobError, match=re.escape(refused)):
        knobs.declarations(path)
    path.write_text('# Whether.\nfirewall: "host: boolean" = True\n')
    assert knobs.declarations(path)["firewall"].default is True



def test_the_schema_is_one_file_a_service_with_unique_names(tmp_path, monkeypatch):
    """Every file of peakready/schema/ is read, in SCHEMA_FILES' order, and a name is declared once."""
    assert {p.name for p in knobs.SCHEMA_FILES} == {p.name for p in knobs.SCHEMA_DIR.glob("*.py")} - {"__init__.py"}
    assert {"timezone", "target_concurrency", "redis_maxmemory_policy", "tls"} <= set(knobs.KNOBS)
    one, two = tmp_path / "one.py", tmp_path / "two.py"
    one.write_text('# Whether.\nfirewall: "host: boolean" = True\n')
    two.write_text('# Whether, again.\nfirewall: "host: boolean" = False\n')
    with pytest.raises(knobs.KnobError, match="knob firewall is declared twice"):
        knobs.declarations(one, two)
    # The control: a file in the schema's directory that SCHEMA_FILES does not name is refused.
    schema = tmp_path / "schema"
    schema.mkdir()
    (schema / "base.py").write_text(one.read_text())
    monkeypatch.setattr(knobs, "SCHEMA_DIR", schema)
    monkeypatch.setattr(knobs, "SCHEMA_FILES", (schema / "base.py",))
    assert set(knobs.declarations()) == {"firewall"}
    (schema / "extra.py").write_text('# More.\nswap: "host: boolean" = True\n')
    with pytest.raises(knobs.KnobError, match="extra.py is not in knobs.SCHEMA_FILES"):
        knobs.declarations()

BAD = [
    ("timezone", "Mars/Olympus Mons"),
    ("timezone", ""),
    ("apt_cache_valid_s", -1),
    ("apt_cache_valid_s", "3600"),
    ("base_packages", "curl htop"),
    ("base_packages", ["curl", "rm -rf /"]),
    ("unattended_upgrades", "yes"),
    ("unattended_reboot_time", "25:00"),
    ("sshd_port", 0),
    ("sshd_port", 70000),
    ("firewall", 1),
    ("firewall_tcp_ports", [80, "443"]),
    ("firewall_tcp_ports", 80),
    ("somaxconn", 64),
    ("somaxconn", True),
    ("tcp_max_syn_backlog", 1.5),
    ("ip_local_port_range", "65535 1024"),
    ("ip_local_port_range", "1 2 3"),
    ("ip_local_port_range", "20 30000"),
    ("file_max_min", 1000),
    ("vm_overcommit_memory", 3),
    ("vm_swappiness", 101),
    ("swap_file_mb", -5),
    ("swap_when_ram_below_mb", None),
]


@pytest.mark.parametrize("knob,value", BAD, ids=[f"{k}={v!r}" for k, v in BAD])
def test_bad_value_is_refused_naming_the_knob(knob, value):
    with pytest.raises(knobs.KnobError, match=rf"^knob {knob} = "):
        validate.knob_values({knob: value})


def test_ssh_port_inside_the_local_port_range_is_refused():
    with pytest.raises(knobs.KnobError, match="ip_local_port_range"):
        validate.knob_values({"sshd_port": 20000, "ip_local_port_range": "10240 65535"})


def test_unknown_knob_names_the_closest_one():
    with pytest.raises(knobs.KnobError, match=r"unknown knob 'vm_swapiness': did you mean 'vm_swappiness'\?"):
        validate.knob_values({"vm_swapiness": 10})


def test_unknown_knob_without_a_close_one_points_at_all_py():
    with pytest.raises(knobs.KnobError, match="peakready/schema/"):
        validate.knob_values({"frobnicate": 1})


def test_connector_and_pyinfra_data_are_not_knobs():
    validate.knob_values({"ssh_port": 2222, "ssh_user": "deploy", "_sudo": True, "docker_identifier": "x"})


def test_error_is_one_sentence():
    with pytest.raises(knobs.KnobError) as err:
        validate.knob_values({"vm_swappiness": 500})
    assert "\n" not in str(err.value) and re.search(r"\.$|\?$", str(err.value))


# The validators that look at more than one value (or at this machine) must not refuse good input:
# tests/bad_input.py holds what they refuse.
@pytest.mark.parametrize("data", [
    {"timezone": "Asia/Jakarta"},
    {"timezone": "America/Argentina/Buenos_Aires"},
    {"backup_dir": "/var/backups/peakready"},
    {"backup_dir": "/srv/backups"},
    {"app_port": 8001},
    {"sshd_port": 8022, "app_port": 8000},
    {"server_names": ["localhost", "10.0.0.5"]},
    {"tls": "letsencrypt", "letsencrypt_email": "ops@shop.example.com",
     "server_names": ["shop.example.com", "www.shop.example.com"]},
], ids=repr)
def test_good_values_of_the_checked_together_knobs_pass(data):
    assert validate.knob_values(data).items() >= data.items()


def test_restore_arguments_are_checked_in_the_knobs_module():
    args = validate.run_args({"restore_into": "scratch_db"}, ("restore_into", "restore_from", "restore_replace"))
    assert args == {"restore_into": "scratch_db", "restore_from": "latest", "restore_replace": False}
    assert validate.run_args({"restore_from": "/var/backups/mariadb/x.sql.gz"}, ("restore_from",))
    for bad, words in (({}, "restore_into = '' is not valid"), ({"restore_into": "Drop;"}, "restore_into"),
                       ({"restore_into": "s", "restore_from": "../x.sql.gz"}, "restore_from"),
                       ({"restore_into": "s", "restore_replace": "yes"}, "restore_replace")):
        with pytest.raises(knobs.KnobError, match=re.escape(words)):
            validate.run_args(bad, ("restore_into", "restore_from", "restore_replace"))
