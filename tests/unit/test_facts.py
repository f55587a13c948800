"""peakready's own pyinfra facts (peakready/facts/), tested as pyinfra tests its facts
(tests/facts/<module>.<Fact>/*.json there: command, output, fact): for every fact, the command it
builds and the value it makes of what that command prints on Debian 12.

FIXTURES holds, for each fact class, (case, args, output lines, expected value). The value is what
pyinfra's get_fact returns for that stdout when the command exits 0: the fact's default() (None for
every fact here) when the command printed nothing, else process(lines), the lines being stdout split
on newlines with nothing else stripped (so `memory.max=max ` keeps its trailing space).
test_every_fact_has_fixtures fails when a fact is added to peakready/facts/ without fixtures here.

A few tests run a fact's command through /bin/sh, as pyinfra does (`sh -c`), with a PATH holding
only stub programs (shell scripts printing what the real program prints) and the few real text tools
the command pipes through (sed, awk, cut...): they prove the shell quoting of the callers' arguments
and that the command's own pipeline prints what process() expects. Nothing leaves the machine; the
one real network call is curl to http://127.0.0.1:9/, which is refused at once.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyinfra.api import FactBase

from peakready import facts
from peakready.monitoring import PROMETHEUS, QUERIES


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def load(fact_cls: type[FactBase], output: list[str]):
    """What pyinfra's get_fact returns for this stdout (exit status 0): default() when empty."""
    fact = fact_cls()
    return fact.process(list(output)) if output else fact.default()


def normal(value):
    """NaN is no equal of itself: compare it as a marker."""
    if isinstance(value, float) and math.isnan(value):
        return "<NaN>"
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(normal(v) for v in value)
    return value


def vector(*samples: tuple[dict, str]) -> str:
    """A Prometheus /api/v1/query answer, as compact as Prometheus prints it."""
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": metric, "value": [1733450000.123, value]} for metric, value in samples]}}, separators=(",", ":"))


def alerts(*items: dict) -> str:
    return json.dumps({"status": "success", "data": {"alerts": list(items)}}, separators=(",", ":"))


# --- outputs as the commands print them on Debian 12 ------------------------------------------------

SS_SERVER = [  # ss -Hltnp as root on an app + db host (iproute2 6.1)
    'LISTEN 0      128          0.0.0.0:22        0.0.0.0:*    users:(("sshd",pid=612,fd=3))',
    ('LISTEN 0      511          0.0.0.0:80        0.0.0.0:*    '
     'users:(("nginx",pid=1236,fd=6),("nginx",pid=1235,fd=6),("nginx",pid=1234,fd=6))'),
    'LISTEN 0      80         10.0.0.12:3306      0.0.0.0:*    users:(("mariadbd",pid=901,fd=21))',
    'LISTEN 0      511        127.0.0.1:6379      0.0.0.0:*    users:(("redis-server",pid=777,fd=6))',
    'LISTEN 0      4096   127.0.0.53%lo:53        0.0.0.0:*    users:(("systemd-resolve",pid=420,fd=14))',
    'LISTEN 0      128             [::]:22           [::]:*    users:(("sshd",pid=612,fd=4))',
    'LISTEN 0      4096               *:9100            *:*    users:(("prometheus-node",pid=700,fd=3))',
]

SHOW_SLAVE_STATUS = """\
*************************** 1. row ***************************
                Slave_IO_State: Waiting for master to send event
                   Master_Host: 10.0.0.11
                   Master_User: repl
                   Master_Port: 3306
                 Connect_Retry: 5
               Master_Log_File: mariadb-bin.000002
           Read_Master_Log_Pos: 73461
                Relay_Log_File: mariadb-relay-bin.000003
                 Relay_Log_Pos: 73761
         Relay_Master_Log_File: mariadb-bin.000002
              Slave_IO_Running: Yes
             Slave_SQL_Running: Yes
               Replicate_Do_DB: 
           Replicate_Ignore_DB: 
                    Last_Errno: 0
                    Last_Error: 
                  Skip_Counter: 0
           Exec_Master_Log_Pos: 73461
         Seconds_Behind_Master: 3
 Master_SSL_Verify_Server_Cert: No
                 Last_IO_Errno: 0
                 Last_IO_Error: 
                Last_SQL_Errno: 0
                Last_SQL_Error: 
              Master_Server_Id: 1
                    Using_Gtid: Slave_Pos
                   Gtid_IO_Pos: 0-1-1042
           SQL_Remaining_Delay: NULL
       Slave_SQL_Running_State: Slave has read all relay log; waiting for more updates
Slave_Non_Transactional_Groups: 0
    Slave_Transactional_Groups: 120
"""

# openssl req -x509 -newkey ec ... -addext "subjectAltName=DNS:www.example.com,DNS:example.com,
# DNS:*.static.example.com,IP:203.0.113.10" (and one without -addext: no subjectAltName)
CERT_WITH_SAN = """\
-----BEGIN CERTIFICATE-----
MIIByjCCAXCgAwIBAgIUOazd4g2h8iNi2lCHfKsTGCdxLVIwCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLZXhhbXBsZS5jb20wIBcNMjYxMjA2MDM1ODE4WhgPMjEyNjEx
MTIwMzU4MThaMBYxFDASBgNVBAMMC2V4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAE3FyNWxP3D/DUG/eSBTLPH1a3rGdDsPxpuAiLfb7sXHUuHXI1
MZGI84kcxPa4g+U3w4uNP44/rwuRPGAcsF46dKOBmTCBljAdBgNVHQ4EFgQUhsw8
V4GaP90jjt/LETNKn5glP4kwHwYDVR0jBBgwFoAUhsw8V4GaP90jjt/LETNKn5gl
P4kwDwYDVR0TAQH/BAUwAwEB/zBDBgNVHREEPDA6gg93d3cuZXhhbXBsZS5jb22C
C2V4YW1wbGUuY29tghQqLnN0YXRpYy5leGFtcGxlLmNvbYcEywBxCjAKBggqhkjO
PQQDAgNIADBFAiB0zskKbC2ARUiBrRHrApz+md6q7Dwa3JA6seYYLbuQEwIhAODm
rXwlpPb9riKD8zLDYRMV0ynhTlQUFvT6/tarec3E
-----END CERTIFICATE-----
"""
CERT_WITHOUT_SAN = """\
-----BEGIN CERTIFICATE-----
MIIBgzCCASmgAwIBAgIUPRasNa9IV7HU5VieOJJ4Vu0I2hIwCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLZXhhbXBsZS5jb20wIBcNMjYxMjA2MDM1ODE4WhgPMjEyNjEx
MTIwMzU4MThaMBYxFDASBgNVBAMMC2V4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEwLb9c/q3Oh7eRP2pZaS9fmTlD+O3wICFfovum9FX8WNo1XNr
YDRjDCmSFOrciHwx7hkMTPVc1YVWCJrCB35lUKNTMFEwHQYDVR0OBBYEFP+BIaDf
bnlWGatY2OPSo5V4CgCNMB8GA1UdIwQYMBaAFP+BIaDfbnlWGatY2OPSo5V4CgCN
MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIhAJMa3KCp7bPsxhK4
HqmRn/Icp4KeYAyWXa7PAAADMaoOAiBiRSjBw9EXjAPwzj1y0kqO5xfh0lnLBoaS
6Pom2X5qFw==
-----END CERTIFICATE-----
"""

NOT_FOUND_UNIT = ("MainPID=0\nNRestarts=0\nMemoryCurrent=[not set]\nId=%s\nLoadState=not-found\n"
                  "ActiveState=inactive\nSubState=dead\n")

NATIVE_HASH = "*6BB4837EB74329105EE4568DDA7DC67ED2CA2AD9"  # a mysql_native_password hash

