"""Make a replica the primary: `pyinfra INVENTORY promote.py --data promote=db2` (`make promote
PRIMARY=db2` for the local topology). A switchover when the primary answers, a failover when it is
dead; then run deploy.py, which follows the new primary (peakready/promote.py says how).
"""

from pyinfra import host, state
from pyinfra.operations import python

from peakready import promote, topology
from peakready.preflight import inventory_secrets
from peakready.validate import run_args

topo = topology.of_inventory(state.inventory)
new_primary = promote.target(topo, run_args(host.data.dict(), ("promote",))["promote"])
if host.name == new_primary:
    python.call(
        name=f"Promote {new_primary}: switchover from {topo.primary}, or failover if it is dead",
        function=promote.promote,
        new_name=new_primary,
        topo=topo,
        data=host.data,
        secrets=inventory_secrets(),
        record_to=promote.inventory_key_file(host.data),
    )
