"""Every secret rotated in one deploy, and back: each service and each client takes the new value.

A team rotates by giving a new value (PEAKREADY_SECRET_<NAME>, or an entry removed from the secrets
file, which the next deploy generates again) and deploying once. Here every secret of the stack gets
a new value at once through the environment; then a deploy without it puts the file's values back,
which rotates every secret a second time, so the tests after this one find the VPS as they expect.
After each deploy every login is tried with the value it should take, and refused with the one it
had before: MariaDB's users, Redis's ACL users, ProxySQL's admin and stats logins, the exporters
(their own /metrics say they reach their service), the app (through ProxySQL to MariaDB, and Redis:
/health) and its admin API's token. Credentials reach the VPS through stdin into 0600 files under
/root and never appear on a command line or in a failure message.
"""

from __future__ import annotations

import json
import secrets as random
import subprocess
import time

import pytest

from peakready import PORTS
from peakready.facts import PROXYSQL_ADMIN_CNF, PROXYSQL_ADMIN_CNF_LAST_GOOD
from peakready.roles.proxysql_state import ADMIN_USER, STATS_USER
from peakready.secrets import NAMES, variable
from tests import sample_app
from tests.infra.test_web import request
from tests.leaks import Redacted

pytestmark = pytest.mark.usefixtures("test_vps")
FILES = "/root/.peakready-test-rotation"
PROXYSQL_ADMIN = PORTS["proxysql_admin"]
RECOVERY_S = 60  # after a deploy, /health answers "ok" within this
ADMIN = f"mariadb --defaults-file={PROXYSQL_ADMIN_CNF} -N -B -e"
LOGINS = ("mariadb app", "mariadb migrate", "mariadb monitor", "mariadb exporter", "proxysql admin", "proxysql stats",
          "proxysql's monitor", "redis admin", "redis app", "redis exporter", "app admin token")
# Every secret by its name in the secrets file -> the variable that gives it: the stack's, and the
# app's own (the sample app's admin token, app_secrets in group_data/sample_app.py).
SECRETS = {**{name: variable(name) for name in NAMES}, **{f"app:{name}": variable(name) for name in sample_app.SETTINGS["app_secrets"]}}
SERVED = ("app /health", "mysqld exporter", "redis exporter", "root's proxysql admin file", "no admin file left over")


def put(test_vps, files: dict[str, str]) -> None:
    for name, content in files.items():
        subprocess.run(["docker", "exec", "-i", test_vps.name, "sh", "-c",
                        f"umask 077; mkdir -p {FILES} && cat > {FILES}/{name}"],
                       input=content, text=True, check=True, timeout=30)


def mariadb_logs_in(host, cnf: str, port: int | None = None) -> bool:
    where = f"-h 127.0.0.1 -P {port}" if port else "-h 127.0.0.1"
    return host.run(f"mariadb --defaults-extra-file={FILES}/{cnf} {where} -N -B -e 'SELECT 1'").rc == 0


def redis_logs_in(host, user: str, secret_file: str) -> bool:
    out = host.run(f'REDISCLI_AUTH="$(cat {FILES}/{secret_file})" redis-cli --no-auth-warning --user {user} PING')
    return out.stdout.strip() == "PONG"


