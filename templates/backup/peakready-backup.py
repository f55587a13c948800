#!/usr/bin/python3
# Managed by peakready: the backup host's side of peakready's backups (peakready/backup.py).
#
#   peakready-backup repository   create the restic repository, or move it to the wanted password
#   peakready-backup base         pull a base backup (mariadb-backup) from the primary into restic,
#                                 then forget --prune by the retention policy
#   peakready-backup follow       start a new span of binary logs when the primary changed (the deploy runs it)
#   peakready-backup ship         copy the primary's binary logs as they are written (the unit runs it)
#   peakready-backup metrics      the base backups' and the shipping's figures for Prometheus
#   peakready-backup coverage SOURCE          the seconds a restore of SOURCE can reach (JSON)
#   peakready-backup restore-test  the newest base backup restored into a scratch server here, the
#                                 binary logs since it replayed, its tables checked (the timer runs it)
#   peakready-backup restore SOURCE AT ADDRESS PORT HOSTKEY [--rebuilds-source]
#                                 rebuild the host at ADDRESS to the second AT (UTC) from SOURCE's
#                                 backups; the host must have armed it (restore.py does). With
#                                 --rebuilds-source (the host is SOURCE itself, new under its name),
#                                 the shipping waits until `follow` begins a new span of its binary logs
#
# Settings come from /etc/peakready-backup/backup.json (the deploy writes it); secrets from files beside it.
import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.umask(0o077)  # what it writes (the password in use, the pinned target key, spans) is root's alone
CONFIG_FILE = "/etc/peakready-backup/backup.json"
CONFIG = json.loads(Path(CONFIG_FILE).read_text())
ROOT = Path(CONFIG["root"])
REPO = ROOT / "restic"
BINLOGS = ROOT / "binlogs"
PASSWORD = Path(CONFIG["password"])
WANTED = Path(CONFIG["password_wanted"])
SSH = ["ssh", "-F", CONFIG["ssh_config"]]
BINLOG_CNF = CONFIG["binlog_cnf"]
STREAM = "mariadb.xbstream"
BINLOG_NAME = re.compile(r"[A-Za-z0-9_.-]+\.[0-9]{6}")
# In BINLOGS/<source>: a restore is rebuilding <source> under its own name. The new server numbers
# its binary logs from 1 again, so shipping them here would overwrite the lost server's.
REBUILT = ".rebuilt"
UTC = dt.UTC


def fail(message):
    sys.exit(f"peakready-backup: {message}")  # on stderr, exit 1


def restic_env(password=PASSWORD):
    return {**os.environ, "RESTIC_REPOSITORY": str(REPO), "RESTIC_PASSWORD_FILE": str(password),
            "RESTIC_CACHE_DIR": str(ROOT / "cache")}


def restic(*args, password=PASSWORD, **kwargs):
    return subprocess.run(["restic", *args], env=restic_env(password), text=True, capture_output=True, **kwargs)


def opens(password):
    return restic("--no-lock", "cat", "config", password=password).returncode == 0


