# peakready's knobs: monitoring (role monitoring: exporters on every host, Prometheus on the monitoring group).
# (What a declaration is: peakready/schema/__init__.py.)

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
# which refuses /metrics to the public), e.g. "/metrics"; "" (most apps): it has none, and Prometheus
# does not ask it (a path that answers 404 would keep the TargetDown alert firing).
app_metrics_path: "plan: url_path_or_empty" = ""
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
