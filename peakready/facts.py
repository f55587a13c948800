"""Facts peakready needs that pyinfra does not ship."""

from __future__ import annotations

import re
import shlex
from typing import Any

from pyinfra.api import FactBase

from peakready.monitoring import PROMETHEUS, QUERIES

CAP_NET_ADMIN = 12  # capabilities(7)


class Virtualization(FactBase):
    """What the host runs in, from systemd-detect-virt: {"container": "docker" | None, "vm": "kvm" | None}.

    A container shares its kernel with the machine under it: global kernel settings (vm.*, fs.*,
    swap) belong to that machine and are left alone there.
    """

    def command(self) -> str:
        return "echo container=$(systemd-detect-virt --container || true); echo vm=$(systemd-detect-virt --vm || true)"

    def process(self, output):
        found = dict(line.split("=", 1) for line in output if "=" in line)
        return {key: (None if found.get(key, "none") in ("none", "") else found[key]) for key in ("container", "vm")}


class CanManageFirewall(FactBase):
    """True when this host may load a netfilter ruleset (CAP_NET_ADMIN in its effective set).

    Always true for root on a VM or bare metal; a container may have been started without it.
    """

    def command(self) -> str:
        return "grep '^CapEff:' /proc/self/status"

    def process(self, output):
        caps = int(output[0].split()[1], 16)
        return bool(caps & (1 << CAP_NET_ADMIN))


class SwapMb(FactBase):
    """Swap space the host has right now, in MB (0 when none)."""

    def command(self) -> str:
        return "awk '/^SwapTotal:/ {print int($2 / 1024)}' /proc/meminfo"

    def process(self, output):
        return int(output[0])


class ListeningTcpPorts(FactBase):
    """TCP ports something listens on, with the programs listening: {22: {"sshd"}, ...}."""

    def command(self) -> str:
        return "ss -Hltnp"

    def process(self, output):
        ports: dict[int, set[str]] = {}
        for line in output:
            fields = line.split()
            if len(fields) < 4:
                continue
            port = int(fields[3].rsplit(":", 1)[1])
            programs = set(re.findall(r'\(\("([^"]+)"', line)) | set(re.findall(r'\),\("([^"]+)"', line))
            ports.setdefault(port, set()).update(programs)
        return ports


class TimezoneIs(FactBase):
    """True when /etc/localtime is the zone `timezone` (compared as files: UTC and Etc/UTC are one)."""

    def command(self, timezone: str) -> str:
        zone = shlex.quote(f"/usr/share/zoneinfo/{timezone}")
        return (f'[ -e {zone} ] && [ "$(readlink -f /etc/localtime)" = "$(readlink -f {zone})" ] '
                "&& echo yes || echo no")

    def process(self, output):
        return output[0] == "yes"


