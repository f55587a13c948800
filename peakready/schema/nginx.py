# peakready's knobs: nginx (role nginx, on web_servers).
# (What a declaration is: peakready/schema/__init__.py.)

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
# Cache public GET answers of the app in nginx for this many seconds: a micro-cache. A write shows
# through nginx after at most this long plus one refresh (an answer served while its refresh runs is
# at most twice this old). Never for an answer that says no-store, no-cache or private or sets a
# cookie, a request with Authorization, nor, unless nginx_public_reads names the paths, one with a
# cookie. 1 by default: under a spike each URL reaches the app about once a second; 0: off.
nginx_micro_cache_s: "group: integer(0, 5)" = 1
# The app's public reads, as one regular expression of paths (PCRE, as nginx reads it: letters,
# digits and ^$()[]|?*+.-_/~%), e.g. "^/api/v1/(menu|outlets/[0-9]+)$": GET answers that are the same
# for every visitor. Set, the micro-cache keeps these and nothing else, with a lock (one request
# fills an empty entry while the others wait for it: a cold entry costs the app one request under a
# spike). "": it keeps any path the app serves, without a lock, never for a request with a cookie.
nginx_public_reads: "group: path_regex" = ""
# The paths nginx passes to the app, as prefixes ending in / ("/": every path). Any other path gets a
# JSON 404 from nginx without reaching the app; /health, /health/live and /static/ are always served.
nginx_app_paths: "group: path_prefixes" = ["/"]
# A Content-Security-Policy header nginx adds to every answer (errors too); "": none (the app sends
# its own, if any). Printable characters but " \ $ { }.
nginx_content_security_policy: "group: header_value" = ""
# How long browsers may keep static files (days).
static_max_age_days: "group: integer(0, 365)" = 7