# fact class name -> [(case, args, output lines, expected value)]
FIXTURES: dict[str, list[tuple[str, dict, list[str], object]]] = {
    "Virtualization": [
        ("kvm-vm", {}, ["container=none", "vm=kvm"], {"container": None, "vm": "kvm"}),
        ("docker-on-kvm", {}, ["container=docker", "vm=kvm"], {"container": "docker", "vm": "kvm"}),
        ("lxc", {}, ["container=lxc", "vm=none"], {"container": "lxc", "vm": None}),
        ("bare-metal", {}, ["container=none", "vm=none"], {"container": None, "vm": None}),
        ("no-systemd-detect-virt", {}, ["container=", "vm="], {"container": None, "vm": None}),
        ("missing-key-and-noise", {}, ["vm=microsoft", "garbage"], {"container": None, "vm": "microsoft"}),
        ("empty", {}, [], None),
    ],
    "CanManageFirewall": [
        ("root-on-vm", {}, ["CapEff:\t000001ffffffffff"], True),
        ("docker-default-caps", {}, ["CapEff:\t00000000a80425fb"], False),
        ("docker-cap-add-net-admin", {}, ["CapEff:\t00000000a80435fb"], True),
        ("only-net-admin", {}, ["CapEff:\t0000000000001000"], True),
        ("unprivileged-user", {}, ["CapEff:\t0000000000000000"], False),
        ("empty", {}, [], None),
    ],
    "SwapMb": [
        ("no-swap", {}, ["0"], 0),
        ("swapfile-1g", {}, ["1023"], 1023),
        ("swap-4g", {}, ["4095"], 4095),
        ("empty", {}, [], None),
    ],
    "ListeningTcpPorts": [
        ("server", {}, SS_SERVER, {22: {"sshd"}, 80: {"nginx"}, 3306: {"mariadbd"}, 6379: {"redis-server"},
                                   53: {"systemd-resolve"}, 9100: {"prometheus-node"}}),
        ("socket-activated-two-programs", {},
         [('LISTEN 0      4096               *:22              *:*    '
           'users:(("sshd",pid=950,fd=3),("systemd",pid=1,fd=52))')], {22: {"sshd", "systemd"}}),
        ("not-root-no-process-column", {}, ["LISTEN 0      128          0.0.0.0:22        0.0.0.0:*"], {22: set()}),
        ("ipv6-scoped-and-mapped", {},
         ['LISTEN 0      128    [fe80::1]%eth0:2222         [::]:*    users:(("sshd",pid=1,fd=3))',
          'LISTEN 0      128    [::ffff:127.0.0.1]:8080     [::]:*    users:(("gunicorn",pid=2,fd=5))'],
         {2222: {"sshd"}, 8080: {"gunicorn"}}),
        ("short-and-blank-lines-skipped", {}, ["", "LISTEN 0 128"], {}),
        ("empty", {}, [], None),
    ],
    "TimezoneIs": [
        ("same-zone", {"timezone": "Etc/UTC"}, ["yes"], True),
        ("other-zone", {"timezone": "Europe/Paris"}, ["no"], False),
        ("empty", {"timezone": "UTC"}, [], None),
    ],
    "HostSize": [
        ("vm-cgroup-v2-no-limit", {}, ["ram_kb=4010836", "cpus=2", "memory.max=max ", "memory.max=max ",
                                       "memory.max=max ", "cpu.max=max 100000 "], {"cores": 2, "ram_mb": 3916}),
        ("docker-v2-memory-1g-cpus-1.5", {}, ["ram_kb=8141488", "cpus=4", "memory.max=1073741824 ",
                                              "cpu.max=150000 100000 "], {"cores": 2, "ram_mb": 1024}),
        ("v2-lowest-level-wins", {}, ["ram_kb=16318536", "cpus=8", "memory.max=max ", "memory.max=2147483648 ",
                                      "memory.max=4294967296 ", "cpu.max=max 100000 ", "cpu.max=400000 100000 "],
         {"cores": 4, "ram_mb": 2048}),
        ("quota-above-cpus", {}, ["ram_kb=2014452", "cpus=2", "cpu.max=800000 100000 "], {"cores": 2, "ram_mb": 1967}),
        ("v1-unlimited", {}, ["ram_kb=2014452", "cpus=2", "memory.limit_in_bytes=9223372036854771712 ",
                              "cpu.cfs_quota_us=-1 100000 "], {"cores": 2, "ram_mb": 1967}),
        ("v1-half-a-cpu-512m", {}, ["ram_kb=2014452", "cpus=2", "memory.limit_in_bytes=536870912 ",
                                    "cpu.cfs_quota_us=50000 100000 "], {"cores": 1, "ram_mb": 512}),
        ("v1-period-unreadable", {}, ["ram_kb=2014452", "cpus=2", "cpu.cfs_quota_us=50000 "],
         {"cores": 2, "ram_mb": 1967}),
        ("no-cgroup-files", {}, ["ram_kb=1003648", "cpus=1"], {"cores": 1, "ram_mb": 980}),
        ("empty", {}, [], None),
    ],
    "MariadbAccounts": [
        ("debian-12-with-app", {}, [
            f"U\tmariadb.sys\tlocalhost\tmysql_native_password\t{sha('')}",
            f"U\troot\tlocalhost\tmysql_native_password\t{sha('invalid')}",
            f"U\tmysql\tlocalhost\tmysql_native_password\t{sha('invalid')}",
            f"U\tpeakready\t10.0.0.%\tmysql_native_password\t{sha(NATIVE_HASH)}",
            f"U\tmonitor\tlocalhost\tunix_socket\t{sha('')}",
            "G\t'mariadb.sys'@'localhost'\tUSAGE",
            "G\t'root'@'localhost'\tSELECT",
            "G\t'root'@'localhost'\tINSERT",
            "G\t'root'@'localhost'\tSHUTDOWN",
            "G\t'peakready'@'10.0.0.%'\tUSAGE",
            "G\t'monitor'@'localhost'\tPROCESS",
            "G\t'monitor'@'localhost'\tBINLOG MONITOR",
            "S\t'peakready'@'10.0.0.%'\tpeakready\tSELECT",
            "S\t'peakready'@'10.0.0.%'\tpeakready\tINSERT",
            "S\t'peakready'@'10.0.0.%'\tpeakready\tUPDATE",
            "S\t'peakready'@'10.0.0.%'\tpeakready\tDELETE",
            "D\tinformation_schema", "D\tmysql", "D\tpeakready", "D\tperformance_schema", "D\tsys",
        ], {
            "users": {"mariadb.sys@localhost": {"plugin": "mysql_native_password", "auth_sha256": sha("")},
                      "root@localhost": {"plugin": "mysql_native_password", "auth_sha256": sha("invalid")},
                      "mysql@localhost": {"plugin": "mysql_native_password", "auth_sha256": sha("invalid")},
                      "peakready@10.0.0.%": {"plugin": "mysql_native_password", "auth_sha256": sha(NATIVE_HASH)},
                      "monitor@localhost": {"plugin": "unix_socket", "auth_sha256": sha("")}},
            "global": {"'mariadb.sys'@'localhost'": {"USAGE"}, "'root'@'localhost'": {"SELECT", "INSERT", "SHUTDOWN"},
                       "'peakready'@'10.0.0.%'": {"USAGE"}, "'monitor'@'localhost'": {"PROCESS", "BINLOG MONITOR"}},
            "schema": {("'peakready'@'10.0.0.%'", "peakready"): {"SELECT", "INSERT", "UPDATE", "DELETE"}},
            "databases": {"information_schema", "mysql", "peakready", "performance_schema", "sys"},
        }),
        ("anonymous-user-no-plugin", {}, [f"U\t\tlocalhost\t\t{sha('')}", "D\tmysql"],
         {"users": {"@localhost": {"plugin": "", "auth_sha256": sha("")}}, "global": {}, "schema": {},
          "databases": {"mysql"}}),
        ("no-users-read", {}, ["D\tinformation_schema", "D\tmysql"], None),
        ("empty", {}, [], None),
    ],
    "ProxysqlRuntime": [
        ("configured", {"names": ["mysql-monitor_password", "mysql-threads"]}, [
            "ok",
            "S\t20\t10.0.0.22\t3306\t1\t1000\t10",
            "S\t10\t10.0.0.21\t3306\t1\t1000\t10",
            "S\t20\t10.0.0.21\t3306\t1\t1000\t10",
            f"U\tpeakready\t{sha(NATIVE_HASH)}\t1\t10\t1\t10000",
            "R\t2\t1\t^SELECT\t20\t1",
            "R\t1\t1\t^SELECT .* FOR UPDATE\t10\t1",
            "H\t10\t20\tread_only",
            "W\t4",
            f"V\tmysql-monitor_password\t{sha('m0n1tor')}",
            "V\tmysql-threads\t4",
            "V\tmysql-default_schema\t",
            "V\tmysql-server_version",
        ], {
            "servers": [("10", "10.0.0.21", "3306", "1", "1000", "10"), ("20", "10.0.0.21", "3306", "1", "1000", "10"),
                        ("20", "10.0.0.22", "3306", "1", "1000", "10")],
            "users": [("peakready", sha(NATIVE_HASH), "1", "10", "1", "10000")],
            "rules": [("1", "1", "^SELECT .* FOR UPDATE", "10", "1"), ("2", "1", "^SELECT", "20", "1")],
            "replication": [("10", "20", "read_only")],
            "variables": {"mysql-monitor_password": sha("m0n1tor"), "mysql-threads": "4", "mysql-default_schema": "",
                          "mysql-server_version": ""},
            "workers": 4,
        }),
        ("fresh-nothing-configured", {"names": ["mysql-threads"]}, ["ok"],
         {"servers": [], "users": [], "rules": [], "replication": [], "variables": {}}),
        ("no-ok-marker", {"names": ["mysql-threads"]}, ["S\t10\t10.0.0.21\t3306\t1\t1000\t10"], None),
        ("empty", {"names": ["mysql-threads"]}, [], None),
    ],
    "Ipv6Enabled": [
        ("enabled", {}, ["yes"], True),
        ("disabled", {}, ["no"], False),
        ("empty", {}, [], None),
    ],
    "PythonTarget": [
        ("bookworm-amd64", {}, ["python=3.11.2", "glibc=2.36", "arch=amd64", "codename=bookworm"],
         {"python": "3.11.2", "glibc": "2.36", "arch": "amd64", "codename": "bookworm"}),
        ("bookworm-arm64", {}, ["python=3.11.2", "glibc=2.36", "arch=arm64", "codename=bookworm"],
         {"python": "3.11.2", "glibc": "2.36", "arch": "arm64", "codename": "bookworm"}),
        ("no-python3", {}, ["glibc=2.36", "arch=amd64", "codename=bookworm"],
         {"glibc": "2.36", "arch": "amd64", "codename": "bookworm"}),
        ("stray-lines-ignored", {}, ["python=3.11.2", "sh: 1: getconf: not found", "glibc=", "arch=amd64",
                                     "codename=bookworm"],
         {"python": "3.11.2", "glibc": "", "arch": "amd64", "codename": "bookworm"}),
        ("empty", {}, [], None),
    ],
    "Addresses": [
        ("two-interfaces", {}, ["127.0.0.1", "::1", "203.0.113.10", "2001:db8::10", "fe80::5054:ff:fe12:3456",
                                "10.0.0.12", "fe80::5054:ff:fe9a:bcde"],
         ["10.0.0.12", "127.0.0.1", "2001:db8::10", "203.0.113.10", "::1", "fe80::5054:ff:fe12:3456",
          "fe80::5054:ff:fe9a:bcde"]),
        ("same-address-twice", {}, ["127.0.0.1", "10.0.0.12", "10.0.0.12"], ["10.0.0.12", "127.0.0.1"]),
        ("empty", {}, [], None),
    ],
    "MariadbReplication": [
        ("primary", {}, ["V\t0\t0-1-1042\t0-1-1042\t\t1\t0"], {
            "read_only": False, "gtid_binlog_pos": "0-1-1042", "gtid_current_pos": "0-1-1042", "gtid_slave_pos": "",
            "semi_sync_master": True, "semi_sync_slave": False,
            "source": "", "io": "", "sql": "", "lag_s": None, "error": ""}),
        ("healthy-replica", {}, [
            "V\t1\t0-1-1042\t0-1-1042\t0-1-1042\t0\t1",
            "S\tSlave_IO_State\tWaiting for master to send event",
            "S\tMaster_Host\t10.0.0.11",
            "S\tSlave_IO_Running\tYes",
            "S\tSlave_SQL_Running\tYes",
            "S\tLast_Error\t",
            "S\tSeconds_Behind_Master\t3",
            "S\tLast_IO_Error\t",
        ], {
            "read_only": True, "gtid_binlog_pos": "0-1-1042", "gtid_current_pos": "0-1-1042",
            "gtid_slave_pos": "0-1-1042", "semi_sync_master": False, "semi_sync_slave": True,
            "source": "10.0.0.11", "io": "Yes", "sql": "Yes", "lag_s": 3, "error": ""}),
        ("replica-cannot-connect", {}, [
            "V\t1\t\t0-1-900\t0-1-900\t0\t1",
            "S\tMaster_Host\t10.0.0.11",
            "S\tSlave_IO_Running\tConnecting",
            "S\tSlave_SQL_Running\tYes",
            "S\tLast_Error\t",
            "S\tSeconds_Behind_Master\tNULL",
            ("S\tLast_IO_Error\terror reconnecting to master 'repl@10.0.0.11:3306' - retry-time: 5  "
             "maximum-retries: 100000  message: Can't connect to server on '10.0.0.11' (115)"),
        ], {
            "read_only": True, "gtid_binlog_pos": "", "gtid_current_pos": "0-1-900", "gtid_slave_pos": "0-1-900",
            "semi_sync_master": False, "semi_sync_slave": True, "source": "10.0.0.11", "io": "Connecting",
            "sql": "Yes", "lag_s": None,
            "error": "error reconnecting to master 'repl@10.0.0.11:3306' - retry-time: 5  maximum-retries: 100000  "
                     "message: Can't connect to server on '10.0.0.11' (115)"}),
        ("replica-sql-error", {}, [
            "V\t1\t0-1-1042\t0-1-1042\t0-1-1042\t0\t0",
            "S\tMaster_Host\t10.0.0.11",
            "S\tSlave_IO_Running\tYes",
            "S\tSlave_SQL_Running\tNo",
            "S\tLast_Error\tError 'Duplicate entry '7' for key 'PRIMARY'' on query. Default database: 'peakready'.",
            "S\tSeconds_Behind_Master\tNULL",
            "S\tLast_IO_Error\t",
        ], {
            "read_only": True, "gtid_binlog_pos": "0-1-1042", "gtid_current_pos": "0-1-1042",
            "gtid_slave_pos": "0-1-1042", "semi_sync_master": False, "semi_sync_slave": False,
            "source": "10.0.0.11", "io": "Yes", "sql": "No", "lag_s": None,
            "error": "Error 'Duplicate entry '7' for key 'PRIMARY'' on query. Default database: 'peakready'."}),
        ("v-line-short", {}, ["V\t0\t0-1-1\t0-1-1"], None),
        ("status-without-v-line", {}, ["S\tMaster_Host\t10.0.0.11"], None),
        ("empty", {}, [], None),
    ],
    "SshClientAddress": [
        ("ipv4", {}, ["203.0.113.7"], "203.0.113.7"),
        ("ipv6", {}, ["2001:db8::7"], "2001:db8::7"),
        ("not-over-ssh", {}, [""], None),
        ("empty", {}, [], None),
    ],
    "UrlAnswers": [
        ("ok", {"url": "https://repo.proxysql.com/ProxySQL/proxysql-2.7.x/repo_pub_key.gpg"}, ["status 200"],
         {"ok": True, "why": "HTTP 200"}),
        ("redirect-is-an-answer", {"url": "http://deb.debian.org/debian"}, ["status 302"],
         {"ok": True, "why": "HTTP 302"}),
        ("not-found", {"url": "https://example.com/missing"}, ["status 404"], {"ok": False, "why": "HTTP 404"}),
        ("refused", {"url": "http://127.0.0.1:9/"},
         ["curl: (7) Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn't connect to server", "status 000"],
         {"ok": False, "why": "curl: (7) Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn't connect to server"}),
        ("no-dns", {"url": "https://repo.proxysql.com/"},
         ["curl: (6) Could not resolve host: repo.proxysql.com", "status 000"],
         {"ok": False, "why": "curl: (6) Could not resolve host: repo.proxysql.com"}),
        ("timeout", {"url": "https://repo.proxysql.com/"},
         ["curl: (28) Connection timed out after 10002 milliseconds", "status 000"],
         {"ok": False, "why": "curl: (28) Connection timed out after 10002 milliseconds"}),
        ("wget-failed", {"url": "https://repo.proxysql.com/"}, ["status 000"], {"ok": False, "why": "HTTP 000"}),
        ("bash-reached", {"url": "https://repo.proxysql.com/"}, ["status tcp"],
         {"ok": True, "why": "a TCP connection opened (the host has neither curl nor wget)"}),
        ("bash-unreached", {"url": "https://repo.proxysql.com/"},
         ["no TCP connection to repo.proxysql.com:443 within 10 s (the host has neither curl nor wget)", "status 000"],
         {"ok": False, "why": "no TCP connection to repo.proxysql.com:443 within 10 s (the host has neither curl nor wget)"}),
        ("no-curl-no-wget-no-bash", {"url": "https://repo.proxysql.com/"}, ["status none"], None),
        ("no-status-line", {"url": "https://repo.proxysql.com/"}, ["Segmentation fault"],
         {"ok": False, "why": "Segmentation fault"}),
        ("empty", {"url": "https://repo.proxysql.com/"}, [], None),
    ],
    "CertificateNames": [
        ("letsencrypt", {"path": "/etc/letsencrypt/live/example.com/fullchain.pem"},
         ["found", "X509v3 Subject Alternative Name: ", "    DNS:www.example.com, DNS:example.com"],
         ["example.com", "www.example.com"]),
        ("wildcard-and-ip", {"path": "/etc/ssl/certs/site.pem"},
         ["found", "X509v3 Subject Alternative Name: ",
          "    DNS:www.example.com, DNS:example.com, DNS:*.static.example.com, IP Address:203.0.113.10"],
         ["*.static.example.com", "example.com", "www.example.com"]),
        ("no-subject-alt-name", {"path": "/etc/ssl/certs/old.pem"}, ["found"], []),
        ("no-found-marker", {"path": "/etc/ssl/certs/site.pem"}, ["DNS:example.com"], None),
        ("no-such-file", {"path": "/etc/letsencrypt/live/example.com/fullchain.pem"}, [], None),
    ],
    "StatOverride": [
        ("ssl-private", {"path": "/etc/ssl/private"}, ["root ssl-cert 0710 /etc/ssl/private"], "root ssl-cert 0710"),
        ("path-with-space", {"path": "/srv/peak ready/shared"}, ["root peakready 0750 /srv/peak ready/shared"],
         "root peakready 0750"),
        ("blank-line", {"path": "/srv/peakready"}, [""], None),
        ("no-record", {"path": "/srv/peakready"}, [], None),
    ],
    "ServiceStatus": [
        ("stack", {"units": "nginx.service,peakready-app.service,proxysql.service",
                   "app_unit": "peakready-app.service"}, [
            "U nginx.service MainPID=1234",
            "U nginx.service NRestarts=0",
            "U nginx.service MemoryCurrent=8716288",
            "U nginx.service Id=nginx.service",
            "U nginx.service LoadState=loaded",
            "U nginx.service ActiveState=active",
            "U nginx.service SubState=running",
            "U nginx.service Uptime=86400",
            "U peakready-app.service MainPID=2001",
            "U peakready-app.service NRestarts=2",
            "U peakready-app.service MemoryCurrent=52428800",
            "U peakready-app.service Id=peakready-app.service",
            "U peakready-app.service LoadState=loaded",
            "U peakready-app.service ActiveState=active",
            "U peakready-app.service SubState=running",
            "U peakready-app.service Uptime=3605",
            "U proxysql.service MainPID=0",
            "U proxysql.service NRestarts=0",
            "U proxysql.service MemoryCurrent=[not set]",
            "U proxysql.service Id=proxysql.service",
            "U proxysql.service LoadState=not-found",
            "U proxysql.service ActiveState=inactive",
            "U proxysql.service SubState=dead",
            "W    2101  81920    3600",
            "W    2102  79872    3590",
        ], {
            "units": {
                "nginx.service": {"state": "active", "sub": "running", "pid": 1234, "uptime_s": 86400,
                                  "memory_mb": 8, "restarts": 0},
                "peakready-app.service": {"state": "active", "sub": "running", "pid": 2001, "uptime_s": 3605,
                                          "memory_mb": 50, "restarts": 2},
            },
            "workers": [{"pid": 2101, "rss_mb": 80, "uptime_s": 3600}, {"pid": 2102, "rss_mb": 78, "uptime_s": 3590}],
        }),
        ("failed-no-accounting-infinity", {"units": "redis-server.service,mariadb.service"}, [
            "U redis-server.service MainPID=0",
            "U redis-server.service NRestarts=5",
            "U redis-server.service MemoryCurrent=[not set]",
            "U redis-server.service LoadState=loaded",
            "U redis-server.service ActiveState=failed",
            "U redis-server.service SubState=failed",
            "U mariadb.service MainPID=901",
            "U mariadb.service NRestarts=0",
            "U mariadb.service MemoryCurrent=18446744073709551615",
            "U mariadb.service LoadState=loaded",
            "U mariadb.service ActiveState=active",
            "U mariadb.service SubState=running",
            "U mariadb.service Uptime=",
        ], {
            "units": {
                "redis-server.service": {"state": "failed", "sub": "failed", "pid": 0, "uptime_s": None,
                                         "memory_mb": None, "restarts": 5},
                "mariadb.service": {"state": "active", "sub": "running", "pid": 901, "uptime_s": None,
                                    "memory_mb": None, "restarts": 0},
            },
            "workers": [],
        }),
        ("masked-unit-left-out", {"units": "prometheus.service"}, [
            "U prometheus.service MainPID=0",
            "U prometheus.service LoadState=masked",
            "U prometheus.service ActiveState=inactive",
            "U prometheus.service SubState=dead",
        ], {"units": {}, "workers": []}),
        ("no-systemd", {"units": "nginx.service"}, [], None),
    ],
    "PrometheusQueries": [
        ("answers", {"window_s": "60"}, [
            "Q requests_per_s " + vector(({"host": "web1"}, "41.2"), ({"host": "web2"}, "39.8")),
            "Q ratio_5xx " + vector(({"host": "web1"}, "NaN")),
            "Q redis_memory_bytes " + vector(({"host": "cache1"}, "+Inf")),
            "Q targets_down " + vector(),
            "Q p95_s ",
            "Q db_connections <html><body>502 Bad Gateway</body></html>",
            'Q db_read_only {"status":"error","errorType":"bad_data","error":"parse error"}',
            "Q replication_lag_s null",
            "A alerts " + alerts(
                {"labels": {"alertname": "ReplicationLagging", "host": "db2", "severity": "warning"},
                 "annotations": {"summary": "db2 is 45 s behind its primary"}, "state": "firing",
                 "activeAt": "2024-12-06T01:02:03Z", "value": "4.5e+01"},
                {"labels": {"alertname": "InstanceDown"}, "state": "pending", "activeAt": "2024-12-06T01:02:03Z",
                 "value": "0e+00"}),
        ], {
            "queries": {
                "requests_per_s": [{"metric": {"host": "web1"}, "value": 41.2},
                                   {"metric": {"host": "web2"}, "value": 39.8}],
                "ratio_5xx": [{"metric": {"host": "web1"}, "value": math.nan}],
                "redis_memory_bytes": [{"metric": {"host": "cache1"}, "value": math.inf}],
                "targets_down": [],
            },
            "alerts": [{"name": "ReplicationLagging", "host": "db2", "state": "firing", "severity": "warning",
                        "summary": "db2 is 45 s behind its primary"},
                       {"name": "InstanceDown", "host": "", "state": "pending", "severity": "", "summary": ""}],
        }),
        ("every-call-failed", {"window_s": "60"}, ["Q requests_per_s ", "A alerts "], {"queries": {}, "alerts": []}),
        ("no-prometheus", {"window_s": "60"}, [], None),
    ],
}

