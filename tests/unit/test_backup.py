"""The backups' decisions without a host: the backup host's key, what the db hosts let it do, the
binary log reader's account, the inventories that are refused, the restore's arguments, and the
backup tool's settings."""

import ast
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_ssh_private_key

from peakready import ROOT, backup, knobs, validate
from peakready.knobs import KnobError, PlanError
from peakready.plan.parts import server_ids
from peakready.roles.mariadb import accounts_sql, desired_accounts, stale_accounts
from peakready.topology import Topology
from tests.unit.test_data_roles import DB, FakeSecrets, as_found

GROUPS = {"lb": ("web_servers",), "app1": ("app_servers", "backup_servers"), "db1": ("db_primary", "cache_servers"),
          "db2": ("db_replicas",)}
ADDRESSES = {"lb": "10.0.0.2", "app1": "10.0.0.3", "db1": "10.0.0.5", "db2": "10.0.0.6"}


class Seeded:
    def __init__(self, seed: str):
        self.seed = seed

    def get(self, name):
        assert name == "backup_ssh_seed"
        return self.seed


def test_the_backup_key_is_a_valid_openssh_key_derived_from_its_secret_alone():
    private, public = backup.ssh_key(Seeded("s" * 43))
    assert backup.ssh_key(Seeded("s" * 43)) == (private, public), "the same bytes every deploy: no change"
    key = load_ssh_private_key(private.encode(), password=None)  # checks the format and its check integers
    derived = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
    assert public == f"{derived} {backup.KEY_COMMENT}"
    # The control: another seed (a rotation) is another key.
    assert backup.ssh_key(Seeded("t" * 43))[1] != public


def test_a_db_host_takes_the_key_from_the_backup_host_for_the_forced_command_only():
    _, public = backup.ssh_key(Seeded("s" * 43))
    line = backup.authorized_line(public, "10.0.0.3")
    options, rest = line.split(" ", 1)
    assert options.split(",") == ["restrict", 'from="10.0.0.3"', f'command="{backup.REMOTE}"']
    assert rest == public
    script = (ROOT / "templates/backup/peakready-backup-remote").read_text()
    # Anything but its commands is refused, and a restore only while armed.
    commands = re.findall(r"^([a-z-]+)\)$", script, re.M)
    assert commands == ["backup", "restore-check", "restore-base", "restore-binlog", "restore-done"]
    for armed in ("restore-check", "restore-base", "restore-binlog"):
        assert script.split(f"\n{armed})\n", 1)[1].split(";;")[0].lstrip().startswith("armed")
    assert "*)" in script and "exit 1" in script.split("*)", 1)[1]


def test_the_binary_log_reader_is_at_the_backup_host_only_and_goes_with_it():
    data = SimpleNamespace(**knobs.defaults())
    with_host = desired_accounts(data, FakeSecrets(), backup_hosts=["10.0.0.3"])
    reader = with_host["peakready_binlog"]
    assert reader.hosts == ("10.0.0.3",)
    assert reader.global_privs == {"REPLICATION SLAVE", "BINLOG MONITOR"} and reader.schemas == {}
    without = desired_accounts(data, FakeSecrets())
    assert without["peakready_binlog"].hosts == ()
    assert stale_accounts(as_found(with_host), without) == ["peakready_binlog@10.0.0.3"]
    assert "'peakready_binlog'" not in accounts_sql(without, DB)


def test_mariadb_admits_the_backup_host_and_binds_for_it():
    topo = Topology(GROUPS, ADDRESSES)
    topo.check()
    admitted = {a["service"]: a["sources"] for a in topo.admitted("db1", {"mariadb": 3306, "redis": 6379})}
    assert "10.0.0.3" in admitted["mariadb"] and "10.0.0.3" in admitted["redis"]  # app1 is also an app host
    alone = Topology({"vps": ("web_servers", "app_servers", "db_primary", "cache_servers"), "safe": ("backup_servers",)},
                     {"vps": "10.0.0.7", "safe": "10.0.0.8"})
    assert alone.binds("vps", "mariadb") == ["127.0.0.1", "10.0.0.7"]
    assert alone.admitted("vps", {"mariadb": 3306, "redis": 6379}) == [
        {"service": "mariadb", "port": 3306, "sources": ["10.0.0.8"]}]


