"""Other people's apps, deployed the way their users would: three open-source apps from PyPI, one
after another through the whole stack on one fresh local VPS. The first deploy brings the stack with
isso; datasette, then wagtail, take the VPS over from the app before them, as a team that replaces
its app would (the previous app's service stopped, the new one deployed): each deploy after the
first is the app's own part, not the stack's again.

    isso        a comment server, WSGI under sync workers; requirements.txt with one top-level line;
                its comments in SQLite, in the app's state directory.
                Its dependency misaka is published as source only and compiles C: built in the
                builder container (Debian 12, the host's Python).
    datasette   an ASGI app under uvicorn; pyproject.toml locked with uv.lock (made here with `uv
                lock`, as its user would); its secret (DATASETTE_SECRET) from app_secrets.
    wagtail     a Django project made by `wagtail start`, under gthread, with what its user adds for
                production:
                settings/local.py (DATABASE_URL, ALLOWED_HOSTS, the secret key) and MariaDB's driver
                mysqlclient (source only, built against libmariadb-dev); `manage.py migrate` and
                `collectstatic` at release time, its static files served by nginx.

For each: it serves its own pages through nginx, a re-run changes nothing, a new release goes live
under load with no failed request, and a rollback brings the previous one back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from peakready import ROOT
from targets import vps, wrk
from tests.infra.conftest import LATER, NETWORK, PREPARE, PREPARED, RELEASE, deploy, phase

UV = str(Path(sys.executable).with_name("uv"))
APPS_DIR = ROOT / ".peakready" / "apps"
# A new release under load: wrk runs this long, back to back, until the deploy returns.
LOAD_RUN_S = 5
LOAD_CONNECTIONS = 20


def make_isso(src: Path) -> None:
    (src / "requirements.txt").write_text("isso==0.14.0\n")
    (src / "isso.cfg").write_text(textwrap.dedent("""\
        [general]
        dbpath = /var/lib/isso/comments.db
        host = http://localhost/
        """))


def make_datasette(src: Path) -> None:
    (src / "pyproject.toml").write_text(textwrap.dedent("""\
        [project]
        name = "datasette-site"
        version = "1.0"
        requires-python = ">=3.11"
        dependencies = ["datasette==0.65.5"]
        """))
    (src / "app.py").write_text(textwrap.dedent("""\
        import os

        from datasette.app import Datasette

        app = Datasette(memory=True, secret=os.environ["DATASETTE_SECRET"]).app()
        """))
    subprocess.run([UV, "lock", "--quiet", "--python", sys.executable], cwd=src, check=True, timeout=300,
                   capture_output=True)


def make_wagtail(src: Path) -> None:
    subprocess.run([UV, "tool", "run", "--quiet", "--from", "wagtail==8.0.1", "wagtail", "start", "mysite",
                    str(src)], check=True, timeout=300, capture_output=True)
    # Django 6.1 needs Python 3.12; Debian 12 has 3.11: the LTS its Wagtail supports, and MariaDB's driver.
    requirements = (src / "requirements.txt").read_text()
    (src / "requirements.txt").write_text(re.sub(r"(?m)^Django.*$", "Django>=5.2,<5.3", requirements)
                                          + "mysqlclient\ndj-database-url\n")
    (src / "mysite" / "settings" / "local.py").write_text(textwrap.dedent("""\
        import os

        import dj_database_url

        SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
        ALLOWED_HOSTS = os.environ["ALLOWED_HOSTS"].split(",")
        DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)}
        # The collation of peakready's database (MariaDB's client default is utf8mb4_general_ci).
        DATABASES["default"]["OPTIONS"] = {"charset": "utf8mb4", "collation": "utf8mb4_unicode_ci"}
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
        """))


@dataclass
class App:
    make: Callable[[Path], None]
    data: dict
    pages: list[tuple[str, str]]  # (path, a string its answer must hold)
    load_path: str


APPS = {
    "isso": App(make_isso, {
        "app_module": "isso.run:application", "app_worker_class": "sync", "app_migrate_module": "",
        "app_static_dir": "", "app_health_path": "/config", "app_env": {"ISSO_SETTINGS": "isso.cfg"},
    }, [("/config", '"config"'), ("/demo/", "isso"), ("/js/embed.min.js", "isso")], "/config"),
    "datasette": App(make_datasette, {
        "app_module": "app:app", "app_worker_class": "uvicorn", "app_migrate_module": "", "app_static_dir": "",
        "app_health_path": "/-/versions.json", "app_secrets": ["DATASETTE_SECRET"],
    }, [("/", "Datasette"), ("/-/versions.json", '"datasette"'), ("/_memory.json?sql=select+6*7", "42")],
        "/-/versions.json"),
    "wagtail": App(make_wagtail, {
        "app_module": "mysite.wsgi:application", "app_worker_class": "gthread", "app_worker_memory_mb": 256,
        "app_migrate_module": "", "app_migrate_command": "python manage.py migrate --noinput",
        "app_static_command": "python manage.py collectstatic --noinput", "app_static_dir": "static",
        "app_health_path": "/", "app_env": {"DJANGO_SETTINGS_MODULE": "mysite.settings.production"},
        "app_secrets": ["DJANGO_SECRET_KEY"], "app_build_packages": ["libmariadb-dev", "pkg-config"],
        "app_packages": ["libmariadb3"],
    }, [("/", "Welcome to your new Wagtail site"), ("/admin/login/", "Sign in")], "/"),
}


@dataclass
class Deployed:
    name: str
    app: App
    vps: str
    info: dict
    src: Path
    data_file: Path
    first_log: str = ""

    def deploy(self, script: str = "deploy.py", *args: str):
        return deploy(self.vps, *args, env={"PEAKREADY_DATA": str(self.data_file)}, script=script)

    def get(self, path: str, json_body: dict | None = None) -> tuple[int, str]:
        """GET (or POST a JSON body) through nginx, on the VPS's published port, as a browser asking
        for localhost."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.info['ports']['http']}{path}", headers={"Host": "localhost"},
            data=None if json_body is None else json.dumps(json_body).encode())
        if json_body is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def live_release(self) -> str:
        return vps.sh(self.vps, f"readlink /srv/{self.name}/current").strip().rsplit("/", 1)[-1]


