"""The capacity plan: defaults fit every host size, each invariant refuses with its knob, and no
combination of valid knobs ever yields a plan that breaks one (checked here independently of
plan.violations, from the plan's numbers alone)."""

import math
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peakready import ROOT, knobs, validate
from peakready.plan import HostFacts, PlanError, make_plan, table
from peakready.plan import estimates as P
from peakready.plan.parts import session_kb

SIZES = [(1, 1024), (2, 4096), (4, 8192), (16, 65536)]


def fits(ram: int) -> dict:
    """The knobs a host of `ram` MB needs besides the defaults: a 1 GB VPS with every role has no room
    for the exporters and Prometheus (test_a_1gb_vps_with_monitoring_is_refused_naming_the_knob)."""
    return {"monitoring": False} if ram <= 1024 else {}


def single(cores, ram):
    return [HostFacts("vps", cores, ram)]


def spread(cores, ram):
    """2 app hosts + 1 db + 1 cache, behind one web host."""
    return [
        HostFacts("web1", cores, ram, ("web_servers", "monitoring")),
        HostFacts("app1", cores, ram, ("app_servers",)),
        HostFacts("app2", cores, ram, ("app_servers",)),
        HostFacts("db1", cores, ram, ("db_primary",)),
        HostFacts("cache1", cores, ram, ("cache_servers",)),
    ]


def assert_invariants(plan):
    """Every rule of the plan, recomputed from its outputs."""
    k = plan.knobs
    hosts = plan.hosts.values()
    web = [p for p in hosts if "web" in p.host.roles]
    apps = [p for p in hosts if "app" in p.host.roles]
    dbs = [p for p in hosts if "db" in p.host.roles]
    per_worker = k["db_pool_size"] + k["db_pool_overflow"]
    for p in hosts:
        somaxconn = p.sysctl["net.core.somaxconn"]
        used = k["os_reserve_mb"]
        if p in web:
            n = p.nginx
            users = plan.capacity.users
            assert n.clients == math.ceil(users / len(web)) and n.slots == P.OVERLOAD_FACTOR * n.clients
            # Room for a spike of 4 x its users, and every request its door lets through to the app hosts.
            door = sum(n.app_max_conns.values())
            assert n.worker_processes * n.worker_connections >= n.slots + door
            assert n.worker_connections <= n.worker_rlimit_nofile
            assert n.backlog <= somaxconn
            # Each app host's door is shared by the web hosts.
            assert set(n.app_max_conns) == {a.host.name for a in apps}
            for a in apps:
                assert n.app_max_conns[a.host.name] * len(web) >= a.app.max_in_flight
            # Its memory covers those connections at their measured costs.
            upstream = door + k["nginx_upstream_keepalive"] * n.worker_processes
            assert p.memory_mb["nginx"] >= P.NGINX_BASE_MB + P.NGINX_WORKER_MB * n.worker_processes + math.ceil(
                (n.slots * P.NGINX_IDLE_CLIENT_KB + upstream * P.NGINX_ACTIVE_REQUEST_KB) / 1024)
            used += p.memory_mb["nginx"]
        if p in apps:
            a = p.app
            assert a.workers >= 1 and a.backlog <= somaxconn
            assert a.keepalive_s > k["nginx_upstream_keepalive_timeout_s"]
            used += P.APP_MASTER_MB + a.workers * k["app_worker_memory_mb"]
            if k["proxysql_enabled"]:
                assert a.workers * per_worker <= p.proxysql.max_connections
                assert p.proxysql.backlog <= somaxconn
                used += p.memory_mb["ProxySQL"]
        if p in dbs:
            m = p.mariadb
            assert m.innodb_buffer_pool_mb >= P.MIN_BUFFER_POOL_MB and m.back_log <= somaxconn
            used += m.worst_case_mb
            assert m.worst_case_mb == m.innodb_buffer_pool_mb + P.MARIADB_BASE_MB + math.ceil(
                m.max_connections * session_kb(m.session_buffers_kb) / 1024)
            assert m.worst_case_mb <= p.share_mb["db"]
        if p.redis:
            r = p.redis
            assert r.tcp_backlog <= somaxconn
            assert r.fork_headroom_mb >= r.maxmemory_mb * k["redis_fork_headroom"]
            used += P.REDIS_BASE_MB + r.maxmemory_mb + r.fork_headroom_mb
        assert used <= p.host.ram_mb, f"{p.host.name}: {used} MB planned on {p.host.ram_mb} MB"
    if dbs:
        if k["proxysql_enabled"]:
            opened = sum(p.proxysql.backend_max_connections for p in apps)
        else:
            opened = sum(p.app.workers * per_worker for p in apps)
        assert opened <= dbs[0].mariadb.max_connections - k["mariadb_reserved_connections"]


