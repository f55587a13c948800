"""Role `backup`, on the one host of backup_servers; and its part on the db hosts (`backup_source`).
What it builds and why it pulls: peakready/backup.py."""

from __future__ import annotations

from io import StringIO

from pyinfra import host, state
from pyinfra.api import deploy
from pyinfra.facts.files import File, FileContents
from pyinfra.facts.server import Command
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from peakready import PORTS, topology
from peakready import backup as b
from peakready.monitoring import BACKUP_FIGURES_EVERY_S, TEXTFILE_DIR
from peakready.ops import config_file
from peakready.plan import HostPlan
from peakready.secrets import Secrets


def puller(topo: topology.Topology) -> str | None:
    """The backup host of the inventory, if it has one."""
    found = topo.in_tier("backup")
    return found[0] if found else None


@deploy("backup source")
def backup_source(secrets: Secrets):
    """On a db host of an inventory with a backup host: mariadb-backup, the forced command, and root's
    authorized_keys line for the backup host's key (from its address only)."""
    topo = topology.of_inventory(state.inventory)
    keeper = puller(topo)
    assert keeper, "backup_source runs only in an inventory with a backup host"
    apt.packages(name="Install mariadb-backup (hot physical backups)", packages=["mariadb-backup"], no_recommends=True)
    files.put(name="The backup host's only command here", src=str(b.REMOTE_SCRIPT),
              dest=b.REMOTE, mode="755")
    files.directory(name="/etc/peakready-backup, root only", path="/etc/peakready-backup", mode="700")
    _, public = b.ssh_key(secrets)
    files.directory(name="root's .ssh", path="/root/.ssh", mode="700")
    # One line, matched by the key's comment: a rotated key or a moved backup host replaces it.
    files.line(name=f"root accepts the backup key from {keeper} for the forced command only",
               path="/root/.ssh/authorized_keys", line=f".* {b.KEY_COMMENT}$",
               replace=b.authorized_line(public, topo.address(keeper)))


