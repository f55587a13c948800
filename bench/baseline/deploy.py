"""bench/'s `baseline` profile: where the runbooks start, deployed onto a local VPS for comparison.

Distribution defaults for MariaDB and nginx (no tuning, no upstream keepalive, no rate limits),
the same app from the same release code but one worker and no Redis cache, no ProxySQL, no kernel
tuning. Run by bench/run.py with
    pyinfra -y inventories/docker.py bench/baseline/deploy.py --data app_workers=1 \
        --data app_cache=false --data proxysql_enabled=false
The app role is peakready's own (releases, virtualenv, systemd unit): the unit is not what is
compared, the process count and the cache are.
"""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import apt, files, systemd

from peakready.preflight import check_host
from peakready.roles.app import app
from peakready.roles.mariadb import accounts

deployment = check_host()
plan, secrets, data = deployment.plan, deployment.secrets, host.data
if data.app_workers != 1 or data.app_cache or data.proxysql_enabled:
    raise SystemExit("bench/baseline/deploy.py: run with --data app_workers=1 --data app_cache=false "
                     "--data proxysql_enabled=false (see its docstring)")

apt.packages(name="MariaDB and nginx, as Debian ships them", packages=["mariadb-server", "nginx"],
             update=True, cache_time=data.apt_cache_valid_s, no_recommends=True)
systemd.service(name="MariaDB on", service="mariadb.service", running=True, enabled=True)
accounts(name=f"Database {data.app_db_name} and its users", data=data, secrets=secrets)

app(plan, secrets, deployment.release)

site = files.template(name="A plain proxy site (no upstream keepalive, no limits)",
                      src=str(Path(__file__).with_name("site.conf.j2")),
                      dest="/etc/nginx/sites-available/default", app_port=data.app_port)
systemd.service(name="nginx on", service="nginx.service", running=True, enabled=True)
systemd.service(name="Reload nginx for the site", service="nginx.service", reloaded=True, _if=site.did_change)
