"""The web tier's decisions without a host: release ids, URLs, rendered gunicorn/systemd/nginx files."""

import ast
import importlib
import os
import re
import subprocess
import sys
from types import SimpleNamespace
from urllib.parse import unquote, urlsplit

import pytest

from peakready import GROUP_ROLES, ROOT, SOCKETS, knobs, validate
from peakready.plan import HostFacts, make_plan
from peakready.release import release_tarball
from peakready.render import render
from peakready.roles.app import database_urls
from peakready.roles.nginx import SINGLE_APP_ENTRIES, SITE_KNOBS, nginx_conf_context, site_context
from peakready.topology import Topology
from tests import sample_app

PLAN = make_plan([HostFacts("vps", 2, 4096)], {})["vps"]
DATA = SimpleNamespace(**sample_app.data())  # the sample app's deploy


def test_a_release_id_depends_on_the_code_only(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "main.py").write_text("app = 1\n")
    (tmp_path / "requirements.txt").write_text("gunicorn==1\n")
    first = release_tarball(tmp_path)
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"junk")
    assert release_tarball(tmp_path) == first, "caches are not part of a release"
    (tmp_path / "pkg" / "main.py").write_text("app = 2\n")
    assert release_tarball(tmp_path)[0] != first[0]


class Secrets:
    def get(self, name):
        return {"mariadb_app_password": "a/b+c=d-e_f.g~h0123"}.get(name, "x" * 20)


ONE_HOST = Topology({"vps": tuple(GROUP_ROLES)})
SPREAD = Topology({"app1": ("app_servers",), "db1": ("db_primary",)}, {"app1": "10.0.0.4", "db1": "10.0.0.3"})


def test_database_urls_go_through_proxysql_when_it_is_on_and_encode_passwords(monkeypatch):
    monkeypatch.setattr(importlib.import_module("peakready.roles.app"), "host", SimpleNamespace(name="vps"))
    on = make_plan([HostFacts("vps", 2, 4096)], {"proxysql_enabled": True})["vps"]
    app_url, migrate_url = database_urls(on, DATA, Secrets(), ONE_HOST)
    assert urlsplit(app_url).port == 6033 and urlsplit(migrate_url).port == 3306
    assert unquote(urlsplit(app_url).password) == "a/b+c=d-e_f.g~h0123"
    off = make_plan([HostFacts("vps", 2, 4096)], {"proxysql_enabled": False})["vps"]
    assert urlsplit(database_urls(off, DATA, Secrets(), ONE_HOST)[0]).port == 3306


def test_an_app_host_reaches_a_remote_primary_on_its_private_address(monkeypatch):
    monkeypatch.setattr(importlib.import_module("peakready.roles.app"), "host", SimpleNamespace(name="app1"))
    on = make_plan([HostFacts("app1", 1, 1024, ("app_servers",)), HostFacts("db1", 1, 1024, ("db_primary",))],
                   {"proxysql_enabled": True, "app_cache": False})["app1"]
    app_url, migrate_url = database_urls(on, DATA, Secrets(), SPREAD)
    assert urlsplit(app_url).hostname == "127.0.0.1" and urlsplit(app_url).port == 6033, "ProxySQL beside the app"
    assert (urlsplit(migrate_url).hostname, urlsplit(migrate_url).port) == ("10.0.0.3", 3306)


def test_gunicorn_config_is_python_with_the_planned_numbers():
    text = render("app/gunicorn.conf.py.j2", app_name="peakready", unit="peakready-app.service",
                  root="/srv/peakready", port=8000, app=PLAN.app, worker_class="uvicorn_worker.UvicornWorker",
                  env_file="/etc/peakready/app.env", max_requests=10000, max_requests_jitter=1000, proxies="127.0.0.1",
                  binds=["127.0.0.1"],
                  app_worker_concurrency=DATA.app_worker_concurrency, app_timeout_s=DATA.app_timeout_s,
                  app_graceful_timeout_s=DATA.app_graceful_timeout_s, app_worker_memory_mb=DATA.app_worker_memory_mb)
    tree = ast.parse(text)
    values = {n.targets[0].id: ast.literal_eval(n.value) for n in tree.body
              if isinstance(n, ast.Assign) and isinstance(n.value, (ast.Constant, ast.List))}
    assert values["workers"] == PLAN.app.workers and values["timeout"] == DATA.app_timeout_s
    assert values["keepalive"] > DATA.nginx_upstream_keepalive_timeout_s
    assert values["bind"] == ["127.0.0.1:8000"] and values["preload_app"] is False
    assert values["WORKER_MEMORY_MB"] == DATA.app_worker_memory_mb


