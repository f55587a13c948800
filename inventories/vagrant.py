"""The Vagrant VM of the Vagrantfile: `vagrant up`, then `pyinfra inventories/vagrant.py deploy.py`.

pyinfra's @vagrant connector reads `vagrant ssh-config`, so whatever provider and port Vagrant
chose, pyinfra connects as Vagrant does (user vagrant, its key) and deploys with sudo.
"""

_vm = [("@vagrant/peakready", {"_sudo": True})]

# One VM holds every role, as a single VPS does.
web_servers = _vm
app_servers = _vm
db_primary = _vm
cache_servers = _vm
monitoring = _vm