def repository():
    """Create the repository with the wanted password, or make the wanted password its only key (a
    key for it added with the one in use, every other key removed), so a rotation that stopped
    half-way finishes at the next deploy. Prints what it did."""
    if not (REPO / "config").exists():
        out = restic("init", password=WANTED)
        if out.returncode:
            fail(f"restic init failed: {out.stderr.strip()}")
        shutil.copyfile(WANTED, PASSWORD)
        print("created")
        return
    did = []
    if not opens(WANTED):
        if not (PASSWORD.exists() and opens(PASSWORD)):
            fail(f"neither the wanted restic_password nor the one in use opens the repository {REPO}: give "
                 "PEAKREADY_SECRET_RESTIC_PASSWORD the password it was created with.")
        added = restic("key", "add", "--new-password-file", str(WANTED))
        if added.returncode:
            fail(f"restic key add failed: {added.stderr.strip()}")
        did.append("a key for the wanted password added")
    listed = restic("key", "list", password=WANTED)
    others = re.findall(r"^ ([0-9a-f]{8})\s", listed.stdout, re.M)  # the current key's line starts with *
    if listed.returncode or not re.search(r"^\*[0-9a-f]{8}\s", listed.stdout, re.M):
        fail(f"restic key list failed: {listed.stderr.strip()}")
    for key in others:
        removed = restic("key", "remove", key, password=WANTED)
        if removed.returncode:
            fail(f"restic key remove {key} failed (a backup running? the next deploy tries again): "
                 f"{removed.stderr.strip()}")
        did.append(f"key {key} removed")
    if not PASSWORD.exists() or PASSWORD.read_bytes() != WANTED.read_bytes():
        shutil.copyfile(WANTED, PASSWORD)
        did.append("password file renewed")
    print(", ".join(did) or "unchanged")


def since(source):
    """When the binary logs of `source` here began to be copied without a gap (the span `follow`
    started when it became the primary); 0 when unknown."""
    mark = BINLOGS / source / ".since"
    return float(mark.read_text()) if mark.exists() else 0.0


def snapshots(source, usable=False, tag="base"):
    """The whole base backups of `source`, oldest first, each with "at": the moment its copy is
    consistent with, the end of the backup (restic stamps the start; `base` tags the end as
    end:<epoch> once the stream was whole). usable=True: only those the binary logs here continue
    (taken since the span began), from which a restore can go on to a later second."""
    out = restic("--no-lock", "snapshots", "--json", "--tag", tag, "--host", source)
    if out.returncode:
        fail(f"restic snapshots failed: {out.stderr.strip()}")
    found = []
    for s in json.loads(out.stdout or "[]"):
        ends = [t for t in s.get("tags") or [] if re.fullmatch(r"end:\d+", t)]
        if ends or tag != "base":
            s["at"] = dt.datetime.fromtimestamp(int(ends[0][4:]) if ends else 0, UTC)
            found.append(s)
    begun = since(source) if usable else 0.0
    return sorted((s for s in found if s["at"].timestamp() >= begun), key=lambda s: s["at"])


def follow():
    """The primary changed (promote.py, then a deploy), or a restore rebuilt it under its name: the
    binary logs kept for it are from a span that has a gap (it was a replica), or are the lost
    server's, so they are set aside and a new span begins; the deploy then takes a base backup, the
    first of the span."""
    source = CONFIG["primary"]
    shipping = BINLOGS / ".shipping"
    rebuilt = (BINLOGS / source / REBUILT).exists()
    if not rebuilt and shipping.exists() and shipping.read_text() == source and (BINLOGS / source / ".since").exists():
        print("unchanged")
        return
    new_span(source)
    shipping.write_text(source)
    print(f"a new span of binary logs of {source}" + (", rebuilt by a restore" if rebuilt else ""))


