"""The SSH login policy: its knobs, its drop-in, and the pre-flight guard that refuses a policy
which would lock the deploy (and the operator) out of the host."""

import re

import pytest

from peakready import knobs, validate
from peakready.render import render
from peakready.validate import ssh_lockout

DEFAULTS = knobs.defaults()


def lockout(ssh_user="root", ssh_password=False, via_ssh=True, **knob_values):
    return ssh_lockout(validate.knob_values(knob_values), "vps1", via_ssh, ssh_user, ssh_password)


def test_defaults_are_keys_only_and_root_by_key_only():
    assert DEFAULTS["sshd_password_authentication"] is False
    assert DEFAULTS["sshd_permit_root_login"] == "prohibit-password"


@pytest.mark.parametrize("knob,value", [
    ("sshd_permit_root_login", "yes"),
    ("sshd_permit_root_login", "without-password"),
    ("sshd_permit_root_login", False),
    ("sshd_password_authentication", "no"),
    ("sshd_password_authentication", 0),
])
def test_bad_values_are_refused_naming_the_knob(knob, value):
    with pytest.raises(knobs.KnobError, match=rf"^knob {knob} = "):
        validate.knob_values({knob: value})


def test_the_default_policy_lets_the_usual_key_logins_in():
    assert lockout() is None  # root by key: a fresh cloud VPS
    assert lockout(ssh_user=None) is None  # unset user counts as root, allowed by key
    assert lockout(ssh_user="deploy") is None
    assert lockout(ssh_user="deploy", sshd_permit_root_login="no") is None


def test_root_login_off_while_logging_in_as_root_is_refused():
    for user in ("root", None):
        problem = lockout(ssh_user=user, sshd_permit_root_login="no")
        assert problem.startswith("knob sshd_permit_root_login = 'no' but pyinfra logs in to vps1 as root")


def test_passwords_off_while_logging_in_with_one_is_refused():
    problem = lockout(ssh_user="deploy", ssh_password=True)
    assert problem.startswith("knob sshd_password_authentication = False but pyinfra logs in to vps1 with a password")
    assert lockout(ssh_user="deploy", ssh_password=True, sshd_password_authentication=True) is None


def test_root_with_a_password_is_refused_even_with_passwords_on():
    """prohibit-password: root by key only, whatever PasswordAuthentication says."""
    problem = lockout(ssh_password=True, sshd_password_authentication=True)
    assert problem.startswith("knob sshd_permit_root_login = 'prohibit-password' lets root in by key only")
    assert "ssh_password" in problem


def test_connectors_without_sshd_are_not_guarded():
    assert lockout(via_ssh=False, sshd_permit_root_login="no", ssh_password=True) is None


@pytest.mark.parametrize("case", [
    dict(sshd_permit_root_login="no"),
    dict(ssh_user="deploy", ssh_password=True),
    dict(ssh_password=True, sshd_password_authentication=True),
])
def test_each_refusal_is_one_sentence(case):
    problem = lockout(**case)
    assert "\n" not in problem and problem.endswith(".") and len(re.findall(r"\. [A-Z]", problem)) == 0


@pytest.mark.parametrize("password,root,forwarding", [(False, "prohibit-password", False), (True, "no", True)])
def test_drop_in_says_what_the_knobs_say(password, root, forwarding):
    import sys

    base = sys.modules["peakready.roles.hardening"]  # the module (a role of the same name would hide it)

    text = render("base/sshd.conf.j2", password_authentication=password, permit_root_login=root,
                  allow_tcp_forwarding=forwarding, client_alive_interval_s=base.SSHD_CLIENT_ALIVE_S,
                  kex=base.SSHD_KEX, ciphers=base.SSHD_CIPHERS,
                  macs=base.SSHD_MACS, backup_from="")
    settings = dict(line.split(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert settings == {
        "PasswordAuthentication": "yes" if password else "no",
        "KbdInteractiveAuthentication": "no",  # PAM's password prompt by another name: never
        "PermitEmptyPasswords": "no",
        "PermitRootLogin": root,
        "MaxAuthTries": "3", "LogLevel": "VERBOSE", "ClientAliveInterval": "300", "ClientAliveCountMax": "2",
        "TCPKeepAlive": "no", "Compression": "no", "X11Forwarding": "no",
        "AllowAgentForwarding": "no", "AllowStreamLocalForwarding": "no", "PermitTunnel": "no", "GatewayPorts": "no",
        "AllowTcpForwarding": "local" if forwarding else "no",
        "KexAlgorithms": ",".join(base.SSHD_KEX), "Ciphers": ",".join(base.SSHD_CIPHERS), "MACs": ",".join(base.SSHD_MACS),
    }
    weak = ("sha1", "cbc", "md5", "group1-", "group14-", "nistp", "umac-64")
    assert not [name for name in base.SSHD_KEX + base.SSHD_CIPHERS + base.SSHD_MACS if any(w in name for w in weak)]


def test_a_db_host_lets_root_in_from_the_backup_host_by_forced_command_only():
    import sys

    base = sys.modules["peakready.roles.hardening"]
    common = dict(password_authentication=False, permit_root_login="no", allow_tcp_forwarding=False,
                  client_alive_interval_s=base.SSHD_CLIENT_ALIVE_S, kex=base.SSHD_KEX, ciphers=base.SSHD_CIPHERS,
                  macs=base.SSHD_MACS)
    text = render("base/sshd.conf.j2", backup_from="10.0.0.9", **common)
    block = text[text.index("Match "):].split("\n")
    assert block[0] == "Match User root Address 10.0.0.9"
    assert block[1].split() == ["PermitRootLogin", "forced-commands-only"]
    # The control: a host the backup host does not pull from has no such block.
    assert "Match" not in render("base/sshd.conf.j2", backup_from="", **common)
