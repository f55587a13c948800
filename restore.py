"""Restore the app's database from a backup made by the daily timer, on the db_primary host:

    pyinfra inventories/prod.py restore.py --data restore_into=DATABASE
        [--data restore_from=latest|/var/backups/mariadb/<file>.sql.gz] [--data restore_replace=true]

Restore into a scratch database first and check it; a database that has tables is only
overwritten with restore_replace=true (`make restore INTO=... FROM=...` runs this on INVENTORY).
"""

from pyinfra import host
from pyinfra.operations import server

from peakready.validate import run_args

args = run_args(host.data.dict(), ("restore_into", "restore_from", "restore_replace"))
into, source = args["restore_into"], args["restore_from"]

if "db_primary" in host.groups:
    replace = " --replace" if args["restore_replace"] else ""
    server.shell(
        name=f"Restore {source} into {into}",
        commands=[f"/usr/local/sbin/peakready-mariadb-restore {source} {into}{replace}"],
    )
