# peakready's knobs: MariaDB (role mariadb, on db_primary and db_replicas).
# (What a declaration is: peakready/schema/__init__.py.)

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
