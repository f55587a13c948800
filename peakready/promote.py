"""Make a replica the primary, with MariaDB's own GTIDs and semi-synchronous replication
(promote.py at the top of the repository runs it; `make promote PRIMARY=db2`).

Switchover, when the primary's MariaDB answers: it stops taking writes (read_only: the commits in
flight finish, new writes are refused), the new primary applies everything up to the old one's last
GTID, then takes writes, and the old primary and the other replicas replicate from it. Nothing
acknowledged is lost, and the old primary is a healthy replica at once.

Failover, when it does not (its host or its MariaDB is dead): the new primary first applies all it
received (with semi-synchronous replication that is every write the app saw acknowledged), then
takes writes; the other replicas replicate from it. It must be the most advanced of the live
replicas: another one is refused, naming the one to promote.

Either way ProxySQL on the app hosts follows by itself (it watches read_only), and the new primary
is recorded (peakready/topology.py) so the inventory names it from now on. A dead old primary comes
back read-only (its config says so); the next deploy.py makes it a replica of the new one, starting
from a fresh copy (it may hold writes nobody saw acknowledged).

Everything runs from one operation on the new primary, through each db host's own connection, so
the steps keep their order across hosts; a switchover that fails before the new primary takes
writes gives the old one its writes back.
"""

from __future__ import annotations

import re
import shlex
import time
import uuid
from io import StringIO
from typing import Literal, overload

from pyinfra import logger, state
from pyinfra.api.exceptions import OperationError

from peakready import topology
from peakready.knobs import KnobError
from peakready.ops import shell
from peakready.roles.mariadb import REPLICA_SQL, change_master_sql
from peakready.secrets import Secrets

CATCH_UP_S = 60  # the most a new primary gets to apply what it has or what the old one wrote
DEAD_AFTER_S = 5  # a MariaDB that does not answer within this is dead (the connection attempt)


def target(topo: topology.Topology, value) -> str:
    """The host to promote (--data promote=NAME), or KnobError naming the choices."""
    if value in topo.replicas:
        return value
    if value and value == topo.primary:
        raise KnobError(f"--data promote={value}: {value} is the primary already.")
    raise KnobError(f"--data promote={value or ''} is not a replica of this inventory: name one of "
                    f"{', '.join(topo.replicas) or '(none: add db_replicas first)'}.")


@overload
def sql(db_host, query: str, check: Literal[True] = True, timeout_s: int = DEAD_AFTER_S) -> list[str]: ...
@overload
def sql(db_host, query: str, check: bool, timeout_s: int = DEAD_AFTER_S) -> list[str] | None: ...
def sql(db_host, query: str, check: bool = True, timeout_s: int = DEAD_AFTER_S) -> list[str] | None:
    """`query` as root on `db_host` (unix socket): its rows, tab-separated; None when MariaDB does
    not answer within timeout_s (check=False) or OperationError."""
    ok, output = shell(db_host, f"timeout {timeout_s} mariadb -N -B -e {shlex.quote(query)}")
    if ok:
        return output.stdout_lines
    if check:
        raise OperationError(f"{db_host.name}: {query!r} failed: {getattr(output, 'stderr', output)}")
    return None


def slave_status(db_host) -> dict[str, str]:
    """SHOW SLAVE STATUS of `db_host`, by column name ({} when it replicates from nobody)."""
    ok, output = shell(db_host, f"timeout {DEAD_AFTER_S} mariadb -B -e 'SHOW SLAVE STATUS'")
    lines = output.stdout_lines if ok else []
    return dict(zip(lines[0].split("\t"), lines[1].split("\t"))) if len(lines) > 1 else {}


def seq(gtid_pos: str) -> int:
    """The highest sequence number of a GTID position ("0-1-42,1-2-7" -> 42): how far a server got
    (one domain per topology, as peakready runs it)."""
    return max((int(n) for n in re.findall(r"\d+-\d+-(\d+)", gtid_pos)), default=0)


def wait_for(db_host, gtid_pos: str, what: str) -> None:
    """`db_host` has applied `gtid_pos` (MASTER_GTID_WAIT), within CATCH_UP_S, or OperationError."""
    rows = sql(db_host, f"SELECT MASTER_GTID_WAIT('{gtid_pos}', {CATCH_UP_S})", timeout_s=CATCH_UP_S + DEAD_AFTER_S)
    if not rows or rows[0] != "0":
        raise OperationError(f"{db_host.name} did not apply {what} ({gtid_pos}) within {CATCH_UP_S} s.")


