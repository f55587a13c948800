# peakready's knobs: the capacity plan (peakready/plan/): one budget for the whole stack.
# (What a declaration is: peakready/schema/__init__.py.)

# Every size below marked "0: derived" is computed by the plan from each host's cores and RAM;
# set a number to pin it (the plan still refuses one that cannot work). These knobs shape the plan
# of every host together, so set them here or in group_data, never differently per host.

# Users (client connections) connected at once at the peak you plan for, across all web servers;
# 0: derived, what the app hosts' cores serve within the SLO (peakready/plan/estimates.py,
# USERS_PER_CORE, measured by make bench), at most what the web hosts' RAM holds. nginx keeps room
# for 8 times as many, so a bigger spike is answered (a 503 with Retry-After beyond the app's door)
# and never dropped. Set a number to pin it: `make plan` prints what the host is sized for.
target_concurrency: "plan: integer(0, 1_000_000)" = 0
# RAM kept for the OS itself: kernel, sshd, journald, a floor of page cache (MB).
os_reserve_mb: "plan: integer(128, 1 << 20)" = 256
# How the RAM left after the OS, nginx and ProxySQL is shared by the app, MariaDB and Redis on a host
# (relative weights; only the roles a host has count, so a dedicated DB host gives MariaDB all of it).
memory_weight_app: "plan: integer(1, 100)" = 4
memory_weight_db: "plan: integer(1, 100)" = 4
memory_weight_cache: "plan: integer(1, 100)" = 2

# App workers per app host; 0: derived, fewer if RAM is short: for async (uvicorn) workers one per
# core, at least 2 (make bench's worker sweep: past the cores, more workers only raised the p99 on a
# host shared with MariaDB, Redis, ProxySQL and nginx); for sync/gthread 2 x cores + 1 (gunicorn's).
app_workers: "plan: integer(0, 1024)" = 0
# Memory cap per worker (MB): a worker above it is recycled gracefully (PM2's max_memory_restart).
app_worker_memory_mb: "plan: integer(32, 1 << 16)" = 192
# Requests a worker is let in at once, served or waiting (an async worker serves them together; a
# sync or gthread worker one a thread, the rest waiting in its queue): nginx lets at most workers x
# this into the app host (its door, upstream max_conns) and answers the rest itself with a 503 and
# Retry-After; also the open-file limit. The door is what keeps the admitted quick: every request let
# in shares the cores, so each waits about (requests in) / (requests served a second). 32: under the
# overload test's spike (3 x the planned users on a 2-core VPS) 128 a worker kept the admitted p95 at
# 270-390 ms, too near the 500 ms SLO, and 32 at about 60 ms while serving as many requests a second
# (the cores were already busy). Raise it for an app whose requests mostly wait on I/O (a slow
# external API), or the door refuses while the cores idle (docs/capacity.md).
app_worker_concurrency: "plan: integer(1, 100_000)" = 32
# A worker silent for longer than this (s) is killed and replaced.
app_timeout_s: "group: integer(1, 3600)" = 30
# On reload or stop, the time (s) a worker gets to finish the requests it holds.
app_graceful_timeout_s: "group: integer(1, 3600)" = 30
# Database connections each worker keeps open (a pool's pool_size)...
db_pool_size: "plan: integer(1, 1000)" = 5
# ...and may open beyond that during a burst (max_overflow), closed again when idle.
db_pool_overflow: "plan: integer(0, 1000)" = 5

# ProxySQL between the app and MariaDB (pooling, multiplexing); false: the app talks to MariaDB.
proxysql_enabled: "plan: boolean" = True
# ProxySQL's frontend max_connections per app host; 0: derived, twice the app's pools (a graceful
# reload runs the old and the new workers' pools at once) plus headroom.
proxysql_max_connections: "plan: integer(0, 1_000_000)" = 0
# ProxySQL's connections to MariaDB per app host, as a share of the app's connections to ProxySQL.
# Below 1, busy clients queue for a backend: measured on the local VPS under the fault suite's load,
# 0.5 stalled bookings to a 4.9 s p99 with 503s (ProxySQL retried a full pool 140,969 times in 20 s)
# where 1.0 answered them all at a 180 ms p99. Lower it when many app hosts' mostly idle
# connections share one MariaDB (multiplexing then saves MariaDB connections).
proxysql_backend_share: "plan: number(0.01, 1)" = 1.0
# Share of idle backend connections ProxySQL keeps for reuse (mysql-free_connections_pct).
proxysql_free_connections_pct: "group: integer(0, 100)" = 10

# MariaDB connections held back for admin, replication and monitoring.
mariadb_reserved_connections: "plan: integer(1, 1000)" = 10
# MariaDB max_connections; 0: derived from the app hosts' pools (or ProxySQL's) plus the reserve.
mariadb_max_connections: "plan: integer(0, 100_000)" = 0
# InnoDB buffer pool (MB); 0: derived from RAM and the memory weights.
mariadb_buffer_pool_mb: "plan: integer(0, 1 << 24)" = 0
# Of MariaDB's memory, the part held for every connection's own buffers at their worst at once
# (sort, join, read, temporary tables, binlog cache, thread stack); the buffer pool gets the rest.
# The plan sizes tmp_table_size from it, so the worst case never outgrows MariaDB's share of RAM.
mariadb_session_memory_share: "plan: number(0.05, 0.75)" = 0.25
# Redis maxmemory (MB); 0: derived from RAM and the memory weights.
redis_maxmemory_mb: "plan: integer(0, 1 << 24)" = 0
# RAM kept free beside maxmemory for the fork of an AOF rewrite (copy-on-write), share of maxmemory.
redis_fork_headroom: "plan: number(0, 1)" = 0.5
# Most clients Redis accepts at once (maxclients).
redis_maxclients: "plan: integer(1, 1_000_000)" = 10000

# Connections per nginx worker; 0: derived from target_concurrency (8 x the users, spread over the
# workers, and the connections to the app).
nginx_worker_connections: "plan: integer(0, 1_000_000)" = 0
# Open files per nginx worker (worker_rlimit_nofile); 0: derived, 2 x worker_connections.
nginx_worker_rlimit_nofile: "plan: integer(0, 1 << 20)" = 0
# Idle keepalive connections each nginx worker keeps to the app.
nginx_upstream_keepalive: "plan: integer(1, 10_000)" = 32
# How long nginx keeps an idle connection to the app (s); the app keeps its side open longer.
nginx_upstream_keepalive_timeout_s: "plan: integer(1, 3600)" = 60
# How long nginx keeps an idle client connection (s).
nginx_keepalive_timeout_s: "group: integer(0, 3600)" = 15
# Requests per second allowed per client address...
rate_limit_rps: "group: integer(1, 1_000_000)" = 20
# ...and the burst above that rate served before requests are refused (429).
rate_limit_burst: "group: integer(0, 1_000_000)" = 40
# Accept queue of every listener (nginx, app, Redis, MariaDB; each nginx worker has its own with
# reuseport); 0: derived from target_concurrency, capped by somaxconn.
listen_backlog: "plan: integer(0, 1 << 20)" = 0