def test_the_unit_caps_memory_and_is_hardened():
    text = render("app/app.service.j2", app_name="peakready", app_user="peakready", root="/srv/peakready",
                  conf="/etc/peakready/gunicorn.conf.py", module="peakready_app.main:app", app=PLAN.app, nofile=4096,
                  app_worker_memory_mb=DATA.app_worker_memory_mb, app_graceful_timeout_s=DATA.app_graceful_timeout_s)
    settings = dict(re.findall(r"^(\w+)=(.*)$", text, re.M))
    assert settings["MemoryMax"] == f"{PLAN.app.memory_max_mb}M" and settings["Restart"] == "always"
    assert settings["User"] == "peakready" and settings["NoNewPrivileges"] == "yes"
    assert settings["ProtectSystem"] == "strict" and settings["PrivateTmp"] == "yes"
    assert settings["ExecReload"] == "/bin/kill -s HUP $MAINPID"


def nginx_site(**overrides):
    """site.conf as the role renders it (its own context function): knobs overridden by name, the
    rest of the context (app_servers, ipv6, ...) as the role would have found it."""
    knob_names = set(SITE_KNOBS) | {"app_name", "app_static_dir", "app_module"}
    data = SimpleNamespace(**{**vars(DATA), "nginx_micro_cache_s": 0, "server_names": ["shop.example"],
                              **{k: v for k, v in overrides.items() if k in knob_names}})
    context = site_context(data, PLAN.nginx, app_servers=[{"address": "127.0.0.1", "max_conns": 200}],
                           static_here=True, certificate="c", certificate_key="k", ipv6=True)
    return render("nginx/site.conf.j2", **{**context, **{k: v for k, v in overrides.items() if k not in knob_names}})


def test_nginx_site_keeps_upstream_connections_and_drops_unknown_hosts():
    text = nginx_site()
    assert f"keepalive {DATA.nginx_upstream_keepalive};" in text
    assert 'proxy_set_header Connection "";' in text and "proxy_http_version 1.1;" in text
    assert "server_name _;\n    return 444;" in text and "server_name shop.example;" in text
    assert f"limit_req zone=reads burst={DATA.rate_limit_burst} nodelay;" in text
    assert "ssl" not in text and "proxy_cache" not in text
    assert "[::]" not in nginx_site(ipv6=False)


