"""What each service uses beyond the sizes the plan sets, in MB: estimates, kept on the high side."""

from peakready import services

NGINX_BASE_MB = 16  # master process and the shared zones (a 10 MB rate-limit zone)
NGINX_WORKER_MB = 8  # one worker's own resident size when idle
# What one client costs the host, measured by `bench/nginx_memory.py` on a 2-core local VPS
# (bench/results/nginx-memory.json): an idle keep-alive client is 4.94 KB (its worker_connections
# slot 0.44, what nginx keeps for it 0.88, the kernel's socket, inode, file and epoll entry 3.62);
# a request nginx proxies adds 19.5 KB while it waits for the app (its pool and headers, the
# upstream connection), and its answer at most one 4 KB proxy buffer, gzip's state for a small JSON
# (about 9 KB at gzip_comp_level 5) and its output buffers: 40 KB in all, on the high side.
NGINX_IDLE_CLIENT_KB = 5
NGINX_ACTIVE_REQUEST_KB = 40
# How many users a core serves within the SLO (p95 < 500 ms, < 0.1 % failed), from make bench's users
# mode: each user clicks, waits 1 s on average (THINK_S), clicks again; 55 % menus, 25 % outlets and
# featured dishes (nginx's micro-cache), 15 % availability checks, 5 % bookings (the app, Redis,
# ProxySQL, MariaDB). bench/results/2026-12-05.md, "Users held": peakready as deployed held 3,200
# users on a 2-core VPS at 3,009 r/s (p95 7 ms), with the load generator on the same 2 cores; at
# 4,800 both cores were busy and the door refused 0.13 %. 3,009 r/s / 2 cores = 1,504 requests a
# second per core at the SLO. (2026-11-27's run, without the door and on a faster day, held 6,400.)
REQUESTS_PER_CORE_AT_SLO = 1504
THINK_S = 1.0
USERS_PER_CORE = int(REQUESTS_PER_CORE_AT_SLO * THINK_S)
# nginx holds this many times the users the host is sized for, so that a spike of that size is
# answered (admitted, or turned away with a 503) and never dropped; an idle client is cheap.
OVERLOAD_FACTOR = 8
# The most of a web host's RAM that nginx's connections may take when the plan derives the users.
NGINX_RAM_SHARE = 0.125
APP_MASTER_MB = 48  # gunicorn's arbiter
PROXYSQL_BASE_MB = 64  # ProxySQL with its admin, stats and monitor tables
PROXYSQL_CONN_KB = 100  # one backend connection's buffers
PROXYSQL_CLIENT_KB = 64  # one idle client session (measured: 213 clients added 12.2 MB to ProxySQL 2.7.2)
# MariaDB beside its buffer pool: the server itself, and the caches the plan sets small because
# InnoDB holds the data (Debian's defaults: key buffer 128 MB, Aria page cache 128 MB).
MARIADB_SERVER_MB = 56
MARIADB_KEY_BUFFER_MB = 8  # MyISAM indexes: none of the app's tables
MARIADB_ARIA_CACHE_MB = 16  # Aria: MariaDB's internal temporary tables
MARIADB_LOG_BUFFER_MB = 16  # InnoDB log buffer (MariaDB's default)
TABLE_OPEN_CACHE_INSTANCES = 8  # MariaDB's default: the table cache is split this many ways
MARIADB_BASE_MB = MARIADB_SERVER_MB + MARIADB_KEY_BUFFER_MB + MARIADB_ARIA_CACHE_MB + MARIADB_LOG_BUFFER_MB
# What one connection may hold at once, beside its in-memory temporary tables (sized by the plan):
# MariaDB's defaults (KB), each allocated per connection when a query needs it (MariaDB KB, "Server
# System Variables"; mysqltuner's worst case counts the same ones).
MARIADB_SESSION_BUFFERS_KB = {
    "thread_stack": 292,
    "join_buffer_size": 256,
    "read_buffer_size": 128,
    "read_rnd_buffer_size": 256,
    "binlog_cache_size": 32,
    "binlog_stmt_cache_size": 32,
}
MAX_SORT_BUFFER_KB = 2048  # MariaDB's default sort_buffer_size; the plan gives less on a small host
MIN_SORT_BUFFER_KB = 256
MIN_TMP_TABLE_MB = 1  # an in-memory temporary table smaller than this goes to disk for any GROUP BY
MAX_TMP_TABLE_MB = 32  # twice MariaDB's default (16 MB): the app's queries never need more
REDIS_BASE_MB = 8  # Redis with nothing stored

# Smallest sizes worth running.
MIN_BUFFER_POOL_MB = 32
MIN_REDIS_MB = 16
MIN_BACKLOG = 511  # Redis's and nginx's default backlog

# Monitoring: each exporter's resident size (MB) and the most series each target exposes, from the
# one table of services (peakready/services.py, which says where the figures come from).
EXPORTER_MB, SERIES = services.EXPORTER_MB, services.SERIES
PROMETHEUS_BASE_MB = 48  # Prometheus itself, with its rules and an idle web server
PROMETHEUS_SERIES_KB = 6  # one active series in the head block (2 h of samples), with its labels and index
# On disk: Prometheus docs (Storage, operational aspects) give 1 to 2 bytes per sample, compressed.
PROMETHEUS_SAMPLE_BYTES = 2
