"""ProxySQL without the binary: the desired state from the plan, the rendered cnf read back as
libconfig, the admin SQL for each kind of drift, and bad .deb input refused before any change."""

from types import SimpleNamespace

import pytest

from peakready import SOCKETS, knobs, validate
from peakready.debfile import unfit_for
from peakready.facts import PROXYSQL_ADMIN_CNF
from peakready.hashes import native_hash
from peakready.plan import HostFacts, make_plan
from peakready.render import render
from peakready.roles.proxysql import apply_command
from peakready.roles.proxysql_state import (
    PRIMARY_READ_WEIGHT,
    READER,
    REPLICA_READ_WEIGHT,
    WRITER,
    admin_sql,
    as_runtime,
    desired,
    drift,
    needs_restart,
)
from peakready.sources import proxysql_repository as repository
from tests import bad_input
from tests.unit.libconfig import parse

PLAN = make_plan([HostFacts("vps", 2, 4096)], {"proxysql_enabled": True})["vps"]
DATA = SimpleNamespace(**knobs.defaults())


class FakeSecrets:
    def get(self, name):
        return f"{name}-0123456789abcdef"


def want(readers=()):
    return desired(PLAN, DATA, FakeSecrets(), ["127.0.0.1"], list(readers), "10.11.19-MariaDB")


def test_desired_state_follows_the_plan():
    d, q = want(), PLAN.proxysql
    assert d.variables["mysql-threads"] == str(q.mysql_threads) == "2"
    assert d.variables["mysql-max_connections"] == str(q.max_connections)
    assert d.variables["mysql-free_connections_pct"] == str(DATA.proxysql_free_connections_pct)
    assert d.variables["mysql-interfaces"] == f"127.0.0.1:6033;{SOCKETS['proxysql']}"
    # Its clients are on this host: no TLS.
    assert d.variables["mysql-have_ssl"] == "false"
    assert d.variables["admin-mysql_ifaces"] == "127.0.0.1:6032"
    assert d.variables["admin-admin_credentials"] != "admin:admin"
    assert [s["max_connections"] for s in d.servers] == [q.backend_max_connections]
    # Every pooled app connection fits ProxySQL's frontend, twice over (a reload's two sets of pools),
    # and ProxySQL opens no more backends than the app has connections (proxysql_backend_share).
    assert 2 * PLAN.app.db_connections <= q.max_connections
    assert q.backend_max_connections <= PLAN.app.db_connections
    assert {u["username"] for u in d.users} == {DATA.mariadb_app_user, DATA.mariadb_migrate_user}
    assert all(u["default_hostgroup"] == WRITER and u["transaction_persistent"] == 1 for u in d.users)
    assert all(u["password"].startswith("*") and len(u["password"]) == 41 for u in d.users), "stored hashed"


def test_reads_go_to_replicas_only_when_there_are_replicas():
    alone, replicated = want(), want(readers=["10.0.0.12"])
    assert alone.rules == [], "alone, every query goes to the writer: no rule is matched against any"
    assert [r["destination_hostgroup"] for r in replicated.rules] == [WRITER, READER]
    locking = replicated.rules[0]["match_digest"]
    assert "FOR UPDATE" in locking and "LOCK IN SHARE MODE" in locking and "FOR SHARE" in locking
    # The primary is also a reader, far lighter than the replica: reads survive the loss of every replica.
    # MariaDB on this host through its socket (port 0), a replica elsewhere over TCP.
    local = SOCKETS["mariadb"]
    assert [(s["hostgroup_id"], s["hostname"], s["port"], s["weight"]) for s in replicated.servers] == [
        (WRITER, local, 0, 1), (READER, local, 0, PRIMARY_READ_WEIGHT), (READER, "10.0.0.12", 3306, REPLICA_READ_WEIGHT)]
    assert PRIMARY_READ_WEIGHT * 100 <= REPLICA_READ_WEIGHT
    assert replicated.servers[2]["max_replication_lag"] == DATA.proxysql_max_replication_lag_s > 0
    assert replicated.variables["mysql-monitor_writer_is_also_reader"] == "true"
    assert replicated.replication == [{"writer_hostgroup": WRITER, "reader_hostgroup": READER, "check_type": "read_only"}]


