"""peakready: `pyinfra inventories/prod.py deploy.py` provisions every host of the inventory.

Each host first passes the pre-flight checks (knobs, inventory, the capacity plan of the whole
inventory from live facts); then it gets the roles of the groups it is in, in dependency order
(peakready/roles/__init__.py: every host's MariaDB before any app host), each sized by its part of the plan.
"""

from pyinfra import host

from peakready.preflight import check_host
from peakready.roles import apply

apply(host.groups, check_host())