FACT_CLASSES = {name: cls for name, cls in inspect.getmembers(facts, inspect.isclass)
                if issubclass(cls, FactBase) and cls.__module__.startswith(f"{facts.__name__}.")}

CASES = [pytest.param(name, args, output, expected, id=f"{name}-{case}")
         for name, cases in FIXTURES.items() for case, args, output, expected in cases]


def test_every_fact_has_fixtures():
    assert FACT_CLASSES, "no FactBase subclass found in peakready/facts/"
    assert set(FIXTURES) == set(FACT_CLASSES), (
        f"facts without fixtures: {sorted(set(FACT_CLASSES) - set(FIXTURES))}; "
        f"fixtures for no fact: {sorted(set(FIXTURES) - set(FACT_CLASSES))}")
    assert set(COMMANDS) == set(FACT_CLASSES)
    for name, cases in FIXTURES.items():
        assert len(cases) >= 3, f"{name}: a normal case, an edge case and the empty output at least"
        assert any(output == [] for _, _, output, _ in cases), f"{name}: no fixture for an empty output"


@pytest.mark.parametrize(("name", "args", "output", "expected"), CASES)
def test_fixture(name, args, output, expected):
    fact_cls = FACT_CLASSES[name]
    command = fact_cls().command(**args)
    assert isinstance(command, str) and command.strip()
    assert normal(load(fact_cls, output)) == normal(expected)


