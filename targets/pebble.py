"""Pebble, Let's Encrypt's test ACME server, in a container on a local VPS's Docker network: a real
ACME CA for tests/infra/test_acme.py, which points the deploy's certbot at it (acme_directory_url).

    info = up(name, network, answer="172.18.0.2")   # every name Pebble looks up resolves to `answer`
    down(name)

Pebble validates HTTP-01 for real: it fetches http://<name>/.well-known/acme-challenge/<token> on
port 80 of the address its DNS gives, and that DNS is pebble-challtestsrv in the same container,
which answers every A query with `answer` (the VPS) and nothing else: no lookup leaves the machine.
Its API is HTTPS with a certificate made at start for the container's name; `info["api_ca"]` is
that certificate, for the VPS under test to trust (and nothing else). Each start makes a new root
for what it issues (`info["root"]`). No nonce is rejected at random, and validation does not sleep.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from targets import vps

DOCKERFILE = Path(__file__).resolve().parent / "pebble" / "Dockerfile"
API_PORT = 14000
MANAGEMENT_PORT = 15000  # on the container's loopback only
START_TIMEOUT_S = 60
# Pebble's API certificate, its configuration, then the DNS server and Pebble.
START = """set -eu
mkdir -p /etc/pebble
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$NAME" -addext "subjectAltName=DNS:$NAME" \
    -keyout /etc/pebble/api.key -out /etc/pebble/api.crt 2>/dev/null
printf '%s' "$CONFIG" > /etc/pebble/config.json
pebble-challtestsrv -defaultIPv4 "$ANSWER" -defaultIPv6 "" -dns01 127.0.0.1:8053 -management 127.0.0.1:8055 \
    -http01 "" -https01 "" -tlsalpn01 "" &
exec pebble -config /etc/pebble/config.json -dnsserver 127.0.0.1:8053
"""


class PebbleError(vps.VpsError):
    pass


def image(release: str) -> str:
    base = vps.vps_image(release)
    tag = f"peakready-pebble:{release}-{vps.digest(base, DOCKERFILE.read_bytes())}"
    if not vps.image_exists(tag):
        vps.log(f"building {tag} (Debian's pebble package)")
        vps.client().images.build(path=str(DOCKERFILE.parent), tag=tag, buildargs={"BASE": base}, rm=True)
    return tag


def up(name: str, network: str, answer: str, release: str = vps.DEFAULT_RELEASE) -> dict:
    config = {"pebble": {"listenAddress": f"0.0.0.0:{API_PORT}",
                         "managementListenAddress": f"127.0.0.1:{MANAGEMENT_PORT}",
                         "certificate": "/etc/pebble/api.crt", "privateKey": "/etc/pebble/api.key",
                         "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "",
                         "externalAccountBindingRequired": False}}
    box = vps.client().containers.run(
        image(release), ["sh", "-c", START], name=name, hostname=name, network=network, detach=True,
        labels={vps.LABEL: ""},
        environment={"NAME": name, "ANSWER": answer, "CONFIG": json.dumps(config),
                     "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"})
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        box.reload()
        if box.status != "running":
            raise PebbleError(f"{name} stopped: {box.logs(tail=5).decode(errors='replace')}")
        if vps.execute(box, "curl", "-sfk", f"https://127.0.0.1:{API_PORT}/dir", check=False).startswith("{"):
            break
        time.sleep(0.5)
    else:
        raise PebbleError(f"{name}: Pebble did not answer within {START_TIMEOUT_S} s: {box.logs(tail=5).decode()}")
    return {
        "name": name,
        "directory": f"https://{name}:{API_PORT}/dir",
        "api_ca": vps.execute(box, "cat", "/etc/pebble/api.crt"),
        "root": vps.execute(box, "curl", "-sfk", f"https://127.0.0.1:{MANAGEMENT_PORT}/roots/0"),
    }


def down(name: str) -> None:
    if (box := vps.container(name)) is not None:
        box.remove(force=True)