def test_rendered_cnf_reads_back_as_the_plan():
    d = want()
    text = render("proxysql/proxysql.cnf.j2", proxysql={"variables": d.variables, "servers": d.servers,
                                                        "users": d.users, "rules": d.rules,
                                                        "replication": d.replication})
    cnf = parse(text)
    assert cnf["datadir"] == "/var/lib/proxysql"
    assert cnf["admin_variables"]["mysql_ifaces"] == "127.0.0.1:6032"
    assert cnf["admin_variables"]["admin_credentials"] == d.variables["admin-admin_credentials"]
    mysql = cnf["mysql_variables"]
    assert mysql["threads"] == PLAN.proxysql.mysql_threads
    assert mysql["max_connections"] == PLAN.proxysql.max_connections
    assert mysql["interfaces"] == f"127.0.0.1:6033;{SOCKETS['proxysql']}" and mysql["multiplexing"] is True
    assert mysql["have_ssl"] is False
    assert cnf["mysql_servers"] == [{"hostgroup": WRITER, "address": SOCKETS["mariadb"], "port": 0, "weight": 1,
                                     "max_connections": PLAN.proxysql.backend_max_connections}]
    assert [u["password"] for u in cnf["mysql_users"]] == [native_hash(FakeSecrets().get(s)) for s in
                                                            ("mariadb_app_password", "mariadb_migrate_password")]
    assert cnf["mysql_query_rules"] == []
    replicated = want(readers=["10.0.0.12"])
    text = render("proxysql/proxysql.cnf.j2", proxysql={"variables": replicated.variables, "servers": replicated.servers,
                                                        "users": replicated.users, "rules": replicated.rules,
                                                        "replication": replicated.replication})
    assert [r["match_digest"] for r in parse(text)["mysql_query_rules"]] == [r["match_digest"] for r in replicated.rules]


def test_no_drift_means_no_sql():
    d = want()
    assert drift(as_runtime(d), d) == set()
    assert drift(None, d) == {"servers", "users", "rules", "replication", "variables"}


@pytest.mark.parametrize("part,change,expected", [
    ("servers", lambda r: r["servers"].__setitem__(0, ("10", "127.0.0.1", "3306", "1", "999")),
     ["DELETE FROM mysql_servers;", "LOAD MYSQL SERVERS TO RUNTIME;", "SAVE MYSQL SERVERS TO DISK;"]),
    ("users", lambda r: r["users"].pop(), ["DELETE FROM mysql_users;", "LOAD MYSQL USERS TO RUNTIME;",
                                           "SAVE MYSQL USERS TO DISK;"]),
    ("rules", lambda r: r["rules"].clear(), ["INSERT INTO mysql_query_rules", "SAVE MYSQL QUERY RULES TO DISK;"]),
    ("variables", lambda r: r["variables"].__setitem__("mysql-max_connections", "2048"),
     ["UPDATE global_variables SET variable_value", "LOAD MYSQL VARIABLES TO RUNTIME;",
      "SAVE ADMIN VARIABLES TO DISK;"]),
])
def test_each_drift_applies_only_its_part(part, change, expected):
    d = want(readers=["10.0.0.12"])
    runtime = as_runtime(d)
    change(runtime)
    parts = drift(runtime, d)
    assert parts == {part}
    sql = admin_sql(d, parts)
    for statement in expected:
        assert statement in sql
    others = {"servers": "mysql_servers", "users": "mysql_users", "rules": "mysql_query_rules",
              "variables": "global_variables"}
    assert not any(table in sql for p, table in others.items() if p != part)


def test_a_hashed_password_in_the_runtime_is_no_drift():
    """ProxySQL stores what it is given; peakready gives it the hash, so runtime and desired agree."""
    d = want()
    runtime = as_runtime(d)
    assert all(u[1] != d.users[0]["password"] for u in runtime["users"]), "only SHA-256 of it is compared"
    assert drift(runtime, d) == set()


def fake_deb(tmp_path, package="proxysql", version="2.7.1", member="control.tar.gz"):
    return bad_input.fake_deb(tmp_path, {"Package": package, "Version": version}, member)


def written(path, text):
    path.write_text(text)
    return str(path)


def test_a_proxysql_deb_is_accepted(tmp_path):
    validate.knob_values({"proxysql_deb": fake_deb(tmp_path)})