def test_nginx_balances_several_app_hosts_and_takes_a_failed_one_out():
    one = nginx_site()
    assert one.count("server 127.0.0.1:8000 max_fails=0") == SINGLE_APP_ENTRIES >= 4
    assert "proxy_next_upstream " not in one
    # The door: the app takes the plan's requests at once, shared by its entries (a retry goes to
    # another one); no backup, which nginx would send to whenever the others are full.
    share = -(-200 // SINGLE_APP_ENTRIES)
    assert one.count(f"max_fails=0 max_conns={share};") == SINGLE_APP_ENTRIES and "backup" not in one
    assert "zone app_upstream" in one
    text = nginx_site(app_servers=[{"address": "10.0.0.4", "max_conns": 100, "down": False},
                                   {"address": "10.0.0.5", "max_conns": 50, "down": False}])
    servers = re.findall(r"^\s*server (\S+) (.*);$", text, re.M)
    assert [s for s, _ in servers] == ["10.0.0.4:8000", "10.0.0.5:8000"]
    assert [rest for _, rest in servers] == [
        f"max_fails={DATA.nginx_upstream_max_fails} fail_timeout={DATA.nginx_upstream_fail_timeout_s}s max_conns={m}"
        for m in (100, 50)]
    assert "proxy_next_upstream error timeout http_502;" in text
    assert "proxy_next_upstream_tries 2;" in text
    # Drained for a rolling release (drain.py): down, the other as it was.
    drained = nginx_site(app_servers=[{"address": "10.0.0.4", "max_conns": 100, "down": True},
                                      {"address": "10.0.0.5", "max_conns": 50, "down": False}])
    lines = [rest for _, rest in re.findall(r"^\s*server (\S+) (.*);$", drained, re.M)]
    assert lines[0].endswith("max_conns=100 down") and lines[1].endswith("max_conns=50")
    assert f"proxy_connect_timeout {DATA.nginx_upstream_connect_timeout_s}s;" in text


def test_overload_is_a_503_with_retry_after_from_nginx_and_any_other_502_stays_a_502():
    text = nginx_site()
    assert "error_page 502 = /.peakready/$peakready_bad_gateway;" in text
    pages = locations(text)
    retry = f"add_header Retry-After {DATA.overload_retry_after_s} always;"
    for page, kind in (("overloaded.json", "application/json"), ("overloaded.html", "text/html")):
        body = pages[f"= /.peakready/{page}"]
        assert "internal;" in body and retry in body and f"default_type {kind};" in body
        assert "return 503 '" in body and "X-Content-Type-Options" in body
    assert "return 502;" in pages["= /.peakready/bad-gateway"]
    # Only a 502 that names no server (all full, nginx names the upstream) is overload.
    assert '"~(^|, )app$" 1;' in text
    assert all("reuseport" in line for line in text.splitlines() if "default_server" in line and "listen" in line)


def test_nginx_tls_and_micro_cache_when_asked():
    text = nginx_site(tls="self-signed", nginx_micro_cache_s=2)
    assert "listen 443 ssl http2;" in text and "Strict-Transport-Security" in text
    assert "proxy_cache_valid 200 2s;" in text and "proxy_no_cache $http_authorization;" in text


def locations(text: str) -> dict[str, str]:
    """Each location's match and its body (one level of braces)."""
    return dict(re.findall(r"^    location ([^{]+?) \{\n(.*?)^    \}", text, re.M | re.S))


def test_the_acme_answers_are_served_from_the_webroot_only_with_letsencrypt():
    acme = "^~ /.well-known/acme-challenge/"
    served = locations(nginx_site(tls="letsencrypt", acme_webroot="/var/www/acme"))[acme]
    assert "root /var/www/acme;" in served and "proxy_pass" not in served and "limit_req" not in served
    # The first certificate is asked for with the site in without TLS: port 80 serves both.
    plain = nginx_site(tls="off", acme_webroot="/var/www/acme")
    assert acme in locations(plain) and "ssl" not in plain
    assert acme not in locations(nginx_site(tls="self-signed"))


def test_the_micro_cache_holds_the_named_public_reads_only_and_locks_only_them():
    """The sample app names its public reads (nginx_public_reads): only those are cached, with a
    lock; an app that names none gets every path cached without one, never with a cookie."""
    cached = nginx_site(nginx_micro_cache_s=1)
    where = locations(cached)
    reads = where["~ ^/api/v1/(outlets|outlets/[0-9]+|menu|menu/featured)$"]
    for directive in ("proxy_cache micro;", "proxy_cache_valid 200 1s;", "proxy_cache_lock on;",
                      "proxy_cache_use_stale updating;", "proxy_cache_background_update on;", "limit_req zone=reads"):
        assert directive in reads, directive
    pattern = re.compile(r"^/api/v1/(outlets|outlets/[0-9]+|menu|menu/featured)$")
    assert all(pattern.match(p) for p in ("/api/v1/menu", "/api/v1/outlets/12", "/api/v1/menu/featured"))
    assert not any(pattern.match(p) for p in ("/api/v1/outlets/3/availability", "/api/v1/bookings",
                                              "/api/v1/admin/menu/4", "/api/v1/menu/"))
    assert "proxy_cache" not in where["/api/"] and "limit_req zone=writes" in where["/api/"]
    assert "proxy_cache" not in locations(nginx_site(nginx_micro_cache_s=0))["/api/"]
    other = locations(nginx_site(nginx_micro_cache_s=1, nginx_public_reads="", nginx_app_paths=["/"]))["/"]
    assert "proxy_cache micro;" in other and "proxy_cache_bypass $http_cookie;" in other
    assert "proxy_cache_lock on;" not in other, "another app's uncacheable answers would queue behind the lock"
    for where in (reads, other):  # kept for the bound whatever max-age the app says; never a no-store answer
        assert "proxy_cache_key $scheme$host$request_uri;" in where, "one entry per Host"
        assert "proxy_ignore_headers Cache-Control Expires X-Accel-Expires;" in where
        assert "proxy_no_cache $peakready_no_store;" in where
    assert re.search(r"map \$upstream_http_cache_control \$peakready_no_store \{\n\s+default 0;\n\s+"
                     r"~\*\(no-store\|no-cache\|private\) 1;", cached)
    assert cached.index("map $upstream_http_cache_control") < cached.index("server {"), "a map belongs to http{}"


def test_what_the_app_serves_and_its_content_security_policy_come_from_its_settings():
    """The sample app's settings: /api/ to the app, any other path a 404 from nginx, its CSP on every
    answer. An app that says nothing gets every path and no CSP."""
    sample = nginx_site()
    where = locations(sample)
    assert "proxy_pass http://app;" in where["/api/"]
    assert "return 404" in where["/"] and "proxy_pass" not in where["/"]
    csp = f'add_header Content-Security-Policy "{DATA.nginx_content_security_policy}" always;'
    assert sample.count(csp) >= 3, "the server's answers, the static files and nginx's own 503 pages"
    neutral = nginx_site(nginx_app_paths=["/"], nginx_public_reads="", nginx_content_security_policy="")
    assert "Content-Security-Policy" not in neutral and "return 404" not in neutral
    assert "proxy_pass http://app;" in locations(neutral)["/"]
    two = locations(nginx_site(nginx_app_paths=["/api/", "/admin/"]))
    assert "proxy_pass http://app;" in two["/admin/"] and "return 404" in two["/"]
    # No regular expression takes the static files from nginx: their prefix stops the search.
    assert "alias " in where["^~ /static/"]


def test_the_settings_that_reach_nginx_refuse_what_would_break_its_config():
    for knob, bad in (("nginx_public_reads", "^/a\\d"), ("nginx_public_reads", "^/a b"), ("nginx_public_reads", "^(x"),
                      ("nginx_public_reads", "/no-anchor"), ("nginx_app_paths", ["/api"]), ("nginx_app_paths", []),
                      ("nginx_content_security_policy", "default-src $x"), ("nginx_content_security_policy", 'a"b'),
                      # a duplicate of the site's own locations; a regular expression that would take
                      # paths outside the app's to it
                      ("nginx_app_paths", ["/api/", "/static/"]), ("nginx_public_reads", "^/static/x"),
                      ("nginx_public_reads", "^/(api|static)/")):
        with pytest.raises(knobs.KnobError, match=knob):
            validate.knob_values({**sample_app.SETTINGS, knob: bad})


def test_a_git_source_is_checked_out_at_its_ref(tmp_path, monkeypatch):
    import importlib
    import subprocess

    release = importlib.import_module("peakready.release")  # the module, not a function of it

    repo = tmp_path / "repo"
    repo.mkdir()
    git = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True)  # noqa: E731
    git("init", "-q", "-b", "main")
    (repo / "requirements.txt").write_text("gunicorn==27.0.1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    git("tag", "v1")
    (repo / "requirements.txt").write_text("gunicorn==27.0.2\n")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "two")
    monkeypatch.setattr(release, "CACHE", tmp_path / "cache")
    assert (release.checked_source(f"file://{repo}", "v1") / "requirements.txt").read_text() == "gunicorn==27.0.1\n"
    assert (release.checked_source(f"file://{repo}", "main") / "requirements.txt").read_text() == "gunicorn==27.0.2\n"


