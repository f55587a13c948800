"""The bad-input corpus (issue 8): broken settings, each refused before the deploy's first change
with one sentence naming the setting.

One table, two runners:
  tests/unit/test_bad_input.py   every case the control machine can judge alone (the knobs, the
                                 inventory, the app's source, the secrets, the plan of a 2-core
                                 4 GB host): no VPS, well under a second for the lot;
  tests/infra/test_bad_input.py  every case through `pyinfra deploy.py` against the test VPS
                                 (2 cores, 4 GB): non-zero exit, the setting named, nothing on the
                                 VPS changed and no operation run.

A case is: its name; the host data it puts over the local VPS's (inventories/docker.py, as a
per-host override in an inventory would); the words the refusal must contain (the setting's name
first); and, when it needs them, environment variables, another host name, or a value that must
never be printed (a secret).
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Case:
    name: str
    data: dict
    words: tuple[str, ...]
    env: dict = field(default_factory=dict)
    host: str | None = None  # the host's name in the inventory, instead of the VPS's
    live: bool = False  # judged from the host's live facts only (not offline)
    never_printed: str | None = None  # a value that must not appear in any output
    deb: dict | None = None  # control fields of a package the runner builds: its path becomes proxysql_deb

    def host_data(self, directory: Path) -> dict:
        """The data the case lays over the VPS's, with its package (if any) built in `directory`."""
        if self.deb is None:
            return self.data
        return {**self.data, "proxysql_deb": fake_deb(directory, self.deb)}

    @property
    def id(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.]+", "-", self.name).strip("-")


SECRET = "PEAKREADY_SECRET_"


