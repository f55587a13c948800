# peakready's knobs: ProxySQL (role proxysql, on app_servers when proxysql_enabled).
# (What a declaration is: peakready/schema/__init__.py.)

# Threads and connection limits come from the plan above.

# ProxySQL's release series, from its official apt repository (pinned: upgrades are a decision);
# "": the series built for the host's Debian release (2.7.x on bookworm, 3.0.x on trixie, which
# 2.7.x has no build for).
proxysql_series: "group: release_series" = ""
# A ProxySQL .deb on this machine to install instead (hosts without internet); "": the repository.
proxysql_deb: "group: proxysql_deb" = ""
# A replica lagging more than this (s) gets no reads until it catches up (max_replication_lag); 0: never.
proxysql_max_replication_lag_s: "group: integer(0, 86400)" = 10
