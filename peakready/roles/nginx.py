"""Role `nginx`, on web_servers: nginx in front of the app, sized by the plan: keepalive upstream,
rate limits with JSON 429s, gzip, static files, an unknown-Host drop, optional TLS and micro-cache.
Every change is checked with `nginx -t` before nginx reloads; a failing one is put back."""

from __future__ import annotations

import shlex
from typing import Any

from pyinfra import host, state
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import apt, files, server, systemd

from peakready import PORTS, topology
from peakready.facts import CertificateNames, Ipv6Enabled
from peakready.ops import config_set, hardening, open_files_limit, when_changed
from peakready.plan import HostPlan, NginxPlan, part
from peakready.secrets import Secrets

SITE = "/etc/nginx/sites-available/peakready"
TLS_DIR = "/etc/ssl/peakready"
# certbot writes its HTTP-01 answers here (webroot) and nginx serves them on port 80, for the first
# certificate and every renewal: nginx never stops for them.
ACME_WEBROOT = "/var/www/acme"
CACHE_DIR = "/var/cache/nginx"
# All nginx writes under its sandbox (the rest of the filesystem is read-only to it): the pid file
# (/run/nginx.pid, which Debian's unit names), logs, temp files for big bodies, the micro-cache.
WRITABLE = ["/run", "/var/log/nginx", "/var/lib/nginx", CACHE_DIR]
# A single app host is named this many times in the upstream: each entry is one more try for a
# request reset by the app's graceful reload (the site template says why).
SINGLE_APP_ENTRIES = 8


def certificate(data) -> tuple[str, str]:
    """(certificate, key) paths for the tls knob."""
    if data.tls == "letsencrypt":
        live = f"/etc/letsencrypt/live/{data.server_names[0]}"
        return f"{live}/fullchain.pem", f"{live}/privkey.pem"
    return f"{TLS_DIR}/server.crt", f"{TLS_DIR}/server.key"


@deploy("nginx")
def nginx(plan: HostPlan, secrets: Secrets, drained: tuple[str, ...] = ()):
    """nginx in front of the app hosts; those in `drained` (drain.py, a rolling release's step) are
    marked down in the upstream: they get no new request until a run without them."""
    data, n = host.data, part(plan.nginx, "nginx")
    apt.packages(name="Install nginx", packages=["nginx", "openssl"], no_recommends=True)
    crt, key, certified = tls(data)

    override = open_files_limit("nginx", plan.nofile["nginx"], "worker_rlimit_nofile, from the plan")
    # Always there, micro-cache or not: the sandbox's writable paths are fixed when nginx starts,
    # and a later reload (micro-cache turned on) keeps them.
    files.directory(name=f"{CACHE_DIR} (nginx's caches)", path=CACHE_DIR, user="root", group="root", mode=755)
    sandbox = hardening("nginx", "nginx/hardening.conf.j2", writable=WRITABLE)
    if data.nginx_micro_cache_s:
        files.directory(name="Micro-cache directory", path=f"{CACHE_DIR}/micro", user="www-data",
                        group="www-data", mode=700)
    # The links first: `nginx -t` below checks the whole tree as nginx will load it.
    default = files.link(name="No default site", path="/etc/nginx/sites-enabled/default", present=False)
    site_link = files.link(name="Enable the site", path="/etc/nginx/sites-enabled/peakready", target=SITE)
    nginx_conf = {"template": "nginx/nginx.conf.j2", "dest": "/etc/nginx/nginx.conf", "data": nginx_conf_context(data, n)}
    site = site_file(data, n, crt, key, drained)
    first_certificate = None
    if data.tls == "letsencrypt" and certified is None:
        # No certificate yet, so no TLS server nginx could load: the site goes in without TLS first,
        # serving the app and the HTTP-01 answers on port 80, then certbot asks, then TLS goes in.
        plain = {**site, "data": {**site["data"], "tls": "off"}}
        config_set(name="nginx: the site without TLS until its first certificate (nginx -t)", check="nginx -t -q",
                   files=[nginx_conf, plain])
        systemd.service(name="nginx serving the site and the HTTP-01 answers", service="nginx.service",
                        running=True, reloaded=True)
        first_certificate = certbot(data)
    configs = config_set(
        name=f"nginx: {n.worker_processes} workers x {n.worker_connections} connections, the site (nginx -t)",
        check="nginx -t -q",
        files=[nginx_conf, site],
    )
    started = systemd.service(name="nginx on, now and at boot", service="nginx.service", running=True, enabled=True)
    # Limits and sandbox apply at start only.
    restart = when_changed(override, sandbox, unless=[started])
    systemd.service(name="Restart nginx for its open-file limit or sandbox", service="nginx.service",
                    restarted=True, _if=restart)
    # After a first certificate nginx was started for the HTTP-01 answers: it reloads into TLS.
    systemd.service(name="Reload nginx (graceful; the config passed nginx -t)", service="nginx.service",
                    reloaded=True, _if=when_changed(configs, site_link, default,
                                                    unless=[restart] if first_certificate else [started, restart]))
    if certified is not None and certified != sorted(set(data.server_names)):
        # server_names changed: nginx already serves the new names (port 80 included), so certbot
        # replaces the certificate by one for exactly these names, and its hook reloads nginx.
        certbot(data, f"it is for {', '.join(certified)}")


