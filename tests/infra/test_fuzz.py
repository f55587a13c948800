"""The sample app fuzzed from its own OpenAPI schema (/openapi.json) with schemathesis, on the VPS.

Requests go to the app itself (127.0.0.1:app_port inside the VPS) through an SSH local forward
this module opens with the VPS's throwaway key and pinned host key, not through nginx: nginx's
rate limits would turn most of them into 429s. What must hold for every generated request, valid
or not (schemathesis's negative mode breaks the schema on purpose):
  - no 5xx: bad input is the client's error, never the app's;
  - every 4xx is JSON, {"error": "<a message>"} with Content-Type application/json;
  - schemathesis's checks: statuses, content types, headers and bodies as documented, input that
    breaks the schema refused, a missing required header refused, unsupported methods 405 with an
    accurate Allow, admin operations refused without the token.
Left out: positive_data_acceptance, which expects every schema-valid request to succeed, while
the app rightly refuses some for what a schema cannot say (an outlet that does not exist, a
booking time in the past).

The admin operations get the admin token from the secrets file the deploy used; it is never
printed (schemathesis masks the Authorization header in its reports, and MaskedHeaders masks it
where pytest shows a failing test's arguments). The menu is put back as it
was afterwards (the fuzzer replaces and deletes items), and the cache emptied with it.

Bounded: FUZZ_EXAMPLES (100, PEAKREADY_FUZZ_EXAMPLES to change it) generated requests per operation
besides the coverage phase's boundary cases: under a minute for all of them here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from peakready import ROOT
from peakready.secrets import DIRECTORY
from tests.infra.conftest import deploy

FUZZ_EXAMPLES = int(os.environ.get("PEAKREADY_FUZZ_EXAMPLES", "100"))
TUNNEL_TIMEOUT_S = 15
REQUEST_TIMEOUT_S = 10
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection, missing_required_header, unsupported_method,
          allow_header_conformance, ignored_auth]
SNAPSHOT = "/root/peakready-fuzz-menu.sql"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def ssh_tunnels(test_vps):
    """sshd allows no forwarding by default: the knob an operator sets for `ssh -L` opens it for
    this module, and a deploy without it closes it again (proved refused afterwards)."""
    opened = deploy(test_vps.name, "--data", "sshd_allow_tcp_forwarding=true")
    assert opened.returncode == 0, opened.log[-2000:]
    try:
        yield
    finally:
        closed = deploy(test_vps.name)
        assert closed.returncode == 0, closed.log[-2000:]


@pytest.fixture(scope="module")
def app_url(test_vps, knobs, ssh_tunnels):
    """http://127.0.0.1:<free port>, forwarded over SSH to the app on the VPS's loopback."""
    port = free_port()
    tunnel = subprocess.Popen(
        ["ssh", "-N", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-o", "StrictHostKeyChecking=yes",
         "-o", f"UserKnownHostsFile={test_vps.info['known_hosts']}", "-o", "IdentitiesOnly=yes",
         "-o", "ServerAliveInterval=5", "-i", test_vps.info["ssh_key"], "-p", str(test_vps.info["ports"]["ssh"]),
         "-L", f"127.0.0.1:{port}:127.0.0.1:{knobs['app_port']}", "root@127.0.0.1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + TUNNEL_TIMEOUT_S
        while not answers(f"{url}/health"):
            assert tunnel.poll() is None, f"ssh -L failed: {tunnel.stderr.read()}"
            assert time.monotonic() < deadline, "the app did not answer through the tunnel"
            time.sleep(0.2)
        yield url
    finally:
        tunnel.terminate()
        try:
            tunnel.wait(timeout=5)
        except subprocess.TimeoutExpired:
            tunnel.kill()
            tunnel.wait()


class MaskedHeaders(dict):
    """Headers holding a secret: pytest prints a failing test's arguments, this shows none of it."""

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: '***'" for k in self) + "}"

    __str__ = __repr__


@pytest.fixture(scope="module")
def admin_headers():
    token = json.loads((DIRECTORY / "docker.json").read_text())["app:ADMIN_TOKEN"]  # the sample app's secret (group_data/sample_app.py)
    return MaskedHeaders(Authorization=f"Bearer {token}")


@pytest.fixture(scope="module")
def menu_put_back(host, test_vps):
    """The menu as it was before the fuzzing, and an empty cache, after it."""
    host.run_expect([0], f"mariadb-dump --single-transaction peakready menu_items > {SNAPSHOT}")
    yield
    host.run_expect([0], f"mariadb peakready < {SNAPSHOT} && rm -f {SNAPSHOT}")
    # Redis's admin password goes to redis-cli through the environment: never in a command line.
    password = json.loads((DIRECTORY / "docker.json").read_text())["redis_admin_password"]
    res = subprocess.run(["docker", "exec", "-e", "REDISCLI_AUTH", test_vps.name, "redis-cli", "--no-auth-warning",
                          "FLUSHDB"], env={**os.environ, "REDISCLI_AUTH": password}, capture_output=True, text=True)
    assert res.stdout.strip() == "OK", res.stderr


# The schema from the app's code (the VPS does not exist yet when pytest collects the tests, and
# schemathesis's lazy loader does not work with this pytest); the first test proves the live app
# serves exactly this one.
sys.path.insert(0, str(ROOT / "app"))
from peakready_app.openapi import OPENAPI  # noqa: E402

schema = schemathesis.openapi.from_dict(OPENAPI)


def test_the_app_serves_the_schema_the_fuzzer_reads(app_url):
    with urllib.request.urlopen(f"{app_url}/openapi.json", timeout=REQUEST_TIMEOUT_S) as response:
        assert json.load(response) == json.loads(json.dumps(OPENAPI))


@schema.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_no_request_makes_the_app_fail_and_every_refusal_is_a_json_error(case, app_url, admin_headers, menu_put_back):
    response = case.call_and_validate(base_url=app_url, headers=admin_headers, checks=CHECKS,
                                      timeout=REQUEST_TIMEOUT_S)
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400:
        assert response.headers.get("content-type") == ["application/json"], response.headers
        body = response.json()
        assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], body


