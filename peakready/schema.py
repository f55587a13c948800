# Every knob of peakready: its default, what it does, and what a valid value is: the bundle's schema.
# This is the only place a knob is declared: roles read it through host.data (group_data/all.py
# hands these defaults to pyinfra), templates only print what the role hands them, and
# peakready/knobs.py reads this file to check every value before anything changes.
#
#     # What the knob does (the comment above it).
#     name: "scope: check" = default
#
# scope: "host" may differ between the hosts of an inventory; "plan" is read by the capacity plan
# and "group" is shared by the hosts' services, so both must be the same on every host. check: a
# validator of peakready/checks.py (integer(lo, hi), boolean, one_of(...), ...); the ranges are what a
# sane deploy can ask for, and the plan refuses the combinations that do not fit a host.
#
# Your settings are not written here (an update of peakready would conflict with them): they go in a
# file of your own beside your inventory, in pyinfra's conventions, as plain assignments
# (`app_source = "apps/shop"`): inventories/group_data/<inventory>.py for every host of an inventory
# (inventories/group_data/prod.py for inventories/prod.py), inventories/group_data/<group>.py for a
# group of it, the inventory for one host, `pyinfra ... --data knob=value` for one run.

# --- base: every host ---------------------------------------------------------------------------

# The hosts' timezone (an IANA name: "UTC", "Asia/Jakarta"); logs, cron and timers read it.
timezone: "host: timezone" = "UTC"
# Refresh the apt cache only when it is older than this many seconds, not on every run.
apt_cache_valid_s: "host: integer(0, 7 * 86400)" = 3600
# Tools an operator needs at 3 am, installed on every host (the roles add their own packages).
base_packages: "host: package_names" = [
    "curl", "htop", "less", "lsof", "rsync", "sudo", "tcpdump", "vim-tiny",
]

# Install security updates every day (unattended-upgrades, Debian's origins).
unattended_upgrades: "host: boolean" = True
# Reboot by itself when an update needs it, at unattended_reboot_time; off: an operator chooses.
unattended_reboot: "host: boolean" = False
# When that reboot happens (local time, HH:MM), if unattended_reboot is on.
unattended_reboot_time: "host: clock_time" = "04:30"

# The port sshd listens on; the firewall keeps it open so the deploy never locks itself out.
sshd_port: "host: port" = 22
# sshd accepts passwords (true) or keys only (false, the default: passwords can be guessed). The
# deploy refuses to turn them off while it logs in with ssh_password itself.
sshd_password_authentication: "host: boolean" = False
# Whether root may log in over SSH: "prohibit-password" (by key only, the default) or "no" (log in as a
# sudo user). The deploy refuses "no" while it logs in as root itself (ssh_user). sshd_config(5) also
# knows "yes" and "forced-commands-only": a root password login is what this knob exists to forbid.
sshd_permit_root_login: 'host: one_of("prohibit-password", "no")' = "prohibit-password"
# Port forwarding over SSH: false (the default) allows no TCP, agent, X11 or socket forwarding;
# true allows local TCP forwarding only (`ssh -L`, e.g. a tunnel to a service on the host's loopback).
sshd_allow_tcp_forwarding: "host: boolean" = False
# fail2ban bans (nftables, its own table) an address after this many failed SSH logins within
# fail2ban_findtime_s, for fail2ban_bantime_s.
fail2ban_maxretry: "host: integer(1, 100)" = 5
fail2ban_findtime_s: "host: integer(60, 7 * 86400)" = 600
fail2ban_bantime_s: "host: integer(60, 365 * 86400)" = 3600
# Addresses or networks fail2ban never bans (your office, a bastion), besides loopback and the
# address the deploy itself connects from, which is always allowed.
fail2ban_ignore_addresses: "host: networks" = []
# Kernel modules that may never load: network protocols and storage drivers a VPS does not use
# (each gets `install <module> /bin/false` and `blacklist <module>` in /etc/modprobe.d).
blocked_kernel_modules: "host: module_names" = [
    "dccp", "sctp", "rds", "tipc", "usb-storage", "firewire-core", "firewire-ohci", "firewire-sbp2",
]
# AIDE: a baseline of every system file's hashes after the first deploy, checked every night
# (about 45 s of one core on a 2-core VPS); a changed binary or config shows in /var/log/aide/.
file_integrity: "host: boolean" = True
# An idle interactive shell is logged out after this many seconds (TMOUT); 0: never.
shell_idle_timeout_s: "host: integer(0, 86400)" = 900
# nftables on every host: inbound traffic is dropped except sshd_port and firewall_tcp_ports.
firewall: "host: boolean" = True
# Inbound TCP ports open to everyone besides sshd_port: HTTP and HTTPS.
firewall_tcp_ports: "host: ports" = [80, 443]
# Accept DHCP replies, for VPSes that get their address by DHCP (most clouds do).
firewall_allow_dhcp_client: "host: boolean" = True
# The host's IPv4 address on the private network its peers share (one of its own addresses; use the
# provider's private network where there is one), for the services other hosts of the inventory use:
# MariaDB, Redis, the app. "" on a single VPS, where everything stays on 127.0.0.1; a multi-host
# deploy refuses a host that needs one and has none. The firewall admits each such service from its
# peers' addresses only.
private_address: "host: address_or_empty" = ""