@deploy("backup")
def backup(plan: HostPlan, secrets: Secrets):
    data = host.data
    topo = topology.of_inventory(state.inventory)
    root = data.backup_root
    # mariadb-server-core: the server's program only (no service, no database), for the restore test.
    apt.packages(name="Install restic, the MariaDB client (mariadb-binlog), ssh, Python, and for the restore test "
                      "mariadb-backup and the server's program",
                 packages=["restic", "mariadb-client", "openssh-client", "python3", "mariadb-backup",
                           "mariadb-server-core"], no_recommends=True)
    files.directory(name="/etc/peakready-backup, root only", path="/etc/peakready-backup", mode="700")
    server.group(name=f"{b.SCRATCH_USER} group", group=b.SCRATCH_USER, system=True)
    server.user(name=f"{b.SCRATCH_USER} user (runs the restore test's scratch server)", user=b.SCRATCH_USER,
                group=b.SCRATCH_USER, system=True, shell="/usr/sbin/nologin", home="/nonexistent", create_home=False,
                ensure_home=False)
    files.directory(name=f"{b.SCRATCH}, the restore test's scratch copy", path=b.SCRATCH, user=b.SCRATCH_USER,
                    group=b.SCRATCH_USER, mode="700")
    for sub in ("", "/restic", "/binlogs", "/cache", "/tmp"):
        files.directory(name=f"{root}{sub}, root only", path=f"{root}{sub}", mode="700")

    private, _ = b.ssh_key(secrets)
    key = config_file(name="The backup host's SSH key (0600)", template="backup/secret.j2", dest=b.SSH_KEY,
                      mode=600, value=private.rstrip("\n"))
    db_hosts = [(name, topo.address(name), state.inventory.get_host(name).data.sshd_port)
                for name in topo.in_tier("db")]
    known = []
    for name, _address, _port in db_hosts:
        other = state.inventory.get_host(name)
        if other in state.failed_hosts:  # a dead db host (after a failover): pinned again when it is back
            continue
        lines = other.get_fact(FileContents, path=b.HOST_KEY) or []
        known += [f"{name} {' '.join(line.split()[:2])}" for line in lines if line.strip()]
    config_file(name="The db hosts' host keys, pinned", template="backup/secret.j2", dest=b.KNOWN_HOSTS,
                mode=600, value="\n".join(known))
    config_file(name="How the backup host reaches the db hosts (ssh config)", template="backup/ssh.conf.j2",
                dest=b.SSH_CONFIG, mode=600, db_hosts=db_hosts, key=b.SSH_KEY, known_hosts=b.KNOWN_HOSTS)
    config_file(name=f"Login of {data.backup_binlog_user} for the binary logs (0600)", template="backup/binlog.cnf.j2",
                dest=b.BINLOG_CNF, mode=600, user_name=data.backup_binlog_user,
                password=secrets.get("mariadb_binlog_password"))
    settings = files.put(name=f"The backup tool's settings ({b.CONFIG})",
                         src=StringIO(b.tool_config(data, topo, PORTS["mariadb"])), dest=b.CONFIG, mode="600")
    tool = files.put(name="The backup tool", src=str(b.TOOL_SCRIPT), dest=b.TOOL, mode="700")

    password = config_file(name="The repository's password, as wanted (0600)", template="backup/secret.j2",
                           dest=b.PASSWORD_WANTED, mode=600, value=secrets.get("restic_password"))
    # Creates the repository, or gives it the wanted password (a key added, the old one removed).
    server.shell(name=f"restic repository in {root}/restic, with the wanted password",
                 commands=[f"{b.TOOL} repository"],
                 _if=lambda: password.did_change() or not host.get_fact(File, path=f"{root}/restic/config")
                 or host.get_fact(Command, command=f"cmp -s {b.PASSWORD} {b.PASSWORD_WANTED} || echo differ") == "differ")

    # A new primary (promote.py), or the primary rebuilt under its name by restore.py: its binary
    # logs here begin a new span, before the shipping restarts.
    changed = any_changed(settings, tool)
    followed = server.shell(
        name=f"Binary logs followed from {topo.primary}, the primary", commands=[f"{b.TOOL} follow"],
        _if=lambda: changed() or host.get_fact(File, path=f"{root}/binlogs/{topo.primary}/{b.REBUILT}") is not None)

    # The figures' directory, there before the node exporter's package (the exporters role, later)
    # makes it: the first restore test below writes into it.
    files.directory(name=f"{TEXTFILE_DIR}, for the backups' figures", path=TEXTFILE_DIR, mode="755")
    ctx = dict(primary=topo.primary, root=root, tool=b.TOOL, time=data.backup_base_time, every_s=BACKUP_FIGURES_EVERY_S,
               restore_test_time=data.backup_restore_test_time, scratch=b.SCRATCH, textfile_dir=TEXTFILE_DIR)
    units = {}
    for unit in ("peakready-binlog-ship.service", "peakready-backup-base.service", "peakready-backup-base.timer",
                 "peakready-backup-metrics.service", "peakready-backup-metrics.timer",
                 "peakready-backup-restore-test.service", "peakready-backup-restore-test.timer"):
        units[unit] = config_file(name=f"Unit {unit}", template=f"backup/{unit}.j2",
                                  dest=f"/etc/systemd/system/{unit}", **ctx)
    systemd.daemon_reload(name="Reload systemd units for the backups", _if=any_changed(*units.values()))
    ship_changed = any_changed(units["peakready-binlog-ship.service"], settings, tool, key, followed)
    systemd.service(name=f"Binary logs of {topo.primary} shipped continuously", service="peakready-binlog-ship.service",
                    running=True, enabled=True, restarted=True, _if=ship_changed)
    systemd.service(name="Binary log shipping on", service="peakready-binlog-ship.service", running=True, enabled=True)
    systemd.service(name=f"Base backup every day at {data.backup_base_time}", service="peakready-backup-base.timer",
                    running=True, enabled=True)
    systemd.service(name=f"Backup metrics every {BACKUP_FIGURES_EVERY_S} s", service="peakready-backup-metrics.timer",
                    running=True, enabled=True)
    systemd.service(name=f"Restore test every day at {data.backup_restore_test_time}",
                    service="peakready-backup-restore-test.timer", running=True, enabled=True)
    # A base backup at once when the primary has none (the first deploy, or a new primary after
    # promote.py): until one exists, nothing after it can be restored.
    first_base = server.shell(
        name=f"A first base backup of {topo.primary}", commands=["systemctl start peakready-backup-base.service"],
        _if=lambda: '"bases": 0' in (host.get_fact(Command, command=f"{b.TOOL} coverage {topo.primary} || true") or ""))
    # Then its restore test, and whenever none has written its figures yet: the deploy fails while
    # the backups do not restore (a later failure of the daily one is RestoreTestFailed's).
    server.shell(name="A restore test of the backups (a scratch server, then removed)",
                 # Its reason, when it fails, from the unit's journal.
                 commands=["systemctl start peakready-backup-restore-test.service || { journalctl -o cat -n 5 "
                           "-u peakready-backup-restore-test.service >&2; exit 1; }"],
                 _if=lambda: first_base.did_change() or not host.get_fact(File, path=b.RESTORE_TEST_FIGURES))
