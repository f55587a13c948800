"""The base role's decisions and templates, without a host."""

from peakready.plan import GROUP_ROLES, HostFacts, make_plan
from peakready.render import render
from peakready.roles import ROLES, roles_for
from peakready.roles.base import HARDENING_SYSCTLS, first_upgrade, split_for_container, sysctls

PLAN = make_plan([HostFacts("vps", 2, 4096)], {})["vps"]


def test_base_runs_first_on_every_host_whatever_its_groups():
    assert ROLES[0][0].__name__ == "base"
    for groups in ([], ["web_servers"], list(GROUP_ROLES), ["some_inventory_file"]):
        assert roles_for(groups)[0] is ROLES[0][0]


def test_each_group_gets_its_tiers_roles_from_the_one_group_table():
    names = lambda groups: [role.__name__ for role in roles_for(groups)]  # noqa: E731
    last = ["exporters", "file_integrity"]  # every host, after its roles
    assert names(["db_replicas"]) == names(["db_primary"]) == ["base", "mariadb", *last]
    assert names(["app_servers"]) == ["base", "proxysql", "app", *last]
    assert names(["web_servers", "cache_servers"]) == ["base", "redis", "nginx", *last]
    assert names(["monitoring"]) == ["base", "exporters", "prometheus", "file_integrity"]
    assert names(["backup_servers"]) == ["base", "backup", *last]
    assert names(list(GROUP_ROLES)) == ["base", "mariadb", "backup", "redis", "proxysql", "app", "nginx", "exporters",
                                        "prometheus", "file_integrity"]


def test_apply_calls_every_role_on_its_own_line_in_the_order_of_roles():
    """pyinfra orders all hosts' operations by the lines calling them: a loop would interleave roles."""
    import ast
    import inspect

    from peakready.roles import apply

    calls = [node for node in ast.walk(ast.parse(inspect.getsource(apply)))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in ("roles_for", "part")]
    assert [c.func.id for c in sorted(calls, key=lambda c: c.lineno)] == [role.__name__ for role, _ in ROLES]
    assert len({c.lineno for c in calls}) == len(ROLES)


def test_file_max_is_a_floor_never_lowered():
    planned = PLAN.sysctl["fs.file-max"]
    assert sysctls(PLAN, 1000)["fs.file-max"] == planned
    assert sysctls(PLAN, 2**63 - 1)["fs.file-max"] == 2**63 - 1
    assert sysctls(PLAN, None)["fs.file-max"] == planned


def test_a_container_gets_only_per_namespace_network_keys():
    settings = sysctls(PLAN, None)
    applied, skipped = split_for_container(settings, "docker")
    assert applied and all(k.startswith("net.") for k in applied)
    kernel_hardening = {k for k in HARDENING_SYSCTLS if not k.startswith("net.")}
    assert kernel_hardening and set(skipped) == {"fs.file-max", "vm.overcommit_memory", "vm.swappiness",
                                                 *kernel_hardening}
    assert split_for_container(settings, None) == (settings, {})


def test_sysctl_file_comments_out_what_a_container_leaves_to_its_host():
    applied, skipped = split_for_container(sysctls(PLAN, None), "docker")
    text = render("base/sysctl.conf.j2", applied=applied, skipped=skipped, container="docker")
    active = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert active == [f"{k} = {v}" for k, v in applied.items()]
    assert "# vm.swappiness = 10" in text


def test_firewall_opens_exactly_ssh_and_the_listed_ports():
    text = render("base/nftables.conf.j2", sshd_port=2222, tcp_ports=[80, 443], allow_dhcp_client=False, peers=[])
    assert "tcp dport { 2222, 80, 443 } ct state new accept" in text
    assert "policy drop" in text and "udp" not in text
    # Never flush other tables (Docker's, fail2ban's): only our own table is replaced.
    assert "flush ruleset" not in text and "delete table inet peakready" in text


def run_first_upgrade(tmp_path, script: str, timeout_s: int = 300, apt_busy_for: int = 0):
    """The first deploy's upgrade command as pyinfra runs it, with a fake unattended-upgrade
    (`script`, which counts its calls in ./calls), a systemctl that says apt's daily units are
    active for the first `apt_busy_for` asks, and a sleep that returns at once."""
    from tests.unit.test_facts import TEXT_TOOLS, run_sh

    stubs = {"unattended-upgrade": f"echo x >> {tmp_path}/calls\n{script}\n",
             "systemctl": f"echo x >> {tmp_path}/asked\n[ $(wc -l < {tmp_path}/asked) -le {apt_busy_for} ]\n",
             "sleep": "exit 0\n"}
    done = run_sh(tmp_path, first_upgrade(timeout_s), stubs, tools=(*TEXT_TOOLS, "date", "wc"))
    calls = (tmp_path / "calls").read_text().count("x") if (tmp_path / "calls").exists() else 0
    return done, calls


LOCKED = 'echo "Cache lock can not be acquired, exiting"; exit 1'


def test_the_first_upgrade_waits_for_the_apt_lock_then_runs(tmp_path):
    # Held twice (apt's daily timer at boot), then free: the third try upgrades and the op succeeds.
    done, calls = run_first_upgrade(tmp_path, f'[ $(wc -l < {tmp_path}/calls) -ge 3 ] && exit 0\n{LOCKED}')
    assert (done.rc, calls) == (0, 3), done


def test_the_first_upgrade_waits_while_apt_daily_runs_and_beside_another_upgrade(tmp_path):
    # apt-daily-upgrade.service active for two looks: not tried meanwhile. Then another
    # unattended-upgrade holds its own lock file once (said only with -v): tried again.
    taken = 'echo "Lock file is already taken, exiting"; exit 1'
    script = f'[ "$1" = -v ] || exit 9\n[ $(wc -l < {tmp_path}/calls) -ge 2 ] && exit 0\n{taken}'
    done, calls = run_first_upgrade(tmp_path, script, apt_busy_for=2)
    assert (done.rc, calls) == (0, 2), done
    assert (tmp_path / "asked").read_text().count("x") == 4


def test_the_first_upgrade_fails_at_once_on_any_other_error(tmp_path):
    done, calls = run_first_upgrade(tmp_path, 'echo "E: broken packages"; exit 2')
    assert (done.rc, calls) == (2, 1)
    assert "E: broken packages" in done.lines


def test_the_first_upgrade_gives_up_when_the_lock_stays_held(tmp_path):
    # The control: a lock never freed fails the op (bounded: the fake sleep makes the loop spin
    # until the deadline, 3 s so that at least two whole seconds of date +%s pass), with a line
    # that says why.
    done, calls = run_first_upgrade(tmp_path, LOCKED, timeout_s=3)
    assert done.rc == 1 and calls >= 2
    assert "still busy after 3 s" in done.stderr
