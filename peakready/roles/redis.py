"""Role `redis`, on cache_servers: Redis as an LRU cache with AOF persistence and ACL users."""

from __future__ import annotations

from pyinfra import host, state
from pyinfra.api import deploy
from pyinfra.operations import apt, systemd
from pyinfra.operations.util import any_changed

from peakready import SOCKETS, topology
from peakready.hashes import acl_hash
from peakready.ops import config_file, open_files_limit, restart_or_roll_back
from peakready.plan import HostPlan, part
from peakready.secrets import Secrets

CONF = "/etc/redis/redis.conf"
# What prometheus-redis-exporter (1.45) sends with CONFIG off (-config-command=-) and no key checks:
# it names its connection, then reads INFO ALL, the slow log and latency.
EXPORTER_COMMANDS = ["+ping", "+info", "+client|setname", "+slowlog|len", "+slowlog|get", "+latency|latest",
                     "+latency|histogram"]


@deploy("redis")
def redis(plan: HostPlan, secrets: Secrets):
    data, r = host.data, part(plan.redis, "Redis")
    apt.packages(name="Install Redis", packages=["redis-server", "redis-tools"], no_recommends=True)

    override = open_files_limit("redis-server", plan.nofile["redis"], "Redis needs maxclients + 32 (Redis docs)")
    conf = config_file(
        name=f"Redis config: maxmemory {r.maxmemory_mb} MB {data.redis_maxmemory_policy}, AOF everysec, ACL",
        template="redis/redis.conf.j2",
        dest=CONF,
        mode=640,
        group="redis",
        keep_last_good=True,
        **conf_context(plan, data, secrets),
    )
    systemd.service(name="Redis on, now and at boot", service="redis-server.service", running=True, enabled=True)
    restart_or_roll_back(name="Restart Redis for its new config", service="redis-server", config=CONF,
                         _if=any_changed(conf, override))


def conf_context(plan: HostPlan, data, secrets: Secrets, **overrides) -> dict:
    """What templates/redis/redis.conf.j2 is rendered with (tests/infra/deploys/broken_config.py
    overrides one value)."""
    return {
        "redis": plan.redis,
        "redis_maxclients": data.redis_maxclients,
        "socket": SOCKETS["redis"],
        "bind": " ".join(topology.of_inventory(state.inventory).binds(host.name, "redis") + ["-::1"]),
        "policy": data.redis_maxmemory_policy,
        "samples": data.redis_maxmemory_samples,
        "aof_rewrite_percentage": data.redis_aof_rewrite_percentage,
        "aof_rewrite_min_mb": data.redis_aof_rewrite_min_mb,
        "app_user": data.redis_app_user,
        "admin_hash": acl_hash(secrets.get("redis_admin_password")),
        "app_hash": acl_hash(secrets.get("redis_app_password")),
        "exporter_user": data.redis_exporter_user if data.monitoring else "",
        "exporter_hash": acl_hash(secrets.get("redis_exporter_password")) if data.monitoring else "",
        "exporter_commands": EXPORTER_COMMANDS,
        **overrides,
    }
