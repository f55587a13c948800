"""Backups that leave the db hosts, pulled by the one host of the backup_servers group.

The backup host holds everything: the restic repository (encrypted with restic_password,
deduplicated) with the primary's base backups, and the primary's binary logs, shipped as they are
written by `mariadb-binlog --read-from-remote-server --raw --stop-never` as a replication client
(backup_binlog_user: REPLICATION SLAVE, BINLOG MONITOR, from the backup host's address only).

It pulls. A base backup is `mariadb-backup --backup --stream=xbstream` run on the primary over SSH
and piped into `restic backup --stdin` here: no full copy on either disk. The db hosts accept the
backup host's key for one forced command (templates/backup/peakready-backup-remote), from its
address only. So a db host holds no credential to the repository at all, and whoever takes over a
db host cannot delete or alter a single backup; the backup host alone runs `forget --prune`.

Restoring to a second (restore.py --data restore_at=...) runs from one operation on the backup host,
which reaches the target through the inventory's own connection first: the target must hold no
database, then it is armed for an hour; the backup host streams the newest base backup before that
second to it, then replays the binary logs up to the end of that second.

The backup host's SSH key is derived from the secret backup_ssh_seed, so the deploy knows its public
half for the db hosts' authorized_keys before the backup host exists, and rotating the secret
rotates the key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import shlex
import struct
from io import StringIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from peakready import ROOT
from peakready.monitoring import TEXTFILE_DIR
from peakready.ops import shell
from peakready.secrets import Secrets

TOOL = "/usr/local/sbin/peakready-backup"  # on the backup host
REMOTE = "/usr/local/sbin/peakready-backup-remote"  # on db hosts: the key's forced command
ARMED = "/etc/peakready-backup/restore-armed"
KEY_COMMENT = "peakready-backup"
CONFIG = "/etc/peakready-backup/backup.json"
SSH_KEY = "/etc/peakready-backup/backup-ssh-key"
SSH_CONFIG = "/etc/peakready-backup/backup-ssh.conf"
KNOWN_HOSTS = "/etc/peakready-backup/backup-known-hosts"
BINLOG_CNF = "/etc/peakready-backup/binlog.cnf"
PASSWORD = "/etc/peakready-backup/restic-password"  # the one in use (the tool renews it)
PASSWORD_WANTED = "/etc/peakready-backup/restic-password.wanted"
# The server id the shipping presents to the primary as a replication client: MariaDB's largest, one
# past the range the plan gives db hosts (peakready/plan/parts.py server_ids: at most 2**32 - 2), so it
# never takes a replica's.
SHIP_SERVER_ID = 2**32 - 1
# In <backup_root>/binlogs/<source>/ on the backup host: a restore rebuilt <source> under its own name;
# the tool's shipping waits and its `follow` begins a new span (the tool's REBUILT, the same name).
REBUILT = ".rebuilt"
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"
# The daily restore test's scratch server: its own system user and directory (0700), on the backup host.
SCRATCH_USER = "peakready-restore-test"
SCRATCH = "/var/lib/peakready-restore-test"
# The figures the tool writes for the node exporter's textfile collector.
BACKUP_FIGURES = f"{TEXTFILE_DIR}/peakready_backup.prom"
RESTORE_TEST_FIGURES = f"{TEXTFILE_DIR}/peakready_backup_restore_test.prom"
# The files the deploy puts on the hosts as they are (no template: no knob in them).
REMOTE_SCRIPT = ROOT / "templates" / "backup" / "peakready-backup-remote"
TOOL_SCRIPT = ROOT / "templates" / "backup" / "peakready-backup.py"


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def ssh_key(secrets: Secrets) -> tuple[str, str]:
    """(private key in OpenSSH's format, public key line) derived from backup_ssh_seed. The same seed
    gives the same bytes (OpenSSH's check integers come from it too), so a deploy that changes nothing
    rewrites nothing."""
    seed = hashlib.sha256(b"peakready backup ssh key\0" + secrets.get("backup_ssh_seed").encode()).digest()
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    blob = _string(b"ssh-ed25519") + _string(public)
    check = hashlib.sha256(b"check\0" + seed).digest()[:4]
    private = check + check + blob + _string(seed + public) + _string(KEY_COMMENT.encode())
    private += bytes(range(1, 1 + (-len(private)) % 8))
    body = (b"openssh-key-v1\0" + _string(b"none") + _string(b"none") + _string(b"") + struct.pack(">I", 1)
            + _string(blob) + _string(private))
    text = base64.b64encode(body).decode()
    pem = "\n".join(text[i:i + 70] for i in range(0, len(text), 70))
    line = f"ssh-ed25519 {base64.b64encode(blob).decode()} {KEY_COMMENT}"
    return f"-----BEGIN OPENSSH PRIVATE KEY-----\n{pem}\n-----END OPENSSH PRIVATE KEY-----\n", line


def authorized_line(public: str, backup_address: str) -> str:
    """root's authorized_keys line on a db host: the backup host's key, from its address, running
    the forced command and nothing else (no pty, no forwarding)."""
    return f'restrict,from="{backup_address}",command="{REMOTE}" {public}'


def tool_config(data, topo, port: int) -> str:
    """/etc/peakready-backup/backup.json: what the backup host's tool reads."""
    return json.dumps({
        "root": data.backup_root,
        "primary": topo.primary,
        "addresses": {name: topo.address(name) for name in topo.in_tier("db")},
        "mariadb_port": port,
        "keep_daily": data.backup_keep_daily,
        "keep_weekly": data.backup_keep_weekly,
        "ship_server_id": SHIP_SERVER_ID,
        "figures": {"backup": BACKUP_FIGURES, "restore_test": RESTORE_TEST_FIGURES},
        "database": data.app_db_name,  # what the restore test checks
        "scratch": SCRATCH, "scratch_user": SCRATCH_USER,
        "password": PASSWORD, "password_wanted": PASSWORD_WANTED, "ssh_config": SSH_CONFIG, "binlog_cnf": BINLOG_CNF,
    }, indent=2, sort_keys=True) + "\n"


def restore_command(source: str, at: str, address: str, port: int, hostkey: str, rebuilds_source: bool = False) -> str:
    """The backup host's restore; rebuilds_source: the target is `source` itself, new under its name
    (its shipping then waits for the deploy's new span: REBUILT)."""
    words = (TOOL, "restore", source, at, address, str(port), hostkey, *(["--rebuilds-source"] if rebuilds_source else []))
    return " ".join(shlex.quote(a) for a in words)


def restore_to_time(keeper, target, source: str, at: str, db: str, secrets: Secrets) -> None:
    """Rebuild `target` (a pyinfra host, fresh) to the second `at` (UTC) from the backups of
    `source`, from one operation on `keeper`, the backup host. Refused, before any change, when the
    target holds the app's database or the backups do not cover `at`."""
    from pyinfra import logger, state
    from pyinfra.api.exceptions import OperationError

    from peakready import topology

    topo = topology.of_inventory(state.inventory)
    ok, out = shell(target, f"test -d /var/lib/mysql/{shlex.quote(db)} && echo has || echo none")
    if not ok:
        raise OperationError(f"restore_to={target.name}: {target.name} does not answer: {getattr(out, 'stderr', out)}")
    if out.stdout.strip() != "none":
        running = shell(target, "systemctl is-active --quiet mariadb")[0]
        raise OperationError(f"restore_to={target.name}: {target.name} still holds the database {db} (MariaDB "
                             f"{'running' if running else 'stopped'}): a restore rebuilds a fresh host; name one, or "
                             f"move /var/lib/mysql aside there first.")
    ok, out = shell(keeper, f"{TOOL} coverage {shlex.quote(source)}")
    if not ok:
        said = getattr(out, "stderr", str(out))
        if "wrong password" in said:
            raise OperationError(f"the restic password on {keeper.name} does not open the backup repository: give "
                                 "PEAKREADY_SECRET_RESTIC_PASSWORD the one it was created with, and deploy.")
        raise OperationError(f"restore_source={source}: its backups cannot be read on {keeper.name}: {said}")
    span = json.loads(out.stdout)
    if at == "latest" and span["until"] is not None:
        at = _utc(int(span["until"]))  # the newest whole second the backups hold
    when = _epoch(at) if at != "latest" else 0.0
    if span["from"] is None or not span["from"] <= when <= (span["until"] or 0):
        raise OperationError(f"restore_at={at} is outside what the backups of {source} cover: "
                             + (f"{_utc(span['from'])} to {_utc(span['until'])} (UTC)." if span["from"] is not None
                                else "there is no base backup of it yet."))
    # The target: MariaDB's packages (its data is replaced), stopped; the backup host's key for the
    # forced command; armed for one restore.
    _, public = ssh_key(secrets)
    keeper_address = topo.address(keeper.name)
    steps = [
        "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && "
        "apt-get install -y -qq --no-install-recommends mariadb-server mariadb-backup > /dev/null",
        "systemctl stop mariadb",
        "install -d -m 700 /etc/peakready-backup /root/.ssh",
        f"touch /root/.ssh/authorized_keys && sed -i '/ {KEY_COMMENT}$/d' /root/.ssh/authorized_keys && "
        f"echo {shlex.quote(authorized_line(public, keeper_address))} >> /root/.ssh/authorized_keys",
    ]
    for step in steps:
        ok, out = shell(target, step)
        if not ok:
            raise OperationError(f"{target.name}: preparing the restore failed: {getattr(out, 'stderr', out)}")
    if not target.put_file(StringIO(REMOTE_SCRIPT.read_text()), REMOTE, _sudo=bool(target.data.get("_sudo"))):
        raise OperationError(f"{target.name}: could not upload {REMOTE}")
    shell(target, f"chmod 755 {REMOTE} && touch {ARMED} && chmod 600 {ARMED}")
    ok, out = shell(target, f"cat {HOST_KEY}")
    hostkey = " ".join(out.stdout.split()[:2]) if ok else ""
    port = target.data.get("sshd_port", 22)
    ok, out = shell(keeper, restore_command(source, at, topo.address(target.name), port, hostkey,
                                            rebuilds_source=target.name == source))
    if not ok:
        shell(target, f"rm -f {ARMED}")
        raise OperationError(f"the restore of {target.name} failed: {getattr(out, 'stderr', out)}")
    logger.info(f"peakready: restored {target.name} to {at} from {source}: {out.stdout.strip()}"
                + (f"; its backups go on after deploy.py on the whole inventory ({keeper.name} included)"
                   if target.name == source else ""))


def _epoch(at: str) -> float:
    return dt.datetime.strptime(at, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC).timestamp()


def _utc(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