# Kernel settings for many concurrent connections (/etc/sysctl.d/60-peakready.conf). Each host may
# have its own (set them per group, e.g. group_data/db_primary.py), except somaxconn: the plan sizes
# every listener's backlog, on every host, under it.
# Longest accept queue a listener may ask for (nginx, redis and gunicorn backlogs are capped by it).
somaxconn: "plan: integer(128, 65535)" = 8192
# Half-open TCP connections kept while a burst of clients connects.
tcp_max_syn_backlog: "host: integer(128, 1 << 20)" = 8192
# Local ports for outgoing connections (nginx -> app, app -> proxysql -> mariadb), "low high".
ip_local_port_range: "host: port_range" = "10240 65535"
# Open files on the whole host, a floor: a kernel whose default is already higher keeps its own.
file_max_min: "host: integer(65536, 1 << 31)" = 2097152
# 1: always allow overcommit, so Redis can fork for AOF rewrites and snapshots (Redis admin docs).
vm_overcommit_memory: "host: one_of(0, 1, 2)" = 1
# How eagerly the kernel swaps: low keeps the app and databases in RAM and drops page cache first.
vm_swappiness: "host: integer(0, 100)" = 10

# A swap file (MB) for hosts with little RAM and no swap, so a spike slows the host instead of
# waking the OOM killer; 0: never create one.
swap_file_mb: "host: integer(0, 64 * 1024)" = 2048
# Create that swap file only on hosts with less RAM than this (MB).
swap_when_ram_below_mb: "host: integer(0, 1 << 20)" = 4096

# --- the capacity plan (peakready/plan/): one budget for the whole stack ------------------------
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

# --- MariaDB (role mariadb, on db_primary and db_replicas) -----------------------------------------
# Sizes (buffer pool, max_connections, caches, open files) come from the plan above.

# The app's database.
app_db_name: "group: database_name" = "peakready"
# The app's MariaDB user: SELECT, INSERT, UPDATE, DELETE on app_db_name and nothing else.
mariadb_app_user: "group: user_name" = "app"
# The user the app's migrations run as: DDL on app_db_name, nothing elsewhere.
mariadb_migrate_user: "group: user_name" = "app_migrate"
# The user ProxySQL monitors MariaDB with: SLAVE MONITOR only (SHOW SLAVE STATUS for replication lag).
mariadb_monitor_user: "group: user_name" = "monitor"
# Idle connections are closed after this many seconds (wait_timeout, interactive_timeout).
mariadb_wait_timeout_s: "plan: integer(10, 31_536_000)" = 600
# Largest packet or row MariaDB accepts (max_allowed_packet, MB).
mariadb_max_allowed_packet_mb: "group: integer(1, 1024)" = 64
# Queries slower than this many seconds go to the slow query log.
mariadb_long_query_time_s: "group: number(0, 3600)" = 1.0
# Binary logs are kept this many days (to rebuild a replica, or recover to a point in time).
mariadb_binlog_expire_days: "group: integer(1, 99)" = 7
# The user replicas replicate as (REPLICATION SLAVE), from the db hosts' private addresses only; it
# also reads the consistent dump a new replica starts from. peakready owns every account of this
# name: without replicas it has none (one left from an earlier topology is dropped).
mariadb_replication_user: "group: user_name" = "peakready_replication"
# With replicas, a commit on the primary waits until a replica has it (semi-synchronous, AFTER_SYNC)
# at most this long (ms); then the primary goes on alone (asynchronous) until a replica catches up.
mariadb_semi_sync_timeout_ms: "group: integer(100, 3_600_000)" = 5000
# The daily backup of app_db_name: when it runs (HH:MM, local time)...
backup_time: "group: clock_time" = "03:15"
# ...how many days of dumps are kept...
backup_retention_days: "group: integer(1, 3650)" = 7
# ...and where (on the db host, mode 0700).
backup_dir: "group: backup_dir" = "/var/backups/mariadb"

