"""Role `app`, on app_servers: the Python app as a multi-process service under systemd.

What PM2 cluster mode gave, done with gunicorn: N workers from the plan, restart on crash, a memory
cap per worker (recycled gracefully above it), a cgroup ceiling for the whole service, graceful
reloads, releases kept for rollback.

    /srv/<app>/releases/<id>/   one release: the code, its virtualenv (id: a hash of the code)
    /srv/<app>/current          the live release (a symlink, switched atomically)
    /srv/<app>/wheels/<key>/    the dependencies as wheels, built here and uploaded: the host needs
                                neither PyPI nor a compiler
    /etc/<app>/app.env          the environment (URLs, secrets), 0640 root:<app>
    /etc/<app>/gunicorn.conf.py

A release is unpacked, given its virtualenv and migrated (once, before the switch: a failed
migration leaves the old release serving), then `current` is switched and the service reloaded.
"""

from __future__ import annotations

import hashlib
import io
import shlex
from urllib.parse import quote

from pyinfra import host
from pyinfra.api import FileUploadCommand, StringCommand, deploy, operation
from pyinfra.api.exceptions import OperationError
from pyinfra.facts.files import File, Link, Sha1File
from pyinfra.facts.server import Command
from pyinfra.operations import apt, files, server, systemd

from peakready.ops import config_file, when_changed
from peakready.plan import HostPlan
from peakready.release import release_tarball, source_dir, wheelhouse
from peakready.secrets import Secrets

READY = ".peakready-release"  # written last: a release without it is incomplete
WORKER_CLASSES = {"uvicorn": "uvicorn_worker.UvicornWorker", "sync": "sync", "gthread": "gthread"}


def paths(data) -> dict[str, str]:
    root = f"/srv/{data.app_name}"
    return {"root": root, "releases": f"{root}/releases", "current": f"{root}/current", "wheels": f"{root}/wheels",
            "etc": f"/etc/{data.app_name}", "env": f"/etc/{data.app_name}/app.env",
            "conf": f"/etc/{data.app_name}/gunicorn.conf.py", "unit": f"{data.app_name}-app.service"}


# --- operations -----------------------------------------------------------------------------------