def write_metrics(lines, path):
    """Into `path`, in the node exporter's textfile directory (its default on Debian), atomically."""
    directory = Path(path).parent
    if not directory.is_dir():
        return
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".peakready-backup")
    with os.fdopen(fd, "w") as out:
        out.write("".join(line + "\n" for line in lines))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def base():
    source = CONFIG["primary"]
    if (BINLOGS / source / REBUILT).exists():
        fail(f"{source} is being rebuilt by a restore: its first base backup waits for the deploy after it "
             "(a base of the new server would count in the lost server's span of binary logs)")
    started = time.time()
    for left in snapshots(source, tag="partial"):  # a stream an earlier run could not forget
        restic("forget", left["id"])
    with tempfile.TemporaryFile("w+") as log:
        pull = subprocess.Popen([*SSH, source, "backup"], stdout=subprocess.PIPE, stderr=log)
        # Stored as partial: only a stream that ended whole becomes a base (restic 0.14 keeps whatever
        # came before a stream ended, and exits 0).
        push = subprocess.run(["restic", "backup", "--quiet", "--json", "--stdin", "--stdin-filename", STREAM,
                               "--tag", "partial", "--host", source], stdin=pull.stdout, env=restic_env(), text=True,
                              capture_output=True)
        pull.stdout.close()
        pulled = pull.wait()
        ended = time.time()
        log.seek(0)
        said = log.read()
    summary = [json.loads(line) for line in push.stdout.splitlines() if '"summary"' in line]
    snapshot = summary[-1].get("snapshot_id") if summary else None
    if pulled != 0 or "completed OK!" not in said or push.returncode != 0 or not snapshot:
        if snapshot:
            restic("forget", snapshot)  # or the next run does: it stays partial, never a base
        tail = "\n".join(said.strip().splitlines()[-5:])
        fail(f"the base backup of {source} failed (ssh/mariadb-backup exit {pulled}, restic exit "
             f"{push.returncode}): {tail} {push.stderr.strip()}")
    tagged = restic("tag", "--set", "base", "--set", f"end:{int(ended) + 1}", snapshot)
    if tagged.returncode:
        fail(f"restic tag failed: {tagged.stderr.strip()}")
    size = summary[-1].get("total_bytes_processed", 0)
    print(f"base backup of {source}: {size} bytes in {ended - started:.1f} s")
    policy = ["--keep-daily", str(CONFIG["keep_daily"])]
    if CONFIG["keep_weekly"]:
        policy += ["--keep-weekly", str(CONFIG["keep_weekly"])]
    pruned = restic("forget", "--prune", "--tag", "base", "--group-by", "host", *policy)
    if pruned.returncode:
        fail(f"restic forget --prune failed: {pruned.stderr.strip()}")
    # Binary logs older than the oldest base backup kept cannot be replayed on anything: they go.
    kept = snapshots(source)
    if kept and (BINLOGS / source).is_dir():
        oldest = kept[0]["at"].timestamp() - 86400
        for f in sorted(f for f in (BINLOGS / source).iterdir() if BINLOG_NAME.fullmatch(f.name))[:-1]:
            if f.stat().st_mtime < oldest:
                f.unlink()
        # Spans set aside when the primary changed go after as long as the daily backups.
        for old in BINLOGS.glob("*.before-*"):
            if old.stat().st_mtime < time.time() - CONFIG["keep_daily"] * 86400:
                shutil.rmtree(old)
    metrics()


def server_logs(source):
    """The primary's binary logs as [(name, size)], or None when it does not answer."""
    out = subprocess.run(["mariadb", *client(source), "-N", "-B", "-e", "SHOW BINARY LOGS"],
                         text=True, capture_output=True, timeout=30)
    if out.returncode or not out.stdout.strip():
        return None
    return [(line.split("\t")[0], int(line.split("\t")[1])) for line in out.stdout.strip().splitlines()]


def client(source):
    # No LOAD DATA LOCAL: the server could otherwise ask for a file of this host.
    return [f"--defaults-extra-file={BINLOG_CNF}", f"--host={CONFIG['addresses'][source]}",
            f"--port={CONFIG['mariadb_port']}", "--local-infile=0"]


def new_span(source):
    directory = BINLOGS / source
    if directory.exists():
        directory.rename(BINLOGS / f"{source}.before-{int(time.time())}")
    directory.mkdir(mode=0o700)
    (directory / ".since").write_text(f"{time.time():.3f}")


