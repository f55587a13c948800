"""Facts about the services as a client sees them: URLs, certificates, systemd's units, Prometheus's answers."""

from __future__ import annotations

import re
import shlex
from typing import Any
from urllib.parse import urlsplit

from pyinfra.api import FactBase

from peakready.monitoring import PROMETHEUS, QUERIES


def tcp_endpoint(url: str) -> tuple[str, int]:
    """The host and port a URL connects to ("", 0 when it names none: no connection opens)."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port that is not a number
        return "", 0
    return parts.hostname or "", port


class UrlAnswers(FactBase):
    """Whether the host reaches `url` (an HTTP status below 400 within 10 s), asked with curl or
    wget; on a bare image with neither (the base role installs curl later), whether a TCP connection
    to its host and port opens within 10 s (bash's /dev/tcp); None without bash or timeout either.

    **Example:** ``host.get_fact(UrlAnswers, url="https://repo.proxysql.com/ProxySQL/proxysql-2.7.x/repo_pub_key.gpg")``
    """

    def command(self, url: str) -> str:
        q = shlex.quote(url)
        host, port = tcp_endpoint(url)
        unreached = f"no TCP connection to {host}:{port} within 10 s (the host has neither curl nor wget)"
        # The host and port reach the inner bash as its arguments, never as part of its script.
        probe = "timeout 10 bash -c 'exec 3<>\"/dev/tcp/$0/$1\"' " + f"{shlex.quote(host)} {port} 2>/dev/null"
        return (f"if command -v curl >/dev/null; then curl -sS -o /dev/null -m 10 -w 'status %{{http_code}}\\n' {q} 2>&1 || true; "
                f"elif command -v wget >/dev/null; then wget -q --spider -T 10 {q} 2>&1 && echo 'status 200' || echo 'status 000'; "
                f"elif command -v bash >/dev/null && command -v timeout >/dev/null; then if {probe}; then echo 'status tcp'; "
                f"else echo {shlex.quote(unreached)}; echo 'status 000'; fi; "
                "else echo 'status none'; fi")

    def process(self, output):
        status = next((line.split()[1] for line in output if line.startswith("status ")), "000")
        if status == "none":
            return None
        if status == "tcp":
            return {"ok": True, "why": "a TCP connection opened (the host has neither curl nor wget)"}
        return {"ok": status.isdigit() and 0 < int(status) < 400,
                "why": " ".join(line for line in output if not line.startswith("status ")) or f"HTTP {status}"}


class CertificateNames(FactBase):
    """The DNS names a certificate file is for (its subjectAltName), sorted; None when there is no
    such file.

    **Example:** ``host.get_fact(CertificateNames, path="/etc/letsencrypt/live/example.com/fullchain.pem")``
    """

    def command(self, path: str) -> str:
        quoted = shlex.quote(path)
        return f"if [ -f {quoted} ]; then echo found; openssl x509 -noout -ext subjectAltName -in {quoted}; fi"

    def process(self, output):
        if not output or output[0] != "found":
            return None
        return sorted(re.findall(r"DNS:([^,\s]+)", " ".join(output[1:])))



class ServiceStatus(FactBase):
    """`make status`: each of `units` (comma-separated) that exists, as systemd and ps see it, and the
    app's workers (the children of `app_unit`'s main process):
    {"units": {unit: {"state", "sub", "pid", "uptime_s", "memory_mb", "restarts"}},
     "workers": [{"pid", "rss_mb", "uptime_s"}]}.
    """

    def command(self, units: str, app_unit: str = "") -> str:
        names = " ".join(shlex.quote(u) for u in units.split(",") if u)
        return (
            f"for u in {names}; do "
            "systemctl show \"$u\" -p Id,LoadState,ActiveState,SubState,MainPID,MemoryCurrent,NRestarts 2>/dev/null "
            "| sed \"s/^/U $u /\"; "
            "p=$(systemctl show \"$u\" -p MainPID --value 2>/dev/null); "
            "[ -n \"$p\" ] && [ \"$p\" != 0 ] && echo \"U $u Uptime=$(ps -o etimes= -p \"$p\" | tr -d ' ')\"; done; "
            f"p=$(systemctl show {shlex.quote(app_unit or 'none.service')} -p MainPID --value 2>/dev/null); "
            "[ -n \"$p\" ] && [ \"$p\" != 0 ] && ps --ppid \"$p\" -o pid=,rss=,etimes= | sed 's/^/W /'; true"
        )

    def process(self, output):
        units: dict[str, dict] = {}
        workers = []
        for line in output:
            fields = line.split(None, 2)
            if fields[0] == "U" and len(fields) == 3 and "=" in fields[2]:
                key, value = fields[2].split("=", 1)
                units.setdefault(fields[1], {})[key] = value
            elif fields[0] == "W":
                pid, rss, uptime = line.split()[1:4]
                workers.append({"pid": int(pid), "rss_mb": int(rss) // 1024, "uptime_s": int(uptime)})

        def number(value: str | None) -> int | None:
            return int(value) if value and value.isdigit() else None

        def megabytes(value: str | None) -> int | None:
            # systemd says [not set] without memory accounting, or a huge number for "infinity"
            found = number(value)
            return found // (1 << 20) if found is not None and found < (1 << 60) else None

        return {
            "units": {unit: {"state": u.get("ActiveState"), "sub": u.get("SubState"), "pid": number(u.get("MainPID")),
                             "uptime_s": number(u.get("Uptime")),
                             "memory_mb": megabytes(u.get("MemoryCurrent")),
                             "restarts": number(u.get("NRestarts"))}
                      for unit, u in units.items() if u.get("LoadState") == "loaded"},
            "workers": workers,
        }


class PrometheusQueries(FactBase):
    """`make status`: what Prometheus on this host's loopback says, for the queries of
    peakready/monitoring.py (rate windows of `window_s`) and its firing alerts; None where no Prometheus
    answers. {"queries": {name: [{"metric": {...}, "value": float}]}, "alerts": [...]}"""

    def command(self, window_s: str = "60") -> str:
        lines = [f"curl -sf -o /dev/null {PROMETHEUS}/-/ready || exit 0"]
        for name, query in QUERIES.items():
            q = shlex.quote(query.format(w=f"{int(window_s)}s"))
            lines.append(f"printf 'Q {name} '; curl -sf --get --data-urlencode query={q} {PROMETHEUS}/api/v1/query; echo")
        lines.append(f"printf 'A alerts '; curl -sf {PROMETHEUS}/api/v1/alerts; echo")
        return "; ".join(lines)

    def process(self, output):
        import json

        found: dict[str, Any] = {"queries": {}, "alerts": []}
        for line in output:
            kind, name, body = (line.split(" ", 2) + ["", ""])[:3]
            try:
                data = json.loads(body)["data"]
            except (ValueError, KeyError, TypeError):
                continue
            if kind == "Q":
                found["queries"][name] = [{"metric": r["metric"], "value": float(r["value"][1])}
                                          for r in data.get("result", [])]
            elif kind == "A":
                found["alerts"] = [{"name": a["labels"].get("alertname"), "host": a["labels"].get("host", ""),
                                    "state": a["state"], "severity": a["labels"].get("severity", ""),
                                    "summary": a.get("annotations", {}).get("summary", "")}
                                   for a in data.get("alerts", [])]
        return found if output else None