# --- Redis (role redis, on cache_servers) ---------------------------------------------------------
# maxmemory and maxclients come from the plan above.

# What Redis evicts when full: allkeys-lru suits a cache (the least recently used key goes).
redis_maxmemory_policy: "group: eviction_policy" = "allkeys-lru"
# Keys sampled per eviction: 5 is Redis's default, 10 is closer to true LRU for more CPU.
redis_maxmemory_samples: "group: integer(1, 64)" = 5
# The app's Redis ACL user (no FLUSHALL, FLUSHDB, CONFIG, DEBUG, KEYS or other admin commands).
redis_app_user: "group: user_name" = "app"
# Rewrite the append-only file when it has grown this many percent since the last rewrite...
redis_aof_rewrite_percentage: "group: integer(0, 1000)" = 100
# ...and is at least this big (MB).
redis_aof_rewrite_min_mb: "group: integer(1, 1 << 16)" = 64

# --- ProxySQL (role proxysql, on app_servers when proxysql_enabled) ---------------------------------
# Threads and connection limits come from the plan above.

# ProxySQL's release series, from its official apt repository (pinned: upgrades are a decision);
# "": the series built for the host's Debian release (2.7.x on bookworm, 3.0.x on trixie, which
# 2.7.x has no build for).
proxysql_series: "group: release_series" = ""
# A ProxySQL .deb on this machine to install instead (hosts without internet); "": the repository.
proxysql_deb: "group: proxysql_deb" = ""
# A replica lagging more than this (s) gets no reads until it catches up (max_replication_lag); 0: never.
proxysql_max_replication_lag_s: "group: integer(0, 86400)" = 10

# --- the app (role app, on app_servers) ------------------------------------------------------------
# Workers, pools, timeouts, memory caps and open files come from the plan above.