@pytest.mark.parametrize("groups,words", [
    ({**GROUPS, "app1": ("app_servers",), "db2": ("db_replicas", "backup_servers")},
     "db2 is in backup_servers and is a db host"),
    ({**GROUPS, "lb": ("web_servers", "backup_servers")}, "backup_servers has 2 hosts"),
    ({"safe": ("backup_servers",)}, "backup_servers back up the db_primary host: add one"),
])
def test_an_inventory_whose_backups_cannot_work_is_refused(groups, words):
    with pytest.raises(PlanError, match=words):
        validate.topology(groups, app_cache=True)


def test_an_inventory_with_one_backup_host_off_the_db_hosts_passes():
    validate.topology(GROUPS, app_cache=True)


@pytest.mark.parametrize("value,ok", [
    ("", True), ("latest", True), ("2026-12-06 19:59:59", True), ("2024-02-29 00:00:00", True),
    ("2026-13-06 19:59:59", False), ("2025-02-29 00:00:00", False), ("2026-12-06T19:59:59", False),
    ("2026-12-06 19:59", False), ("yesterday", False), ("2026-12-06 19:59:59; rm -rf /", False),
])
def test_the_restore_time_is_a_second_of_the_calendar(value, ok):
    if ok:
        assert validate.run_args({"restore_at": value}, ("restore_at",)) == {"restore_at": value}
    else:
        with pytest.raises(KnobError, match="restore_at = .* is not valid: set it to a time"):
            validate.run_args({"restore_at": value}, ("restore_at",))


def test_the_backup_tool_settings_come_from_the_knobs_and_the_topology():
    data = SimpleNamespace(**knobs.defaults())
    settings = json.loads(backup.tool_config(data, Topology(GROUPS, ADDRESSES), 3306))
    assert settings == {"root": data.backup_root, "primary": "db1",
                        "addresses": {"db1": "10.0.0.5", "db2": "10.0.0.6"}, "mariadb_port": 3306,
                        "keep_daily": data.backup_keep_daily, "keep_weekly": data.backup_keep_weekly,
                        "ship_server_id": backup.SHIP_SERVER_ID, "figures": {"backup": "/var/lib/prometheus/node-exporter/peakready_backup.prom",
                                    "restore_test": "/var/lib/prometheus/node-exporter/peakready_backup_restore_test.prom"},
                        "database": data.app_db_name, "scratch": backup.SCRATCH, "scratch_user": backup.SCRATCH_USER,
                        "password": backup.PASSWORD, "password_wanted": backup.PASSWORD_WANTED,
                        "ssh_config": backup.SSH_CONFIG, "binlog_cnf": backup.BINLOG_CNF}
    # The tool reads its files from there: no path of the deploy's is written again in it.
    tool = backup.TOOL_SCRIPT.read_text()
    assert "/etc/peakready-backup/" not in tool.replace(backup.CONFIG, "")
    # The shipping's server id is beyond every id the plan gives a db host (2 + a remainder mod 2**32 - 3).
    assert backup.SHIP_SERVER_ID == 2**32 - 1 > 2 + (2**32 - 3) - 1
    ids = server_ids([f"db{i}" for i in range(200)])
    assert backup.SHIP_SERVER_ID not in ids.values()


def test_make_multi_runs_every_multi_host_test_file_with_the_backups_last():
    makefile = (ROOT / "Makefile").read_text()
    listed = re.search(r"^multi:.*\n\t\S+ --durations=8 (.*)$", makefile, re.M).group(1).split()
    on_disk = sorted(str(p.relative_to(ROOT)) for p in Path(ROOT / "tests/multi").glob("test_*.py"))
    assert sorted(listed) == on_disk
    assert listed[-1] == "tests/multi/test_backups.py"


def tool_function(name: str, *others: str, **names):
    """One function of the backup tool, alone (the tool reads its settings from /etc when imported),
    with the tool's `others` and the `names` it uses beside it."""
    tree = ast.parse(backup.TOOL_SCRIPT.read_text())
    found = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in (name, *others)]
    assert len(found) == 1 + len(others)
    namespace: dict = dict(names)
    exec(compile(ast.Module(body=found, type_ignores=[]), str(backup.TOOL_SCRIPT), "exec"), namespace)
    return namespace[name]