class HostSize(FactBase):
    """What the host may use: {"cores": int, "ram_mb": int}.

    The smaller of what the kernel reports and the host's cgroup limits (cgroup v1 or v2, every
    level up from this process), so a container VPS started with --memory/--cpus (or an LXC one) is
    planned for its own size, not the machine under it.
    """

    def command(self) -> str:
        return r"""
echo "ram_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
echo "cpus=$(getconf _NPROCESSORS_ONLN)"
walk() {  # walk BASE PATH FILE...: print each FILE's content at every level from PATH up to /
    base=$1; d=${2:-/}; shift 2
    while :; do
        if [ -r "$base$d/$1" ]; then echo "$1=$(cd "$base$d" && cat "$@" | tr '\n' ' ')"; fi
        case $d in /|.) break ;; esac
        d=$(dirname "$d")
    done
}
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    p=$(sed -n 's/^0:://p' /proc/self/cgroup)
    walk /sys/fs/cgroup "$p" memory.max
    walk /sys/fs/cgroup "$p" cpu.max
else
    walk /sys/fs/cgroup/memory "$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' /proc/self/cgroup)" memory.limit_in_bytes
    walk /sys/fs/cgroup/cpu "$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ {print $3}' /proc/self/cgroup)" cpu.cfs_quota_us cpu.cfs_period_us
fi
"""

    def process(self, output):
        ram_mb: int | None = None
        cores: int | None = None
        for line in output:
            key, _, value = line.partition("=")
            fields = value.split()
            if key == "ram_kb":
                ram_mb = int(fields[0]) // 1024
            elif key == "cpus":
                cores = int(fields[0])
        if ram_mb is None or cores is None:
            return {"cores": cores, "ram_mb": ram_mb}  # no size to narrow by the cgroup's limits
        for line in output:
            key, _, value = line.partition("=")
            fields = value.split()
            if key in ("memory.max", "memory.limit_in_bytes") and fields and fields[0].isdigit():
                ram_mb = min(ram_mb, int(fields[0]) // (1024 * 1024))
            elif key in ("cpu.max", "cpu.cfs_quota_us") and len(fields) == 2 and fields[0].lstrip("-").isdigit():
                quota, period = int(fields[0]), int(fields[1])
                if quota > 0:
                    cores = min(cores, max(1, -(-quota // period)))
        return {"cores": cores, "ram_mb": ram_mb}


class MariadbAccounts(FactBase):
    """MariaDB's accounts, privileges and databases, read as root over the unix socket.

    {"users": {"app@localhost": {"plugin": ..., "auth_sha256": ...}}, "global": {"'monitor'@'localhost'": {...}},
     "schema": {("'app'@'localhost'", "peakready"): {"SELECT", ...}}, "databases": {...}}
    or None when MariaDB is not installed or not running yet. Password hashes are never read
    out, only a SHA-256 of them (a mysql_native_password hash is as good as the password).
    """

    def command(self) -> str:
        return (
            "command -v mariadb >/dev/null && mariadb -N -B -e \""
            "SELECT 'U', user, host, IFNULL(JSON_VALUE(priv, '$.plugin'), ''), "
            "SHA2(IFNULL(JSON_VALUE(priv, '$.authentication_string'), ''), 256) FROM mysql.global_priv; "
            "SELECT 'G', GRANTEE, PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES; "
            "SELECT 'S', GRANTEE, TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES; "
            "SELECT 'D', SCHEMA_NAME FROM information_schema.SCHEMATA\" 2>/dev/null || true"
        )

    def process(self, output):
        found: dict[str, Any] = {"users": {}, "global": {}, "schema": {}, "databases": set()}
        for line in output:
            kind, *fields = line.split("\t")
            if kind == "U":
                user, hostname, plugin, auth_sha = fields
                found["users"][f"{user}@{hostname}"] = {"plugin": plugin, "auth_sha256": auth_sha}
            elif kind == "G":
                found["global"].setdefault(fields[0], set()).add(fields[1])
            elif kind == "S":
                found["schema"].setdefault((fields[0], fields[1]), set()).add(fields[2])
            elif kind == "D":
                found["databases"].add(fields[0])
        return found if found["users"] else None


# How root reaches ProxySQL's admin interface. During a rotation of its password the deploy writes the
# new file (keeping the one it replaces beside it, .peakready-last-good) before ProxySQL has loaded the
# new password: whichever of the two logs in is used. Sets $cnf, empty when neither does.
PROXYSQL_ADMIN_CNF = "/root/.peakready-proxysql-admin.cnf"
PROXYSQL_ADMIN_CNF_LAST_GOOD = f"{PROXYSQL_ADMIN_CNF}.peakready-last-good"
# A shell test: the admin file {path} logs in.
PROXYSQL_ADMIN_LOGS_IN = "mariadb --defaults-file={path} -e 'SELECT 1' >/dev/null 2>&1"
_EACH_LOGS_IN = PROXYSQL_ADMIN_LOGS_IN.format(path='"$c"')
PICK_PROXYSQL_ADMIN_CNF = (
    f"cnf=; for c in {PROXYSQL_ADMIN_CNF} {PROXYSQL_ADMIN_CNF_LAST_GOOD}; do "
    f"[ -f \"$c\" ] && {_EACH_LOGS_IN} && {{ cnf=$c; break; }}; done")


class ProxysqlRuntime(FactBase):
    """ProxySQL's runtime tables, read through its admin interface as root (PROXYSQL_ADMIN_CNF, or
    the one it replaced during a rotation), or None when ProxySQL or that file is not there yet. Passwords and credentials are read out only as
    SHA-256, so -vvv output never shows them.

    {"servers": [(hostgroup_id, hostname, port, weight, max_connections, max_replication_lag)], "users": [...],
     "rules": [...], "replication": [...], "variables": {name: value},
     "workers": the MySQL threads running (mysql-threads is only taken at start)}
    """

    def command(self, names: list[str]) -> str:
        wanted = ", ".join(f"'{n}'" for n in names)
        return rf"""
command -v mariadb >/dev/null || exit 0
{PICK_PROXYSQL_ADMIN_CNF}
[ -n "$cnf" ] || exit 0
q() {{ mariadb --defaults-file=$cnf -N -B -e "$1"; }}
hash() {{ printf %s "$1" | sha256sum | cut -c1-64; }}
tab=$(printf '\t')
echo ok
q "SELECT hostgroup_id, hostname, port, weight, max_connections, max_replication_lag FROM runtime_mysql_servers" | sed "s/^/S$tab/"
q "SELECT DISTINCT username, password, active, default_hostgroup, transaction_persistent, max_connections FROM runtime_mysql_users" |
    while IFS= read -r line; do
        # Split by hand: read with IFS=<tab> would merge the two tabs around an empty password.
        user=${{line%%"$tab"*}}; line=${{line#*"$tab"}}; pass=${{line%%"$tab"*}}; rest=${{line#*"$tab"}}
        printf 'U\t%s\t%s\t%s\n' "$user" "$(hash "$pass")" "$rest"
    done
q "SELECT rule_id, active, match_digest, destination_hostgroup, apply FROM runtime_mysql_query_rules" | sed "s/^/R$tab/"
q "SELECT writer_hostgroup, reader_hostgroup, check_type FROM runtime_mysql_replication_hostgroups" | sed "s/^/H$tab/"
q "SELECT Variable_Value FROM stats_mysql_global WHERE Variable_Name = 'MySQL_Thread_Workers'" | sed "s/^/W$tab/"
q "SELECT variable_name, variable_value FROM runtime_global_variables WHERE variable_name IN ({wanted})" |
    while IFS="$tab" read -r name value; do
        case $name in *password*|*credentials*) value=$(hash "$value");; esac
        printf 'V\t%s\t%s\n' "$name" "$value"
    done
"""

    def process(self, output):
        if not output or output[0] != "ok":
            return None
        found: dict[str, Any] = {"servers": [], "users": [], "rules": [], "replication": [], "variables": {}}
        parts = {"S": "servers", "U": "users", "R": "rules", "H": "replication"}
        for line in output[1:]:
            kind, *fields = line.split("\t")
            if kind == "V":
                found["variables"][fields[0]] = fields[1] if len(fields) > 1 else ""
            elif kind == "W":
                found["workers"] = int(fields[0])
            elif kind in parts:
                found[parts[kind]].append(tuple(fields))
        for part in parts.values():
            found[part].sort()
        return found


class Ipv6Enabled(FactBase):
    """True when the host can listen on IPv6 (a container often cannot)."""

    def command(self) -> str:
        return ('[ -e /proc/net/if_inet6 ] && [ "$(cat /proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null)" = 0 ] '
                "&& echo yes || echo no")

    def process(self, output):
        return output[0] == "yes"


class PythonTarget(FactBase):
    """What the app's wheels must fit on this host: {"python": "3.11.2", "glibc": "2.36",
    "arch": "amd64", "codename": "bookworm"}."""

    def command(self) -> str:
        return ("python3 -c 'import platform; print(\"python=\" + platform.python_version())'; "
                "echo glibc=$(getconf GNU_LIBC_VERSION | cut -d' ' -f2); echo arch=$(dpkg --print-architecture); "
                ". /etc/os-release; echo codename=$VERSION_CODENAME")

    def process(self, output):
        return dict(line.split("=", 1) for line in output if "=" in line)


class Addresses(FactBase):
    """The host's own IP addresses (every interface), for the check of private_address."""

    def command(self) -> str:
        return "ip -o addr show | awk '{print $4}' | cut -d/ -f1"

    def process(self, output):
        return sorted(set(output))


class MariadbReplication(FactBase):
    """MariaDB's replication state, as root over the unix socket, or None when it does not answer:

    {"read_only": bool, "gtid_binlog_pos": str, "gtid_current_pos": str, "gtid_slave_pos": str,
     "semi_sync_master": bool, "semi_sync_slave": bool,
     "source": the primary it replicates from ("" when none), "io": "Yes"/"No"/"Connecting"/"",
     "sql": "Yes"/"No"/"", "lag_s": int or None, "error": the last error ("" when none)}
    """

    def command(self) -> str:
        return (
            "command -v mariadb >/dev/null || exit 0; "
            "mariadb -N -B -e \"SELECT 'V', @@global.read_only, @@global.gtid_binlog_pos, @@global.gtid_current_pos, "
            "@@global.gtid_slave_pos, @@global.rpl_semi_sync_master_enabled, @@global.rpl_semi_sync_slave_enabled\" "
            "2>/dev/null || exit 0; "
            "mariadb -e 'SHOW SLAVE STATUS\\G' 2>/dev/null | sed -n 's/^ *\\([A-Za-z_]*\\): \\(.*\\)$/S\\t\\1\\t\\2/p'"
        )

    def process(self, output):
        found = {}
        status = {}
        for line in output:
            kind, *fields = line.split("\t")
            if kind == "V" and len(fields) == 6:
                found = {"read_only": fields[0] == "1", "gtid_binlog_pos": fields[1], "gtid_current_pos": fields[2],
                         "gtid_slave_pos": fields[3], "semi_sync_master": fields[4] == "1",
                         "semi_sync_slave": fields[5] == "1"}
            elif kind == "S" and len(fields) == 2:
                status[fields[0]] = fields[1]
        if not found:
            return None
        lag = status.get("Seconds_Behind_Master", "")
        found.update(source=status.get("Master_Host", ""), io=status.get("Slave_IO_Running", ""),
                     sql=status.get("Slave_SQL_Running", ""), lag_s=int(lag) if lag.isdigit() else None,
                     error=status.get("Last_Error", "") or status.get("Last_IO_Error", ""))
        return found


class SshClientAddress(FactBase):
    """The address this deploy's SSH connection comes from, as the host sees it (sshd's SSH_CLIENT),
    or None when the connector is not SSH. Read without sudo, which would drop the variable."""

    def command(self) -> str:
        return 'printf "%s\\n" "${SSH_CLIENT%% *}"'

    def process(self, output):
        address = output[0].strip() if output else ""
        return address or None



class UrlAnswers(FactBase):
    """Whether the host reaches `url` (an HTTP status below 400 within 10 s), asked with curl or
    wget; None when it has neither (a bare image: the base role installs curl later).

    **Example:** ``host.get_fact(UrlAnswers, url="https://repo.proxysql.com/ProxySQL/proxysql-2.7.x/repo_pub_key.gpg")``
    """

    def command(self, url: str) -> str:
        q = shlex.quote(url)
        return (f"if command -v curl >/dev/null; then curl -sS -o /dev/null -m 10 -w 'status %{{http_code}}\\n' {q} 2>&1 || true; "
                f"elif command -v wget >/dev/null; then wget -q --spider -T 10 {q} 2>&1 && echo 'status 200' || echo 'status 000'; "
                "else echo 'status none'; fi")

    def process(self, output):
        status = next((line.split()[1] for line in output if line.startswith("status ")), "000")
        if status == "none":
            return None
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


class StatOverride(FactBase):
    """dpkg-statoverride's record for a path: "user group mode" (e.g. "root root 0750"), or None."""

    def command(self, path: str) -> str:
        return f"dpkg-statoverride --list {shlex.quote(path)} || true"

    def process(self, output):
        return " ".join(output[0].split()[:3]) if output and output[0].strip() else None



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