# The app's name: its system user, /srv/<app_name>, /etc/<app_name>, the unit <app_name>-app.service.
app_name: "group: unit_name" = "peakready"
# Where the app's code comes from: a directory of this repository (the sample app in app/), or a
# git URL (https://... or git@...), checked out at app_ref.
app_source: "group: app_source" = "app"
# The branch, tag or commit of app_source when it is a git URL.
app_ref: "group: git_ref" = "main"
# The ASGI (or WSGI) application gunicorn serves, "module:object": in the app's code or one of its
# packages (checked before the first change).
app_module: "group: module_object" = "peakready_app.main:app"
# gunicorn's worker class: "uvicorn" for an ASGI app (Starlette, FastAPI), "gthread" (threads per
# worker: db_pool_size + db_pool_overflow, from the plan) or "sync" for a WSGI one (Flask, Django). gunicorn, and uvicorn-worker for
# "uvicorn", are added to the app's dependencies when it does not name them.
app_worker_class: 'plan: one_of("uvicorn", "sync", "gthread")' = "uvicorn"
# The module run once per release, before it goes live (migrations); "": none.
app_migrate_module: "group: module_or_empty" = "peakready_app.migrate"
# The same as a command, for the frameworks' own: "python manage.py migrate --noinput", "alembic
# upgrade head", "flask db upgrade"; "": none. It runs in the release's directory with the
# virtualenv first on PATH, the app's environment, and DATABASE_URL set to the migrations user's.
app_migrate_command: "group: migrate_command" = ""
# The command that gathers the app's static files into app_static_dir at release time (it gets
# STATIC_ROOT, that directory's path): "python manage.py collectstatic --noinput"; "": none.
app_static_command: "group: static_command" = ""
# The release's directory nginx serves at /static/ (the sample app's static/); "": none.
app_static_dir: "group: relative_dir" = "static"
# The app's own health path: a new release must answer it with 200 (started aside, with one
# worker) before it goes live.
app_health_path: "group: url_path" = "/health"
# The app's own environment variables, not secret: {"DJANGO_SETTINGS_MODULE": "mysite.settings"}.
# DATABASE_URL, REDIS_URL, ALLOWED_HOSTS (server_names, comma-separated), FORWARDED_ALLOW_IPS
# (the proxy in front) and, with replicas, DB_SERVERS (primary=host:port,replica=host:port) are set
# by peakready.
app_env: "group: environment" = {}
# The app's secrets, by the variable they reach it in (["DJANGO_SECRET_KEY"]): each generated once
# per inventory, or given as PEAKREADY_SECRET_<NAME>; written only to the 0640 environment file.
app_secrets: "group: secret_names" = []
# Debian packages the build of a source-only dependency with compiled code needs (in the builder
# container, never on the host), e.g. ["libmariadb-dev", "pkg-config"] for mysqlclient...
app_build_packages: "group: package_names" = []
# ...and the ones the app needs on the host to run, e.g. ["libmariadb3"].
app_packages: "group: package_names" = []
# The Docker image that builder container starts from, on the machine you deploy from: a Debian
# image of the host's release ({codename}: bookworm, trixie), so the wheels fit the host's Python
# and libraries. Only used when a dependency has no wheel for the host and compiles code.
app_builder_image: "group: builder_image" = "debian:{codename}"
# Port the app listens on: on 127.0.0.1, and on private_address when nginx runs on other hosts.
app_port: "group: app_port" = 8000
# Releases kept in /srv/<app_name>/releases (the live one and those to roll back to).
app_releases_kept: "group: integer(2, 100)" = 5
# A worker is replaced after this many requests (plus up to app_max_requests_jitter more, so they
# do not all restart at once); 0: never. Off by default: the memory cap above already replaces a
# worker that leaks, and under a spike 10000 requests come every few seconds; each replacement
# closes the worker's idle keep-alive connections, and a request nginx sends on one as it closes
# can fail (bench/ saw 1 in 142 000 with recycling every 4 s).
app_max_requests: "group: integer(0, 10_000_000)" = 0
app_max_requests_jitter: "group: integer(0, 10_000_000)" = 1000
# The app's read-through cache in Redis (CACHE=redis). False: CACHE=off, every read goes to MariaDB
# and app_servers need no cache_servers (what bench/'s baseline measures).
app_cache: "plan: boolean" = True
# Cache lifetimes of the sample app's read-through Redis cache (s): outlets, one outlet, menu, featured.
app_cache_ttl_outlets_s: "group: integer(1, 86400)" = 300
app_cache_ttl_outlet_s: "group: integer(1, 86400)" = 300
app_cache_ttl_menu_s: "group: integer(1, 86400)" = 300
app_cache_ttl_featured_s: "group: integer(1, 86400)" = 600

# --- nginx (role nginx, on web_servers) -------------------------------------------------------------
# worker_processes, worker_connections, open files, backlog, keepalive and the rate limit of the app
# (rate_limit_rps, rate_limit_burst) come from the plan above.

# Host names nginx serves; a request for any other Host is dropped (444) by the default server.
server_names: "group: server_names" = ["localhost"]
# HTTPS: "off", "self-signed" (a certificate made on the host: tests, staging) or "letsencrypt"
# (certbot, one certificate for every name of server_names, each name's DNS pointing at the host;
# HTTP-01 answered by nginx while it keeps serving, renewed by certbot's timer, nginx reloaded).
tls: 'group: one_of("off", "self-signed", "letsencrypt")' = "off"
# The address Let's Encrypt writes to about the certificate (tls = "letsencrypt" only).
letsencrypt_email: "group: letsencrypt_email" = ""
# The ACME server certbot asks (tls = "letsencrypt"): Let's Encrypt's production by default; its
# staging (https://acme-staging-v02.api.letsencrypt.org/directory) for a dry run, or another CA's.
# Kept in certbot's renewal settings when the certificate is first issued.
acme_directory_url: "group: acme_url" = "https://acme-v02.api.letsencrypt.org/directory"
# Writes (POST, PUT, PATCH, DELETE) per second allowed per client address, and their burst.
rate_limit_write_rps: "group: integer(1, 1_000_000)" = 5
rate_limit_write_burst: "group: integer(0, 1_000_000)" = 10
# Connections one client address may hold open at once.
limit_conn_per_ip: "group: integer(1, 1_000_000)" = 100
# Client networks exempt from the rate and connection limits above (CIDR): your own monitoring or
# load generator. Empty: every client is limited. Never a network the public arrives from.
rate_limit_exempt: "group: networks" = []
# Largest request body accepted (KB); bigger ones get 413 and never reach the app.
client_max_body_size_kb: "group: integer(1, 1 << 20)" = 1024
# When more requests would reach the app hosts at once than they take (their door: the plan's
# "requests at once", from app_worker_concurrency), nginx answers the rest itself, without touching
# the app: 503, a small JSON page (HTML when the client asks for it) and this Retry-After (s).
overload_retry_after_s: "group: integer(1, 3600)" = 5
# How long nginx waits for the app to answer (s) before a 504.
nginx_proxy_timeout_s: "group: integer(1, 3600)" = 30
# With several app hosts: a host that failed nginx_upstream_max_fails times gets no requests for
# nginx_upstream_fail_timeout_s (then one is tried again); a request it failed goes to another app
# host, and connecting to it gives up after nginx_upstream_connect_timeout_s.
nginx_upstream_max_fails: "group: integer(1, 100)" = 1
nginx_upstream_fail_timeout_s: "group: integer(1, 3600)" = 10
nginx_upstream_connect_timeout_s: "group: integer(1, 60)" = 5
# Cache public GET answers of the app (the sample app: its menu and outlet reads) in nginx for this
# many seconds: a micro-cache. A write shows through nginx after at most this long plus one refresh
# (an answer served while its refresh runs is at most twice this old). Never for an answer that says
# no-store, no-cache or private or sets a cookie, a request with Authorization, nor, for other apps,
# one with a cookie. 1 by default: under a spike each URL reaches the app about once a second; 0: off.
nginx_micro_cache_s: "group: integer(0, 5)" = 1
# How long browsers may keep static files (days).
static_max_age_days: "group: integer(0, 365)" = 7

