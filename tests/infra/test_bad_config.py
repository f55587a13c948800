"""A bad config never leaves a service down: MariaDB's is checked before it replaces the working
one, nginx's with `nginx -t` before any reload (and put back when it fails); Redis's, if Redis will
not start with it, is rolled back to the last good one."""

import os
import subprocess

import pytest

from peakready import ROOT
from tests.infra.conftest import PYINFRA, deploy


def run_broken(test_vps, which):
    return subprocess.run([PYINFRA, "-y", "inventories/docker.py", "tests/infra/deploys/broken_config.py"],
                          cwd=ROOT, env={**os.environ, "PEAKREADY_VPS": test_vps.name, "PEAKREADY_TEST_BREAK": which},
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("which,service,config,message", [
    ("mariadb", "mariadb", "/etc/mysql/mariadb.conf.d/60-peakready.cnf", "innodb-buffer-pool-size"),
    ("redis", "redis-server", "/etc/redis/redis.conf", "redis-server did not start with the new"),
    ("nginx", "nginx", "/etc/nginx/nginx.conf", "nginx -t -q failed: the previous config is back"),
    ("prometheus", "prometheus", "/etc/prometheus/rules/peakready.yml", ">/dev/null failed: the previous config is back"),
])
def test_a_config_the_service_cannot_take_leaves_it_running_on_the_old_one(test_vps, host, which, service, config,
                                                                          message):
    before = host.file(config).sha256sum
    pid = host.check_output(f"systemctl show -p MainPID --value {service}")
    res = run_broken(test_vps, which)
    assert res.returncode != 0, "the deploy must fail"
    assert message in res.stderr
    assert host.file(config).sha256sum == before, "the working config is back in place"
    assert host.service(service).is_running
    if which in ("mariadb", "nginx", "prometheus"):  # never restarted: the bad file never got near the server
        assert host.check_output(f"systemctl show -p MainPID --value {service}") == pid
    # And a normal deploy afterwards has nothing to fix.
    again = deploy(test_vps.name)
    assert again.returncode == 0 and again.changed == [], again.changed