def fake_deb(directory: Path, fields: dict, member: str = "control.tar.gz") -> str:
    """A .deb that dpkg-deb would read, with these control fields and no files: enough for every
    check made before the first change (which never installs it)."""
    fields = {"Package": "proxysql", "Version": "2.7.1", "Architecture": "amd64", **fields}
    control = "".join(f"{k}: {v}\n" for k, v in fields.items()).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("./control")
        info.size = len(control)
        tar.addfile(info, io.BytesIO(control))
    out = b"!<arch>\n"
    for name, body in (("debian-binary", b"2.0\n"), (member, buf.getvalue()), ("data.tar.gz", gzip.compress(b""))):
        out += f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}`\n".encode() + body
        out += b"\n" if len(body) % 2 else b""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{fields['Package']}_{fields['Version']}_{fields['Architecture']}.deb"
    path.write_bytes(out)
    return str(path)

CASES = [
    # --- wrong types ------------------------------------------------------------------------------
    Case("workers as a string", {"app_workers": "4"}, ("knob app_workers", "whole number")),
    Case("a private address that is a name", {"private_address": "db1.internal"}, ("knob private_address", "IPv4")),
    Case("a private address the host does not have", {"private_address": "10.254.254.254"},
         ("knob private_address", "not an address of"), live=True),
    Case("a flag as a word", {"proxysql_enabled": "yes"}, ("knob proxysql_enabled", "true or false")),
    Case("server_names as one string", {"server_names": "shop.example.com"}, ("knob server_names", "list")),
    Case("a share as null", {"redis_fork_headroom": None}, ("knob redis_fork_headroom", "number from 0 to 1")),
    Case("a timeout with a unit", {"mariadb_long_query_time_s": "1s"}, ("knob mariadb_long_query_time_s",)),
    Case("a whole number as a float", {"app_timeout_s": 30.5}, ("knob app_timeout_s", "whole number")),
    # --- out of range -----------------------------------------------------------------------------
    Case("app_port below 1024", {"app_port": 80}, ("knob app_port", "1024 to 65535")),
    Case("app_port is Redis's", {"app_port": 6379}, ("knob app_port", "Redis")),
    Case("micro-cache of a minute", {"nginx_micro_cache_s": 60}, ("knob nginx_micro_cache_s", "0 to 5")),
    Case("backend share above 1", {"proxysql_backend_share": 1.5}, ("knob proxysql_backend_share",)),
    Case("no request body at all", {"client_max_body_size_kb": 0}, ("knob client_max_body_size_kb",)),
    Case("one release kept", {"app_releases_kept": 1}, ("knob app_releases_kept", "2 to 100")),
    Case("vm_swappiness 500", {"vm_swappiness": 500}, ("knob vm_swappiness", "0 to 100")),
    # --- unknown names: the closest knob is suggested ----------------------------------------------
    Case("a typo in a knob", {"firewal": False}, ("unknown knob 'firewal'", "did you mean 'firewall'?")),
    Case("maxmemory spelled apart", {"redis_max_memory_mb": 512},
         ("unknown knob 'redis_max_memory_mb'", "did you mean 'redis_maxmemory_mb'?")),
    Case("a knob from another tool", {"pm2_instances": 4}, ("unknown knob 'pm2_instances'", "peakready/schema/")),
    # --- an impossible plan on a 2-core 4 GB host -------------------------------------------------
    Case("more workers than RAM", {"app_workers": 40}, ("app_workers", "4096 MB")),
    Case("a buffer pool bigger than the host", {"mariadb_buffer_pool_mb": 8000}, ("mariadb_buffer_pool_mb",)),
    Case("a maxmemory bigger than the host", {"redis_maxmemory_mb": 8000}, ("redis_maxmemory_mb",)),
    Case("the OS keeps nearly all RAM", {"os_reserve_mb": 3900}, ("lower os_reserve_mb", "4096 MB")),
    Case("Redis weighed out of the host", {"memory_weight_cache": 1, "memory_weight_app": 100, "memory_weight_db": 100},
         ("memory_weight_cache", "Redis")),
    Case("pools larger than MariaDB accepts", {"db_pool_size": 50, "mariadb_max_connections": 100},
         ("mariadb_max_connections",)),
    Case("a million clients", {"target_concurrency": 1_000_000}, ("lower target_concurrency", "nginx")),
    # --- the inventory ----------------------------------------------------------------------------
    Case("a host name with an underscore and a bang", {}, ("host 'bad_vps!'", "not a valid host name"),
         host="bad_vps!"),
    Case("a host name starting with a dash", {}, ("host '-vps'", "not a valid host name"), host="-vps"),
    # --- the app's source -------------------------------------------------------------------------
    Case("app_source that does not exist", {"app_source": "no/such/app"}, ("knob app_source", "does not exist")),
    Case("app_source outside the repository", {"app_source": ".."}, ("knob app_source", "outside")),
    Case("app_source without requirements.txt", {"app_source": "templates"},
         ("app_source templates", "requirements.txt")),
    Case("app_source a git URL that cannot be fetched", {"app_source": "file:///nonexistent/peakready-app.git"},
         ("app_source file:///nonexistent/peakready-app.git", "could not be fetched")),
    Case("both a migrate module and a migrate command", {"app_migrate_command": "python manage.py migrate"},
         ("knob app_migrate_command", "app_migrate_module")),
    Case("a migrate command with a shell pipe", {"app_migrate_module": "", "app_migrate_command": "migrate | tee log"},
         ("knob app_migrate_command", "no shell operators")),
    Case("an app variable peakready sets itself", {"app_env": {"DATABASE_URL": "sqlite://"}},
         ("knob app_env", "DATABASE_URL")),
    Case("an app secret named like the stack's own", {"app_secrets": ["REDIS_APP_PASSWORD"]}, ("knob app_secrets",)),
    Case("a static directory outside the release", {"app_static_dir": "../etc"}, ("knob app_static_dir", "relative")),
    # --- the app as the host's Python would run it (its dependencies resolved for the host) --------
    Case("a requirement no package index has", {"app_source": "tests/fixtures/apps/unresolvable"},
         ("app_source", "cannot be resolved", "peakready-no-such-distribution-anywhere"), live=True),
    Case("app_module in no module", {"app_module": "peakready_app.nowhere:app"},
         ("knob app_module", "no module peakready_app.nowhere"), live=True),
    Case("app_module names an object the module lacks", {"app_module": "peakready_app.main:application"},
         ("knob app_module", "defines no application"), live=True),
    Case("a migrate command for a manage.py the app lacks",
         {"app_migrate_module": "", "app_migrate_command": "python manage.py migrate --noinput"},
         ("knob app_migrate_command", "no manage.py"), live=True),
    Case("a migrate command no package installs", {"app_migrate_module": "", "app_migrate_command": "alembic upgrade head"},
         ("knob app_migrate_command", "alembic"), live=True),
    Case("a static directory the app does not have", {"app_static_dir": "public"},
         ("knob app_static_dir = 'public'", "no such directory"), live=True),
    # --- secrets: the variable is named, its value never printed ---------------------------------
    Case("an empty secret variable", {}, (f"{SECRET}REDIS_APP_PASSWORD is set but empty",),
         env={f"{SECRET}REDIS_APP_PASSWORD": ""}),
    Case("a blank secret variable", {}, (f"{SECRET}MARIADB_APP_PASSWORD is set but empty",),
         env={f"{SECRET}MARIADB_APP_PASSWORD": "   "}),
    Case("a secret too short", {}, (f"{SECRET}MARIADB_APP_PASSWORD", "16 to 256"),
         env={f"{SECRET}MARIADB_APP_PASSWORD": "hunter2-pw"}, never_printed="hunter2-pw"),
    Case("a secret that would break a config file", {}, (f"{SECRET}PROXYSQL_ADMIN_PASSWORD", "16 to 256"),
         env={f"{SECRET}PROXYSQL_ADMIN_PASSWORD": "it's-a-long-password\"; DROP"},
         never_printed="it's-a-long-password\"; DROP"),
    # --- TLS and names ----------------------------------------------------------------------------
    Case("no server name", {"server_names": []}, ("knob server_names", "non-empty")),
    Case("a server name with a space", {"server_names": ["shop example.com"]}, ("knob server_names",)),
    Case("letsencrypt without an e-mail", {"tls": "letsencrypt", "server_names": ["shop.example.com"]},
         ("knob letsencrypt_email", "letsencrypt")),
    Case("letsencrypt for localhost", {"tls": "letsencrypt", "letsencrypt_email": "ops@shop.example.com"},
         ("knob server_names", "Let's Encrypt cannot certify 'localhost'")),
    Case("tls as a boolean", {"tls": True}, ("knob tls", "off, self-signed, letsencrypt")),
    Case("an ACME directory over plain HTTP", {"acme_directory_url": "http://acme.example.com/directory"},
         ("knob acme_directory_url", "https://acme-v02.api.letsencrypt.org/directory")),
    # --- times, paths, zones ----------------------------------------------------------------------
    Case("backup at 25:00", {"backup_time": "25:00"}, ("knob backup_time", "HH:MM")),
    Case("backup at 3 am", {"backup_time": "3am"}, ("knob backup_time", "HH:MM")),
    Case("a reboot at 04:60", {"unattended_reboot_time": "04:60"}, ("knob unattended_reboot_time", "HH:MM")),
    Case("backups into /etc", {"backup_dir": "/etc"}, ("knob backup_dir", "not a system directory")),
    Case("backups into a relative path", {"backup_dir": "backups"}, ("knob backup_dir",)),
    Case("a timezone one letter short", {"timezone": "Asia/Jakart"}, ("knob timezone", "'Asia/Jakarta'")),
    Case("an app name with capitals", {"app_name": "PeakReady"}, ("knob app_name",)),
    Case("an app module without its object", {"app_module": "peakready_app.main"}, ("knob app_module",)),
    # --- a ProxySQL package that is not one, or not for this host ----------------------------------
    Case("proxysql_deb is another package", {}, ("knob proxysql_deb", "not nginx 1.22"),
         deb={"Package": "nginx", "Version": "1.22"}),
    Case("proxysql_deb for another architecture", {}, ("knob proxysql_deb", "built for arm64 and the host is amd64"),
         deb={"Architecture": "arm64"}, live=True),
    Case("proxysql_deb needs a newer glibc", {}, ("knob proxysql_deb", "needs glibc 2.99 or newer"),
         deb={"Depends": "libc6 (>= 2.99), libgcc-s1"}, live=True),
    # --- only the live host can tell --------------------------------------------------------------
    # A server reached over the internet (inventories/prod.py marks its hosts so) with the defaults'
    # name: the pre-flight's own wiring, judged by the real deploy only.
    Case("a public server that answers only localhost", {"_peakready_public": True},
         ("server_names is ['localhost']", "serve no one", "inventories/group_data/docker.py"), live=True),
    Case("a firewall that would lock us out", {"sshd_port": 2222}, ("knob sshd_port = 2222 but sshd",), live=True),
    # The deploy logs in to the local VPS as root, by key (inventories/docker.py).
    Case("root logins off while the deploy logs in as root", {"sshd_permit_root_login": "no"},
         ("knob sshd_permit_root_login = 'no' but pyinfra logs in",), live=True),
    Case("password logins off while the deploy logs in with one", {"ssh_password": "peakready-test-not-a-secret"},
         ("knob sshd_password_authentication = False but pyinfra logs in",), live=True),
]

assert len({c.name for c in CASES}) == len(CASES), "case names are unique"