@pytest.mark.parametrize("make,message", [
    (lambda t: str(t / "missing.deb"), "this one does not exist"),
    (lambda t: written(t / "x.deb", "not a package"), "no ar archive"),
    (lambda t: fake_deb(t, package="nginx", version="1.22"), "not nginx 1.22"),
    (lambda t: fake_deb(t, version="1.4.16"), "not proxysql 1.4.16"),
])
def test_a_bad_deb_is_refused_naming_the_knob(tmp_path, make, message):
    with pytest.raises(knobs.KnobError, match="knob proxysql_deb") as err:
        validate.knob_values({"proxysql_deb": make(tmp_path)})
    assert message in str(err.value)


def test_start_only_variables_are_saved_before_they_are_loaded():
    """LOAD MYSQL VARIABLES TO RUNTIME puts mysql-threads' running value back into the main table
    (ProxySQL 2.7.2: "Impossible to set variable threads"), so a SAVE after it kept the old value on
    disk and the restart brought it back: the new value must reach the disk first."""
    d = want()
    runtime = as_runtime(d)
    runtime["variables"]["mysql-threads"] = "4"
    sql = admin_sql(d, drift(runtime, d)).splitlines()
    update = sql.index("UPDATE global_variables SET variable_value = '2' WHERE variable_name = 'mysql-threads';")
    save, load = sql.index("SAVE MYSQL VARIABLES TO DISK;"), sql.index("LOAD MYSQL VARIABLES TO RUNTIME;")
    assert update < save < load
    assert sql.count("SAVE MYSQL VARIABLES TO DISK;") == 1


def test_a_restart_follows_a_start_only_variable_or_a_thread_count_that_differs():
    d = want()
    current = as_runtime(d) | {"workers": 2}
    assert not needs_restart(current, d)
    assert not needs_restart(None, d), "its first start reads the bootstrap cnf"
    assert needs_restart(current | {"variables": {**current["variables"], "mysql-threads": "4"}}, d)
    # An earlier run changed the variable but never got to the restart: the threads still differ.
    assert needs_restart(current | {"workers": 4}, d)


def test_upstreams_stats_login_is_replaced():
    d = want()
    assert d.variables["admin-stats_credentials"].startswith("stats:")
    assert d.variables["admin-stats_credentials"] != "stats:stats"
    assert "stats:stats" not in str(as_runtime(d)), "compared as a hash"


@pytest.mark.parametrize("fields,arch,libc,problem", [
    ({"Architecture": "amd64", "Depends": "libc6 (>= 2.34), libgcc-s1"}, "amd64", "2.36-9+deb12u7", None),
    ({"Architecture": "all"}, "arm64", "2.36-9", None),
    ({"Architecture": "arm64"}, "amd64", "2.36-9", "built for arm64 and the host is amd64"),
    ({"Architecture": "amd64", "Depends": "libc6 (>= 2.38)"}, "amd64", "2.36-9+deb12u7",
     "needs glibc 2.38 or newer and the host has 2.36"),
    ({"Architecture": "amd64", "Depends": "libc6 (>= 2.36)"}, "amd64", "2.36-9+deb12u7", None),
    ({"Architecture": "amd64", "Depends": "libc6 (>= 2.34)"}, "amd64", "2.41-12", None),
])
def test_a_package_is_judged_against_the_hosts_architecture_and_glibc(fields, arch, libc, problem):
    found = unfit_for(fields, arch, libc)
    assert (found is None) if problem is None else (problem in found)


@pytest.mark.parametrize("series,codename,url", [
    ("", "bookworm", "https://repo.proxysql.com/ProxySQL/proxysql-2.7.x/bookworm/"),
    ("", "trixie", "https://repo.proxysql.com/ProxySQL/proxysql-3.0.x/trixie/"),
    ("3.0.x", "bookworm", "https://repo.proxysql.com/ProxySQL/proxysql-3.0.x/bookworm/"),
])
def test_the_repository_follows_the_debian_release(series, codename, url):
    repo = repository(series, codename)
    assert repo["url"] == url
    assert repo["key"] == url.rsplit("/", 2)[0] + "/repo_pub_key.gpg"
    text = render("proxysql/proxysql.sources.j2", proxysql=repo | {"keyring": "/etc/apt/keyrings/proxysql.gpg"})
    assert f"URIs: {url}\n" in text and "Signed-By: /etc/apt/keyrings/proxysql.gpg\n" in text


