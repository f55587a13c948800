"""Restore the app's database, in one of two ways.

To a second, from the backup host (backup_servers): rebuild a fresh db host from the newest base
backup before that second and the binary logs up to its end (docs/backups.md):

    pyinfra inventories/prod.py restore.py --data restore_at="YYYY-MM-DD HH:MM:SS"
        [--data restore_to=HOST] [--data restore_source=HOST]

restore_at is UTC; restore_to is the host to rebuild (default: the db_primary host, e.g. a new VPS
in place of a lost one), which must hold no database; restore_source the host whose backups to use
(default: the db_primary host's name). Refused before any change when the backups do not cover the
second. Then run deploy.py, which configures the rebuilt host (and, when it replaces the primary
under the same name, begins a new span of its binary logs on the backup host with a base backup:
until a deploy that includes the backup host, with no --limit leaving it out, the shipping waits).

From a daily dump on the db_primary host (`make restore INTO=... FROM=...`):

    pyinfra inventories/prod.py restore.py --data restore_into=DATABASE
        [--data restore_from=latest|/var/backups/mariadb/<file>.sql.gz] [--data restore_replace=true]

Restore into a scratch database first and check it; a database that has tables is only
overwritten with restore_replace=true.
"""

from pyinfra import host, state
from pyinfra.api.exceptions import PyinfraError
from pyinfra.operations import python, server

from peakready import backup, topology
from peakready.preflight import inventory_secrets
from peakready.validate import run_args

args = run_args(host.data.dict(), ("restore_at", "restore_to", "restore_source"))
if args["restore_at"]:
    topo = topology.of_inventory(state.inventory)
    keepers = topo.in_tier("backup")
    target = args["restore_to"] or topo.primary
    if not keepers:
        raise PyinfraError("restore_at needs the backups of a backup_servers host: this inventory has none.")
    if target not in topo.groups:
        raise PyinfraError(f"restore_to={target}: no such host in this inventory.")
    if "db" not in topo.tiers(target):
        raise PyinfraError(f"restore_to={target}: {target} is not a db host of this inventory (it is in "
                           f"{', '.join(topo.groups[target])}): name the db host to rebuild.")
    # Hosts that did not answer are known before any operation runs: refused then, with nothing changed.
    for name, what in ((keepers[0], "its backup host (backup_servers), which holds the backups"),
                       (target, "the host to rebuild (restore_to)")):
        if state.inventory.get_host(name) in state.failed_hosts:
            raise PyinfraError(f"restore_at: {name}, {what}, does not answer: bring it back (or name another in "
                               "the inventory) and run again; nothing was changed.")
    if host.name == keepers[0]:
        python.call(
            name=f"Rebuild {target} to {args['restore_at']} UTC from the backups of "
                 f"{args['restore_source'] or topo.primary}",
            function=backup.restore_to_time,
            keeper=host,
            target=state.inventory.get_host(target),
            source=args["restore_source"] or topo.primary,
            at=args["restore_at"],
            db=host.data.app_db_name,
            secrets=inventory_secrets(),
        )
else:
    args = run_args(host.data.dict(), ("restore_into", "restore_from", "restore_replace"))
    into, source = args["restore_into"], args["restore_from"]
    replace = " --replace" if args["restore_replace"] else ""
    if "db_primary" in host.groups:
        server.shell(
            name=f"Restore {source} into {into}",
            commands=[f"/usr/local/sbin/peakready-mariadb-restore {source} {into}{replace}"],
        )
