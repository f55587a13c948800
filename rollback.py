"""Put the app back on the release before the live one, on every app host:

    pyinfra inventories/prod.py rollback.py        (make rollback INVENTORY=...)

The previous release's code (and virtualenv) is still on the host (app_releases_kept); `current`
is switched back atomically and the app reloaded gracefully (restarted if its packages differ).
A release rolled back from is not chosen by the next rollback; the next deploy goes live again.
"""

from pyinfra import host

from peakready import validate
from peakready.roles.app import roll_back

validate.knob_values(host.data.dict())  # app_name and app_releases_kept decide what is rolled back
if "app_servers" in host.groups:
    roll_back(name="Roll the app back to the previous release", data=host.data)