BOX = f"peakready-apps-{os.getpid()}"


def make(name: str) -> tuple[App, Path, Path]:
    """The app's source made, and its deploy's data file."""
    app = APPS[name]
    src = APPS_DIR / name
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    with phase(f"app {name}: make"):
        app.make(src)
    data_file = APPS_DIR / f"{name}.json"
    # No AIDE baseline (45 s of a core on the VPS) and no monitoring (six packages, and these apps
    # have no /metrics): tests/infra/test_audit.py and test_monitoring.py prove them on the main VPS.
    data_file.write_text(json.dumps({"app_name": name, "app_source": str(src.relative_to(ROOT)),
                                     "file_integrity": False, "monitoring": False, **app.data}))
    return app, src, data_file


def first_deploy(deployed: Deployed) -> Deployed:
    with phase(f"app {deployed.name}: first deploy"):
        first = deployed.deploy("deploy.py", "-vvv")  # every command and its output
    assert first.returncode == 0, f"{deployed.name}: first deploy failed:\n{first.log[-4000:]}"
    deployed.first_log = first.log
    return deployed


def prepare() -> Deployed:
    """The VPS up, with the first app deployed on it (in the background, in the second wave, once the
    test VPS's first deploy is done: tests/infra/conftest.py, Prepared)."""
    name = next(iter(APPS))
    app, src, data_file = make(name)
    box = PREPARED.vps(BOX)
    with phase("apps: container"):
        info = vps.up(box, RELEASE, NETWORK)
    return first_deploy(Deployed(name, app, box, info, src, data_file))


PREPARE["apps"] = prepare
LATER.add("apps")


@pytest.fixture(scope="module")
def apps_vps():
    """The first app, deployed on the apps' VPS; the VPS removed after the last app."""
    with PREPARED.taken("apps", BOX) as first:
        yield first


