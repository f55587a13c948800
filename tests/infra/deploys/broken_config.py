"""Test-only deploy: hand MariaDB or Redis a config it cannot take, through the roles' own
templates and operations, to prove a bad config never leaves the service down.

    PEAKREADY_TEST_BREAK=mariadb   a buffer pool size mariadbd rejects: the check stops it before it
                                   replaces the working file
    PEAKREADY_TEST_BREAK=redis     a bind address this host does not have: Redis will not start, so
                                   the last good config is put back and Redis started with it
    PEAKREADY_TEST_BREAK=nginx     worker_connections nginx rejects: `nginx -t` fails, the old files
                                   are put back, nginx is never reloaded
    PEAKREADY_TEST_BREAK=prometheus  an alert rule that is no PromQL: promtool fails, the old rules are
                                   put back, Prometheus is never reloaded
"""

import os
from dataclasses import replace

from pyinfra import host, state

from peakready import topology
from peakready.monitoring import RULES_FILE, dump
from peakready.ops import config_file, config_set, restart_or_roll_back
from peakready.preflight import check_host
from peakready.roles.mariadb import CHECK, CNF, cnf_context
from peakready.roles.monitoring import PROMTOOL_CHECK
from peakready.roles.nginx import nginx_conf_context
from peakready.roles.redis import CONF, conf_context

deployment = check_host()
plan, secrets, data = deployment.plan, deployment.secrets, host.data
if os.environ["PEAKREADY_TEST_BREAK"] == "mariadb":
    config_file(
        name="A MariaDB config with a value mariadbd rejects",
        template="mariadb/60-peakready.cnf.j2", dest=CNF, check=CHECK, keep_last_good=True,
        **{**cnf_context(plan.mariadb, data, topology.of_inventory(state.inventory)),
           "mariadb": replace(plan.mariadb, innodb_buffer_pool_mb="lots")},
    )
elif os.environ["PEAKREADY_TEST_BREAK"] == "prometheus":
    # An alert rule whose expression is no PromQL: promtool refuses the pair, the old files come back.
    rules = {"groups": [{"name": "peakready", "rules": [{"alert": "Broken", "expr": "rate(up[", "for": "1m"}]}]}
    config_set(name="Prometheus rules promtool rejects", check=PROMTOOL_CHECK,
               files=[{"content": dump(rules), "dest": RULES_FILE, "mode": 640, "group": "prometheus"}])
elif os.environ["PEAKREADY_TEST_BREAK"] == "nginx":
    config_set(
        name="An nginx config nginx -t rejects", check="nginx -t -q",
        files=[{"template": "nginx/nginx.conf.j2", "dest": "/etc/nginx/nginx.conf",
                "data": {**nginx_conf_context(data, plan.nginx), "nginx_micro_cache_s": 0,
                         "nginx": replace(plan.nginx, worker_connections="lots")}}],
    )
else:
    conf = config_file(
        name="A Redis config it cannot start with",
        template="redis/redis.conf.j2", dest=CONF, mode=640, group="redis", keep_last_good=True,
        **conf_context(plan, data, secrets, bind="203.0.113.7"),
    )
    restart_or_roll_back(name="Restart Redis", service="redis-server", config=CONF, _if=conf.did_change)