# --- monitoring (role monitoring: exporters on every host, Prometheus on the monitoring group) --------
# Metrics and alerts: prometheus-node-exporter on every host; the mysqld exporter on db hosts, the
# Redis exporter on cache hosts, nginx's exporter (stub_status) and mtail (nginx's access log: answers
# by status, response times) on web hosts, ProxySQL's own /metrics and the app's on app hosts; all
# scraped over the private network by Prometheus on the host of the monitoring group. false: none
# (on a host deployed with it, turning it off leaves those services as they are: docs/monitoring.md).
monitoring: "plan: boolean" = True
# How often Prometheus scrapes every target and evaluates the alert rules (s); the rules' rate
# windows span 4 scrapes.
prometheus_scrape_interval_s: "plan: integer(5, 300)" = 15
# How long Prometheus keeps its samples (days); the plan also caps their disk space, from the series
# it expects every host to expose.
prometheus_retention_days: "plan: integer(1, 3650)" = 15
# Where the app serves its own Prometheus metrics, scraped on the app's port (never through nginx,
# which refuses /metrics to the public); "": the app has none.
app_metrics_path: "plan: url_path_or_empty" = "/metrics"
# Alertmanagers that Prometheus sends its firing alerts to ("host:port"), for someone to be woken;
# empty: the alerts show in `make status` and in Prometheus's own page only.
alertmanagers: "group: host_ports" = []
# The MariaDB user of the mysqld exporter (SLAVE MONITOR only: status, variables, replication; no data)
# and the Redis ACL user of the Redis exporter (PING, INFO, the slow log, latency; no key, no channel).
mariadb_exporter_user: "group: user_name" = "exporter"
redis_exporter_user: "group: user_name" = "exporter"
# How long a condition must hold before its alert fires (s): long enough to ride out one bad scrape.
alert_for_s: "group: integer(0, 3600)" = 120
# The response time nginx's answers may take at the 95th percentile (ms): your SLO; slower, it alerts.
slo_p95_ms: "group: integer(1, 60_000)" = 500
# The share of nginx's answers that may be server errors (5xx), and rate-limited (429), before each alerts.
alert_5xx_ratio: "group: number(0.0001, 1)" = 0.02
alert_429_ratio: "group: number(0.0001, 1)" = 0.1
# How close to a limit (MariaDB's max_connections and Redis's maxmemory from the plan, ProxySQL's
# backend connections, the disk, the RAM) a host may get before its alert fires.
alert_near_limit_ratio: "group: number(0.5, 0.99)" = 0.9
# Keys Redis may evict per second before it alerts (a full LRU cache evicts some: many means the
# cache is too small for what the app reads).
alert_redis_evictions_per_s: "group: number(0, 1_000_000)" = 100
# App workers that may be recycled (over their memory cap, or killed at app_timeout_s) in 10 minutes
# before it alerts: counted by peakready's gunicorn config, in the app's /metrics (the sample app's).
alert_app_worker_recycles: "group: integer(1, 10_000)" = 3
