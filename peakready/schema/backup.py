# peakready's knobs: backups that leave the db hosts (role backup, on the one host of the
# backup_servers group, which must not be a db host). Without that group, the daily dump on the
# db host (backup_time, mariadb.py) is the only backup.
# (What a declaration is: peakready/schema/__init__.py.)

# On the backup host, a directory of its own (mode 0700): restic/ holds the encrypted,
# deduplicated repository of base backups (mariadb-backup, pulled from the primary over SSH with a
# key that can only start a backup there); binlogs/<db host>/ the primary's binary logs, shipped
# continuously (point-in-time recovery to any second they cover).
backup_root: "group: backup_dir" = "/var/lib/peakready-backup"
# A base backup of the primary every day at this time (HH:MM, the backup host's local time).
backup_base_time: "group: clock_time" = "02:45"
# restic's forget --prune policy for base backups: the last backup of each of this many days...
backup_keep_daily: "group: integer(1, 3650)" = 7
# ...and of each of this many weeks (0: none beyond the daily ones). Binary logs are kept as long as
# the daily backups: a restore to a second needs a base backup before it and the logs after.
backup_keep_weekly: "group: integer(0, 520)" = 4
# The MariaDB user the backup host reads the binary logs as (REPLICATION SLAVE, BINLOG MONITOR), from
# the backup host's private address only.
backup_binlog_user: "group: user_name" = "peakready_binlog"
# Every day at this time (HH:MM, the backup host's local time) the newest base backup is restored
# into a scratch server on the backup host, the binary logs since it replayed, and the app's tables
# checked: peakready_backup_restore_test_ok says how it went (RestoreTestFailed when 0).
backup_restore_test_time: "group: clock_time" = "03:45"