def ship():
    """Copy the primary's binary logs as it writes them (mariadb-binlog as a replication client),
    resuming with the newest file this host has; the unit restarts it when the connection drops.
    A primary that no longer has that file (rebuilt under the same name) begins a new span."""
    source = CONFIG["primary"]
    directory = BINLOGS / source
    if (directory / REBUILT).exists():
        fail(f"{source} is being rebuilt by a restore: the binary logs here are the lost server's; deploy.py "
             "begins a new span of the new server's (peakready-backup follow), then the shipping goes on")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    logs = server_logs(source)
    if logs is None:
        fail(f"cannot list the binary logs of {source} (the unit tries again)")
    names = [name for name, _size in logs]
    have = sorted(f.name for f in directory.iterdir() if BINLOG_NAME.fullmatch(f.name))
    if have and have[-1] not in names and (not names or names[-1] < have[-1] or names[0] > have[-1]):
        if names and names[0] > have[-1]:
            fail(f"{source} purged binary logs this host had not copied yet (after {have[-1]}): a gap; "
                 "the next base backup starts a new span")
        new_span(source)
        print(f"{source} does not have {have[-1]}: a new server under its name, a new span of its binary logs")
        have = []
    first = have[-1] if have else names[0]
    os.execvp("mariadb-binlog", ["mariadb-binlog", *client(source)[:3], "--read-from-remote-server", "--raw",
                                 "--stop-never", f"--stop-never-slave-server-id={CONFIG['ship_server_id']}",
                                 f"--result-file={directory}/", first])


def metrics():
    """The figures Prometheus alerts on, always written: a base backup's age counts from 0 when there
    is none, and peakready_backup_ok is 0 when the repository or the primary cannot be read."""
    source = CONFIG["primary"]
    read = restic("--no-lock", "cat", "config").returncode == 0
    found = snapshots(source, usable=True) if read else []
    lag = shipping_lag(source)
    label = f'{{source="{source}"}}'
    write_metrics([
        "# HELP peakready_backup_base_last_timestamp_seconds When the newest usable base backup was consistent (0: none).",
        "# TYPE peakready_backup_base_last_timestamp_seconds gauge",
        f"peakready_backup_base_last_timestamp_seconds{label} {found[-1]['at'].timestamp() if found else 0:.0f}",
        "# TYPE peakready_backup_base_count gauge",
        f"peakready_backup_base_count{label} {len(found)}",
        "# HELP peakready_backup_binlog_lag_bytes Bytes of the primary's binary log not yet on the backup host.",
        "# TYPE peakready_backup_binlog_lag_bytes gauge",
        f"peakready_backup_binlog_lag_bytes{label} {lag if lag is not None else 0}",
        "# HELP peakready_backup_ok 1 when the repository opens and the primary lists its binary logs.",
        "# TYPE peakready_backup_ok gauge",
        f"peakready_backup_ok{label} {int(read and lag is not None)}",
        "# TYPE peakready_backup_metrics_timestamp_seconds gauge",
        f"peakready_backup_metrics_timestamp_seconds {time.time():.0f}",
    ], CONFIG["figures"]["backup"])


def shipping_lag(source):
    """How far the copy here is behind the primary's binary logs, in bytes (None: it does not
    answer). Caught up, the moment is recorded: the binary logs here cover every second until then."""
    asked = time.time()
    logs = server_logs(source)
    if logs is None:
        return None
    directory = BINLOGS / source
    if (directory / REBUILT).exists():  # none of the new server's logs is here until the deploy's new span
        return sum(size for _name, size in logs)
    have = sorted(f.name for f in directory.glob("*") if BINLOG_NAME.fullmatch(f.name)) if directory.is_dir() else []
    behind = 0
    for name, size in logs:
        copy = directory / name
        if copy.exists():
            behind += max(0, size - copy.stat().st_size)
        elif not have or name > have[-1]:  # not copied yet (older ones were purged here or there)
            behind += size
    if have and not any((directory / name).exists() for name, _size in logs):
        behind = sum(size for _name, size in logs)  # none of its logs is here: another server, or a gap
    if behind == 0 and directory.is_dir():
        (directory / ".caught_up").write_text(f"{asked:.3f}")
    return behind