def nginx_conf(**overrides):
    """nginx.conf as the role renders it, knobs overridden by name."""
    data = SimpleNamespace(**{**vars(DATA), "nginx_micro_cache_s": 0, "rate_limit_exempt": [], **overrides})
    return render("nginx/nginx.conf.j2", **nginx_conf_context(data, PLAN.nginx))


def test_rate_limits_count_every_client_unless_its_network_is_exempt():
    text = nginx_conf()
    geo = re.search(r"geo \$limited \{(.*?)\}", text, re.S).group(1)
    assert geo.split() == ["default", "1;"]
    assert "limit_req_zone $limited_client zone=reads" in text and "limit_conn_zone $limited_client" in text
    text = nginx_conf(rate_limit_exempt=["127.0.0.1/32", "::1/128"])
    geo = re.search(r"geo \$limited \{(.*?)\}", text, re.S).group(1)
    assert "127.0.0.1/32 0;" in geo and "::1/128 0;" in geo
    # Writes are limited per address too, and only for limited clients.
    assert '"~^1:(POST|PUT|PATCH|DELETE)$" $binary_remote_addr;' in text


def test_rate_limit_exempt_takes_networks_only():
    assert validate.knob_values({"rate_limit_exempt": ["10.0.0.0/8", "::1/128"]})["rate_limit_exempt"]
    for bad in (["10.0.0.300/8"], "127.0.0.1/32", [None]):
        try:
            validate.knob_values({"rate_limit_exempt": bad})
        except knobs.KnobError as exc:
            assert "rate_limit_exempt" in str(exc)
        else:
            raise AssertionError(f"{bad!r} was accepted")


