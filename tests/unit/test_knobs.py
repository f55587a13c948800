"""Knobs: every default valid and documented, every bad value refused with the knob's name."""

import ast
import re

import pytest

from peakready import knobs


def test_defaults_pass_their_own_checks():
    assert knobs.check({}) == knobs.defaults()


def test_every_knob_has_a_check_and_a_comment():
    assert set(knobs.defaults()) == set(knobs.CHECKS)
    lines = knobs.ALL_FILE.read_text().splitlines()
    for node in ast.parse(knobs.ALL_FILE.read_text()).body:
        assert isinstance(node, ast.Assign), f"line {node.lineno}: only knob assignments belong in all.py"
        name = node.targets[0].id
        # The comment right above it, or above the run of knobs it belongs to (memory_weight_*).
        above = node.lineno - 2
        while above >= 0 and re.match(r"\w+ = ", lines[above]):
            above -= 1
        assert above >= 0 and lines[above].startswith("#"), f"knob {name} has no comment above it"


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
        knobs.check({knob: value})


def test_ssh_port_inside_the_local_port_range_is_refused():
    with pytest.raises(knobs.KnobError, match="ip_local_port_range"):
        knobs.check({"sshd_port": 20000, "ip_local_port_range": "10240 65535"})


def test_unknown_knob_names_the_closest_one():
    with pytest.raises(knobs.KnobError, match=r"unknown knob 'vm_swapiness': did you mean 'vm_swappiness'\?"):
        knobs.check({"vm_swapiness": 10})


def test_unknown_knob_without_a_close_one_points_at_all_py():
    with pytest.raises(knobs.KnobError, match="group_data/all.py"):
        knobs.check({"frobnicate": 1})


def test_connector_and_pyinfra_data_are_not_knobs():
    knobs.check({"ssh_port": 2222, "ssh_user": "deploy", "_sudo": True, "docker_identifier": "x"})


def test_error_is_one_sentence():
    with pytest.raises(knobs.KnobError) as err:
        knobs.check({"vm_swappiness": 500})
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
    assert knobs.check(data).items() >= data.items()


def test_restore_arguments_are_checked_in_the_knobs_module():
    args = knobs.check_args({"restore_into": "scratch_db"}, ("restore_into", "restore_from", "restore_replace"))
    assert args == {"restore_into": "scratch_db", "restore_from": "latest", "restore_replace": False}
    assert knobs.check_args({"restore_from": "/var/backups/mariadb/x.sql.gz"}, ("restore_from",))
    for bad, words in (({}, "restore_into = '' is not valid"), ({"restore_into": "Drop;"}, "restore_into"),
                       ({"restore_into": "s", "restore_from": "../x.sql.gz"}, "restore_from"),
                       ({"restore_into": "s", "restore_replace": "yes"}, "restore_replace")):
        with pytest.raises(knobs.KnobError, match=re.escape(words)):
            knobs.check_args(bad, ("restore_into", "restore_from", "restore_replace"))
