"""The Vagrantfile's box: `vagrant up`, then `pyinfra inventories/vagrant.py deploy.py`.

pyinfra's @vagrant connector reads `vagrant status` and `vagrant ssh-config` (run from the
repository's root, where the Vagrantfile is), so whatever provider and port Vagrant chose, pyinfra
connects as Vagrant does: user vagrant, the key Vagrant made for this box, and sudo for the deploy.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from targets.inventory import local_data
from targets.packages import proxysql_package

# The box runs Debian 12: ProxySQL from a shared/packages/ folder beside the checkout when it is there, else ProxySQL's
# repository (targets/packages.py; one line says which).
proxysql = proxysql_package("bookworm")
print(f"peakready: {proxysql.why}.", file=sys.stderr)

_box = [("@vagrant/peakready", {
    "_sudo": True,
    # As `vagrant ssh` itself does (see `vagrant ssh-config`): the box is made anew by each `vagrant
    # up`, with new host keys, on a loopback port, so no host key is pinned for it.
    "ssh_strict_host_key_checking": "no",
    "ssh_known_hosts_file": "/dev/null",
    **local_data(proxysql.data),
})]

# One box holds every role, as a single VPS does.
web_servers = _box
app_servers = _box
db_primary = _box
cache_servers = _box
monitoring = _box
sample_app = _box  # the sample app, with its settings (group_data/sample_app.py)
