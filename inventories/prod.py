"""Real servers: `pyinfra inventories/prod.py deploy.py`.

Say which hosts, in ONE of two ways:
  - environment variables (nothing to edit, nothing to commit):
        PEAKREADY_HOSTS=203.0.113.10         one VPS: it gets every role
    or, once one VPS is outgrown, per group (comma-separated; a host may be in several):
        PEAKREADY_WEB_SERVERS  PEAKREADY_APP_SERVERS  PEAKREADY_DB_PRIMARY
        PEAKREADY_DB_REPLICAS  PEAKREADY_CACHE_SERVERS  PEAKREADY_MONITORING
    and, beside either, PEAKREADY_BACKUP_SERVERS: a host of its own that pulls the backups (never a
    db host; docs/backups.md)
  - or the lists in the marked block below.

Several hosts talk over their private network: give each host's private address (knob
private_address) with PEAKREADY_PRIVATE_ADDRESSES=db1.example.com=10.0.0.3,app1.example.com=10.0.0.4,...
or PRIVATE_ADDRESSES below. After `promote.py`, the primary it recorded in .peakready/topology/prod.json
wins over the one named here (the old primary becomes a replica).

Your settings (your site's names, your app, any knob of peakready/schema/) go in
inventories/group_data/prod.py, a file of your own that pyinfra reads beside this inventory, e.g.:
    server_names = ["shop.example.com"]
    app_source = "apps/shop"
    app_module = "shop.wsgi:app"
    app_worker_class = "gthread"
The pre-flight refuses a deploy that would serve no one (server_names only localhost) or no app
(app_source not set). PEAKREADY_SAMPLE_APP=1 deploys peakready's sample app instead, with its settings
(group_data/sample_app.py), to try a server; your settings file then names no app knob (app_*,
nginx_app_paths, ...): pyinfra lays it over the sample's.

SSH: PEAKREADY_SSH_USER (default root; any other user deploys with sudo), PEAKREADY_SSH_KEY (a
private key file; default: your SSH agent and ~/.ssh keys), PEAKREADY_SSH_PORT (default 22).
Host keys are checked against your known_hosts (~/.ssh/known_hosts), strictly: ssh to each host once
first, and compare the key it shows with the one your provider gives.
"""

import os
import sys

from peakready import topology, validate
from peakready.knobs import KnobError

# ===== EDIT HERE (or leave empty and use the environment variables above) =====================
# A list at the top level of an inventory is a pyinfra group: the underscore keeps this one out.
_HOSTS = []  # one VPS with every role, e.g. ["203.0.113.10"]
GROUPS = {
    "web_servers": [],  # nginx
    "app_servers": [],  # the app and ProxySQL beside it
    "db_primary": [],  # MariaDB, the one that takes writes
    "db_replicas": [],  # MariaDB replicas (reads)
    "cache_servers": [],  # Redis
    "monitoring": [],  # Prometheus (one host), scraping every host's exporters over the private network
    "backup_servers": [],  # backups (one host, not a db host): base backups and binary logs pulled from the primary
}
PRIVATE_ADDRESSES = {}  # host -> its private address, e.g. {"db1.example.com": "10.0.0.3"}
# ================================================================================================


def _from_env(name: str, default: list) -> list:
    value = os.environ.get(name)
    return list(default) if value is None else validate.host_list(name, value)


try:
    _groups = {group: _from_env(f"PEAKREADY_{group.upper()}", hosts) for group, hosts in GROUPS.items()}
    if not any(hosts for group, hosts in _groups.items() if group != "backup_servers"):
        # A single VPS: every role but replicas (and the backups, which need a host of their own) on
        # each host of _HOSTS.
        _single = _from_env("PEAKREADY_HOSTS", _HOSTS)
        _groups.update({g: _single for g in _groups if g not in ("db_replicas", "backup_servers")})
    if not any(_groups.values()):
        raise KnobError("inventories/prod.py has no hosts: set PEAKREADY_HOSTS=<your server> "
                        "(or the PEAKREADY_<GROUP> variables, or _HOSTS in inventories/prod.py) and run again.")
    _groups = topology.promoted(_groups, topology.state_file("prod"))
    validate.inventory({h: [g for g, hosts in _groups.items() if h in hosts] for hosts in _groups.values() for h in hosts})
    _private = dict(PRIVATE_ADDRESSES)
    if os.environ.get("PEAKREADY_PRIVATE_ADDRESSES"):
        _private.update(validate.host_map("PEAKREADY_PRIVATE_ADDRESSES", os.environ["PEAKREADY_PRIVATE_ADDRESSES"]))
except KnobError as _error:
    sys.exit(f"peakready: {_error}")

_user = os.environ.get("PEAKREADY_SSH_USER", "root")
# Strict: a host whose key is not in known_hosts is refused, never trusted on first use.
_ssh = {"ssh_user": _user, "ssh_port": int(os.environ.get("PEAKREADY_SSH_PORT", "22")), "ssh_strict_host_key_checking": "yes"}
if os.environ.get("PEAKREADY_SSH_KEY"):
    _ssh["ssh_key"] = os.environ["PEAKREADY_SSH_KEY"]
if _user != "root":
    _ssh["_sudo"] = True

_ssh["_peakready_topology"] = str(topology.state_file("prod"))  # where promote.py records the primary
# A server people reach: the pre-flight refuses a deploy that would serve no one or the sample app.
_ssh["_peakready_public"] = True


def _host(name: str) -> tuple:
    return (name, {**_ssh, "private_address": _private[name]} if name in _private else _ssh)


web_servers = [_host(h) for h in _groups["web_servers"]]
app_servers = [_host(h) for h in _groups["app_servers"]]
db_primary = [_host(h) for h in _groups["db_primary"]]
db_replicas = [_host(h) for h in _groups["db_replicas"]]
cache_servers = [_host(h) for h in _groups["cache_servers"]]
monitoring = [_host(h) for h in _groups["monitoring"]]
backup_servers = [_host(h) for h in _groups["backup_servers"]]
if os.environ.get("PEAKREADY_SAMPLE_APP") == "1":
    sample_app = [_host(h) for h in dict.fromkeys(h for hosts in _groups.values() for h in hosts)]
