"""What the VPS exposes. From outside, on the container's own address (docker inspect): a scan of
every TCP port finds only SSH, HTTP and HTTPS answering. Inside: MariaDB, Redis, the app and
ProxySQL listen on loopback only, and Redis lets no one in without the right user and password.

tests/infra/test_base.py proves the firewall's ruleset and one closed port; test_data.py proves
the app's Redis user cannot FLUSHALL, CONFIG, DEBUG or KEYS. This file does not repeat them.
"""

from __future__ import annotations

import asyncio
import json
import resource
import socket
import subprocess
import time

import pytest

from peakready import PORTS
from peakready.checks import STACK_PORTS

OPEN_FROM_OUTSIDE = {22, 80, 443}  # 443 answers only with tls on: a subset, 22 and 80 required
# Ports that must never listen beyond loopback (ProxySQL's only when it runs).
LOOPBACK_ONLY = {**{port: name for port, name in STACK_PORTS.items() if port != PORTS["proxysql_metrics"]},
                 8000: "the app"}
# ProxySQL 2.7's REST API (/metrics) binds every address, with no setting to narrow it: the firewall
# keeps it from everyone (test_monitoring.py::test_proxysql_metrics_port_is_kept_private_by_the_firewall).
FIREWALLED = {PORTS["proxysql_metrics"]: '"proxysql"'}
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
# Docker's embedded DNS listens on 127.0.0.11 inside every container of a user network.
DOCKER_DNS = "127.0.0.11"

# The firewall drops (no answer): each filtered port costs the timeout, so many at once.
SCAN_TIMEOUT_S = 1.0
SCAN_CONCURRENCY = 3000
SCAN_BUDGET_S = 45


def scan(address: str, ports: list[int], timeout: float = SCAN_TIMEOUT_S,
         concurrency: int = SCAN_CONCURRENCY) -> set[int]:
    """The ports of `ports` on which a TCP connection to `address` completes within `timeout`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    concurrency = min(concurrency, max(hard, soft) - 200)
    if soft < concurrency + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, concurrency + 200), hard))

    async def probe(port: int) -> bool:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
        except (TimeoutError, OSError):
            return False
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
        return True

    async def run() -> set[int]:
        todo, found = iter(ports), set()

        async def worker():
            for port in todo:  # one shared iterator: each port probed once
                if await probe(port):
                    found.add(port)

        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(ports)))))
        return found

    return asyncio.run(run())


def test_the_scanner_finds_an_open_port_among_closed_ones():
    """The control: a listener on this machine's loopback, in a range of closed ports, is found."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        nearby = [p for p in range(port - 200, port + 200) if 1024 < p < 65536]
        found = scan("127.0.0.1", nearby)
    assert port in found
    with socket.socket() as closed:  # bound, not listening: refused
        closed.bind(("127.0.0.1", 0))
        assert not scan("127.0.0.1", [closed.getsockname()[1]])


def test_from_outside_only_ssh_and_http_answer_on_any_tcp_port(test_vps):
    address = test_vps.address  # the container's own address on its Docker network
    assert address and not address.startswith("127."), address
    start = time.monotonic()
    found = scan(address, list(range(1, 65536)))
    elapsed = time.monotonic() - start
    print(f"scanned 65535 TCP ports of {address} in {elapsed:.1f} s: open {sorted(found)}")
    assert found <= OPEN_FROM_OUTSIDE, f"open from outside beyond SSH/HTTP/HTTPS: {sorted(found - OPEN_FROM_OUTSIDE)}"
    assert {22, 80} <= found
    assert elapsed < SCAN_BUDGET_S


def listeners(host) -> list[tuple[str, int, str]]:
    """(address, port, programs) of every listening TCP socket in the VPS."""
    out = []
    for line in host.check_output("ss -Hltnp").splitlines():
        fields = line.split()
        address, port = fields[3].rsplit(":", 1)
        out.append((address.strip("[]").split("%")[0], int(port), " ".join(fields[5:])))
    return out