@operation()
def release(data, release_id: str, tarball: bytes, wheels: str, migrate_env: str):
    """
    Unpack a release, give it a virtualenv from the uploaded wheels, run its migrations as the app
    user, and mark it ready. Nothing happens for a release that is already ready.
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
                        f"-r {target}/requirements.txt")
    # The code is root's, readable by the app's group; nginx (another user) may only reach static/.
    yield StringCommand(f"chown -R root:{data.app_name} {target} && chmod -R g+rX,o-rwx {target} && chmod o+x {target}"
                        f" && if [ -d {target}/static ]; then chmod -R o+rX {target}/static; fi")
    if data.app_migrate_module:
        # Once per release, before it goes live, as the app's user with its environment.
        yield StringCommand(
            f"cd {target} && runuser -u {data.app_name} -- sh -c "
            f"{shlex.quote(f'set -a; . {migrate_env}; set +a; exec venv/bin/python -m {data.app_migrate_module}')}")
    yield StringCommand(f"touch {target}/{READY}")


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
    live = (link or {}).get("link_target", "").rsplit("/", 1)[-1]
    if live not in ids or ids.index(live) + 1 >= len(ids):
        raise OperationError(f"no release older than the live one ({live or 'none'}) to roll back to")
    previous = ids[ids.index(live) + 1]
    old, new = f"{p['releases']}/{live}", f"{p['releases']}/{previous}"
    yield StringCommand(f"ln -sfn releases/{previous} {p['current']}.new && mv -T {p['current']}.new {p['current']}")
    yield StringCommand(f"if cmp -s {old}/requirements.txt {new}/requirements.txt; then systemctl reload {p['unit']}; "
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


def database_urls(plan: HostPlan, data, secrets: Secrets) -> tuple[str, str]:
    port = 6033 if plan.proxysql else 3306  # through ProxySQL beside the app, or MariaDB directly
    def url(user: str, secret: str, port: int) -> str:
        return f"mysql://{quote(user, safe='')}:{quote(secrets.get(secret), safe='')}@127.0.0.1:{port}/{data.app_db_name}"
    # Migrations go straight to MariaDB: DDL, once, not worth a pooled route.
    return url(data.mariadb_app_user, "mariadb_app_password", port), url(
        data.mariadb_migrate_user, "mariadb_migrate_password", 3306)


@deploy("app")
def app(plan: HostPlan, secrets: Secrets):
    data, a, p = host.data, plan.app, paths(host.data)
    apt.packages(name="Python virtualenvs", packages=["python3-venv"], no_recommends=True)
    server.group(name=f"{data.app_name} group", group=data.app_name, system=True)
    server.user(name=f"{data.app_name} user (runs the app, owns nothing it runs)", user=data.app_name,
                group=data.app_name, system=True, shell="/usr/sbin/nologin", home="/nonexistent", create_home=False)
    for path, mode in ((p["root"], 751), (p["releases"], 751), (p["wheels"], 750)):
        files.directory(name=f"{path}", path=path, user="root", group=data.app_name, mode=mode)
    files.directory(name=p["etc"], path=p["etc"], user="root", group=data.app_name, mode=750)

    database_url, migrate_url = database_urls(plan, data, secrets)
    env = config_file(
        name=f"Environment {p['env']} (0640)", template="app/app.env.j2", dest=p["env"], mode=640,
        group=data.app_name, app_name=data.app_name, app_user=data.app_name,
        db_pool_size=data.db_pool_size, db_pool_overflow=data.db_pool_overflow,
        database_url=database_url, migrate_database_url=migrate_url,
        redis_url=f"redis://{quote(data.redis_app_user, safe='')}:{quote(secrets.get('redis_app_password'), safe='')}"
                  "@127.0.0.1:6379/0" if data.app_cache else "",
        admin_token=secrets.get("app_admin_token"),
        ttl={"outlets": data.app_cache_ttl_outlets_s, "outlet": data.app_cache_ttl_outlet_s,
             "menu": data.app_cache_ttl_menu_s, "featured": data.app_cache_ttl_featured_s},
    )

    src = source_dir(data)  # checked by the pre-flight: it exists and has requirements.txt
    release_id, tarball = release_tarball(src)
    # The full version: markers such as python_full_version < "3.11.3" (bookworm has 3.11.2) count.
    python = host.get_fact(Command, command="python3 -c 'import platform; print(platform.python_version())'")
    key, local_wheels = wheelhouse(src / "requirements.txt", python)
    files.sync(name=f"Dependencies as wheels for Python {python}", src=str(local_wheels), dest=f"{p['wheels']}/{key}",
               exclude=[".complete", ".requirements-unmarked.txt"], delete=True)
    release(name=f"Release {release_id}: code, virtualenv, migrations", data=data, release_id=release_id,
            tarball=tarball, wheels=f"{p['wheels']}/{key}", migrate_env=p["env"])

    conf = config_file(
        name=f"gunicorn: {a.workers} {data.app_worker_class} workers", template="app/gunicorn.conf.py.j2",
        dest=p["conf"], mode=640, group=data.app_name, app_name=data.app_name, unit=p["unit"], root=p["root"],
        port=data.app_port, app=a, worker_class=WORKER_CLASSES[data.app_worker_class], env_file=p["env"],
        app_worker_concurrency=data.app_worker_concurrency, app_timeout_s=data.app_timeout_s,
        app_graceful_timeout_s=data.app_graceful_timeout_s, app_worker_memory_mb=data.app_worker_memory_mb,
        max_requests=data.app_max_requests, max_requests_jitter=data.app_max_requests_jitter,
    )
    unit = config_file(
        name=f"systemd unit {p['unit']}", template="app/app.service.j2", dest=f"/etc/systemd/system/{p['unit']}",
        app_name=data.app_name, app_user=data.app_name, root=p["root"], conf=p["conf"], module=data.app_module, app=a,
        app_worker_memory_mb=data.app_worker_memory_mb, app_graceful_timeout_s=data.app_graceful_timeout_s,
        nofile=plan.nofile["app"],
    )
    systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)
    # gunicorn's master keeps the interpreter and packages it started with: a release whose
    # requirements differ from the live one's needs a restart; same requirements, a reload.
    live_requirements = host.get_fact(Sha1File, path=f"{p['current']}/requirements.txt")
    new_packages = live_requirements not in (None, hashlib.sha1((src / "requirements.txt").read_bytes()).hexdigest())
    switched = switch(name=f"Go live: current -> releases/{release_id}", data=data, release_id=release_id)
    started = systemd.service(name=f"{p['unit']} on, now and at boot", service=p["unit"], running=True, enabled=True)
    # Just started: it runs all that is new already.
    restart = when_changed(unit, *([switched] if new_packages else []), unless=[started])
    systemd.service(name="Restart the app (new unit or new packages)", service=p["unit"], restarted=True, _if=restart)
    # Code, config or environment: reload (HUP), new workers up before the old ones go.
    systemd.service(name="Reload the app (graceful: new workers up before old ones go)", service=p["unit"],
                    reloaded=True, _if=when_changed(switched, conf, env, unless=[started, restart]))
    prune(name=f"Keep the last {data.app_releases_kept} releases", data=data, keep=data.app_releases_kept,
          live=release_id)