def send(app_url: str, method: str, path: str, body: bytes | None = None, headers=None):
    """(status, headers, body) of one request straight to the app; an HTTP error is an answer too."""
    headers = MaskedHeaders({"Content-Type": "application/json", **(headers or {})})
    request = urllib.request.Request(f"{app_url}{path}", data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


ITEM = {"outlet_id": 1, "category": "rice", "name": "Nasi goreng", "price_idr": 25000}
# Text a JSON body can carry that no generated string holds (schemathesis writes UTF-8, which has
# no lone surrogates): what the fuzzing found, kept as explicit cases.
HOSTILE_TEXT = {
    "a lone surrogate": "Es teh \ud83d",
    "a NUL": "Es\x00teh",
    "an escape sequence": "Es teh\x1b[2J",
}
TEXT_FIELDS = [("POST", "/api/v1/admin/menu", "name"), ("POST", "/api/v1/admin/menu", "description"),
               ("PUT", "/api/v1/admin/menu/1", "name"), ("POST", "/api/v1/bookings", "name"),
               ("POST", "/api/v1/bookings", "phone")]


@pytest.mark.parametrize("what", HOSTILE_TEXT)
@pytest.mark.parametrize("method,path,field", TEXT_FIELDS, ids=[f"{m} {p} {f}" for m, p, f in TEXT_FIELDS])
def test_text_the_database_cannot_store_is_a_400_naming_the_field(app_url, admin_headers, method, path, field, what):
    if "bookings" in path:
        when = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 3 * 86400))
        body = {"outlet_id": 1, "name": "Siti", "phone": "+62 812 5550 1234", "party_size": 2, "time": when}
        headers = {"Idempotency-Key": f"fuzz-{os.urandom(8).hex()}"}
    else:
        body, headers = dict(ITEM), admin_headers
    value = HOSTILE_TEXT[what]
    body[field] = "+62 812 " + value if field == "phone" else value
    status, response_headers, answer = send(app_url, method, path, json.dumps(body).encode(), headers)
    assert status == 400, answer[:300]
    assert response_headers["content-type"] == "application/json"
    assert json.loads(answer)["error"].startswith(f"{field} must be")


def test_a_method_the_item_does_not_allow_is_a_405_listing_both_it_allows(app_url):
    status, headers, answer = send(app_url, "PATCH", "/api/v1/admin/menu/1", b"{}")
    assert status == 405 and json.loads(answer) == {"error": "method not allowed"}
    assert sorted(m.strip() for m in headers["allow"].split(",")) == ["DELETE", "PUT"]