def test_the_series_knob_defaults_to_the_releases_own():
    assert knobs.defaults()["proxysql_series"] == ""
    validate.knob_values({"proxysql_series": "3.0.x"})
    with pytest.raises(knobs.KnobError, match="knob proxysql_series"):
        validate.knob_values({"proxysql_series": "latest"})


@pytest.mark.parametrize("output,answer", [
    (["status 200"], {"ok": True, "why": "HTTP 200"}),
    (["curl: (6) Could not resolve host: repo.proxysql.com", "status 000"],
     {"ok": False, "why": "curl: (6) Could not resolve host: repo.proxysql.com"}),
    (["status 404"], {"ok": False, "why": "HTTP 404"}),
    (["status none"], None),
])
def test_whether_the_host_reaches_a_url_from_curls_answer(output, answer):
    from peakready.facts import UrlAnswers

    assert "curl" in UrlAnswers().command("https://repo.proxysql.com/x") and "wget" in UrlAnswers().command("u")
    assert UrlAnswers().process(output) == answer


def test_a_host_that_cannot_reach_proxysqls_repository_is_refused_naming_proxysql_deb():
    url = repository("", "bookworm")["key"]
    with pytest.raises(knobs.KnobError, match=r"^app1 cannot reach ProxySQL's repository .*Could not resolve.*proxysql_deb"):
        validate.repository_reached({"ok": False, "why": "curl: (6) Could not resolve host"}, "app1", url)
    validate.repository_reached({"ok": True, "why": "HTTP 200"}, "app1", url)
    validate.repository_reached(None, "app1", url)  # not even bash to ask with: the deploy finds out itself


# --- applying the admin SQL during a rotation of the admin password ---------------------------------

def apply_admin_sql(tmp_path, new_works_after_sql: bool, old_works: bool = True):
    """apply_command under sh with a mariadb that stands for ProxySQL: it takes the new admin file
    once an SQL has been read from stdin (if new_works_after_sql), the old one while none has."""
    from tests.unit.test_facts import ARGS_LOG, TEXT_TOOLS, logged_calls, run_sh

    new, old, sql = tmp_path / "admin.cnf", tmp_path / "admin.cnf.peakready-last-good", tmp_path / "x.sql"
    new.write_text("new")
    old.write_text("old")
    sql.write_text("UPDATE global_variables ...;")
    loaded = tmp_path / "loaded"
    stub = ARGS_LOG + (
        f'case "$1" in\n'
        f'  --defaults-file={new}) {f"[ -e {loaded} ]" if new_works_after_sql else "false"} || exit 1;;\n'
        f'  --defaults-file={old}) {f"[ ! -e {loaded} ]" if old_works else "false"} || exit 1;;\n'
        'esac\n'
        f'[ "$2" = -e ] || {{ cat > /dev/null; touch {loaded}; }}\n')
    command = apply_command(str(sql)).replace(PROXYSQL_ADMIN_CNF, str(new))
    ran = run_sh(tmp_path, command, {"mariadb": stub}, tools=(*TEXT_TOOLS, "rm", "touch"),
                 env={"LOG": str(tmp_path / "log")})
    sql_via = [c[0] for c in logged_calls(tmp_path / "log") if "-e" not in c]
    return ran, sql_via, old.exists(), sql.exists()


def test_a_new_admin_password_is_loaded_through_the_old_file_which_then_goes(tmp_path):
    ran, sql_via, old_kept, sql_kept = apply_admin_sql(tmp_path, new_works_after_sql=True)
    assert ran.rc == 0, ran.stderr
    assert sql_via == [f"--defaults-file={tmp_path}/admin.cnf.peakready-last-good"]
    assert (old_kept, sql_kept) == (False, False)


def test_the_old_admin_file_stays_until_the_new_one_logs_in(tmp_path):
    # The SQL ran but ProxySQL still refuses the new file: the old one is the only way in, kept.
    ran, sql_via, old_kept, sql_kept = apply_admin_sql(tmp_path, new_works_after_sql=False)
    assert ran.rc == 0 and len(sql_via) == 1
    assert (old_kept, sql_kept) == (True, False)


def test_both_admin_files_refused_fails_and_still_removes_the_sql(tmp_path):
    ran, sql_via, old_kept, sql_kept = apply_admin_sql(tmp_path, new_works_after_sql=False, old_works=False)
    assert ran.rc == 1 and "refuses both admin files" in ran.stderr
    assert sql_via == [] and (old_kept, sql_kept) == (True, False)
