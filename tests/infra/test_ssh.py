"""The SSH login policy on the live VPS: what sshd really applies (`sshd -T`), and on the wire, from
this machine to the VPS's SSH port published on 127.0.0.1: a password login is refused even with the
right password, while key logins work.

The probe user's password is random, reaches the VPS through stdin (never a command line) and the
user is removed afterwards.
"""

import secrets
import socket
import subprocess

import paramiko
import pytest

from tests.leaks import Hidden

PROBE = "peakready-probe"
# sshd -T prints prohibit-password under its old name.
SSHD_T_NAMES = {"prohibit-password": "without-password", "no": "no"}


def sshd_effective(host) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in host.check_output("sshd -T").splitlines() if " " in line)


@pytest.mark.box
def test_sshd_applies_the_login_policy(host, knobs):
    effective = sshd_effective(host)
    assert effective["passwordauthentication"] == ("yes" if knobs["sshd_password_authentication"] else "no") == "no"
    assert effective["permitrootlogin"] == SSHD_T_NAMES[knobs["sshd_permit_root_login"]] == "without-password"
    assert effective["kbdinteractiveauthentication"] == "no"
    assert effective["permitemptypasswords"] == "no"
    assert effective["pubkeyauthentication"] == "yes"


@pytest.fixture
def probe_password(host, test_vps):
    """A user with a password: exactly what a password login needs, if sshd allowed one."""
    password = Hidden(secrets.token_urlsafe(18))  # its repr hides it (tests/leaks.py)
    subprocess.run(["docker", "exec", "-i", test_vps.name, "sh", "-c",
                    f"useradd --create-home --shell /bin/sh {PROBE} && chpasswd"],
                   input=f"{PROBE}:{password}\n", text=True, check=True)
    yield password
    host.run(f"userdel --remove {PROBE}")


def connect(test_vps) -> paramiko.Transport:
    """An SSH transport to the VPS, its host key checked against the pinned known_hosts file."""
    port = test_vps.info["ports"]["ssh"]
    transport = paramiko.Transport(socket.create_connection(("127.0.0.1", port), timeout=10))
    transport.start_client(timeout=10)
    key = transport.get_remote_server_key()
    pinned = paramiko.HostKeys(test_vps.info["known_hosts"]).lookup(f"[127.0.0.1]:{port}")
    assert pinned and pinned.get(key.get_name()) == key, "not the VPS's pinned host key"
    return transport


def test_the_probe_password_is_the_users_real_one(host, test_vps, probe_password):
    """The control: what the next test sends is the right password (so a refusal is sshd's policy).
    crypt(password, stored hash) gives the stored hash back only for the right password (perl-base is
    in every Debian; both go through stdin)."""
    shadow = host.check_output(f"getent shadow {PROBE}").split(":")[1]
    assert shadow.startswith("$"), "the account has a usable password"
    recompute = "chomp(my $p = <STDIN>); chomp(my $h = <STDIN>); print crypt($p, $h) eq $h ? 'same' : 'differs'"
    for password, expected in ((probe_password, "same"), (probe_password + "x", "differs")):
        out = subprocess.run(["docker", "exec", "-i", test_vps.name, "perl", "-e", recompute],
                             input=f"{password}\n{shadow}\n", capture_output=True, text=True, check=True)
        assert out.stdout == expected


def test_a_password_login_is_refused_even_with_the_right_password(test_vps, probe_password):
    transport = connect(test_vps)
    try:
        with pytest.raises(paramiko.BadAuthenticationType) as refused:
            transport.auth_password(PROBE, probe_password)
        # Not "wrong password": sshd does not offer password logins at all.
        assert refused.value.allowed_types == ["publickey"]
        assert not transport.is_authenticated()
    finally:
        transport.close()
    transport = connect(test_vps)
    try:
        with pytest.raises(paramiko.BadAuthenticationType) as refused:
            transport.auth_password("root", probe_password)
        assert refused.value.allowed_types == ["publickey"]
    finally:
        transport.close()


def test_root_logs_in_with_its_key(test_vps):
    transport = connect(test_vps)
    try:
        transport.auth_publickey("root", paramiko.Ed25519Key.from_private_key_file(test_vps.info["ssh_key"]))
        assert transport.is_authenticated()
        channel = transport.open_session(timeout=10)
        channel.exec_command("id -un")
        assert channel.makefile("rb").read().strip() == b"root"
        assert channel.recv_exit_status() == 0
    finally:
        transport.close()
