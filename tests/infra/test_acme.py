"""tls = "letsencrypt" against a real ACME server: Pebble, Let's Encrypt's test CA (Debian's package),
in a container beside the test VPS (targets/pebble.py), and acme_directory_url pointing the deploy's
certbot at it. Pebble checks HTTP-01 for real, on the VPS's port 80, through nginx.

The certificate is asked for while clients keep asking nginx for pages, and renewed (certbot's own
renewal, forced) while they keep asking over HTTPS: no request may fail, and nginx is never
restarted (its main process stays the same), only reloaded. A re-run changes nothing.

The clients run on this machine and reach the VPS through its published ports, a new connection per
request, so each HTTPS request is a handshake with the certificate nginx holds at that moment.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import threading
import time

import pytest

from targets import pebble, vps
from tests.infra.conftest import NETWORK, RELEASE, deploy, phase

# RFC 2606's documentation domain: a public name by its form (Let's Encrypt's rules accept it),
# owned by nobody here. Only Pebble's own DNS resolves it (to the VPS); the clients below connect
# to 127.0.0.1 and name it in the Host header and TLS's SNI.
DOMAIN = "shop.example.com"
EMAIL = "ops@example.com"
TRUST = "/usr/local/share/ca-certificates/peakready-test-pebble.crt"
LOAD_THREADS = 4
LOAD_MAX_S = 240
LOAD_MAX_REQUESTS = 200_000
FIGURES: dict[str, str] = {}


@pytest.fixture(scope="module")
def acme(test_vps, tmp_path_factory):
    """Pebble up, trusted by the VPS (its API's certificate, for certbot), the VPS serving DOMAIN
    without TLS; afterwards the VPS as the other tests expect it (no TLS, localhost)."""
    name = f"peakready-pebble-{os.getpid()}"
    try:
        with phase("acme: pebble"):
            info = pebble.up(name, NETWORK, test_vps.address, RELEASE)
        vps.sh(test_vps.name, f"cat > {TRUST} && update-ca-certificates >/dev/null", stdin=info["api_ca"])
        files = tmp_path_factory.mktemp("acme")
        (files / "root.pem").write_text(info["root"])
        data = {"server_names": [DOMAIN], "letsencrypt_email": EMAIL, "acme_directory_url": info["directory"]}
        for label, extra in (("names", {"tls": "off"}), ("letsencrypt", {"tls": "letsencrypt"})):
            (files / f"{label}.json").write_text(json.dumps({**data, **extra}))
        with phase("acme: deploys"):
            named = deploy(test_vps.name, env={"PEAKREADY_DATA": str(files / "names.json")})
        assert named.returncode == 0, named.log[-3000:]
        yield {**info, "files": files}
    finally:
        with phase("acme: deploys"):
            vps.sh(test_vps.name, f"certbot delete --non-interactive --cert-name {DOMAIN} >/dev/null 2>&1 || true; "
                                  f"rm -f {TRUST}; update-ca-certificates --fresh >/dev/null")
            back = deploy(test_vps.name)
        pebble.down(name)
        assert back.returncode == 0, back.log[-3000:]


def letsencrypt(test_vps, acme):
    return deploy(test_vps.name, env={"PEAKREADY_DATA": str(acme["files"] / "letsencrypt.json")})


def nginx_pid(host) -> str:
    return host.check_output("systemctl show -p MainPID --value nginx")


def https_get(port: int, context: ssl.SSLContext) -> tuple[int, str]:
    """(status, the served certificate's serial) of GET /health over a new TLS connection to
    127.0.0.1:port, with SNI and Host naming DOMAIN, the chain checked against `context`."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=DOMAIN) as tls:
        serial = tls.getpeercert()["serialNumber"]
        tls.sendall(f"GET /health HTTP/1.1\r\nHost: {DOMAIN}\r\nConnection: close\r\n\r\n".encode())
        response = http.client.HTTPResponse(tls)
        response.begin()
        response.read()
        return response.status, serial


def http_get(port: int) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/health", headers={"Host": DOMAIN, "Connection": "close"})
        response = conn.getresponse()
        response.read()
        return response.status, ""
    finally:
        conn.close()


class Load:
    """LOAD_THREADS clients sending `get` until stop(), LOAD_MAX_S or LOAD_MAX_REQUESTS; every answer
    but a 200, and every error, counts as failed."""

    def __init__(self, get):
        self.get, self.done = get, threading.Event()
        self.ok, self.failed, self.errors = 0, 0, {}
        self.served: dict[str, list[float]] = {}  # each certificate's serial: when first and last served
        self.lock = threading.Lock()
        self.deadline = time.monotonic() + LOAD_MAX_S
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(LOAD_THREADS)]

    def run(self):
        while not self.done.is_set() and time.monotonic() < self.deadline:
            with self.lock:
                if self.ok + self.failed >= LOAD_MAX_REQUESTS:
                    return
            try:
                status, serial = self.get()
                error = None if status == 200 else f"HTTP {status}"
            except (OSError, http.client.HTTPException) as exc:
                error, serial = type(exc).__name__, ""
            with self.lock:
                if error:
                    self.failed += 1
                    self.errors[error] = self.errors.get(error, 0) + 1
                else:
                    self.ok += 1
                    if serial:
                        now = time.monotonic()
                        self.served.setdefault(serial, [now, now])[1] = now

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        for thread in self.threads:
            thread.join(timeout=30)


def test_the_certificate_is_issued_over_http_01_while_nginx_serves(host, test_vps, acme):
    port = test_vps.info["ports"]["http"]
    assert http_get(port)[0] == 200
    pid = nginx_pid(host)
    with Load(lambda: http_get(port)) as load:
        time.sleep(1)
        with phase("acme: deploys"):
            start = time.monotonic()
            issued = letsencrypt(test_vps, acme)
            FIGURES["the deploy that got the first certificate"] = f"{time.monotonic() - start:.0f} s"
        time.sleep(1)
    assert issued.returncode == 0, issued.log[-3000:]
    assert any(f"Certificate for {DOMAIN} from {acme['directory']}" in name for name in issued.changed), issued.changed
    FIGURES["requests through nginx meanwhile"] = f"{load.ok} answered, {load.failed} failed"
    assert load.ok > 100 and load.failed == 0, (load.ok, load.errors)
    assert nginx_pid(host) == pid, "nginx was restarted; it must only reload"
    # certbot answered through nginx's webroot (no standalone server took port 80), and keeps that,
    # the CA and the reload for its renewals.
    renewal = host.file(f"/etc/letsencrypt/renewal/{DOMAIN}.conf").content_string
    for setting in ("authenticator = webroot", f"server = {acme['directory']}", "renew_hook = systemctl reload nginx"):
        assert setting in renewal, setting


def test_https_answers_with_the_issued_certificate(test_vps, acme):
    context = ssl.create_default_context(cafile=str(acme["files"] / "root.pem"))  # Pebble's root only
    status, _ = https_get(test_vps.info["ports"]["https"], context)
    assert status == 200
    with socket.create_connection(("127.0.0.1", test_vps.info["ports"]["https"]), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=DOMAIN) as tls:
        cert = tls.getpeercert()
    assert ("DNS", DOMAIN) in cert["subjectAltName"]
    assert "Pebble" in str(cert["issuer"])


def test_a_renewal_reloads_nginx_without_a_failed_request(host, test_vps, acme):
    context = ssl.create_default_context(cafile=str(acme["files"] / "root.pem"))
    port = test_vps.info["ports"]["https"]
    pid = nginx_pid(host)
    old = https_get(port, context)[1]
    with Load(lambda: https_get(port, context)) as load:
        time.sleep(1)
        start = time.monotonic()
        # What certbot's timer runs (certbot -q renew), forced: the certificate is not due for months.
        renewed = host.run("certbot renew --force-renewal --no-random-sleep-on-renew")
        FIGURES["certbot renew --force-renewal"] = f"{time.monotonic() - start:.1f} s"
        deadline = time.monotonic() + 30
        while len(load.served) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)
    assert renewed.rc == 0, renewed.stderr[-2000:]
    assert "fullchain.pem (success)" in renewed.stdout, renewed.stdout[-2000:]
    FIGURES["HTTPS requests during the renewal"] = f"{load.ok} answered, {load.failed} failed"
    assert load.ok > 100 and load.failed == 0, (load.ok, load.errors)
    new = https_get(port, context)[1]
    assert new != old and set(load.served) == {old, new}, (old, new, load.served)
    # While the old workers finish, new connections may still reach them: both certificates are served.
    overlap = load.served[old][1] - load.served[new][0]
    FIGURES["old and new certificate both served for"] = f"{max(overlap, 0) * 1000:.0f} ms"
    assert nginx_pid(host) == pid, "nginx was restarted; it must only reload"


def test_a_rerun_changes_nothing(test_vps, acme):
    again = letsencrypt(test_vps, acme)
    assert again.returncode == 0, again.log[-3000:]
    assert again.changed == [], f"operations that changed again: {again.changed}"


def test_printed_figures():
    """Not a check: what the tests above measured, for the terminal summary."""
    path = vps.ROOT / ".peakready" / "acme.txt"
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(f"{k}: {v}" for k, v in FIGURES.items()) + "\n")