def logins(host, test_vps, knobs, values: Redacted) -> dict[str, bool]:
    """Which logins take `values` (every secret's value): name -> True when it is taken."""
    cnf = lambda user, secret: f"[client]\nuser={user}\npassword={values[secret]}\n"  # noqa: E731
    put(test_vps, {
        "app.cnf": cnf(knobs["mariadb_app_user"], "mariadb_app_password"),
        "migrate.cnf": cnf(knobs["mariadb_migrate_user"], "mariadb_migrate_password"),
        "monitor.cnf": cnf(knobs["mariadb_monitor_user"], "mariadb_monitor_password"),
        "exporter.cnf": cnf(knobs["mariadb_exporter_user"], "mariadb_exporter_password"),
        "proxysql-admin.cnf": cnf(ADMIN_USER, "proxysql_admin_password"),
        "proxysql-stats.cnf": cnf(STATS_USER, "proxysql_stats_password"),
        "redis-admin": values["redis_admin_password"],
        "redis-app": values["redis_app_password"],
        "redis-exporter": values["redis_exporter_password"],
    })
    put(test_vps, {"monitor-password": values["mariadb_monitor_password"]})
    runtime = ("SELECT variable_value FROM runtime_global_variables WHERE variable_name = 'mysql-monitor_password'")
    monitor = host.run(f'[ "$({ADMIN} "{runtime}")" = "$(cat {FILES}/monitor-password)" ]').rc == 0
    status, _, _ = request(test_vps, "/api/v1/admin/menu/999999999", method="DELETE",
                           headers={"Authorization": f"Bearer {values['app:ADMIN_TOKEN']}"})
    # The monitor logs in from ProxySQL (to MariaDB over TCP, here the loopback); the exporter on the
    # socket (localhost only), as the mysqld exporter does.
    exporter = host.run(f"mariadb --defaults-extra-file={FILES}/exporter.cnf -N -B -e 'SELECT 1'").rc == 0
    return {
        "mariadb app": mariadb_logs_in(host, "app.cnf"),
        "mariadb migrate": mariadb_logs_in(host, "migrate.cnf"),
        "mariadb monitor": mariadb_logs_in(host, "monitor.cnf"),
        "mariadb exporter": exporter,
        "proxysql admin": mariadb_logs_in(host, "proxysql-admin.cnf", PROXYSQL_ADMIN),
        "proxysql stats": mariadb_logs_in(host, "proxysql-stats.cnf", PROXYSQL_ADMIN),
        "proxysql's monitor": monitor,  # the password ProxySQL's monitor logs in to MariaDB with
        "redis admin": redis_logs_in(host, "default", "redis-admin"),
        "redis app": redis_logs_in(host, knobs["redis_app_user"], "redis-app"),
        "redis exporter": redis_logs_in(host, knobs["redis_exporter_user"], "redis-exporter"),
        "app admin token": status == 404,  # past the token (401 without it): no such item
    }


def served(host, test_vps) -> dict[str, bool]:
    """What uses the live secrets, seen from outside: the app's /health (MariaDB through ProxySQL,
    Redis), the exporters' own view of their service, root's ProxySQL admin file (and the one it
    replaced, gone once ProxySQL took the new password)."""
    deadline, health = time.monotonic() + RECOVERY_S, False
    while not health and time.monotonic() < deadline:
        status, _, body = request(test_vps, "/health")
        health = status == 200 and json.loads(body).get("status") == "ok"
        health or time.sleep(0.5)

    def metric(port: int, name: str) -> bool:  # the exporter restarted with its new file: polled
        while time.monotonic() < deadline + RECOVERY_S:
            if host.run(f"curl -s -m 10 http://127.0.0.1:{port}/metrics | grep -qx '{name} 1'").rc == 0:
                return True
            time.sleep(1)
        return False

    return {
        "app /health": health,
        "mysqld exporter": metric(PORTS["mysqld_exporter"], "mysql_up"),
        "redis exporter": metric(PORTS["redis_exporter"], "redis_up"),
        "root's proxysql admin file": host.run(f"{ADMIN} 'SELECT 1'").rc == 0,
        "no admin file left over": host.run(f"test -e {PROXYSQL_ADMIN_CNF_LAST_GOOD}").rc != 0,
    }


def test_every_secret_rotates_in_one_deploy_then_back(host, test_vps, knobs):
    before = test_vps.secrets()
    new = Redacted({name: random.token_urlsafe(32) for name in SECRETS})
    try:
        try:
            rotated = test_vps.deploy(env={var: new[name] for name, var in SECRETS.items()})
            assert rotated.returncode == 0, rotated.log[-3000:]
            assert served(host, test_vps) == dict.fromkeys(SERVED, True)
            assert logins(host, test_vps, knobs, new) == dict.fromkeys(LOGINS, True)
            assert logins(host, test_vps, knobs, before) == dict.fromkeys(LOGINS, False)
        finally:
            back = test_vps.deploy()
        assert back.returncode == 0, back.log[-3000:]
        assert served(host, test_vps) == dict.fromkeys(SERVED, True)
        assert logins(host, test_vps, knobs, before) == dict.fromkeys(LOGINS, True)
        assert logins(host, test_vps, knobs, new) == dict.fromkeys(LOGINS, False)
    finally:
        host.run(f"rm -rf {FILES}")  # both values of every secret: gone before the leak search