def app_env(**overrides):
    return render("app/app.env.j2", **{**dict(
        app_name="peakready", app_user="peakready", database_url="d", database_socket="", redis_socket="",
        db_pool_size=DATA.db_pool_size, db_pool_overflow=DATA.db_pool_overflow,
        allowed_hosts="localhost", proxies="127.0.0.1", app_env={}, app_secrets={}, db_servers="primary=127.0.0.1:3306",
        migrate_database_url="m", redis_url=""),
        **overrides})


def test_without_the_cache_the_app_gets_no_redis_and_needs_no_cache_server(tmp_path):
    env = app_env()
    assert "REDIS_URL" not in env and "CACHE" not in env
    # The sample app caches only when it is given a Redis.
    sys.path.insert(0, str(ROOT / "app"))
    from peakready_app.config import load_settings

    given = {"ADMIN_TOKEN": "t" * 16, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DATABASE_URL": "mysql://a:b@h/d",
             "DB_POOL_SIZE": "4", "DB_POOL_OVERFLOW": "0"}
    assert load_settings(given).redis is None
    assert load_settings({**given, "REDIS_URL": "redis://app:pw@127.0.0.1:6379/0"}).redis is not None
    assert load_settings({**given, "REDIS_URL": "redis://app:pw@127.0.0.1:6379/0", "CACHE": "off"}).redis is None
    hosts = [HostFacts("a", 2, 4096, ("app_servers", "db_primary", "web_servers"))]
    assert make_plan(hosts, {"app_cache": False})["a"].app.workers >= 1


def test_proxysql_and_redis_beside_the_app_are_offered_through_their_sockets_too(tmp_path):
    sock = SOCKETS["proxysql"]
    assert f"DATABASE_SOCKET='{sock}'" in app_env(database_socket=sock) and "DATABASE_URL='d'" in app_env()
    assert "DATABASE_SOCKET" not in app_env()
    sys.path.insert(0, str(ROOT / "app"))
    from peakready_app.config import ConfigError, load_settings

    env = {"ADMIN_TOKEN": "t" * 16, "CACHE": "off", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DB_POOL_SIZE": "4",
           "DB_POOL_OVERFLOW": "0", "DATABASE_URL": "mysql://app:p%2Fw@127.0.0.1:6033/peakready",
           **{f"CACHE_TTL_{k}_S": "5" for k in ("OUTLETS", "OUTLET", "MENU", "FEATURED")}}
    assert load_settings(env).database.socket == ""
    on = load_settings({**env, "DATABASE_SOCKET": sock}).database
    assert (on.socket, on.host, on.port, on.password) == (sock, "127.0.0.1", 6033, "p/w")
    assert on.describe() == f"{sock}/peakready"
    with pytest.raises(ConfigError, match="DATABASE_SOCKET must be an absolute path"):
        load_settings({**env, "DATABASE_SOCKET": "mysql.sock"})
    cached = {**env, "CACHE": "redis", "REDIS_URL": "redis://app:pw@127.0.0.1:6379/0"}
    assert load_settings(cached).redis.socket == ""
    assert load_settings({**cached, "REDIS_SOCKET": SOCKETS["redis"]}).redis.socket == SOCKETS["redis"]
    with pytest.raises(ConfigError, match="REDIS_SOCKET must be an absolute path \\(or unset: REDIS_URL's"):
        load_settings({**cached, "REDIS_SOCKET": "redis.sock"})
    assert f"REDIS_SOCKET='{SOCKETS['redis']}'" in app_env(redis_url="r", redis_socket=SOCKETS["redis"])
    assert "REDIS_SOCKET" not in app_env(redis_url="r")


