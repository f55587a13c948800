"""Role `app`, on app_servers: the Python app as a multi-process service under systemd.

What PM2 cluster mode gave, done with gunicorn: N workers from the plan, restart on crash, a memory
cap per worker (recycled gracefully above it), a cgroup ceiling for the whole service, graceful
reloads, releases kept for rollback.

    /srv/<app>/releases/<id>/   one release: the code, its resolved dependencies, its virtualenv
                                (id: a hash of the code, the resolved set and the wheels' key)
    /srv/<app>/current          the live release (a symlink, switched atomically)
    /srv/<app>/wheels/<key>/    the dependencies as wheels, built here and uploaded: the host needs
                                neither PyPI nor a compiler
    /etc/<app>/app.env          the environment (URLs, the app's settings and secrets), 0640 root:<app>
    /etc/<app>/migrate.env      the migrations user's URL, 0600 root: for the migrate step only
    /etc/<app>/gunicorn.conf.py
    /var/lib/<app>/             the app's own files (its StateDirectory)

A release is unpacked, given its virtualenv, its static files gathered, migrated, and started aside
to answer its health path (once, before the switch: a failure leaves the old release serving);
then `current` is switched and the service reloaded, and the live service must answer its health
path too (else `current` goes back to the release before and the deploy fails: app_live_check_s).
"""

from __future__ import annotations

import hashlib
import io
import shlex
from urllib.parse import quote

from pyinfra import host, state
from pyinfra.api import FileUploadCommand, StringCommand, deploy, operation
from pyinfra.api.exceptions import OperationError
from pyinfra.facts.files import File, Link, Sha1File
from pyinfra.facts.server import Command
from pyinfra.operations import apt, files, server, systemd

from peakready import PORTS, SOCKETS, topology
from peakready.dependencies import RESOLVED
from peakready.ops import config_file, when_changed
from peakready.plan import HostPlan, part
from peakready.release import Release
from peakready.secrets import Secrets
from peakready.services import unit_file

READY = ".peakready-release"  # written last: a release without it is incomplete
WORKER_CLASSES = {"uvicorn": "uvicorn_worker.UvicornWorker", "sync": "sync", "gthread": "gthread"}


def paths(data) -> dict[str, str]:
    root = f"/srv/{data.app_name}"
    return {"root": root, "releases": f"{root}/releases", "current": f"{root}/current", "wheels": f"{root}/wheels",
            "etc": f"/etc/{data.app_name}", "env": f"/etc/{data.app_name}/app.env",
            "conf": f"/etc/{data.app_name}/gunicorn.conf.py", "unit": unit_file("app", data.app_name),
            "state": f"/var/lib/{data.app_name}", "migrate_env": f"/etc/{data.app_name}/migrate.env"}


# --- operations -----------------------------------------------------------------------------------


@operation()
def release(data, release_id: str, tarball: bytes, wheels: str, health_host: str):
    """
    Unpack a release, give it a virtualenv from the uploaded wheels, gather its static files, run
    its migrations, prove it answers its health path, and mark it ready: each step as the app's
    user with its environment, once, before the release goes live (a failure leaves the live one
    serving). Nothing happens for a release that is already ready.
    """
    p = paths(data)
    target = f"{p['releases']}/{release_id}"
    if host.get_fact(File, path=f"{target}/{READY}"):
        host.noop(f"release {release_id} is ready")
        return
    archive = f"{p['releases']}/{release_id}.tar.gz"
    yield StringCommand(f"rm -rf {target} && mkdir -p {target}")
    yield FileUploadCommand(io.BytesIO(tarball), archive, remote_temp_filename=host.get_temp_filename(archive))
    yield StringCommand(f"tar -xzf {archive} -C {target} && rm -f {archive}")
    yield StringCommand(f"python3 -m venv {target}/venv")
    yield StringCommand(f"{target}/venv/bin/pip install --quiet --no-index --find-links {wheels} "
                        f"-r {target}/{RESOLVED}")
    static = f"{target}/{data.app_static_dir}" if data.app_static_dir else ""
    if data.app_static_command:
        yield StringCommand(f"install -d -o {data.app_name} -g {data.app_name} {static}")
        yield as_app(data, target, data.app_static_command, f"STATIC_ROOT={static}")
    # The code is root's, readable by the app's group; nginx (another user) may only reach the static
    # files: through each directory down to them, then read them.
    through = [target] + [f"{target}/{'/'.join(data.app_static_dir.split('/')[:i])}"
                          for i in range(1, len(data.app_static_dir.split("/")))] if static else [target]
    yield StringCommand(f"chown -R root:{data.app_name} {target} && chmod -R g+rX,o-rwx {target} && "
                        f"chmod o+x {' '.join(through)}"
                        + (f" && if [ -d {static} ]; then chmod -R o+rX {static}; fi" if static else ""))
    if data.app_migrate_module:
        yield as_app(data, target, f"venv/bin/python -m {data.app_migrate_module}", migrate=True)
    elif data.app_migrate_command:
        yield as_app(data, target, data.app_migrate_command, 'DATABASE_URL="$MIGRATE_DATABASE_URL"', migrate=True)
    yield StringCommand(readiness_check(data, target, health_host, "https" if data.tls != "off" else "http"))
    yield StringCommand(f"touch {target}/{READY}")