# --- the commands ---------------------------------------------------------------------------------

# fact class name -> [(args, fragments the command must hold)]
COMMANDS: dict[str, list[tuple[dict, list[str]]]] = {
    "Virtualization": [({}, ["systemd-detect-virt --container || true", "systemd-detect-virt --vm || true"])],
    "CanManageFirewall": [({}, ["grep '^CapEff:' /proc/self/status"])],
    "SwapMb": [({}, ["/^SwapTotal:/", "int($2 / 1024)", "/proc/meminfo"])],
    "ListeningTcpPorts": [({}, ["ss -Hltnp"])],
    "TimezoneIs": [
        ({"timezone": "Europe/Paris"}, ["[ -e /usr/share/zoneinfo/Europe/Paris ]", "readlink -f /etc/localtime",
                                        "readlink -f /usr/share/zoneinfo/Europe/Paris"]),
        ({"timezone": "My Zone/it's"}, [shlex.quote("/usr/share/zoneinfo/My Zone/it's")]),
    ],
    "HostSize": [({}, ["/^MemTotal:/", "getconf _NPROCESSORS_ONLN", "/sys/fs/cgroup/cgroup.controllers",
                       "memory.max", "cpu.max", "memory.limit_in_bytes", "cpu.cfs_quota_us cpu.cfs_period_us"])],
    "MariadbAccounts": [({}, ["command -v mariadb >/dev/null &&", "mariadb -N -B -e", "FROM mysql.global_priv",
                              "information_schema.USER_PRIVILEGES", "information_schema.SCHEMA_PRIVILEGES",
                              "information_schema.SCHEMATA", "2>/dev/null || true"])],
    "ProxysqlRuntime": [({"names": ["mysql-monitor_password", "mysql-threads"]},
                         ["for c in /root/.peakready-proxysql-admin.cnf /root/.peakready-proxysql-admin.cnf.peakready-last-good",
                          "--defaults-file=$cnf",
                          "IN ('mysql-monitor_password', 'mysql-threads')", "SELECT DISTINCT username, password",
                          "|| exit 0"])],
    "Ipv6Enabled": [({}, ["/proc/net/if_inet6", "/proc/sys/net/ipv6/conf/all/disable_ipv6"])],
    "PythonTarget": [({}, ["python3 -c", "platform.python_version()", "getconf GNU_LIBC_VERSION",
                           "dpkg --print-architecture", ". /etc/os-release", "$VERSION_CODENAME"])],
    "Addresses": [({}, ["ip -o addr show", "awk '{print $4}'", "cut -d/ -f1"])],
    "MariadbReplication": [({}, ["command -v mariadb >/dev/null || exit 0", "mariadb -N -B -e", "@@global.read_only",
                                 "@@global.gtid_slave_pos", "@@global.rpl_semi_sync_slave_enabled",
                                 "'SHOW SLAVE STATUS\\G'"])],
    "SshClientAddress": [({}, ['"${SSH_CLIENT%% *}"'])],
    "UrlAnswers": [
        ({"url": "https://repo.proxysql.com/ProxySQL/proxysql-2.7.x/repo_pub_key.gpg"},
         ["curl -sS -o /dev/null -m 10", "wget -q --spider -T 10",
          " https://repo.proxysql.com/ProxySQL/proxysql-2.7.x/repo_pub_key.gpg ",
          """timeout 10 bash -c 'exec 3<>"/dev/tcp/$0/$1"' repo.proxysql.com 443 """, "echo 'status none'"]),
        ({"url": "http://127.0.0.1:9/x"}, [" 127.0.0.1 9 ", "'no TCP connection to 127.0.0.1:9 within 10 s"]),
        ({"url": "http://host:port/"}, [""" '' 0 2>/dev/null"""]),  # no port to connect to: none opens
        ({"url": "http://example.com/it's here"}, [shlex.quote("http://example.com/it's here")]),
    ],
    "CertificateNames": [
        ({"path": "/etc/letsencrypt/live/example.com/fullchain.pem"},
         ["[ -f /etc/letsencrypt/live/example.com/fullchain.pem ]", "openssl x509 -noout -ext subjectAltName -in "]),
        ({"path": "/etc/ssl/my site/it's.pem"}, [f"[ -f {shlex.quote('/etc/ssl/my site/it' + chr(39) + 's.pem')} ]"]),
    ],
    "StatOverride": [
        ({"path": "/etc/ssl/private"}, ["dpkg-statoverride --list /etc/ssl/private || true"]),
        ({"path": "/srv/peak ready"}, ["dpkg-statoverride --list '/srv/peak ready' || true"]),
    ],
    "ServiceStatus": [
        ({"units": "nginx.service,peakready-app.service", "app_unit": "peakready-app.service"},
         ["for u in nginx.service peakready-app.service; do",
          "-p Id,LoadState,ActiveState,SubState,MainPID,MemoryCurrent,NRestarts",
          "systemctl show peakready-app.service -p MainPID --value", "ps --ppid"]),
        ({"units": "nginx.service"}, ["systemctl show none.service -p MainPID --value"]),
        ({"units": "a b.service,,c.service"}, ["for u in 'a b.service' c.service; do"]),
    ],
    "PrometheusQueries": [
        ({"window_s": "60"}, [f"curl -sf -o /dev/null {PROMETHEUS}/-/ready || exit 0",
                              f"curl -sf {PROMETHEUS}/api/v1/alerts", "[60s]"]
         + [f"printf 'Q {name} '" for name in QUERIES]),
    ],
}