def test_a_source_without_requirements_or_unreachable_is_a_knob_error_naming_app_source(tmp_path, monkeypatch):
    """The pre-flight calls checked_source: these stop the deploy before its first change."""
    import importlib

    from peakready.knobs import KnobError

    release = importlib.import_module("peakready.release")  # the module, not a function of it
    monkeypatch.setattr(release, "CACHE", tmp_path / "cache")
    with pytest.raises(KnobError, match=r"^app_source templates declares no dependencies: add requirements.txt, or pyproject.toml"):
        release.checked_source("templates", "main")
    with pytest.raises(KnobError, match=r"^app_source file:///nonexistent/x.git at app_ref main could not be fetched"):
        release.checked_source("file:///nonexistent/x.git", "main")
    # Credentials in a URL never reach the message.
    with pytest.raises(KnobError) as err:
        release.checked_source("file://deploy:tok3n-value@/nonexistent/x.git", "main")
    assert "tok3n-value" not in str(err.value) and "***@" in str(err.value)
    assert release.checked_source("app", "main") == ROOT / "app"


def test_the_micro_cache_drops_an_entry_nobody_asked_for_within_its_bound():
    """inactive = the bound: what nginx serves stale while it refreshes is at most twice the bound old."""
    assert "proxy_cache_path" not in nginx_conf()
    path = re.search(r"proxy_cache_path (.*);", nginx_conf(nginx_micro_cache_s=2)).group(1)
    assert "keys_zone=micro:10m" in path and "inactive=2s" in path


@pytest.mark.parametrize("code, same_packages", [(200, True), (500, True), (500, False)])
def test_a_release_that_does_not_answer_live_goes_back_to_the_one_before(tmp_path, monkeypatch, code, same_packages):
    """The check after the switch (app.live_check), run with a curl that answers `code` and a
    systemctl that only records: 200 three times leaves the release live; a 500 puts `current` back
    on the release before, reloads (restarts when the packages differ), and fails saying so."""
    from peakready.dependencies import RESOLVED

    app = importlib.import_module("peakready.roles.app")  # the module: peakready.roles names its role `app`

    root = tmp_path / "srv"
    for release, resolved in (("old", "a==1\n"), ("new", "a==1\n" if same_packages else "a==2\n")):
        (root / "releases" / release).mkdir(parents=True)
        (root / "releases" / release / RESOLVED).write_text(resolved)
        (root / "releases" / release / app.READY).write_text("")
    (root / "current").symlink_to("releases/new")
    monkeypatch.setattr(app, "paths", lambda _data: {"root": str(root), "releases": f"{root}/releases",
                                                     "current": f"{root}/current", "unit": "peakready-app.service"})
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    for name, body in (("curl", f'printf {code}'), ("systemctl", f'echo "$@" >> {calls}'), ("sleep", "true")):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    data = SimpleNamespace(app_port=8000, app_health_path="/health", app_live_check_s=2)
    script = app.live_check(data, "new", "releases/old", "shop.example", "http")
    res = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                         env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    if code == 200:
        assert res.returncode == 0 and os.readlink(root / "current") == "releases/new" and not calls.exists()
        return
    assert res.returncode == 1 and "did not answer /health" in res.stderr and "back on releases/old" in res.stderr
    assert os.readlink(root / "current") == "releases/old"
    assert calls.read_text().split() == ["reset-failed", "peakready-app.service",
                                         "reload-or-restart" if same_packages else "restart", "peakready-app.service"]
    assert (root / "releases" / "new" / app.READY).stat().st_mtime == 0  # last in rollback.py's list
    # The first release of a host has none before it: the deploy fails, nothing is switched back.
    first = subprocess.run(["bash", "-c", app.live_check(data, "new", None, "shop.example", "http")], capture_output=True,
                           text=True, timeout=60, env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert first.returncode == 1 and "back on" not in first.stderr