@pytest.mark.box
def test_data_tier_and_app_listen_on_loopback_only(host, plan):
    found = listeners(host)
    expected = {3306, 6379, 8000} | ({6032, 6033} if plan.proxysql else set())
    assert expected <= {port for _, port, _ in found}, "every service is up and listening"
    for address, port, programs in found:
        if port in LOOPBACK_ONLY:
            assert address in LOOPBACK, f"{LOOPBACK_ONLY[port]} listens on {address}:{port} ({programs})"
        elif port in FIREWALLED and FIREWALLED[port] in programs:
            continue
        elif address not in LOOPBACK and address != DOCKER_DNS:
            # Beyond loopback: sshd and nginx on their ports, nothing else.
            assert port in OPEN_FROM_OUTSIDE and ('"sshd"' in programs or '"nginx"' in programs), \
                f"{programs} listens on {address}:{port}"


@pytest.fixture(scope="module")
def redis_secrets(test_vps):
    from peakready.secrets import DIRECTORY
    from tests.leaks import Redacted

    return Redacted(json.loads((DIRECTORY / "docker.json").read_text()))


def resp(test_vps, secrets, *commands: list[str]) -> list[str]:
    """Send RESP commands to Redis on the VPS's loopback in one connection (python3 in the VPS); the
    replies' first lines. A secret is named in a command as {secret_name} and put in here, so no
    traceback or assertion shows it; the commands reach the VPS through stdin, never a command line."""
    script = (
        "import json, socket, sys\n"
        "cmds = json.load(sys.stdin)\n"
        "s = socket.create_connection(('127.0.0.1', 6379), 5)\n"
        "f = s.makefile('rb')\n"
        "out = []\n"
        "for cmd in cmds:\n"
        "    s.sendall(b''.join([b'*%d\\r\\n' % len(cmd)] + [b'$%d\\r\\n%s\\r\\n' % (len(a.encode()), a.encode())"
        " for a in cmd]))\n"
        "    out.append(f.readline().decode().strip())\n"
        "print(json.dumps(out))\n"
    )
    filled = [[arg.format_map(secrets) for arg in cmd] for cmd in commands]
    res = subprocess.run(["docker", "exec", "-i", test_vps.name, "python3", "-c", script],
                         input=json.dumps(filled), capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr[-500:]
    return json.loads(res.stdout)


def test_redis_answers_nothing_without_a_login(test_vps, redis_secrets):
    replies = resp(test_vps, redis_secrets, ["PING"], ["GET", "menu:1"], ["INFO"], ["CONFIG", "GET", "*"])
    assert all(r.startswith("-NOAUTH") for r in replies), replies


WRONG_LOGINS = {
    "default, no password": ["AUTH", "default", ""],
    "default, a wrong password": ["AUTH", "default", "not-the-password"],
    "a wrong password, no user": ["AUTH", "not-the-password"],
    "default, the app's password": ["AUTH", "default", "{redis_app_password}"],
    "the app's password, no user": ["AUTH", "{redis_app_password}"],
}


@pytest.mark.parametrize("login", WRONG_LOGINS)
def test_redis_default_user_takes_no_password_but_its_own(test_vps, redis_secrets, login):
    replies = resp(test_vps, redis_secrets, WRONG_LOGINS[login], ["PING"])
    assert replies[0].startswith(("-WRONGPASS", "-ERR")), replies
    assert replies[1].startswith("-NOAUTH"), f"still logged out after a refused AUTH: {replies}"


def test_redis_right_logins_work(test_vps, redis_secrets, knobs):
    """The control: the right user and password do log in, so the refusals above are the password's."""
    assert resp(test_vps, redis_secrets, ["AUTH", "default", "{redis_admin_password}"], ["PING"]) == ["+OK", "+PONG"]
    assert resp(test_vps, redis_secrets, ["AUTH", knobs["redis_app_user"], "{redis_app_password}"], ["PING"]) == \
        ["+OK", "+PONG"]
