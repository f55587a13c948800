"""The reference multi-host topology on local VPSes (`make up-multi`): lb (nginx), app1 and app2
(the app and ProxySQL each; app2 also pulls the backups), db1 (the MariaDB primary, and Redis), db2
(a MariaDB replica).

    PEAKREADY_MULTI=<prefix>        which topology (default: peakready-multi; targets/multi.py)
    PEAKREADY_DATA=<file.json>      knobs for this run, over group_data

Each host is reached as a real one is, over SSH (see inventories/docker.py), and its peers reach its
services on its private address: its address on the topology's own Docker network. After
`promote.py`, the primary it recorded wins over the one named here (peakready/topology.py).
"""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from peakready import topology  # noqa: E402
from peakready.knobs import KnobError  # noqa: E402
from targets.inventory import host_data  # noqa: E402
from targets.multi import DEFAULT_PREFIX, HOSTS, container  # noqa: E402
from targets.packages import proxysql_package  # noqa: E402
from targets.vps import refresh  # noqa: E402

prefix = os.environ.get("PEAKREADY_MULTI", DEFAULT_PREFIX)
_state = topology.state_file(f"docker_multi-{prefix}")
_extra = json.loads(Path(os.environ["PEAKREADY_DATA"]).read_text()) if os.environ.get("PEAKREADY_DATA") else {}
_hosts = {}
for _name in HOSTS:
    _file = ROOT / ".peakready" / "vps" / f"{container(prefix, _name)}.json"
    if not _file.exists():
        sys.exit(f"peakready: no local VPS {container(prefix, _name)}: run `make up-multi` "
                 f"(or `.venv/bin/python targets/multi.py up --prefix {prefix}`) first.")
    _vps = refresh(container(prefix, _name))  # the ports and address as they are now (a restart changes them)
    _hosts[_name] = (_name, {
        **host_data(_vps, proxysql_package(_vps["release"]).data),
        "private_address": _vps["address"],
        # Where promote.py records the primary.
        "_peakready_topology": str(_state),
        **_extra,
    })

try:
    _groups = topology.promoted({group: [h for h, (groups, *_rest) in HOSTS.items() if group in groups]
                                 for group in ("web_servers", "app_servers", "db_primary", "db_replicas",
                                               "cache_servers", "monitoring", "backup_servers")}, _state)
except KnobError as _error:
    sys.exit(f"peakready: {_error}")

web_servers = [_hosts[h] for h in _groups["web_servers"]]
app_servers = [_hosts[h] for h in _groups["app_servers"]]
db_primary = [_hosts[h] for h in _groups["db_primary"]]
db_replicas = [_hosts[h] for h in _groups["db_replicas"]]
cache_servers = [_hosts[h] for h in _groups["cache_servers"]]
monitoring = [_hosts[h] for h in _groups["monitoring"]]
backup_servers = [_hosts[h] for h in _groups["backup_servers"]]
# The sample app, with its settings (group_data/sample_app.py), unless PEAKREADY_DATA names another app.
if "app_source" not in _extra:
    sample_app = list(_hosts.values())
