"""Restore the app's database from a backup made by the daily timer, on the db_primary host:

    pyinfra inventories/prod.py restore.py --data restore_into=DATABASE
        [--data restore_from=latest|/var/backups/mariadb/<file>.sql.gz] [--data restore_replace=true]

Restore into a scratch database first and check it; a database that has tables is only
overwritten with restore_replace=true (`make restore INTO=... FROM=...` runs this on INVENTORY).
"""

import re

from pyinfra import host
from pyinfra.api.exceptions import PyinfraError
from pyinfra.operations import server

into = str(host.data.get("restore_into") or "")
source = str(host.data.get("restore_from") or "latest")
if not re.fullmatch(r"[a-z_][a-z0-9_]{0,63}", into):
    raise PyinfraError("restore_into must name the database to restore into (a-z, 0-9, _): "
                       "--data restore_into=scratch_db")
if source != "latest" and not re.fullmatch(r"/[A-Za-z0-9._/-]+\.sql\.gz", source):
    raise PyinfraError("restore_from must be latest or the path of a .sql.gz dump on the host.")

if "db_primary" in host.groups:
    replace = " --replace" if host.data.get("restore_replace") is True else ""
    server.shell(
        name=f"Restore {source} into {into}",
        commands=[f"/usr/local/sbin/peakready-mariadb-restore {source} {into}{replace}"],
    )