@pytest.mark.parametrize("topology", [single, spread])
@pytest.mark.parametrize("cores,ram", SIZES)
@pytest.mark.parametrize("proxysql", [True, False])
def test_defaults_satisfy_every_invariant(topology, cores, ram, proxysql):
    plan = make_plan(topology(cores, ram), {"proxysql_enabled": proxysql, **fits(ram)})
    assert_invariants(plan)
    assert plan.capacity.clients >= 1000


def test_a_1gb_vps_with_monitoring_is_refused_naming_the_knob():
    with pytest.raises(PlanError) as err:
        make_plan(single(1, 1024), {})
    assert "monitoring = False" in str(err.value) and "app_worker_memory_mb" in str(err.value)
    assert make_plan(single(1, 1024), {"monitoring": False})["vps"].app.workers >= 1


def test_the_users_are_derived_from_the_app_cores_and_the_web_hosts_ram_unless_pinned():
    plan = make_plan(single(2, 4096), {})
    assert plan.capacity.derived and plan.capacity.users == 2 * P.USERS_PER_CORE // 100 * 100
    assert plan["vps"].nginx.clients == plan.capacity.users
    # Four times the users held by nginx, and the app host's door from its workers.
    assert plan.capacity.clients == P.OVERLOAD_FACTOR * plan.capacity.users
    assert plan["vps"].nginx.app_max_conns == {"vps": plan["vps"].app.workers * knobs.defaults()["app_worker_concurrency"]}
    # Two app hosts behind one web host: their cores add up; the door is each app host's own.
    wide = make_plan(spread(2, 4096), {})
    assert wide.capacity.users == 4 * P.USERS_PER_CORE // 100 * 100
    assert set(wide["web1"].nginx.app_max_conns) == {"app1", "app2"}
    # A small web host's RAM caps them: 4 x its users idle within NGINX_RAM_SHARE of it.
    small_web = [HostFacts("web", 1, 512, ("web_servers",)), HostFacts("app", 16, 65536, ("app_servers",)),
                 HostFacts("db", 2, 4096, ("db_primary", "cache_servers"))]
    capped = make_plan(small_web, {"monitoring": False})
    assert capped.capacity.users < 16 * P.USERS_PER_CORE
    assert capped.capacity.users * P.OVERLOAD_FACTOR * P.NGINX_IDLE_CLIENT_KB / 1024 <= 512 * P.NGINX_RAM_SHARE
    # Pinned, it is kept as it is.
    assert make_plan(single(2, 4096), {"target_concurrency": 1234}).capacity.users == 1234
    # The 1-core, 1 GB VPS still deploys, with its derived users printed.
    tiny = make_plan(single(1, 1024), {"monitoring": False})
    assert tiny.capacity.users == P.USERS_PER_CORE // 100 * 100
    assert f"{tiny.capacity.users} users at once (derived" in table(tiny)


@pytest.mark.parametrize("topology", [single, spread])
def test_numbers_grow_with_cores_and_ram(topology):
    plans = [make_plan(topology(c, r), fits(r)) for c, r in SIZES]
    first = lambda plan, role: next(p for p in plan.hosts.values() if role in p.host.roles)  # noqa: E731
    pools = [first(p, "db").mariadb.innodb_buffer_pool_mb for p in plans]
    redis = [first(p, "cache").redis.maxmemory_mb for p in plans]
    workers = [first(p, "app").app.workers for p in plans]
    nginx = [first(p, "web").nginx.worker_processes for p in plans]
    for series in (pools, redis, workers, nginx):
        assert series == sorted(series) and series[0] < series[-1], series
    assert pools == sorted(set(pools)) and redis == sorted(set(redis)), "strictly growing with RAM"


