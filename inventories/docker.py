"""The local test VPS (`make up`): one container in every group, as a single VPS is.

    PEAKREADY_VPS=<container name>   which local VPS (default: peakready-vps)
    PEAKREADY_DATA=<file.json>       knobs for this run, over group_data (e.g. another app_source)
    PEAKREADY_BACKUP=<container>     a second local VPS on the same network that pulls the backups
                                     (backup_servers): off the VPS, as docs/backups.md asks

It serves the sample app (app/, its settings in group_data/sample_app.py) unless PEAKREADY_DATA
names another app_source.

Why SSH on the published port, not pyinfra's @docker connector: a real VPS is reached over SSH,
so the local one is too. Same connector, same file transfer (SFTP), same login as root by key as
on a fresh cloud server; only the address differs. The key is a throwaway made by targets/vps.py
and the container's host key is pinned (strict checking), nothing is trusted on first use.
"""

import json
import os
import sys
from pathlib import Path

name = os.environ.get("PEAKREADY_VPS", "peakready-vps")
ROOT = Path(__file__).resolve().parent.parent
state = ROOT / ".peakready" / "vps" / f"{name}.json"
if not state.exists():
    sys.exit(f"peakready: no local VPS named {name}: run `make up` "
             f"(or `.venv/bin/python targets/vps.py up --name {name}`) first.")
sys.path.insert(0, str(ROOT))
from targets.inventory import host_data  # noqa: E402
from targets.packages import proxysql_package  # noqa: E402
from targets.vps import refresh  # noqa: E402

# The ports as Docker publishes them now (they change when the container restarts).
vps = refresh(name)

# ProxySQL for the local VPS: a package you give (PEAKREADY_PROXYSQL_DEB), else one in a
# shared/packages/ folder beside the checkout, else ProxySQL's repository, else none
# (targets/packages.py says the order and why). One line says which.
proxysql = proxysql_package(vps["release"])
print(f"peakready: {proxysql.why}.", file=sys.stderr)

_host = [(name, host_data(vps, proxysql.data))]
_backup = []
if os.environ.get("PEAKREADY_BACKUP"):
    # Then the VPS has a peer: each reaches the other on its address on their Docker network.
    if not (ROOT / ".peakready" / "vps" / f"{os.environ['PEAKREADY_BACKUP']}.json").exists():
        sys.exit(f"peakready: PEAKREADY_BACKUP={os.environ['PEAKREADY_BACKUP']}: no local VPS of that name: start "
                 f"it with `.venv/bin/python targets/vps.py up --name {os.environ['PEAKREADY_BACKUP']} "
                 f"--network {vps['network']}`.")
    _keeper = refresh(os.environ["PEAKREADY_BACKUP"])
    if _keeper["network"] != vps["network"]:
        sys.exit(f"peakready: the backup host {_keeper['name']} is on the network {_keeper['network']}, "
                 f"{name} on {vps['network']}: start it with --network {vps['network']}.")
    _host[0][1]["private_address"] = vps["address"]
    _backup = [(_keeper["name"], {**host_data(_keeper, proxysql.data), "private_address": _keeper["address"]})]

# Knobs for this run from a JSON file (PEAKREADY_DATA=path), laid over group_data: how the tests
# deploy other apps than the sample one, and a quick way to try a setting on the local VPS.
_extra = json.loads(Path(os.environ["PEAKREADY_DATA"]).read_text()) if os.environ.get("PEAKREADY_DATA") else {}
for _name, _data in _host + _backup:
    _data.update(_extra)

# One VPS holds every role (no replicas: those come with several hosts).
web_servers = _host
app_servers = _host
db_primary = _host
cache_servers = _host
monitoring = _host  # Prometheus, scraping this VPS's exporters on loopback
backup_servers = _backup
# The sample app, with its settings (group_data/sample_app.py), unless PEAKREADY_DATA names another app.
if "app_source" not in _extra:
    sample_app = _host + _backup  # the hosts' services agree on the app's knobs