def tls(data) -> tuple[str, str, list[str] | None]:
    """The certificate's and key's paths, and (Let's Encrypt) the names the live certificate is for,
    None before the first one; a self-signed one made here, certbot installed for Let's Encrypt."""
    crt, key = certificate(data)
    if data.tls == "self-signed":
        self_signed(data, crt, key)
    certified = host.get_fact(CertificateNames, path=crt) if data.tls == "letsencrypt" else None
    if data.tls == "letsencrypt":
        apt.packages(name="certbot", packages=["certbot"], no_recommends=True)
        files.directory(name=f"{ACME_WEBROOT} (certbot's HTTP-01 answers, served by nginx)", path=ACME_WEBROOT,
                        user="root", group="root", mode=755)
    return crt, key, certified


def site_file(data, n: NginxPlan, crt: str, key: str, drained: tuple[str, ...] = ()) -> dict[str, Any]:
    """The site (config_set's file entry): the app hosts behind their doors (those `drained` down),
    TLS, static files."""
    topo = topology.of_inventory(state.inventory)
    return {"template": "nginx/site.conf.j2", "dest": SITE, "data": site_context(
        data, n,
        app_servers=[{"address": topo.reach(host.name, a), "max_conns": n.app_max_conns[a], "down": a in drained}
                     for a in topo.in_tier("app")],
        # Static files from the release on this host; a web host without the app passes /static/
        # to the app hosts like any other path.
        static_here="app" in topo.tiers(host.name), certificate=crt, certificate_key=key,
        ipv6=host.get_fact(Ipv6Enabled))}


# The knobs each template reads, passed under their own names.
NGINX_CONF_KNOBS = ("nginx_micro_cache_s", "client_max_body_size_kb", "nginx_keepalive_timeout_s", "rate_limit_rps",
                    "rate_limit_write_rps", "rate_limit_exempt")
SITE_KNOBS = ("nginx_micro_cache_s", "server_names", "app_port", "overload_retry_after_s", "nginx_upstream_max_fails",
              "nginx_upstream_fail_timeout_s", "nginx_upstream_connect_timeout_s", "tls", "limit_conn_per_ip",
              "rate_limit_burst", "rate_limit_write_burst", "nginx_upstream_keepalive",
              "nginx_upstream_keepalive_timeout_s", "nginx_proxy_timeout_s", "static_max_age_days", "nginx_public_reads",
              "nginx_app_paths", "nginx_content_security_policy")


def knobs_of(data, names: tuple[str, ...]) -> dict:
    """The knobs `names` of `data` (host.data or any object with them as attributes), lists as lists."""
    return {name: list(v) if isinstance(v := getattr(data, name), (list, tuple)) else v for name in names}


def nginx_conf_context(data, n: NginxPlan) -> dict:
    """nginx.conf.j2's context: the plan's nginx part and its knobs."""
    return {"nginx": n, **knobs_of(data, NGINX_CONF_KNOBS)}


def site_context(data, n: NginxPlan, *, app_servers: list[dict], static_here: bool, certificate: str,
                 certificate_key: str, ipv6: bool) -> dict:
    """site.conf.j2's context: the knobs under their own names, the plan's nginx part, the app hosts
    (address and max_conns: the door) and what this host has (static files, certificate, IPv6)."""
    return {
        "nginx": n, **knobs_of(data, SITE_KNOBS), "app_servers": app_servers,
        "single_app_entries": SINGLE_APP_ENTRIES,
        "certificate": certificate, "certificate_key": certificate_key, "ipv6": ipv6,
        "static_root": f"/srv/{data.app_name}/current/{data.app_static_dir}" if data.app_static_dir and static_here else "",
        "status_port": PORTS["nginx_status"], "acme_webroot": ACME_WEBROOT if data.tls == "letsencrypt" else "",
    }


def self_signed(data, crt: str, key: str) -> None:
    files.directory(name=f"{TLS_DIR}, root only", path=TLS_DIR, mode=700)
    names = ",".join(f"DNS:{name}" for name in data.server_names)
    if not host.get_fact(File, path=crt):
        server.shell(
            name=f"Self-signed certificate for {', '.join(data.server_names)}",
            commands=[f"openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj /CN={data.server_names[0]} "
                      f"-addext subjectAltName={names} -keyout {key} -out {crt} 2>/dev/null && chmod 600 {key}"],
        )


def certbot(data, why: str = "none yet"):
    """One certificate for every name of server_names from acme_directory_url, through HTTP-01 with
    certbot's webroot (nginx serves the answers and keeps serving). certbot keeps the directory, the
    webroot and the hook in its renewal settings: its timer (`certbot -q renew`, twice a day) renews
    the same way, and the hook reloads nginx into the new certificate."""
    names = " ".join(f"-d {name}" for name in data.server_names)
    return server.shell(
        name=f"Certificate for {', '.join(data.server_names)} from {data.acme_directory_url} ({why})",
        commands=[f"certbot certonly --non-interactive --agree-tos --email {shlex.quote(data.letsencrypt_email)} "
                  f"--server {shlex.quote(data.acme_directory_url)} --webroot -w {ACME_WEBROOT} "
                  f"--cert-name {data.server_names[0]} {names} --deploy-hook 'systemctl reload nginx'"],
    )
