"""The web tier on the live VPS: the app under gunicorn/systemd, and nginx in front of it.

HTTP goes from this machine to the VPS's HTTP port published on 127.0.0.1 (with Host: localhost,
the server name nginx serves); load runs inside the VPS against its own loopback. Both bounded.
"""

import gzip
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from peakready import ROOT
from tests.infra.conftest import PYINFRA, deploy

UNIT = "peakready-app"
LOAD = Path(__file__).with_name("load.py")


def request(test_vps, path, method="GET", host="localhost", headers=None, body=None, timeout=10):
    """(status, headers, body) of one request to nginx through the published port."""
    conn = http.client.HTTPConnection("127.0.0.1", test_vps.info["ports"]["http"], timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def workers(host):
    master = host.check_output(f"systemctl show -p MainPID --value {UNIT}")
    return master, sorted(host.check_output(f"pgrep -P {master} || true").split())


def wait_for(condition, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


# --- the app service ------------------------------------------------------------------------------


@pytest.mark.box
def test_the_app_runs_the_planned_workers_as_its_own_user(host, plan):
    master, pids = workers(host)
    assert len(pids) == plan.app.workers
    assert host.check_output(f"ps -o user= -p {master}") == "peakready"
    assert host.socket("tcp://127.0.0.1:8000").is_listening
    assert not host.socket("tcp://0.0.0.0:8000").is_listening
    props = dict(line.split("=", 1) for line in host.check_output(
        f"systemctl show {UNIT} -p MemoryMax -p LimitNOFILE -p Restart -p NoNewPrivileges -p ProtectSystem").splitlines())
    assert int(props["MemoryMax"]) == plan.app.memory_max_mb * 1024 * 1024
    assert int(props["LimitNOFILE"]) == plan.nofile["app"]
    assert props["Restart"] == "always" and props["NoNewPrivileges"] == "yes" and props["ProtectSystem"] == "strict"
    env = host.file("/etc/peakready/app.env")
    assert env.mode == 0o640 and env.user == "root" and env.group == "peakready"


@pytest.mark.box
def test_a_killed_worker_is_replaced_within_2_s(host, plan):
    master, before = workers(host)
    host.run_expect([0], f"kill -9 {before[0]}")
    assert wait_for(lambda: len(workers(host)[1]) == plan.app.workers and before[0] not in workers(host)[1], 2.0)
    assert workers(host)[0] == master


def test_a_killed_master_is_restarted_by_systemd_within_5_s(host, plan):
    master, _ = workers(host)
    host.run_expect([0], f"kill -9 {master}")
    assert wait_for(lambda: workers(host)[0] not in ("0", master) and host.service(UNIT).is_running, 5.0)
    assert wait_for(lambda: len(workers(host)[1]) == plan.app.workers, 10.0)


def test_a_reload_under_load_fails_no_request(host, test_vps):
    """300 000 requests at most, 20 s at most, 16 clients on the VPS's loopback through nginx, while
    the app reloads (HUP: new workers first) and nginx reloads."""
    subprocess.run(["docker", "exec", "-i", test_vps.name, "sh", "-c", "cat > /root/peakready-load.py"],
                   input=LOAD.read_text(), text=True, check=True)
    run = subprocess.Popen(["docker", "exec", test_vps.name, "python3", "/root/peakready-load.py",
                            "http://localhost/health", "20", "300000", "16"], stdout=subprocess.PIPE, text=True)
    time.sleep(4)
    _, before = workers(host)
    host.run_expect([0], f"systemctl reload {UNIT}")
    assert wait_for(lambda: not set(workers(host)[1]) & set(before), 15.0), "the old workers were replaced"
    host.run_expect([0], "systemctl reload nginx")
    out, _ = run.communicate(timeout=60)
    result = json.loads(out)
    assert result["ok"] > 1000, result
    assert result["failed"] == 0, result


def test_a_worker_over_its_memory_cap_is_recycled(host, test_vps):
    """A cap below what a worker needs: the master recycles workers (SIGTERM) as PM2 did."""
    lowered = deploy(test_vps.name, "--data", "app_worker_memory_mb=32")
    try:
        assert lowered.returncode == 0, lowered.log[-2000:]
        _, before = workers(host)
        assert wait_for(lambda: "over its 32 MB cap: recycling it" in host.check_output(
            f"journalctl -u {UNIT} --since -30s --no-pager"), 20.0, step=1.0)
        assert wait_for(lambda: set(workers(host)[1]) - set(before), 10.0), "new workers replaced them"
    finally:
        restored = deploy(test_vps.name)
        assert restored.returncode == 0, restored.log[-2000:]


def app_copy(tmp_name: str, marker: str) -> str:
    """A copy of the bundled app inside the repository (app_source must be one) with a marker."""
    target = ROOT / ".peakready" / "test-apps" / tmp_name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(ROOT / "app", target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (target / "static").mkdir(exist_ok=True)
    (target / "static" / "release.txt").write_text(marker)
    return str(target.relative_to(ROOT))


def test_a_new_release_then_rollback_serves_the_previous_one(host, test_vps):
    first, second = app_copy("one", "release one"), app_copy("two", "release two")
    try:
        for source in (first, second):
            res = deploy(test_vps.name, "--data", f"app_source={source}")
            assert res.returncode == 0, res.log[-2000:]
        assert request(test_vps, "/static/release.txt")[2] == b"release two"
        res = subprocess.run([PYINFRA, "-y", "inventories/docker.py", "rollback.py"], cwd=ROOT,
                             env={**os.environ, "PEAKREADY_VPS": test_vps.name}, capture_output=True, text=True,
                             timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
        assert request(test_vps, "/static/release.txt")[2] == b"release one"
        assert request(test_vps, "/health")[0] == 200
    finally:
        back = deploy(test_vps.name)
        assert back.returncode == 0, back.log[-2000:]


def test_a_failed_migration_leaves_the_old_release_serving(host, test_vps):
    broken = app_copy("broken", "broken release")
    migrate = ROOT / broken / "peakready_app" / "migrate.py"
    migrate.write_text("import sys\nsys.exit('peakready test: this migration fails')\n")
    live = host.check_output("readlink /srv/peakready/current")
    res = deploy(test_vps.name, "--data", f"app_source={broken}")
    assert res.returncode != 0 and "this migration fails" in res.log
    assert host.check_output("readlink /srv/peakready/current") == live
    assert request(test_vps, "/health")[0] == 200
    assert request(test_vps, "/static/release.txt")[0] == 404


# --- nginx ----------------------------------------------------------------------------------------


@pytest.mark.box
def test_nginx_runs_the_planned_sizes(host, plan, knobs):
    conf = host.check_output("nginx -T 2>/dev/null")
    assert f"worker_processes {plan.nginx.worker_processes};" in conf
    assert f"worker_connections {plan.nginx.worker_connections};" in conf
    assert f"worker_rlimit_nofile {plan.nginx.worker_rlimit_nofile};" in conf
    assert f"keepalive {knobs['nginx_upstream_keepalive']};" in conf
    assert "server_tokens off;" in conf


def requests_reaching_the_app(host, knobs) -> int:
    """Requests the app itself counted (peakready_http_requests_total of every worker), read from
    inside the VPS straight from the app, less its own /metrics reads."""
    text = host.check_output(f"curl -s http://127.0.0.1:{knobs['app_port']}/metrics")
    counts = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith("peakready_http_requests_total{") and 'route="/metrics"' not in line]
    assert counts, "the app counts its requests"
    return int(sum(counts))


def logged(host, probe: str) -> str:
    """nginx's access-log line of the request whose URL holds `probe` (one request, one line)."""
    lines = host.check_output(f"grep -F {probe} /var/log/nginx/access.log || true").splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def new_probe() -> str:
    return f"probe={uuid.uuid4().hex}"


def test_an_unknown_host_is_dropped_before_the_app_and_headers_are_safe(host, test_vps, knobs):
    # One request first, so the counter exists even right after the app restarted (a rollback before).
    assert request(test_vps, "/health")[0] == 200
    before = requests_reaching_the_app(host, knobs)
    probe = new_probe()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        request(test_vps, f"/health?{probe}", host="attacker.example")
    # 444: closed without an answer; urt=-: no upstream was asked.
    assert " 444 " in logged(host, probe) and "urt=- " in logged(host, probe)
    status, headers, _ = request(test_vps, "/health")
    assert status == 200
    assert headers["server"] == "nginx"  # no version
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
    # The counter counts: the good request is in it, the dropped one is not.
    assert requests_reaching_the_app(host, knobs) == before + 1


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}


@pytest.mark.parametrize("path", ["/health", "/api/v1/menu", "/api/v1/outlets/1/availability?date=2030-01-01",
                                  "/api/v1/admin/menu", "/nowhere", "/static/robots.txt", "/api/v1/outlets/999999"])
def test_security_headers_on_every_kind_of_answer(test_vps, path):
    """A health check, a micro-cached read, an uncached read, a refused admin call, nginx's own 404, a
    static file (a location with add_header lines of its own) and the app's 404: each has them all."""
    status, headers, _ = request(test_vps, path)
    missing = {name: headers.get(name) for name, value in SECURITY_HEADERS.items() if headers.get(name) != value}
    assert not missing, f"{path} ({status}): {missing}"
    assert "strict-transport-security" not in headers, "HSTS only over TLS"


def test_json_is_gzipped(test_vps):
    status, headers, body = request(test_vps, "/api/v1/menu", headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers.get("content-encoding") == "gzip"
    assert json.loads(gzip.decompress(body))


def test_a_static_file_is_served_by_nginx_even_without_the_app(host, test_vps):
    host.run_expect([0], f"systemctl stop {UNIT}")
    try:
        css = host.check_output("cd /srv/peakready/current/static && ls | head -n 1")
        status, headers, _ = request(test_vps, f"/static/{css}")
        assert status == 200 and "max-age=" in headers["cache-control"]
        assert request(test_vps, "/health")[0] == 502
    finally:
        host.run_expect([0], f"systemctl start {UNIT}")
    assert wait_for(lambda: request(test_vps, "/health")[0] == 200, 10.0)


def test_a_burst_above_the_rate_limit_gets_429s_and_traffic_below_it_none(test_vps, knobs):
    rps, burst_size = knobs["rate_limit_rps"], knobs["rate_limit_burst"]
    time.sleep(1 + burst_size / rps)  # the bucket is empty again
    calm = []
    for _ in range(5):  # at half the allowed rate
        time.sleep(2.0 / rps)
        calm.append(request(test_vps, "/api/v1/outlets")[0])
    assert 429 not in calm
    burst = [request(test_vps, "/api/v1/outlets") for _ in range(burst_size + 3 * rps)]
    limited = [r for r in burst if r[0] == 429]
    assert limited, "a burst above rate + burst is limited"
    assert json.loads(limited[0][2]) == {"error": "too many requests"}
    assert limited[0][1]["content-type"] == "application/json"


def test_an_oversized_body_never_reaches_the_app(host, test_vps, knobs):
    before = requests_reaching_the_app(host, knobs)
    probe = new_probe()
    body = b"x" * (knobs["client_max_body_size_kb"] * 1024 + 1)
    status, _, _ = request(test_vps, f"/api/v1/bookings?{probe}", method="POST", body=body,
                           headers={"Content-Type": "application/json"})
    assert status == 413
    assert " 413 " in logged(host, probe) and "urt=- " in logged(host, probe)
    assert requests_reaching_the_app(host, knobs) == before


def nginx_timeout_s(host, directive: str) -> int:
    conf = host.check_output("nginx -T 2>/dev/null")
    return int(re.search(rf"^\s*{directive} (\d+)s;", conf, re.M).group(1))


def slow_client(test_vps, head: bytes, dribble, bound_s: float) -> tuple[float, bytes]:
    """Send `head`, then every 2 s `dribble(i)` (if any) until nginx closes the connection:
    (seconds from the first byte until it closed, what it sent before closing)."""
    sock = socket.create_connection(("127.0.0.1", test_vps.info["ports"]["http"]), timeout=bound_s)
    start = time.monotonic()
    try:
        sock.sendall(head)
        for i in range(int(bound_s)):
            sock.settimeout(2 if dribble else bound_s)
            try:
                answer = sock.recv(4096)  # b"" once nginx has closed
                return time.monotonic() - start, answer
            except TimeoutError:
                if dribble:
                    sock.sendall(dribble(i))
        raise AssertionError(f"nginx kept a slow client for {bound_s} s")
    except (BrokenPipeError, ConnectionResetError):
        return time.monotonic() - start, b""
    finally:
        sock.close()


def test_slow_clients_are_cut_off_by_nginx_and_never_reach_the_app(host, test_vps, knobs):
    """Slowloris: headers dribbled (a line every 2 s, never finished) are cut off once
    client_header_timeout has passed since the first byte, however steadily they come; a body that
    stalls longer than client_body_timeout between two reads is cut off too. nginx logs 408 with no
    upstream, and the app counts neither."""
    header_timeout = nginx_timeout_s(host, "client_header_timeout")
    body_timeout = nginx_timeout_s(host, "client_body_timeout")
    bound = max(header_timeout, body_timeout) + 10
    header_probe, body_probe = new_probe(), new_probe()
    head = f"GET /health?{header_probe} HTTP/1.1\r\nHost: localhost\r\n".encode()
    post = (f"POST /api/v1/bookings?{body_probe} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Idempotency-Key: slow-{body_probe[-12:]}\r\nContent-Length: 100\r\n\r\n{{\"outlet_id\": 1").encode()

    before = requests_reaching_the_app(host, knobs)
    with ThreadPoolExecutor(2) as pool:  # side by side: one wait for both
        headers = pool.submit(slow_client, test_vps, head, lambda i: b"X-Slow-%d: x\r\n" % i, bound)
        body = pool.submit(slow_client, test_vps, post, None, bound)  # 15 bytes of 100, then nothing
        (header_s, header_answer), (body_s, body_answer) = headers.result(), body.result()

    # Cut off by the timeouts (not before, not long after), with no answer worth sending.
    assert header_timeout - 1 <= header_s <= header_timeout + 5, header_s
    assert body_timeout - 1 <= body_s <= body_timeout + 5, body_s
    for answer in (header_answer, body_answer):
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408 "), answer[:100]
    for probe in (header_probe, body_probe):
        assert " 408 " in logged(host, probe) and "urt=- " in logged(host, probe)
    assert requests_reaching_the_app(host, knobs) == before


@pytest.mark.box
def test_stub_status_answers_on_loopback_only(host):
    assert "Active connections" in host.check_output("curl -s http://127.0.0.1:8081/nginx_status")
    assert host.socket("tcp://127.0.0.1:8081").is_listening
    assert not host.socket("tcp://0.0.0.0:8081").is_listening


def test_self_signed_tls_then_back_to_plain_http(host, test_vps):
    import ssl

    on = deploy(test_vps.name, "--data", "tls=self-signed")
    try:
        assert on.returncode == 0, on.log[-2000:]
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # self-signed: no CA to check against
        conn = http.client.HTTPSConnection("127.0.0.1", test_vps.info["ports"]["https"], timeout=10, context=context)
        conn.request("GET", "/health", headers={"Host": "localhost"})
        response = conn.getresponse()
        assert response.status == 200 and "max-age" in response.getheader("strict-transport-security", "")
        assert "localhost" in host.check_output("openssl x509 -noout -subject -in /etc/ssl/peakready/server.crt")
        assert host.file("/etc/ssl/peakready/server.key").mode == 0o600
        conn.close()
        # Mozilla's intermediate profile, from inside the VPS (the client allows anything: @SECLEVEL=0).
        def handshake(*args: str) -> str:
            """The suite agreed, or "alert" when the server refused the handshake."""
            out = host.run(f"openssl s_client -connect 127.0.0.1:443 -servername localhost {' '.join(args)} "
                           "</dev/null 2>&1").stdout
            agreed = re.search(r"Cipher is (\S+)", out)
            if agreed and agreed.group(1) != "(NONE)":
                return agreed.group(1)
            return "alert" if re.search(r"alert (protocol version|handshake failure)", out) else out[-300:]
        assert handshake("-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256") == "ECDHE-RSA-AES128-GCM-SHA256"
        assert handshake("-tls1_3").startswith("TLS_")
        for refused in (("-tls1_1", "-cipher", "'DEFAULT@SECLEVEL=0'"),  # an old protocol
                        ("-tls1_2", "-cipher", "'AES128-SHA@SECLEVEL=0'"),  # no forward secrecy, CBC
                        ("-tls1_2", "-cipher", "'ECDHE-RSA-AES128-SHA@SECLEVEL=0'")):  # CBC
            assert handshake(*refused) == "alert", refused
        # No session tickets: the server sends none.
        tickets = host.run("openssl s_client -connect 127.0.0.1:443 -servername localhost -tls1_2 </dev/null 2>&1")
        assert "Cipher is ECDHE" in tickets.stdout and "TLS session ticket:" not in tickets.stdout
    finally:
        off = deploy(test_vps.name)
        assert off.returncode == 0, off.log[-2000:]
    assert request(test_vps, "/health")[0] == 200


def test_the_micro_cache_is_off_when_the_knob_says_0(host, test_vps):
    off = deploy(test_vps.name, "--data", "nginx_micro_cache_s=0")
    try:
        assert off.returncode == 0, off.log[-2000:]
        assert "proxy_cache micro" not in host.check_output("nginx -T 2>/dev/null")
        probe = f"outlets?off={uuid.uuid4().hex[:8]}"

        def every_one_reached_the_app():
            # A reload is graceful: the first requests after it may still meet the old workers.
            for _ in range(3):
                assert request(test_vps, f"/api/v1/{probe}")[0] == 200
                time.sleep(0.1)
            lines = host.check_output(f"grep -F '{probe}' /var/log/nginx/access.log").splitlines()[-3:]
            return all(line.endswith("cache=-") for line in lines)

        assert wait_for(every_one_reached_the_app, 10.0, step=0.5)
    finally:
        on = deploy(test_vps.name)
        assert on.returncode == 0, on.log[-2000:]