@pytest.mark.parametrize(("name", "args", "fragments"),
                         [pytest.param(n, a, f, id=f"{n}-{i}") for n, cases in COMMANDS.items()
                          for i, (a, f) in enumerate(cases)])
def test_command(name, args, fragments):
    command = FACT_CLASSES[name]().command(**args)
    missing = [f for f in fragments if f not in command]
    assert not missing, f"{name}({args}) command lacks {missing}:\n{command}"


def test_empty_output_is_the_default():
    """pyinfra never calls process() on an empty stdout (nor when requires_command's program is
    absent): the fact is then its default(), None for every fact here (they define neither, and
    check for their programs in their own commands: command -v ... || exit 0, tested below)."""
    for name, cases in FIXTURES.items():
        fact = FACT_CLASSES[name]()
        for _, _args, output, expected in cases:
            if output == []:
                assert expected == fact.default(), name


def test_mariadb_accounts_reads_no_password_hash():
    command = facts.MariadbAccounts().command()
    assert command.count("authentication_string") == command.count(
        "SHA2(IFNULL(JSON_VALUE(priv, '$.authentication_string'), ''), 256)") == 1


def test_prometheus_queries_refuses_a_window_that_is_no_number():
    with pytest.raises(ValueError):
        facts.PrometheusQueries().command(window_s="60s; rm -rf /")


# --- the commands run through /bin/sh against stubs -----------------------------------------------

TEXT_TOOLS = ("awk", "cat", "cut", "dirname", "grep", "readlink", "sed", "sha256sum", "tr")


@dataclass
class Ran:
    rc: int
    lines: list[str]
    stderr: str