def as_app(data, target: str, command: str, extra_env: str = "", migrate: bool = False) -> StringCommand:
    """`command` (its words as written: no shell expansion) in the release's directory as the app's
    user, with its environment and its virtualenv first on PATH. For the migrate step only, root
    reads the migrations user's URL (a file the app cannot read) and hands it over in the
    environment, never on a command line."""
    p = paths(data)
    script = (f"set -a; . {p['env']}; set +a; export PATH={target}/venv/bin:$PATH STATE_DIRECTORY={p['state']} "
              f"{extra_env}; exec {shlex.join(shlex.split(command))}")
    keep = f"set -a; . {p['migrate_env']}; set +a; " if migrate else ""
    handover = " -w MIGRATE_DATABASE_URL" if migrate else ""
    return StringCommand(f"cd {target} && {keep}runuser{handover} -u {data.app_name} -- sh -c {shlex.quote(script)}")


READY_TIMEOUT_S = 60


def readiness_check(data, target: str, health_host: str, scheme: str) -> str:
    """A shell script: the release started aside (one worker, on a socket of its own) must answer
    app_health_path with 200 within READY_TIMEOUT_S; else its log's tail and a failure."""
    p = paths(data)
    serve = (f"set -a; . {p['env']}; set +a; export PROMETHEUS_MULTIPROC_DIR=$0 STATE_DIRECTORY={p['state']} "
             f"PEAKREADY_RELEASE_DIR={target}; exec {target}/venv/bin/gunicorn "
             f"--config {p['conf']} --bind unix:$0/check.sock --workers 1 --pid $0/pid "
             f"{data.app_module}")
    url = f"http://localhost{data.app_health_path}"
    return (
        f"d=$(mktemp -d) && chown {data.app_name}: $d && cd {target} && "
        f"(runuser -u {data.app_name} -- sh -c {shlex.quote(serve)} $d > $d/log 2>&1 &) && "
        f"code=000; up=; for i in $(seq {READY_TIMEOUT_S * 2}); do "
        f"code=$(curl -s -o /dev/null -w '%{{http_code}}' --connect-timeout 2 --max-time 10 -H 'Host: {health_host}' "
        f"-H 'X-Forwarded-Proto: {scheme}' --unix-socket $d/check.sock {shlex.quote(url)} || true); "
        f"[ \"$code\" = 200 ] && break; "
        # gunicorn writes its pid file when it starts and removes it when it gives up: stop waiting then.
        f"if [ -f $d/pid ]; then up=1; elif [ -n \"$up\" ]; then break; fi; sleep 0.5; done; "
        f"[ -f $d/pid ] && kill $(cat $d/pid) 2>/dev/null; for i in $(seq 20); do [ -f $d/pid ] || break; sleep 0.5; done; "
        f"if [ \"$code\" != 200 ]; then echo \"the release did not answer {data.app_health_path} with 200 "
        f"(last: $code); its log:\" >&2; tail -n 20 $d/log >&2; rm -rf $d; exit 1; fi; rm -rf $d")


LIVE_SETTLE_S = 2  # the reload's old workers are gone by then (gunicorn stops them once the new ones are spawned)