# One case per invariant: (knobs, topology size, what the refusal must name).
BREAKS = {
    "app pools exceed ProxySQL's frontend": ({"proxysql_max_connections": 10}, "proxysql_max_connections"),
    "ProxySQL backends exceed MariaDB": ({"mariadb_max_connections": 20}, "mariadb_max_connections"),
    "direct pools exceed MariaDB": ({"proxysql_enabled": False, "mariadb_max_connections": 15}, "mariadb_max_connections"),
    "nginx too few connections": ({"nginx_worker_connections": 256}, "nginx_worker_connections"),
    "nginx over its nofile": ({"nginx_worker_rlimit_nofile": 1000}, "nginx_worker_rlimit_nofile"),
    "memory: workers": ({"app_workers": 40}, "app_workers"),
    "memory: buffer pool": ({"mariadb_buffer_pool_mb": 8000}, "mariadb_buffer_pool_mb"),
    "memory: redis": ({"redis_maxmemory_mb": 8000}, "redis_maxmemory_mb"),
    "backlog over somaxconn": ({"listen_backlog": 16384}, "somaxconn"),
    "no worker fits": ({"app_worker_memory_mb": 4096}, "app_worker_memory_mb"),
}


@pytest.mark.parametrize("case", BREAKS, ids=list(BREAKS))
def test_each_broken_invariant_is_refused_naming_its_knob(case):
    knobs, named = BREAKS[case]
    with pytest.raises(PlanError) as err:
        make_plan(single(2, 4096), knobs)
    message = str(err.value)
    assert named in message and "\n" not in message


@pytest.mark.parametrize("hosts,named", [
    ([HostFacts("a", 2, 4096, ("app_servers", "cache_servers"))], "db_primary"),
    ([HostFacts("a", 2, 4096, ("app_servers", "db_primary"))], "cache_servers"),
    ([HostFacts("w", 2, 4096, ("web_servers",))], "app_servers"),
    ([HostFacts("d1", 2, 4096, ("db_primary",)), HostFacts("d2", 2, 4096, ("db_primary",))], "db_replicas"),
    ([], "no hosts"),
])
def test_an_impossible_topology_is_refused(hosts, named):
    with pytest.raises(PlanError, match=named):
        make_plan(hosts, {})


def test_a_dedicated_db_host_gives_mariadb_most_of_its_ram():
    plan = make_plan(spread(4, 8192), {})
    # All of it but what every connection may take at its worst (mariadb_session_memory_share at most).
    m, share = plan["db1"].mariadb, plan["db1"].share_mb["db"]
    assert m.innodb_buffer_pool_mb > 0.7 * (8192 - 256)
    assert m.worst_case_mb <= share and m.innodb_buffer_pool_mb >= share * (1 - 0.25) - P.MARIADB_BASE_MB - 8
    assert not plan["db1"].app and not plan["db1"].redis and not plan["db1"].nginx