def run_sh(tmp_path: Path, command: str, stubs: dict[str, str] | None = None, tools=TEXT_TOOLS,
           env: dict[str, str] | None = None) -> Ran:
    """Run `command` as pyinfra does (sh -c), with PATH = the real `tools` and the `stubs`."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    for tool in tools:
        real = shutil.which(tool, path="/usr/bin:/bin")
        if real is None:
            pytest.skip(f"{tool} is not installed here")
        link = bindir / tool
        if not link.exists():
            link.symlink_to(real)
    for name, body in (stubs or {}).items():
        stub = bindir / name
        stub.unlink(missing_ok=True)
        stub.write_text("#!/bin/sh\n" + body)
        stub.chmod(0o755)
    done = subprocess.run(["/bin/sh", "-c", command], check=False, capture_output=True, text=True, timeout=30,
                          cwd=tmp_path,
                          env={"PATH": str(bindir), "LC_ALL": "C", "HOME": str(tmp_path), **(env or {})})
    lines = done.stdout.split("\n")
    if lines[-1] == "":
        lines.pop()  # pyinfra's lines: rstrip("\n") of each, no empty last one
    return Ran(done.returncode, lines, done.stderr)


ARGS_LOG = 'for a; do printf "%s\\n" "$a" >> "$LOG"; done; echo --- >> "$LOG"\n'


def logged_calls(log: Path) -> list[list[str]]:
    calls, current = [], []
    for line in log.read_text().split("\n")[:-1]:
        if line == "---":
            calls.append(current)
            current = []
        else:
            current.append(line)
    return calls


def test_virtualization_runs(tmp_path):
    stub = 'case $1 in --container) echo docker;; *) echo none; exit 1;; esac\n'
    ran = run_sh(tmp_path, facts.Virtualization().command(), {"systemd-detect-virt": stub})
    assert (ran.rc, ran.lines) == (0, ["container=docker", "vm=none"])
    assert load(facts.Virtualization, ran.lines) == {"container": "docker", "vm": None}


def test_virtualization_without_systemd_detect_virt(tmp_path):
    ran = run_sh(tmp_path, facts.Virtualization().command())
    assert (ran.rc, ran.lines) == (0, ["container=", "vm="])
    assert load(facts.Virtualization, ran.lines) == {"container": None, "vm": None}


def test_can_manage_firewall_reads_proc_status(tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tgrep\nUmask:\t0022\nState:\tR (running)\nCapInh:\t0000000000000000\n"
                      "CapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n"
                      "CapAmb:\t0000000000000000\nNoNewPrivs:\t0\n")
    ran = run_sh(tmp_path, facts.CanManageFirewall().command().replace("/proc/self/status", str(status)))
    assert (ran.rc, ran.lines) == (0, ["CapEff:\t00000000a80425fb"])
    assert load(facts.CanManageFirewall, ran.lines) is False


def test_can_manage_firewall_on_this_machine(tmp_path):
    ran = run_sh(tmp_path, facts.CanManageFirewall().command())
    assert ran.rc == 0 and isinstance(load(facts.CanManageFirewall, ran.lines), bool)


def test_swap_mb_reads_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:        4010836 kB\nMemFree:          215660 kB\nSwapCached:            0 kB\n"
                       "SwapTotal:       1048572 kB\nSwapFree:        1048572 kB\n")
    ran = run_sh(tmp_path, facts.SwapMb().command().replace("/proc/meminfo", str(meminfo)))
    assert (ran.rc, ran.lines) == (0, ["1023"])
    assert load(facts.SwapMb, ran.lines) == 1023


def test_timezone_is_compares_files(tmp_path):
    zoneinfo = tmp_path / "zoneinfo"
    (zoneinfo / "Etc").mkdir(parents=True)
    (zoneinfo / "Europe").mkdir()
    (zoneinfo / "Etc" / "UTC").write_bytes(b"TZif2 UTC")
    (zoneinfo / "UTC").symlink_to("Etc/UTC")
    (zoneinfo / "Europe" / "Paris").write_bytes(b"TZif2 CET")
    localtime = tmp_path / "localtime"
    localtime.symlink_to(zoneinfo / "UTC")

    def ask(timezone: str):
        command = (facts.TimezoneIs().command(timezone=timezone)
                   .replace("/usr/share/zoneinfo/", f"{zoneinfo}/").replace("/etc/localtime", str(localtime)))
        ran = run_sh(tmp_path, command)
        assert ran.rc == 0 and not ran.stderr, ran.stderr
        return load(facts.TimezoneIs, ran.lines)

    assert ask("UTC") is True
    assert ask("Etc/UTC") is True
    assert ask("Europe/Paris") is False
    assert ask("Nowhere/City") is False
    assert ask("UTC'; echo yes; '") is False  # quoted: one odd file name, nothing run
    assert ask("$(echo UTC)") is False


def test_listening_tcp_ports_runs(tmp_path):
    stub = "cat <<'EOF'\n" + "\n".join(SS_SERVER) + "\nEOF\n"
    ran = run_sh(tmp_path, facts.ListeningTcpPorts().command(), {"ss": stub})
    assert ran.lines == SS_SERVER
    assert load(facts.ListeningTcpPorts, ran.lines)[22] == {"sshd"}


# HostSize: its command run whole against a fake /proc and /sys/fs/cgroup. `dirname` is the real one,
# except that `dirname .` (which prints "." again, so a walk up to "/" would never end) is reported
# on stderr and answered "/" so the test ends.
DIRNAME_GUARD = 'if [ "$1" = . ]; then echo "dirname-loop: dirname ." >&2; echo /; else exec {real} "$1"; fi\n'


def host_size(tmp_path: Path, proc_cgroup: str, files: dict[str, str], v2: bool, cpus: str = "4",
              mem_total_kb: str = "8141488") -> Ran:
    root = tmp_path / "cgroup"
    root.mkdir()
    if v2:
        (root / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(content)
    (tmp_path / "meminfo").write_text(f"MemTotal:       {mem_total_kb} kB\nMemFree:         1234567 kB\n")
    (tmp_path / "self-cgroup").write_text(proc_cgroup)
    command = (facts.HostSize().command().replace("/proc/self/cgroup", str(tmp_path / "self-cgroup"))
               .replace("/proc/meminfo", str(tmp_path / "meminfo")).replace("/sys/fs/cgroup", str(root)))
    stubs = {"getconf": f'[ "$1" = _NPROCESSORS_ONLN ] && echo {cpus}\n',
             "dirname": DIRNAME_GUARD.format(real=shutil.which("dirname", path="/usr/bin:/bin"))}
    return run_sh(tmp_path, command, stubs)


def test_host_size_docker_cgroup_v2_limits(tmp_path):
    ran = host_size(tmp_path, "0::/\n", {"memory.max": "1073741824\n", "cpu.max": "150000 100000\n"}, v2=True)
    assert "dirname-loop" not in ran.stderr
    assert ran.lines == ["ram_kb=8141488", "cpus=4", "memory.max=1073741824 ", "cpu.max=150000 100000 "]
    assert load(facts.HostSize, ran.lines) == {"cores": 2, "ram_mb": 1024}


def test_host_size_cgroup_v2_memory_every_level_up(tmp_path):
    scope = "user.slice/user-1000.slice/session-4.scope"
    ran = host_size(tmp_path, f"0::/{scope}\n", {
        "user.slice/memory.max": "max\n", "user.slice/user-1000.slice/memory.max": "2147483648\n",
        f"{scope}/memory.max": "max\n",
    }, v2=True, cpus="8", mem_total_kb="16318536")
    assert "dirname-loop" not in ran.stderr
    assert ran.lines == ["ram_kb=16318536", "cpus=8", "memory.max=max ", "memory.max=2147483648 ", "memory.max=max "]
    assert load(facts.HostSize, ran.lines) == {"cores": 8, "ram_mb": 2048}


def test_host_size_cgroup_v2_cpu_quota_below_the_root(tmp_path):
    scope = "system.slice/docker-8ef9f6ab19fe.scope"  # docker run --cgroupns=host --memory 1g --cpus 1.5
    ran = host_size(tmp_path, f"0::/{scope}\n", {
        "system.slice/memory.max": "max\n", "system.slice/cpu.max": "max 100000\n",
        f"{scope}/memory.max": "1073741824\n", f"{scope}/cpu.max": "150000 100000\n",
    }, v2=True, cpus="4")
    assert "dirname-loop" not in ran.stderr
    assert load(facts.HostSize, ran.lines) == {"cores": 2, "ram_mb": 1024}


def test_host_size_docker_cgroup_v1(tmp_path):
    # In the container its own cgroup is mounted as the root: /docker/<id> is not there, the walk climbs.
    proc = "12:memory:/docker/8ef9f6ab\n4:cpu,cpuacct:/docker/8ef9f6ab\n1:name=systemd:/docker/8ef9f6ab\n0::/system.slice/containerd.service\n"
    ran = host_size(tmp_path, proc, {"memory/memory.limit_in_bytes": "536870912\n",
                                     "cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"},
                    v2=False, cpus="2", mem_total_kb="2014452")
    assert "dirname-loop" not in ran.stderr
    assert ran.lines == ["ram_kb=2014452", "cpus=2", "memory.limit_in_bytes=536870912 ",
                         "cpu.cfs_quota_us=50000 100000 "]
    assert load(facts.HostSize, ran.lines) == {"cores": 1, "ram_mb": 512}


def test_host_size_without_a_memory_cgroup_ends(tmp_path):
    proc = "4:cpu,cpuacct:/user.slice\n3:pids:/user.slice/user-1000.slice/session-2.scope\n1:name=systemd:/user.slice\n"
    ran = host_size(tmp_path, proc, {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n",
                                     "cpu/user.slice/cpu.cfs_quota_us": "-1\n",
                                     "cpu/user.slice/cpu.cfs_period_us": "100000\n"},
                    v2=False, cpus="4", mem_total_kb="3884436")
    assert load(facts.HostSize, ran.lines) == {"cores": 4, "ram_mb": 3793}
    assert "dirname-loop" not in ran.stderr, ran.stderr


def mariadb_stub(tmp_path: Path, answers: dict[str, str], fallback_error: bool = True) -> str:
    """A mariadb that logs its arguments and answers the query (its last argument) by a pattern."""
    cases = []
    for i, (pattern, answer) in enumerate(answers.items()):
        (tmp_path / f"answer{i}").write_text(answer)
        cases.append(f"  {pattern}) cat {tmp_path}/answer{i};;")
    last = '  *) echo "ERROR 2002 (HY000): Can\'t connect to local server" >&2; exit 1;;' if fallback_error else ""
    return ARGS_LOG + 'for a; do q=$a; done\ncase $q in\n' + "\n".join(cases) + f"\n{last}\nesac\n"


def test_mariadb_accounts_runs(tmp_path):
    rows = "\n".join(FIXTURES["MariadbAccounts"][0][2]) + "\n"
    stub = mariadb_stub(tmp_path, {"*global_priv*": rows})
    ran = run_sh(tmp_path, facts.MariadbAccounts().command(), {"mariadb": stub}, env={"LOG": str(tmp_path / "log")})
    assert ran.rc == 0
    assert load(facts.MariadbAccounts, ran.lines) == FIXTURES["MariadbAccounts"][0][3]
    [call] = logged_calls(tmp_path / "log")
    assert call[:3] == ["-N", "-B", "-e"]
    assert "JSON_VALUE(priv, '$.plugin')" in call[3]  # "$." reached the server, not the shell


def test_mariadb_accounts_not_installed_or_down(tmp_path):
    command = facts.MariadbAccounts().command()
    assert run_sh(tmp_path, command).__dict__ == {"rc": 0, "lines": [], "stderr": ""}
    ran = run_sh(tmp_path, command, {"mariadb": mariadb_stub(tmp_path, {})}, env={"LOG": str(tmp_path / "log")})
    assert (ran.rc, ran.lines) == (0, [])
    assert load(facts.MariadbAccounts, ran.lines) is None


def proxysql_runtime(tmp_path: Path, users: str, names: list[str]) -> tuple[Ran, list[list[str]]]:
    cnf = tmp_path / "admin.cnf"
    cnf.write_text("[client]\nuser=radmin\npassword=x\nhost=127.0.0.1\nport=6032\n")
    stub = mariadb_stub(tmp_path, {
        '"SELECT 1"': "1\n",
        "*runtime_mysql_servers*": "20\t10.0.0.22\t3306\t1\t1000\t10\n10\t10.0.0.21\t3306\t1\t1000\t10\n",
        "*runtime_mysql_users*": users,
        "*runtime_mysql_query_rules*": "1\t1\t^SELECT .* FOR UPDATE\t10\t1\n2\t1\t^SELECT\t20\t1\n",
        "*runtime_mysql_replication_hostgroups*": "10\t20\tread_only\n",
        "*stats_mysql_global*": "4\n",
        "*runtime_global_variables*": "admin-admin_credentials\tadmin:x9Kq;cluster:y7Zp\n"
                                      "mysql-max_connections\t2048\nmysql-monitor_password\tm0n1tor\n"
                                      "mysql-threads\t4\n",
    })
    command = facts.ProxysqlRuntime().command(names=names).replace("/root/.peakready-proxysql-admin.cnf", str(cnf))
    ran = run_sh(tmp_path, command, {"mariadb": stub}, env={"LOG": str(tmp_path / "log")})
    return ran, logged_calls(tmp_path / "log")


def test_proxysql_runtime_runs(tmp_path):
    names = ["admin-admin_credentials", "mysql-max_connections", "mysql-monitor_password", "mysql-threads"]
    ran, calls = proxysql_runtime(tmp_path, f"peakready\t{NATIVE_HASH}\t1\t10\t1\t10000\n", names)
    assert ran.rc == 0, ran.stderr
    assert ran.lines == [
        "ok",
        "S\t20\t10.0.0.22\t3306\t1\t1000\t10", "S\t10\t10.0.0.21\t3306\t1\t1000\t10",
        f"U\tpeakready\t{sha(NATIVE_HASH)}\t1\t10\t1\t10000",
        "R\t1\t1\t^SELECT .* FOR UPDATE\t10\t1", "R\t2\t1\t^SELECT\t20\t1",
        "H\t10\t20\tread_only",
        "W\t4",
        f"V\tadmin-admin_credentials\t{sha('admin:x9Kq;cluster:y7Zp')}",
        "V\tmysql-max_connections\t2048",
        f"V\tmysql-monitor_password\t{sha('m0n1tor')}",
        "V\tmysql-threads\t4",
    ]
    output = "\n".join(ran.lines)
    assert NATIVE_HASH not in output and "m0n1tor" not in output and "x9Kq" not in output
    value = load(facts.ProxysqlRuntime, ran.lines)
    assert value["servers"][0] == ("10", "10.0.0.21", "3306", "1", "1000", "10")
    assert value["workers"] == 4 and value["variables"]["mysql-threads"] == "4"
    assert all(call[0] == f"--defaults-file={tmp_path / 'admin.cnf'}" for call in calls)
    [variables] = [call[-1] for call in calls if "runtime_global_variables" in call[-1]]
    assert variables.endswith("IN ('admin-admin_credentials', 'mysql-max_connections', 'mysql-monitor_password', "
                              "'mysql-threads')")


def test_proxysql_runtime_user_with_empty_password(tmp_path):
    ran, _ = proxysql_runtime(tmp_path, "reporting\t\t1\t20\t0\t100\n", ["mysql-threads"])
    assert load(facts.ProxysqlRuntime, ran.lines)["users"] == [("reporting", sha(""), "1", "20", "0", "100")]


def test_proxysql_runtime_logs_in_with_the_replaced_admin_file_during_a_rotation(tmp_path):
    # The deploy wrote a new admin file that ProxySQL does not take yet; the one it replaced does.
    (tmp_path / "admin.cnf.peakready-last-good").write_text("[client]\nuser=radmin\npassword=old\n")
    refuse_new = (f'case "$1" in --defaults-file={tmp_path}/admin.cnf) '
                  'echo "ERROR 1045 (28000): Access denied" >&2; exit 1;; esac\n')
    stub = mariadb_stub(tmp_path, {'"SELECT 1"': "1\n", "*runtime_global_variables*": "mysql-threads\t4\n"})
    stub = stub.replace(ARGS_LOG, ARGS_LOG + refuse_new, 1)
    (tmp_path / "admin.cnf").write_text("[client]\nuser=radmin\npassword=new\n")
    command = facts.ProxysqlRuntime().command(names=["mysql-threads"]).replace(
        "/root/.peakready-proxysql-admin.cnf", str(tmp_path / "admin.cnf"))
    ran = run_sh(tmp_path, command, {"mariadb": stub}, env={"LOG": str(tmp_path / "log")})
    assert ran.rc == 0, ran.stderr
    assert load(facts.ProxysqlRuntime, ran.lines)["variables"] == {"mysql-threads": "4"}
    queries = [call for call in logged_calls(tmp_path / "log") if "-N" in call]
    assert queries and all(call[0] == f"--defaults-file={tmp_path}/admin.cnf.peakready-last-good" for call in queries)


def test_proxysql_runtime_without_admin_file(tmp_path):
    command = facts.ProxysqlRuntime().command(names=["mysql-threads"]).replace(
        "/root/.peakready-proxysql-admin.cnf", str(tmp_path / "absent.cnf"))
    ran = run_sh(tmp_path, command, {"mariadb": mariadb_stub(tmp_path, {'"SELECT 1"': "1\n"})},
                 env={"LOG": str(tmp_path / "log")})
    assert (ran.rc, ran.lines) == (0, [])
    assert load(facts.ProxysqlRuntime, ran.lines) is None


@pytest.mark.parametrize(("if_inet6", "disable_ipv6", "expected"),
                         [(True, "0", True), (True, "1", False), (False, None, False)])
def test_ipv6_enabled_runs(tmp_path, if_inet6, disable_ipv6, expected):
    inet6, disable = tmp_path / "if_inet6", tmp_path / "disable_ipv6"
    if if_inet6:
        inet6.write_text("00000000000000000000000000000001 01 80 10 80       lo\n")
    if disable_ipv6 is not None:
        disable.write_text(disable_ipv6 + "\n")
    command = (facts.Ipv6Enabled().command().replace("/proc/net/if_inet6", str(inet6))
               .replace("/proc/sys/net/ipv6/conf/all/disable_ipv6", str(disable)))
    ran = run_sh(tmp_path, command)
    assert ran.rc == 0 and len(ran.lines) == 1
    assert load(facts.Ipv6Enabled, ran.lines) is expected


def test_python_target_on_this_machine(tmp_path):
    """This machine runs Debian too: the real command's output has the four keys Target takes."""
    for program in ("python3", "dpkg", "getconf"):
        if not shutil.which(program, path="/usr/bin:/bin") or not Path("/etc/os-release").exists():
            pytest.skip(f"no {program} here")
    done = subprocess.run(["/bin/sh", "-c", facts.PythonTarget().command()], check=False, capture_output=True,
                          text=True,
                          timeout=30, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
    value = load(facts.PythonTarget, done.stdout.splitlines())
    assert set(value) == {"python", "glibc", "arch", "codename"}
    assert re.fullmatch(r"3\.\d+\.\d+", value["python"]) and re.fullmatch(r"2\.\d+", value["glibc"])


def test_addresses_runs(tmp_path):
    ip_output = (
        "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
        "1: lo    inet6 ::1/128 scope host noprefixroute \\       valid_lft forever preferred_lft forever\n"
        "2: eth0    inet 203.0.113.10/24 brd 203.0.113.255 scope global eth0\\       valid_lft forever "
        "preferred_lft forever\n"
        "2: eth0    inet6 fe80::5054:ff:fe12:3456/64 scope link \\       valid_lft forever preferred_lft forever\n"
        "3: eth1    inet 10.0.0.12/24 brd 10.0.0.255 scope global eth1\\       valid_lft forever preferred_lft forever\n"
        "4: wg0    inet 10.8.0.1 peer 10.8.0.2/32 scope global wg0\\       valid_lft forever preferred_lft forever\n"
    )
    (tmp_path / "ip-o-addr").write_text(ip_output)
    ran = run_sh(tmp_path, facts.Addresses().command(), {"ip": f'[ "$*" = "-o addr show" ] && cat {tmp_path}/ip-o-addr\n'})
    assert load(facts.Addresses, ran.lines) == ["10.0.0.12", "10.8.0.1", "127.0.0.1", "203.0.113.10", "::1",
                                                "fe80::5054:ff:fe12:3456"]


def test_mariadb_replication_runs(tmp_path):
    stub = mariadb_stub(tmp_path, {"*@@global.read_only*": "V\t1\t0-1-1042\t0-1-1042\t0-1-1042\t0\t1\n",
                                   '"SHOW SLAVE STATUS\\G"': SHOW_SLAVE_STATUS})
    ran = run_sh(tmp_path, facts.MariadbReplication().command(), {"mariadb": stub}, env={"LOG": str(tmp_path / "log")})
    assert ran.rc == 0, ran.stderr
    assert ran.lines[0] == "V\t1\t0-1-1042\t0-1-1042\t0-1-1042\t0\t1"
    # every "Name: value" line of \G output, empty values and the longest (unindented) name included; no row banner
    assert len(ran.lines) == 1 + SHOW_SLAVE_STATUS.count(": ")
    assert "S\tLast_Error\t" in ran.lines and "S\tSlave_Non_Transactional_Groups\t0" in ran.lines
    assert "S\tSlave_SQL_Running_State\tSlave has read all relay log; waiting for more updates" in ran.lines
    value = load(facts.MariadbReplication, ran.lines)
    assert value == FIXTURES["MariadbReplication"][1][3]
    calls = logged_calls(tmp_path / "log")
    assert calls[1] == ["-e", "SHOW SLAVE STATUS\\G"]


def test_mariadb_replication_not_installed_or_down(tmp_path):
    command = facts.MariadbReplication().command()
    assert (run_sh(tmp_path, command).rc, run_sh(tmp_path, command).lines) == (0, [])
    ran = run_sh(tmp_path, command, {"mariadb": mariadb_stub(tmp_path, {})}, env={"LOG": str(tmp_path / "log")})
    assert (ran.rc, ran.lines) == (0, [])
    assert load(facts.MariadbReplication, ran.lines) is None


@pytest.mark.parametrize(("ssh_client", "expected"), [("203.0.113.7 51234 22", "203.0.113.7"),
                                                      ("2001:db8::7 40022 22", "2001:db8::7"), (None, None)])
def test_ssh_client_address_runs(tmp_path, ssh_client, expected):
    ran = run_sh(tmp_path, facts.SshClientAddress().command(), env={"SSH_CLIENT": ssh_client} if ssh_client else {})
    assert ran.rc == 0
    assert load(facts.SshClientAddress, ran.lines) == expected


ODD_URL = "http://127.0.0.1:9/it's here;echo INJECTED $(echo SUBST)"


def test_url_answers_passes_the_url_as_one_argument(tmp_path):
    stub = ARGS_LOG + "echo 'status 200'\n"
    ran = run_sh(tmp_path, facts.UrlAnswers().command(url=ODD_URL), {"curl": stub}, env={"LOG": str(tmp_path / "log")})
    assert (ran.rc, ran.lines) == (0, ["status 200"])
    [call] = logged_calls(tmp_path / "log")
    assert call == ["-sS", "-o", "/dev/null", "-m", "10", "-w", "status %{http_code}\\n", ODD_URL]


def test_url_answers_real_curl_refused(tmp_path):
    ran = run_sh(tmp_path, facts.UrlAnswers().command(url="http://127.0.0.1:9/"), tools=("curl",))
    assert ran.rc == 0 and ran.lines[-1] == "status 000"
    value = load(facts.UrlAnswers, ran.lines)
    assert value["ok"] is False and value["why"].startswith("curl: (7) ")


def test_url_answers_real_curl_odd_url(tmp_path):
    ran = run_sh(tmp_path, facts.UrlAnswers().command(url=ODD_URL), tools=("curl",))
    assert ran.rc == 0 and "status 000" in ran.lines
    assert not any("INJECTED" in line or "SUBST" in line for line in ran.lines)
    assert load(facts.UrlAnswers, ran.lines)["ok"] is False


@pytest.mark.parametrize(("wget_rc", "expected"), [(0, {"ok": True, "why": "HTTP 200"}),
                                                   (8, {"ok": False, "why": "HTTP 000"})])
def test_url_answers_with_wget_only(tmp_path, wget_rc, expected):
    stub = ARGS_LOG + f"exit {wget_rc}\n"
    ran = run_sh(tmp_path, facts.UrlAnswers().command(url=ODD_URL), {"wget": stub}, env={"LOG": str(tmp_path / "log")})
    assert ran.rc == 0 and load(facts.UrlAnswers, ran.lines) == expected
    assert logged_calls(tmp_path / "log") == [["-q", "--spider", "-T", "10", ODD_URL]]


def test_url_answers_without_curl_or_wget(tmp_path):
    ran = run_sh(tmp_path, facts.UrlAnswers().command(url="https://repo.proxysql.com/"))
    assert (ran.rc, ran.lines) == (0, ["status none"])
    assert load(facts.UrlAnswers, ran.lines) is None


@pytest.mark.parametrize(("pem", "expected"), [(CERT_WITH_SAN, ["*.static.example.com", "example.com",
                                                                "www.example.com"]),
                                               (CERT_WITHOUT_SAN, []), (None, None)])
def test_certificate_names_real_openssl(tmp_path, pem, expected):
    path = tmp_path / "live" / "my site" / "it's.pem"
    path.parent.mkdir(parents=True)
    if pem:
        path.write_text(pem)
    ran = run_sh(tmp_path, facts.CertificateNames().command(path=str(path)), tools=("openssl",))
    assert ran.rc == 0, ran.stderr
    assert load(facts.CertificateNames, ran.lines) == expected


def test_stat_override_runs(tmp_path):
    stub = ARGS_LOG + '[ "$2" = "/srv/peak ready/it\'s" ] && echo "root peakready 0750 $2" || exit 1\n'
    odd = "/srv/peak ready/it's"
    ran = run_sh(tmp_path, facts.StatOverride().command(path=odd), {"dpkg-statoverride": stub},
                 env={"LOG": str(tmp_path / "log")})
    assert ran.rc == 0 and load(facts.StatOverride, ran.lines) == "root peakready 0750"
    assert logged_calls(tmp_path / "log") == [["--list", odd]]
    ran = run_sh(tmp_path, facts.StatOverride().command(path="/srv/other"), {"dpkg-statoverride": stub},
                 env={"LOG": str(tmp_path / "log")})
    assert (ran.rc, ran.lines) == (0, [])
    assert load(facts.StatOverride, ran.lines) is None


def test_service_status_runs(tmp_path):
    data = tmp_path / "units"
    data.mkdir()
    for unit, pid, extra in (("nginx.service", "1234", "NRestarts=0\nMemoryCurrent=8716288\n"),
                             ("peakready-app.service", "2001", "NRestarts=2\nMemoryCurrent=52428800\n")):
        (data / f"{unit}.show").write_text(f"MainPID={pid}\n{extra}Id={unit}\nLoadState=loaded\n"
                                           "ActiveState=active\nSubState=running\n")
        (data / f"{unit}.pid").write_text(pid + "\n")
    systemctl = ARGS_LOG + (
        'unit=$2\n'
        'case "$*" in\n'
        f'  *--value*) if [ -f "{data}/$unit.pid" ]; then cat "{data}/$unit.pid"; else echo 0; fi;;\n'
        f'  *) if [ -f "{data}/$unit.show" ]; then cat "{data}/$unit.show"; '
        f'else printf "{NOT_FOUND_UNIT.replace(chr(10), chr(92) + "n")}" "$unit"; fi;;\n'
        'esac\n')
    ps = ('case "$*" in\n'
          '  "--ppid 2001 -o pid=,rss=,etimes=") printf "   2101  81920    3600\\n   2102  79872    3590\\n";;\n'
          '  "-o etimes= -p 1234") echo "  86400";;\n'
          '  "-o etimes= -p 2001") echo "   3605";;\n'
          '  *) exit 1;;\n'
          'esac\n')
    args = FIXTURES["ServiceStatus"][0][1]
    ran = run_sh(tmp_path, facts.ServiceStatus().command(**args), {"systemctl": systemctl, "ps": ps},
                 env={"LOG": str(tmp_path / "log")})
    assert ran.rc == 0, ran.stderr
    assert load(facts.ServiceStatus, ran.lines) == FIXTURES["ServiceStatus"][0][3]
    assert sorted(ran.lines) == sorted(FIXTURES["ServiceStatus"][0][2])


def test_service_status_without_systemd(tmp_path):
    stub = "echo 'System has not been booted with systemd as init system (PID 1). Can\\'t operate.' >&2; exit 1\n"
    ran = run_sh(tmp_path, facts.ServiceStatus().command(units="nginx.service"), {"systemctl": stub})
    assert (ran.rc, ran.lines) == (0, [])
    assert load(facts.ServiceStatus, ran.lines) is None
    ran = run_sh(tmp_path, facts.ServiceStatus().command(units=""), {"systemctl": stub})
    assert (ran.rc, ran.lines) == (0, [])


def test_prometheus_queries_runs(tmp_path):
    (tmp_path / "vector").write_text(vector(({"host": "web1"}, "1.5")))
    (tmp_path / "alerts").write_text(alerts({"labels": {"alertname": "InstanceDown", "host": "db2",
                                                        "severity": "critical"},
                                             "annotations": {"summary": "db2 is down"}, "state": "firing"}))
    curl = ARGS_LOG + (
        'for a; do last=$a; done\n'
        'case "$*" in\n'
        '  *redis_memory_used_bytes*) exit 22;;\n'
        f'  *) case $last in */-/ready) ;; */api/v1/alerts) cat {tmp_path}/alerts;; */api/v1/query) cat {tmp_path}/vector;; esac;;\n'
        'esac\n')
    ran = run_sh(tmp_path, facts.PrometheusQueries().command(window_s="60"), {"curl": curl},
                 env={"LOG": str(tmp_path / "log")})
    assert ran.rc == 0, ran.stderr
    value = load(facts.PrometheusQueries, ran.lines)
    assert set(value["queries"]) == set(QUERIES) - {"redis_memory_bytes"}
    assert value["queries"]["p95_s"] == [{"metric": {"host": "web1"}, "value": 1.5}]
    assert value["alerts"] == [{"name": "InstanceDown", "host": "db2", "state": "firing", "severity": "critical",
                                "summary": "db2 is down"}]
    sent = [arg.removeprefix("query=") for call in logged_calls(tmp_path / "log") for arg in call
            if arg.startswith("query=")]
    assert sent == [query.format(w="60s") for query in QUERIES.values()]  # quotes, braces, =~ intact


def test_prometheus_queries_no_prometheus(tmp_path):
    ran = run_sh(tmp_path, facts.PrometheusQueries().command(), {"curl": "exit 7\n"})
    assert (ran.rc, ran.lines) == (0, [])
    assert load(facts.PrometheusQueries, ran.lines) is None


def test_url_answers_without_curl_or_wget_opens_a_tcp_connection(tmp_path):
    """A bare image: bash's /dev/tcp to the URL's host and port, here a port of this test's own on
    127.0.0.1 that listens, then one that does not."""
    import socket

    tools = (*TEXT_TOOLS, "bash", "timeout")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        ran = run_sh(tmp_path, facts.UrlAnswers().command(url=f"http://127.0.0.1:{port}/key.gpg"), tools=tools)
        assert load(facts.UrlAnswers, ran.lines) == {"ok": True, "why": "a TCP connection opened (the host has neither curl nor wget)"}
    ran = run_sh(tmp_path, facts.UrlAnswers().command(url=f"http://127.0.0.1:{port}/key.gpg"), tools=tools)
    assert load(facts.UrlAnswers, ran.lines) == {
        "ok": False, "why": f"no TCP connection to 127.0.0.1:{port} within 10 s (the host has neither curl nor wget)"}


@pytest.mark.parametrize("url", ["http://x$(touch subst)/", "http://a;touch injected;b/", "http://`touch tick`/"])
def test_url_answers_passes_a_host_name_to_bash_as_one_argument(tmp_path, url):
    """The TCP probe's host reaches the inner bash as an argument, never as part of its script: a
    `timeout` stub logs what it was given and runs nothing (no name is looked up), and no file the
    name would create by being run exists afterwards."""
    from peakready.facts.services import tcp_endpoint

    ran = run_sh(tmp_path, facts.UrlAnswers().command(url=url), {"timeout": ARGS_LOG + "exit 1\n"},
                 tools=(*TEXT_TOOLS, "bash", "touch"), env={"LOG": str(tmp_path / "log")})
    [call] = logged_calls(tmp_path / "log")
    assert call == ["10", "bash", "-c", 'exec 3<>"/dev/tcp/$0/$1"', tcp_endpoint(url)[0], "80"]
    assert ran.lines[-1] == "status 000"
    assert not {"subst", "injected", "tick"} & {p.name for p in tmp_path.iterdir()}