def live_check(data, release_id: str, previous: str | None, health_host: str, scheme: str) -> str:
    """A shell script: after the switch to `release_id`, the live service (on the loopback, as nginx
    on this host reaches it) answers app_health_path with 200 three times in a row within
    app_live_check_s; else `current` goes back to `previous` (releases/<id>), the service reloaded
    (restarted when its packages differ), and a failure that says so."""
    p = paths(data)
    url = f"http://127.0.0.1:{data.app_port}{data.app_health_path}"
    failed, back = f"{p['releases']}/{release_id}", ""
    if previous:
        back = (f"ln -sfn {previous} {p['current']}.new && mv -T {p['current']}.new {p['current']}; "
                # As rollback.py leaves a release rolled back from: last in the list of ready ones.
                f"touch -d @0 {failed}/{READY}; "
                # A release whose workers cannot boot has the unit crash-looping into its start limit.
                f"systemctl reset-failed {p['unit']} 2>/dev/null; "
                f"if cmp -s {p['root']}/{previous}/{RESOLVED} {failed}/{RESOLVED}; then "
                f"systemctl reload-or-restart {p['unit']}; else systemctl restart {p['unit']}; fi "
                f"&& echo \"current is back on {previous}\" >&2 "
                f"|| echo \"current is back on {previous}, but {p['unit']} did not take it: systemctl status "
                f"{p['unit']}\" >&2; ")
    return (
        f"sleep {LIVE_SETTLE_S}; end=$(( $(date +%s) + {data.app_live_check_s} )); ok=0; code=000; "
        f"while [ \"$(date +%s)\" -lt \"$end\" ]; do "
        f"code=$(curl -s -o /dev/null -w '%{{http_code}}' --connect-timeout 2 --max-time 5 -H 'Host: {health_host}' "
        f"-H 'X-Forwarded-Proto: {scheme}' {shlex.quote(url)} || true); "
        f"if [ \"$code\" = 200 ]; then ok=$((ok + 1)); [ $ok -ge 3 ] && exit 0; else ok=0; fi; sleep 0.5; done; "
        f"echo \"the live release did not answer {data.app_health_path} with 200 three times in a row within "
        f"{data.app_live_check_s} s (last: $code)\" >&2; {back}exit 1")


@operation()
def switch(data, release_id: str):
    """Point `current` at the release, atomically (a new symlink renamed over the old one)."""
    p = paths(data)
    target = f"releases/{release_id}"
    link = host.get_fact(Link, path=p["current"])
    if link and link.get("link_target") == target:
        host.noop(f"current is {target}")
        return
    yield StringCommand(f"ln -sfn {target} {p['current']}.new && mv -T {p['current']}.new {p['current']}")


def ready_releases(data) -> list[str]:
    """Release ids that went ready, newest first."""
    p = paths(data)
    listing = host.get_fact(Command, command=f"ls -1t {p['releases']}/*/{READY} 2>/dev/null || true")
    return [line.split("/")[-2] for line in (listing or "").splitlines() if line]


@operation()
def roll_back(data):
    """
    Point `current` back at the release that was ready before the live one, then reload the app
    (restart if that release's requirements differ: the master's packages must match).
    """
    p = paths(data)
    ids = ready_releases(data)
    link = host.get_fact(Link, path=p["current"])
    live = str(link["link_target"] if link else "").rsplit("/", 1)[-1]
    if live not in ids or ids.index(live) + 1 >= len(ids):
        raise OperationError(f"no release older than the live one ({live or 'none'}) to roll back to")
    previous = ids[ids.index(live) + 1]
    old, new = f"{p['releases']}/{live}", f"{p['releases']}/{previous}"
    yield StringCommand(f"ln -sfn releases/{previous} {p['current']}.new && mv -T {p['current']}.new {p['current']}")
    yield StringCommand(f"if cmp -s {old}/{RESOLVED} {new}/{RESOLVED}; then systemctl reload {p['unit']}; "
                        f"else systemctl restart {p['unit']}; fi")
    # Rolled back from: it goes to the bottom of the list, so the next rollback goes further back.
    yield StringCommand(f"touch -d @0 {old}/{READY}")


@operation()
def prune(data, keep: int, live: str):
    """Remove the oldest releases beyond `keep` (never the live one)."""
    p = paths(data)
    extra = [i for i in ready_releases(data)[keep:] if i != live]
    if not extra:
        host.noop("no release to remove")
        return
    yield StringCommand("rm -rf " + " ".join(f"{p['releases']}/{i}" for i in extra))