KNOB_RANGES = {
    "target_concurrency": st.integers(1, 200_000),
    "os_reserve_mb": st.integers(128, 2048),
    "memory_weight_app": st.integers(1, 100),
    "memory_weight_db": st.integers(1, 100),
    "memory_weight_cache": st.integers(1, 100),
    "app_workers": st.one_of(st.just(0), st.integers(1, 128)),
    "app_worker_memory_mb": st.integers(32, 4096),
    "app_worker_concurrency": st.integers(1, 10_000),
    "db_pool_size": st.integers(1, 100),
    "db_pool_overflow": st.integers(0, 100),
    "proxysql_enabled": st.booleans(),
    "proxysql_max_connections": st.one_of(st.just(0), st.integers(1, 100_000)),
    "proxysql_backend_share": st.floats(0.01, 1),
    "mariadb_reserved_connections": st.integers(1, 1000),
    "mariadb_max_connections": st.one_of(st.just(0), st.integers(1, 100_000)),
    "mariadb_buffer_pool_mb": st.one_of(st.just(0), st.integers(1, 1 << 17)),
    "redis_maxmemory_mb": st.one_of(st.just(0), st.integers(1, 1 << 17)),
    "redis_fork_headroom": st.floats(0, 1),
    "nginx_worker_connections": st.one_of(st.just(0), st.integers(1, 1_000_000)),
    "nginx_worker_rlimit_nofile": st.one_of(st.just(0), st.integers(1, 1 << 20)),
    "nginx_upstream_keepalive_timeout_s": st.integers(1, 3600),
    "somaxconn": st.integers(128, 65535),
    "listen_backlog": st.one_of(st.just(0), st.integers(1, 1 << 20)),
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    knobs=st.fixed_dictionaries({}, optional=KNOB_RANGES),
    cores=st.integers(1, 64),
    ram=st.integers(512, 256 * 1024),
    spread_out=st.booleans(),
)
def test_any_valid_knobs_give_a_working_plan_or_a_refusal(knobs, cores, ram, spread_out):
    try:
        plan = make_plan((spread if spread_out else single)(cores, ram), knobs)
    except PlanError as err:
        assert "\n" not in str(err)
        return
    assert_invariants(plan)