def follow(db_host, primary_address: str, data, secrets: Secrets, was_primary: bool) -> None:
    """`db_host` replicates from the new primary; the password travels in a 0600 file, removed after."""
    first = "SET GLOBAL gtid_slave_pos = @@global.gtid_binlog_pos;\n" if was_primary else ""
    body = "STOP SLAVE;\n" + first + change_master_sql(primary_address, data, secrets) + "START SLAVE;\n"
    sudo = bool(db_host.data.get("_sudo"))
    db_host.put_file(StringIO(body), REPLICA_SQL, remote_temp_filename=f"/tmp/peakready-{uuid.uuid4().hex}", _sudo=sudo)
    ok, output = shell(db_host, f"chmod 600 {REPLICA_SQL}; mariadb < {REPLICA_SQL}; rc=$?; rm -f {REPLICA_SQL}; exit $rc")
    if not ok:
        raise OperationError(f"{db_host.name} could not replicate from the new primary: {output.stderr}")


def promote(new_name: str, topo: topology.Topology, data, secrets: Secrets, record_to: str) -> None:
    hosts = {h.name: h for h in state.inventory}
    if topo.primary is None:
        raise OperationError("the inventory names no db_primary host to switch from")
    new, old = hosts[new_name], hosts[topo.primary]
    others = [hosts[r] for r in topo.replicas if r != new_name]
    started = time.monotonic()
    old_alive = old in state.activated_hosts and sql(old, "SELECT 1", check=False) is not None
    if old_alive:
        sql(old, "SET GLOBAL read_only = 1")
        try:
            last = sql(old, "SELECT @@global.gtid_binlog_pos")[0]
            wait_for(new, last, "the primary's last write")
            sql(new, "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0")
        except OperationError:
            sql(old, "SET GLOBAL read_only = 0")  # the primary takes writes again: nothing changed
            raise
        logger.info(f"switchover: {old.name} read-only at {last}; {new.name} caught up")
    else:
        if old in state.activated_hosts:
            # Its host answers but its MariaDB does not (hung, overloaded): stopped for good before
            # another takes writes, or two primaries would. A host that does not answer at all
            # comes back read-only (its config says so).
            ok, output = shell(old, f"timeout {CATCH_UP_S} systemctl stop mariadb")
            if not ok:
                raise OperationError(f"{old.name}'s MariaDB does not answer and could not be stopped: stop it "
                                     "(or its host) first, then run promote.py again.")
        # Semi-sync acknowledges a write once a replica has received it: the one that received most wins.
        received = {r.name: slave_status(r).get("Gtid_IO_Pos", "") for r in [new, *others]}
        ahead = [name for name, pos in received.items() if seq(pos) > seq(received[new.name])]
        if ahead:
            raise OperationError(f"{ahead[0]} has more of the dead primary's writes than {new.name}: "
                                 f"promote {ahead[0]} instead (--data promote={ahead[0]}).")
        sql(new, "STOP SLAVE IO_THREAD")
        wait_for(new, slave_status(new).get("Gtid_IO_Pos", ""), "everything it received")
        sql(new, "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0")
        logger.info(f"failover: {old.name} is not answering; {new.name} applied everything it received")
    topology.record_primary(topology.Path(record_to), new.name)
    logger.info(f"{new.name} takes writes {time.monotonic() - started:.1f} s after the start; recorded in {record_to}")
    address = topo.address(new.name)
    for follower, was_primary in [(r, False) for r in others] + ([(old, True)] if old_alive else []):
        if sql(follower, "SELECT 1", check=False) is None:
            logger.warning(f"{follower.name} does not answer: the next deploy.py makes it a replica of {new.name}.")
            continue
        follow(follower, address, data, secrets, was_primary)


def inventory_key_file(data) -> str:
    """Where the inventory reads its primary from (host data _peakready_topology), or KnobError."""
    path = data.get("_peakready_topology")
    if not path:
        raise KnobError("this inventory does not say where promote.py records the primary: set "
                        "_peakready_topology on its hosts (inventories/prod.py and docker_multi.py do).")
    return path