@pytest.fixture(scope="module", params=[pytest.param(name, marks=pytest.mark.prepared("apps")) for name in APPS])
def user_app(request, apps_vps):
    if request.param == apps_vps.name:
        yield apps_vps
        return
    # The apps before it, whatever state their deploys left them in.
    before = vps.sh(apps_vps.vps, "systemctl list-unit-files --no-legend '*-app.service' | cut -d' ' -f1").split()
    for unit in before:
        vps.sh(apps_vps.vps, f"systemctl disable --now {unit}")
    app, src, data_file = make(request.param)
    yield first_deploy(Deployed(request.param, app, apps_vps.vps, apps_vps.info, src, data_file))


def test_it_serves_its_own_pages_through_nginx(user_app):
    for path, expected in user_app.app.pages:
        status, body = user_app.get(path)
        assert status == 200 and expected in body, f"{user_app.name} {path}: {status} {body[:300]}"
    if user_app.name == "isso":
        # A comment written (SQLite in its state directory, Markdown through misaka) and read back.
        status, body = user_app.get("/new?uri=%2Fdemo%2F", {"text": "Hello *world* from peakready"})
        assert status in (200, 201) and "<em>world</em>" in body, (status, body[:300])
        assert "Hello <em>world</em>" in user_app.get("/?uri=%2Fdemo%2F")[1]
    if user_app.name == "wagtail":
        # Its static files, gathered at release time, come from nginx (the app never sees them).
        status, body = user_app.get("/admin/login/")
        css = re.search(r'href="(/static/[^"]+\.css)"', body).group(1)
        request = urllib.request.Request(f"http://127.0.0.1:{user_app.info['ports']['http']}{css}",
                                         headers={"Host": "localhost"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            # Only nginx's /static/ location says this; Django's own static view never would.
            assert answer.status == 200 and answer.headers["Cache-Control"].startswith("public, max-age=")


def test_its_settings_and_secrets_reach_it_and_no_sample_app_variable(user_app):
    env = vps.sh(user_app.vps, f"cat /etc/{user_app.name}/app.env")
    for key, value in user_app.app.data.get("app_env", {}).items():
        assert f"{key}='{value}'" in env
    for secret in user_app.app.data.get("app_secrets", []):
        assert re.search(rf"^{secret}='[A-Za-z0-9_-]{{40,}}'$", env, re.M), secret
    assert "ALLOWED_HOSTS='localhost'" in env and "FORWARDED_ALLOW_IPS='127.0.0.1'" in env
    assert "ADMIN_TOKEN" not in env and "CACHE_TTL" not in env
    stored = json.loads((ROOT / ".peakready" / "secrets" / "docker.json").read_text())
    for secret in user_app.app.data.get("app_secrets", []):
        assert stored[f"app:{secret}"] not in user_app.first_log, f"{secret} printed by the deploy"
    assert vps.sh(user_app.vps, f"stat -c '%a %U:%G' /etc/{user_app.name}/app.env").strip() == f"640 root:{user_app.name}"


def test_a_rerun_changes_nothing(user_app):
    again = user_app.deploy()
    assert again.returncode == 0, again.log[-3000:]
    assert again.changed == [], f"{user_app.name}: a second deploy changed {again.changed}"


def test_a_new_release_goes_live_under_load_without_a_failed_request(user_app):
    before = user_app.live_release()
    (user_app.src / "peakready-test-release.txt").write_text("a new release\n")
    with phase(f"app {user_app.name}: new release"):
        again, result = wrk.while_running(user_app.vps, user_app.app.load_path, LOAD_CONNECTIONS, user_app.deploy,
                                          run_s=LOAD_RUN_S, budget=200_000)
    assert again.returncode == 0, again.log[-3000:]
    assert user_app.live_release() != before
    assert result["requests"] > 0 and result["runs"] >= 2, result
    assert result["non2xx"] == 0 and result["socket_errors"] == 0, f"{user_app.name}: {result}"


def test_a_rollback_brings_the_previous_release_back(user_app):
    live = user_app.live_release()
    res = user_app.deploy("rollback.py")
    assert res.returncode == 0, res.log[-3000:]
    assert user_app.live_release() != live
    path, expected = user_app.app.pages[0]
    status, body = user_app.get(path)
    assert status == 200 and expected in body
