"""Take app hosts out of every nginx's upstream, or put them all back: a rolling release's step
(`python -m peakready.roll`, `make release`, runs it around each app host's deploy).

    pyinfra inventories/prod.py drain.py --data app_drained=app1     app1 gets no new request
    pyinfra inventories/prod.py drain.py                             every app host gets requests again

Each web host's site is written again with the drained hosts marked `down` in the upstream and nginx
reloaded gracefully: its old workers finish the requests they hold, the new ones send the drained
hosts nothing. Refused before any change when a name is not an app host of the inventory, or when
it would drain every app host.
"""

from pyinfra import host, state
from pyinfra.api.exceptions import PyinfraError

from peakready import topology
from peakready.preflight import check_host
from peakready.roles.nginx import nginx
from peakready.validate import run_args

topo = topology.of_inventory(state.inventory)
given = run_args(host.data.dict(), ("app_drained",))["app_drained"]
drained = tuple(name for name in given.split(",") if name)
apps = topo.in_tier("app")
for name in drained:
    if name not in apps:
        raise PyinfraError(f"app_drained={given}: {name} is not an app host of this inventory "
                           f"(they are {', '.join(apps)}).")
if drained and set(apps) <= set(drained):
    raise PyinfraError(f"app_drained={given}: that is every app host, and the site would have none to send "
                       "requests to: drain fewer at a time.")
if "web" in topo.tiers(host.name):
    deployment = check_host()
    nginx(plan=deployment.plan, secrets=deployment.secrets, drained=drained)
