"""peakready: `pyinfra inventories/prod.py deploy.py` provisions every host of the inventory.

Each host first passes the pre-flight checks (knobs, inventory), then gets the roles of the groups
it is in, in dependency order (peakready/roles/__init__.py).
"""

from pyinfra import host

from peakready.preflight import check_host
from peakready.roles import roles_for

check_host()
for role in roles_for(host.groups):
    role()