def coverage(source):
    """The seconds a restore of `source` can reach: from its oldest usable base backup to the last
    moment the binary logs here are known to hold everything: the newest one's last write, or the
    last time the copy had caught up with the primary (every minute, with the figures)."""
    found = snapshots(source, usable=True)
    directory = BINLOGS / source
    shipped = [f for f in directory.iterdir() if BINLOG_NAME.fullmatch(f.name)] if directory.is_dir() else []
    marks = [max(f.stat().st_mtime for f in shipped)] if shipped else []
    if (directory / ".caught_up").exists():
        marks.append(float((directory / ".caught_up").read_text()))
    if found:
        marks.append(found[-1]["at"].timestamp())
    return {"source": source, "bases": len(found),
            "from": found[0]["at"].timestamp() if found else None, "until": max(marks) if found else None}


def remote(address, port, hostkey, command, **kwargs):
    known = ROOT / "restore_known_hosts"
    known.write_text(f"[{address}]:{port} {hostkey}\n" if int(port) != 22 else f"{address} {hostkey}\n")
    return subprocess.run([*SSH, "-o", f"UserKnownHostsFile={known}", "-p", str(port), f"root@{address}", command],
                          **kwargs)


def restore(source, at_text, address, port, hostkey, rebuilds_source=False):
    started = time.monotonic()
    try:
        at = dt.datetime.strptime(at_text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        fail(f'restore_at={at_text!r} is not a time "YYYY-MM-DD HH:MM:SS" (UTC)')
    span = coverage(source)
    if span["from"] is None or not span["from"] <= at.timestamp() <= (span["until"] or 0):
        fail(f"restore_at={at_text} is outside what the backups of {source} cover: {describe(span)}")
    base_snapshot = [s for s in snapshots(source, usable=True) if s["at"] <= at][-1]
    ready = remote(address, port, hostkey, "restore-check", text=True, capture_output=True)
    if ready.stdout.strip() != "ready":
        fail(f"the target {address} is not ready for a restore: {ready.stdout.strip()} {ready.stderr.strip()}")
    if rebuilds_source:  # before its server starts: nothing of the new one may land among the old one's logs
        (BINLOGS / source / REBUILT).write_text(f"{time.time():.3f}")
    dump = subprocess.Popen(["restic", "--no-lock", "dump", base_snapshot["id"], f"/{STREAM}"], stdout=subprocess.PIPE,
                            env=restic_env())
    put = remote(address, port, hostkey, "restore-base", stdin=dump.stdout, text=True, capture_output=True)
    dump.stdout.close()
    if dump.wait() or put.returncode:
        fail(f"the base backup did not restore on {address}: {put.stdout.strip()} {put.stderr.strip()}")
    based = time.monotonic()
    fields = put.stdout.strip().splitlines()[-1].split("\t")
    first, position = fields[0], int(fields[1])
    files = binlogs_from(source, first)
    if (files and files[0].name != first) or (not files and at > base_snapshot["at"]):
        fail(f"the binary log {first} the base backup starts from is not on this host: cannot replay to {at_text}")
    applied = 0
    if files:
        stop = (at + dt.timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S")  # --stop-datetime excludes it
        replay = subprocess.Popen(["mariadb-binlog", f"--start-position={position}", f"--stop-datetime={stop}",
                                   *map(str, files)], stdout=subprocess.PIPE, env={**os.environ, "TZ": "UTC"})
        applied_run = remote(address, port, hostkey, "restore-binlog", stdin=replay.stdout, text=True,
                             capture_output=True)
        replay.stdout.close()
        if replay.wait() or applied_run.returncode:
            fail(f"replaying the binary logs on {address} failed: {applied_run.stderr.strip()}")
        applied = len(files)
    done = remote(address, port, hostkey, "restore-done", text=True, capture_output=True)
    if done.returncode:
        fail(f"could not disarm the restore on {address}: {done.stderr.strip()}")
    print(json.dumps({"source": source, "at": at_text, "base": base_snapshot["at"].strftime("%Y-%m-%d %H:%M:%S"),
                      "binlogs": applied, "base_s": round(based - started, 1),
                      "total_s": round(time.monotonic() - started, 1)}))


def binlogs_from(source, first):
    """The binary logs of `source` here, from `first` on, in order."""
    directory = BINLOGS / source
    return sorted(f for f in directory.iterdir() if BINLOG_NAME.fullmatch(f.name) and f.name >= first) \
        if directory.is_dir() else []


def restore_test():
    """What a restore does, without a target host: the newest usable base backup of the primary into
    a scratch server here (its own datadir and socket, no network, run as its own user), the binary
    logs since it replayed to their end, then every table of the app's database checked and counted.
    Its figures for Prometheus in any case; exit 1 when it failed."""
    source = CONFIG["primary"]
    started = time.time()
    label = f'{{source="{source}"}}'
    signal.signal(signal.SIGTERM, stopped)  # the copy is removed even when the unit is stopped
    try:
        with exclusive():
            tables, rows, applied = restore_here(source)
        ok, said = 1, f"restore test of {source}: {tables} tables, {rows} rows, {applied} binary log(s) replayed"
    except (Exception, SystemExit) as failed:  # whatever stopped it: the figures say so
        reason = str(failed).removeprefix("peakready-backup: ")
        rows, ok, said = 0, 0, f"restore test of {source} failed: {reason}"
    finally:
        stop_scratch()
    write_metrics([
        "# HELP peakready_backup_restore_test_ok 1 when the newest base backup and the binary logs since it restored and checked.",
        "# TYPE peakready_backup_restore_test_ok gauge",
        f"peakready_backup_restore_test_ok{label} {ok}",
        "# TYPE peakready_backup_restore_test_timestamp_seconds gauge",
        f"peakready_backup_restore_test_timestamp_seconds{label} {started:.0f}",
        "# TYPE peakready_backup_restore_test_duration_seconds gauge",
        f"peakready_backup_restore_test_duration_seconds{label} {time.time() - started:.1f}",
        "# TYPE peakready_backup_restore_test_rows gauge",
        f"peakready_backup_restore_test_rows{label} {rows}",
    ], CONFIG["figures"]["restore_test"])
    if not ok:
        fail(said)
    print(f"{said} in {time.time() - started:.1f} s")


class RestoreTestFailed(Exception):
    pass


class Stopped(BaseException):
    """SIGTERM: not a failed test (no figure is written), but the copy still goes."""


def stopped(_signum, _frame):
    raise Stopped("stopped")


SCRATCH = Path(CONFIG["scratch"]) if "scratch" in CONFIG else None
# A replay waits this long for the binary log its base backup starts from while the shipping is
# still copying older ones (a backup host that just joined copies the primary's oldest first).
FIRST_BINLOG_WAIT_S = 600


def scratch_client(*args, **kwargs):
    # As root, by the restored server's own root@localhost (unix_socket), through the scratch socket.
    # No limit of its own (max_allowed_packet): the defaults a real restore has, so what fails there fails here.
    return subprocess.run(["mariadb", f"--socket={SCRATCH / 'mysqld.sock'}", "--local-infile=0", *args], text=True,
                          capture_output=True, **kwargs)


def scratch_sql(sql):
    return scratch_client("-N", "-B", "-e", sql)


def read_scratch(path):
    """A file the scratch user could have made (never followed if it is a link)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return ""
    with os.fdopen(fd, errors="replace") as f:
        return f.read()


def quoted(name):
    return "`" + name.replace("`", "``") + "`"


def restore_here(source):
    if SCRATCH is None:
        raise RestoreTestFailed(f"{CONFIG_FILE} names no scratch directory: deploy again")
    found = snapshots(source, usable=True)
    if not found:
        raise RestoreTestFailed("there is no base backup of it to restore")
    stop_scratch()
    user = CONFIG["scratch_user"]
    data = SCRATCH / "data"
    data.mkdir(mode=0o700)
    shutil.chown(data, user, user)
    # What a db host sent is unpacked and prepared as the scratch user, never as root.
    as_user = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--"]
    dump = subprocess.Popen(["restic", "--no-lock", "dump", found[-1]["id"], f"/{STREAM}"], stdout=subprocess.PIPE,
                            env=restic_env())
    extract = subprocess.run([*as_user, "mbstream", "-x", "-C", str(data)], stdin=dump.stdout, text=True,
                             capture_output=True)
    dump.stdout.close()
    if dump.wait() or extract.returncode:
        raise RestoreTestFailed(f"the base backup of {found[-1]['at']:%Y-%m-%d %H:%M:%S} did not come out of the "
                                f"repository: {extract.stderr.strip()[-300:]}")
    prepared = subprocess.run([*as_user, "mariadb-backup", "--prepare", f"--target-dir={data}"], text=True,
                              capture_output=True)
    if prepared.returncode:
        raise RestoreTestFailed(f"mariadb-backup --prepare failed: {prepared.stderr.strip()[-300:]}")
    fields = read_scratch(data / "xtrabackup_binlog_info").split()
    if len(fields) < 2 or not BINLOG_NAME.fullmatch(fields[0]) or not fields[1].isdigit():
        raise RestoreTestFailed("the base backup does not say which binary log position it is consistent with")
    first, position = fields[0], int(fields[1])
    files = shipped_from(source, first)
    # The file being written: a copy of its whole events (in a directory of root's alone).
    tail = ROOT / "tmp" / files[-1].name
    shutil.copyfile(files[-1], tail)
    with tail.open("r+b") as f:
        f.truncate(whole_events(tail))
    files[-1] = tail
    if tail.stat().st_size == 0:  # just made by a rotation: nothing in it yet
        files.pop()
    if files and files[0].name == first and files[0].stat().st_size < position:
        raise RestoreTestFailed(f"the copy of {first} is shorter than the base backup's position {position}")
    SCRATCH_SERVER.append(subprocess.Popen(
        ["mariadbd", "--no-defaults", f"--user={user}", f"--datadir={data}", f"--socket={SCRATCH / 'mysqld.sock'}",
         f"--pid-file={SCRATCH / 'mysqld.pid'}", "--skip-networking", "--event-scheduler=OFF", "--skip-slave-start",
         f"--log-error={SCRATCH / 'error.log'}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    deadline = time.monotonic() + 300
    while scratch_sql("SELECT 1").returncode:
        if SCRATCH_SERVER[-1].poll() is not None or time.monotonic() > deadline:
            raise RestoreTestFailed("the restored copy did not start: "
                                    + read_scratch(SCRATCH / "error.log").strip()[-300:])
        time.sleep(0.5)
    if files:
        replay = subprocess.Popen(["mariadb-binlog", f"--start-position={position}", *map(str, files)],
                                  stdout=subprocess.PIPE)
        applied = scratch_client("--binary-mode", stdin=replay.stdout)
        replay.stdout.close()
        if replay.wait() or applied.returncode:
            raise RestoreTestFailed(f"replaying the binary logs failed: {applied.stderr.strip()[-300:]}")
    db = CONFIG["database"]
    # The database itself must be there; its tables may not be yet (a first deploy backs up before
    # the app's migrations make them).
    if scratch_sql(f"SELECT 1 FROM information_schema.schemata WHERE schema_name = '{db}'").stdout.strip() != "1":
        raise RestoreTestFailed(f"the restored copy has no database {db} (app_db_name)")
    listed = scratch_sql(f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{db}' "
                         "AND table_type = 'BASE TABLE'")
    if listed.returncode:
        raise RestoreTestFailed(f"the restored copy does not list its tables: {listed.stderr.strip()}")
    tables = [t for t in listed.stdout.split("\n") if t]
    rows = 0
    for table in tables:
        name = f"{quoted(db)}.{quoted(table)}"
        checked = scratch_sql(f"CHECK TABLE {name}; SELECT COUNT(*) FROM {name}")
        lines = checked.stdout.strip().splitlines()
        if checked.returncode or len(lines) < 2 or not lines[-2].endswith("\tstatus\tOK"):
            raise RestoreTestFailed(f"CHECK TABLE {db}.{table}: {checked.stdout.strip()[-200:]} {checked.stderr.strip()}")
        rows += int(lines[-1])
    return len(tables), rows, len(files)


def shipped_from(source, first):
    """The binary logs here from `first` on. While the shipping runs and has not copied `first` yet
    (it is catching up, or just started), waits for it, at most FIRST_BINLOG_WAIT_S."""
    deadline = time.monotonic() + FIRST_BINLOG_WAIT_S
    while True:
        files = binlogs_from(source, first)
        if files and files[0].name == first:
            return files
        shipping = subprocess.run(["systemctl", "is-active", "--quiet", "peakready-binlog-ship.service"]).returncode == 0
        if files or not shipping or time.monotonic() > deadline:  # a gap, or nothing that could bring it
            raise RestoreTestFailed(f"the binary log {first} the base backup starts from is not on this host")
        time.sleep(2)


def whole_events(path):
    """How many bytes of the binary log `path` are whole events: the 4-byte magic, then events of a
    19-byte header whose bytes 9-12 give the event's size (little-endian), checksum included; 0 when
    not even the magic is there."""
    size = path.stat().st_size
    if size < 4:
        return 0
    end = 4
    with path.open("rb") as f:
        while end + 19 <= size:
            f.seek(end + 9)
            length = int.from_bytes(f.read(4), "little")
            if length < 19 or end + length > size:
                break
            end += length
    return end


SCRATCH_SERVER = []  # the scratch server this run started


def stop_scratch():
    """The scratch server stopped and its copy removed (whatever an earlier run left too: the unit
    ends every process it started, so only files)."""
    while SCRATCH_SERVER:
        server = SCRATCH_SERVER.pop()
        server.terminate()
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    for directory in (SCRATCH, ROOT / "tmp"):
        for entry in directory.iterdir() if directory and directory.is_dir() else []:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()


@contextlib.contextmanager
def exclusive(wait=True):
    """One of base, restore-test and restore at a time (restic's forget --prune may drop the packs a
    dump reads; two restore tests would empty each other's copy). wait=False: refused at once when
    one runs (a restore, whose target is armed for an hour only)."""
    fd = os.open(ROOT, os.O_RDONLY | os.O_DIRECTORY)  # a lock on the directory: nothing to write
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            fail("a base backup or a restore test runs on the backup host now (systemctl status "
                 "peakready-backup-base peakready-backup-restore-test): run the restore again when it ends")
        yield
    finally:
        os.close(fd)


def describe(span):
    if span["from"] is None:
        return "there is no base backup of it yet (run peakready-backup base, or wait for the timer)"
    show = lambda t: dt.datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    return f"from {show(span['from'])} to {show(span['until'])} (UTC)"


if __name__ == "__main__":
    command, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if command == "repository":
        repository()
    elif command == "base":
        with exclusive():
            base()
    elif command == "ship":
        ship()
    elif command == "follow":
        follow()
    elif command == "metrics":
        metrics()
    elif command == "restore-test":
        restore_test()
    elif command == "coverage" and len(args) == 1:
        print(json.dumps(coverage(args[0])))
    elif command == "restore" and len(args) in (5, 6) and args[5:] in ([], ["--rebuilds-source"]):
        with exclusive(wait=False):
            restore(*args[:5], rebuilds_source=bool(args[5:]))
    else:
        fail("usage: peakready-backup repository|base|follow|ship|metrics|restore-test|coverage SOURCE|"
             "restore SOURCE AT ADDRESS PORT HOSTKEY [--rebuilds-source]")