def database_urls(plan: HostPlan, data, secrets: Secrets, topo: topology.Topology) -> tuple[str, str]:
    primary = topo.reach_primary(host.name)
    def url(user: str, secret: str, where: str) -> str:
        return f"mysql://{quote(user, safe='')}:{quote(secrets.get(secret), safe='')}@{where}/{data.app_db_name}"
    # Through ProxySQL beside the app, or MariaDB directly; migrations go straight to the primary:
    # DDL, once, not worth a pooled route.
    proxysql, mariadb = f"{topology.LOOPBACK}:{PORTS['proxysql']}", f"{primary}:{PORTS['mariadb']}"
    return (url(data.mariadb_app_user, "mariadb_app_password", proxysql if plan.proxysql else mariadb),
            url(data.mariadb_migrate_user, "mariadb_migrate_password", mariadb))


@deploy("app")
def app(plan: HostPlan, secrets: Secrets, rel: Release):
    data, a, p = host.data, part(plan.app, "app"), paths(host.data)
    user_and_directories(data, p)
    topo = topology.of_inventory(state.inventory)
    # nginx in front: on this host, or the web hosts (whose X-Forwarded-For the app trusts).
    proxies = ",".join(["127.0.0.1"] + [topo.address(w) for w in topo.in_tier("web") if w != host.name])
    database_url, migrate_url = database_urls(plan, data, secrets, topo)
    env = environment(plan, data, secrets, topo, database_url, proxies)
    # The migrations user (DDL) is the migrate step's only: root's file, handed to that step alone.
    config_file(name=f"{p['migrate_env']} (0600 root: the migrations user)", template="app/migrate.env.j2",
                dest=p["migrate_env"], mode=600, group="root", migrate_database_url=migrate_url)
    conf = config_file(
        name=f"gunicorn: {a.workers} {data.app_worker_class} workers", template="app/gunicorn.conf.py.j2",
        dest=p["conf"], mode=640, group=data.app_name, app_name=data.app_name, unit=p["unit"], root=p["root"],
        port=data.app_port, app=a, worker_class=WORKER_CLASSES[data.app_worker_class], env_file=p["env"],
        app_worker_concurrency=data.app_worker_concurrency, app_timeout_s=data.app_timeout_s,
        app_graceful_timeout_s=data.app_graceful_timeout_s, app_worker_memory_mb=data.app_worker_memory_mb,
        max_requests=data.app_max_requests, max_requests_jitter=data.app_max_requests_jitter, proxies=proxies,
        binds=topo.binds(host.name, "app"),
    )

    # Resolved and built on this machine by the pre-flight: the host gets wheels only.
    files.sync(name=f"Dependencies as wheels ({len(rel.resolved.splitlines())} pins)", src=str(rel.wheels),
               dest=f"{p['wheels']}/{rel.wheels_key}", exclude=[".complete"], delete=True)
    release(name=f"Release {rel.id}: code, virtualenv, static files, migrations, health", data=data,
            release_id=rel.id, tarball=rel.tarball, wheels=f"{p['wheels']}/{rel.wheels_key}",
            health_host=data.server_names[0])
    go_live(plan, data, rel, env, conf)


def user_and_directories(data, p: dict[str, str]) -> None:
    """The app's user and group (they own nothing that runs), its directories, its Debian packages."""
    apt.packages(name="Python virtualenvs, curl (a release's readiness check)", packages=["python3-venv", "curl"],
                 no_recommends=True)
    server.group(name=f"{data.app_name} group", group=data.app_name, system=True)
    server.user(name=f"{data.app_name} user (runs the app, owns nothing it runs)", user=data.app_name,
                group=data.app_name, system=True, shell="/usr/sbin/nologin", home="/nonexistent", create_home=False,
                ensure_home=False)
    # pyinfra's ensure_home made /nonexistent, owned by the app user, until 0.1.0: it is the home
    # of users that must have none (nobody's too), so it goes.
    files.directory(name="/nonexistent is not there", path="/nonexistent", present=False)
    for path, mode in ((p["root"], 751), (p["releases"], 751), (p["wheels"], 750)):
        files.directory(name=f"{path}", path=path, user="root", group=data.app_name, mode=mode)
    files.directory(name=p["etc"], path=p["etc"], user="root", group=data.app_name, mode=750)
    # The app's own files (the unit's StateDirectory), there already for its release steps.
    files.directory(name=p["state"], path=p["state"], user=data.app_name, group=data.app_name, mode=750)
    if data.app_packages:
        apt.packages(name=f"What the app needs to run: {', '.join(data.app_packages)}", packages=list(data.app_packages),
                     no_recommends=True)