def test_cli_prints_the_table_for_a_host_you_do_not_have():
    res = subprocess.run([sys.executable, "-m", "peakready.plan", "--cores", "2", "--ram", "4G"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    for expected in ("vps (2 cores, 4.0 GB)", "innodb_buffer_pool_size", "worker_connections", "maxmemory",
                     "capacity", "verdict     OK"):
        assert expected in res.stdout
    assert max(len(line) for line in res.stdout.splitlines()) <= 120, "readable in a terminal"


@pytest.mark.parametrize("args,named", [
    (["--data", "app_workers=64"], "app_workers"),
    (["--data", "db_pool_sise=5"], "db_pool_size"),
    (["--data", "target_concurrency=-5"], "target_concurrency"),
])
def test_cli_refuses_a_broken_knob_with_one_sentence(args, named):
    res = subprocess.run([sys.executable, "-m", "peakready.plan", "--cores", "2", "--ram", "4G", *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and res.stdout == ""
    assert named in res.stderr and res.stderr.count("\n") == 1


class Recording(dict):
    """The knobs, remembering which ones were read."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read: set[str] = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


@pytest.mark.parametrize("proxysql", [True, False])
def test_plan_knobs_are_exactly_what_make_plan_reads(monkeypatch, proxysql):
    """PLAN_KNOBS decides which knobs must be equal on every host: a knob the plan reads but the
    list lacks could differ between hosts and split one budget two ways."""
    import peakready.plan.sizing as sizing

    seen, original = [], validate.knob_values

    def check(data):
        seen.append(Recording(original(data)))
        return seen[-1]

    monkeypatch.setattr(sizing.validate, "knob_values", check)
    hosts = [HostFacts("web", 2, 4096, ("web_servers",)), HostFacts("app", 2, 4096, ("app_servers",)),
             HostFacts("db", 2, 4096, ("db_primary", "cache_servers"))]
    make_plan(hosts, {"proxysql_enabled": proxysql})
    make_plan([HostFacts("vps", 2, 4096)], {"proxysql_enabled": proxysql})
    make_plan([HostFacts("no-redis", 2, 4096, ("web_servers", "app_servers", "db_primary"))],
              {"proxysql_enabled": proxysql, "app_cache": False})
    read = set().union(*(r.read for r in seen))
    assert read <= knobs.PLAN_KNOBS, f"read but not in PLAN_KNOBS: {sorted(read - knobs.PLAN_KNOBS)}"
    if proxysql:
        assert knobs.PLAN_KNOBS <= read, f"in PLAN_KNOBS, never read: {sorted(knobs.PLAN_KNOBS - read)}"


def test_no_knob_the_plan_reads_may_differ_between_hosts():
    assert not knobs.HOST_KNOBS & knobs.PLAN_KNOBS
    assert knobs.HOST_KNOBS <= set(knobs.KNOBS), "every per-host knob is a knob"


def test_kernel_settings_may_differ_per_host_but_not_somaxconn():
    """A db host may swap less than a web host (per group); somaxconn bounds every backlog the plan
    sizes, so it must be one value, and the pre-flight says so naming it."""
    hosts = [HostFacts("web", 2, 4096, ("web_servers",), own={"vm_swappiness": 30}),
             HostFacts("app", 2, 4096, ("app_servers",)),
             HostFacts("db", 2, 4096, ("db_primary", "cache_servers"), own={"vm_swappiness": 1})]
    plan = make_plan(hosts, {})
    assert [plan[h].sysctl["vm.swappiness"] for h in ("web", "app", "db")] == [30, knobs.defaults()["vm_swappiness"], 1]
    validate.agreement(validate.knob_values({"vm_swappiness": 30}), "web", validate.knob_values({"vm_swappiness": 1}), "db")
    with pytest.raises(knobs.KnobError, match="knob somaxconn is 4096 on web but 8192 on db: the plan sizes"):
        validate.agreement(validate.knob_values({"somaxconn": 4096}), "web", validate.knob_values({}), "db")
    with pytest.raises(knobs.KnobError, match="knob vm_swappiness"):
        make_plan([HostFacts("vps", 2, 4096, own={"vm_swappiness": 101})], {})


def test_a_db_hosts_server_id_is_its_own_whatever_the_other_db_hosts():
    two = make_plan([HostFacts("app", 2, 4096, ("app_servers", "web_servers", "cache_servers")),
                     HostFacts("db1", 2, 4096, ("db_primary",)), HostFacts("db2", 2, 4096, ("db_replicas",))], {})
    three = make_plan([HostFacts("app", 2, 4096, ("app_servers", "web_servers", "cache_servers")),
                       HostFacts("db0", 2, 4096, ("db_replicas",)), HostFacts("db1", 2, 4096, ("db_replicas",)),
                       HostFacts("db2", 2, 4096, ("db_primary",))], {})
    assert two["db1"].mariadb.server_id == three["db1"].mariadb.server_id != two["db2"].mariadb.server_id
    assert two["db2"].mariadb.server_id == three["db2"].mariadb.server_id, "promoted or not, added to or not"
    assert make_plan([HostFacts("vps", 2, 4096)], {})["vps"].mariadb.server_id == 1


@pytest.mark.parametrize("cores,ram", [(1, 1024), (2, 4096), (4, 8192), (8, 32768)])
def test_mariadb_worst_case_is_counted_and_within_its_share(cores, ram):
    """Every connection at its worst at once (each buffer, one in-memory temporary table) on top of
    the global buffers stays within MariaDB's share of RAM; the session buffers shrink to fit."""
    p = make_plan(single(cores, ram), fits(ram))["vps"]
    m = p.mariadb
    per_connection = sum(v for name, v in m.session_buffers_kb.items() if name != "max_heap_table_size")
    global_mb = m.innodb_buffer_pool_mb + P.MARIADB_BASE_MB
    assert m.worst_case_mb == global_mb + math.ceil(m.max_connections * per_connection / 1024) <= p.share_mb["db"]
    assert m.max_connections * per_connection / 1024 <= p.share_mb["db"] * 0.25 + m.max_connections  # the knob's share
    assert m.session_buffers_kb["tmp_table_size"] == m.session_buffers_kb["max_heap_table_size"] >= 1024
    assert P.MIN_SORT_BUFFER_KB <= m.session_buffers_kb["sort_buffer_size"] <= P.MAX_SORT_BUFFER_KB


def test_a_buffer_pool_that_breaks_mariadbs_worst_case_is_refused():
    hosts = single(2, 4096)
    share = make_plan(hosts, {})["vps"].share_mb["db"]
    with pytest.raises(PlanError, match="MariaDB's worst case .* exceeds its share .*mariadb_buffer_pool_mb"):
        make_plan(hosts, {"mariadb_buffer_pool_mb": int(share) // 8 * 8})