def tool_constant(name: str):
    tree = ast.parse(backup.TOOL_SCRIPT.read_text())
    (value,) = [node.value for node in tree.body if isinstance(node, ast.Assign)
                and [getattr(t, "id", None) for t in node.targets] == [name]]
    return ast.literal_eval(value)


class Failed(Exception):
    pass


def failing(message):
    raise Failed(message)


def test_a_primary_rebuilt_under_its_name_gets_a_new_span_and_its_logs_wait_for_it(tmp_path):
    """A restore onto the source itself (restore.py: restore_to is the source) marks its binary logs
    on the backup host; the new server's, numbered from 1 again, are not shipped over the lost
    server's; the deploy's `follow` sets the old ones aside and begins a new span."""
    assert tool_constant("REBUILT") == backup.REBUILT
    binlogs = tmp_path / "binlogs"
    binlogs.mkdir()  # the deploy makes it
    names = dict(BINLOGS=binlogs, CONFIG={"primary": "db1", "ship_server_id": 9}, REBUILT=backup.REBUILT, time=__import__("time"),
                 fail=failing)
    follow = tool_function("follow", "new_span", **names)
    follow()
    old = binlogs / "db1"
    (old / "mariadb-bin.000001").write_bytes(b"the lost server's")
    follow()  # the same primary, nothing rebuilt: the same span
    assert (old / "mariadb-bin.000001").exists() and not list(binlogs.glob("db1.before-*"))

    (old / backup.REBUILT).write_text("1")
    with pytest.raises(Failed, match="being rebuilt by a restore"):
        tool_function("ship", **names, server_logs=lambda _source: [("mariadb-bin.000001", 400)],
                      BINLOG_NAME=re.compile(r"[a-z-]+\.[0-9]{6}"), client=lambda _source: ["--host=db1"] * 3,
                      os=SimpleNamespace(execvp=lambda *_args: failing("shipped over the lost server's logs")))()
    with pytest.raises(Failed, match="first base backup waits for the deploy"):
        tool_function("base", **names)()
    # Meanwhile the copy counts as behind by all of the new server's logs: the alert fires until the deploy.
    lag = tool_function("shipping_lag", **names, server_logs=lambda _source: [("mariadb-bin.000001", 400)])
    assert lag("db1") == 400 and not (old / ".caught_up").exists()
    follow()
    (aside,) = binlogs.glob("db1.before-*")
    assert (aside / "mariadb-bin.000001").read_bytes() == b"the lost server's"
    assert sorted(p.name for p in (binlogs / "db1").iterdir()) == [".since"]

    assert backup.restore_command("db1", "2026-12-07 08:00:00", "10.0.0.5", 22, "ssh-ed25519 AAA",
                                  rebuilds_source=True).endswith(" --rebuilds-source")
    assert "--rebuilds-source" not in backup.restore_command("db1", "2026-12-07 08:00:00", "10.0.0.5", 22, "k")


def event(size: int) -> bytes:
    """A binary log event of `size` bytes: the 19-byte v4 header (its size at bytes 9-12), a body."""
    header = (1_700_000_000).to_bytes(4, "little") + b"\x02" + (1).to_bytes(4, "little") + size.to_bytes(4, "little")
    return header + b"\0" * (size - len(header))


def test_the_restore_test_replays_only_the_whole_events_of_the_file_being_written(tmp_path):
    whole_events = tool_function("whole_events")
    log = tmp_path / "mariadb-bin.000007"
    events = b"\xfebin" + event(120) + event(31) + event(4096)
    log.write_bytes(events)
    assert whole_events(log) == len(events)
    # Being written: half an event, then only part of a header; each time the whole ones before it.
    log.write_bytes(events + event(500)[:250])
    assert whole_events(log) == len(events)
    log.write_bytes(events + event(500)[:7])
    assert whole_events(log) == len(events)
    # A header whose size is shorter than a header is no event: nothing from there on.
    log.write_bytes(events + event(19)[:9] + (3).to_bytes(4, "little") + b"\0" * 30)
    assert whole_events(log) == len(events)
    log.write_bytes(b"\xfebin")
    assert whole_events(log) == 4
    # Just made by a rotation: not even the magic yet.
    for partial in (b"", b"\xfe", b"\xfebi"):
        log.write_bytes(partial)
        assert whole_events(log) == 0