def environment(plan: HostPlan, data, secrets: Secrets, topo: topology.Topology, database_url: str, proxies: str):
    """The app's environment file (0640): where its database and Redis are, its own variables and secrets."""
    p = paths(data)
    # The app's Redis: the first cache host, when the app caches.
    cache = next(iter(topo.in_tier("cache")), None) if data.app_cache else None
    return config_file(
        name=f"Environment {p['env']} (0640)", template="app/app.env.j2", dest=p["env"], mode=640,
        group=data.app_name, app_name=data.app_name, app_user=data.app_name,
        db_pool_size=data.db_pool_size, db_pool_overflow=data.db_pool_overflow,
        database_url=database_url, database_socket=SOCKETS["proxysql"] if plan.proxysql else "",
        redis_url=f"redis://{quote(data.redis_app_user, safe='')}:{quote(secrets.get('redis_app_password'), safe='')}"
                  f"@{topo.reach(host.name, cache)}:{PORTS['redis']}/0" if cache else "",
        redis_socket=SOCKETS["redis"] if cache == host.name else "",
        allowed_hosts=",".join(data.server_names), proxies=proxies,
        db_servers=",".join([f"primary={topo.reach_primary(host.name)}:{PORTS['mariadb']}"]
                            + [f"replica={topo.reach(host.name, r)}:{PORTS['mariadb']}" for r in topo.replicas])
                   if topo.replicas else "",
        app_env=dict(data.app_env), app_secrets={name: secrets.app(name) for name in data.app_secrets},
    )


def go_live(plan: HostPlan, data, rel: Release, env, conf) -> None:
    """The unit, then the release switched in: a restart where the unit or the packages changed, a
    graceful reload where only code, config (`conf`) or environment (`env`) did; old releases pruned."""
    p, a = paths(data), part(plan.app, "app")
    unit = config_file(
        name=f"systemd unit {p['unit']}", template="app/app.service.j2", dest=f"/etc/systemd/system/{p['unit']}",
        app_name=data.app_name, app_user=data.app_name, root=p["root"], conf=p["conf"], module=data.app_module, app=a,
        app_worker_memory_mb=data.app_worker_memory_mb, app_graceful_timeout_s=data.app_graceful_timeout_s,
        nofile=plan.nofile["app"],
    )
    systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)
    # gunicorn's master keeps the interpreter and packages it started with: a release whose
    # dependencies differ from the live one's needs a restart; the same ones, a reload.
    live_requirements = host.get_fact(Sha1File, path=f"{p['current']}/{RESOLVED}")
    new_packages = live_requirements != hashlib.sha1(rel.resolved.encode()).hexdigest()
    live = host.get_fact(Link, path=p["current"])  # before the switch
    switched = switch(name=f"Go live: current -> releases/{rel.id}", data=data, release_id=rel.id)
    started = systemd.service(name=f"{p['unit']} on, now and at boot", service=p["unit"], running=True, enabled=True)
    # Just started: it runs all that is new already.
    restart = when_changed(unit, *([switched] if new_packages else []), unless=[started])
    systemd.service(name="Restart the app (new unit or new packages)", service=p["unit"], restarted=True, _if=restart)
    # Code, config or environment: reload (HUP), new workers up before the old ones go.
    systemd.service(name="Reload the app (graceful: new workers up before old ones go)", service=p["unit"],
                    reloaded=True, _if=when_changed(switched, conf, env, unless=[started, restart]))
    server.shell(name=f"The live release answers {data.app_health_path} (else current goes back)",
                 commands=[live_check(data, rel.id, live["link_target"] if live else None, data.server_names[0],
                                      "https" if data.tls != "off" else "http")],
                 _if=switched.did_change)
    prune(name=f"Keep the last {data.app_releases_kept} releases", data=data, keep=data.app_releases_kept,
          live=rel.id)
