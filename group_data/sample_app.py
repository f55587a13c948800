# The sample app's settings (app/: a restaurant's booking API), for the hosts of an inventory's
# sample_app group: the local VPS, the Vagrant box and the local multi-host topology are in it;
# inventories/prod.py puts its hosts there with PEAKREADY_SAMPLE_APP=1. These are the knobs any app
# sets in its team's settings file (peakready/schema/ says what each does): nothing else in
# peakready knows this app.
app_source = "app"
app_module = "peakready_app.main:app"
app_migrate_module = "peakready_app.migrate"
app_static_dir = "static"
# Its admin API's bearer token: generated once per inventory, or given as PEAKREADY_SECRET_ADMIN_TOKEN.
app_secrets = ["ADMIN_TOKEN"]
# Its read-through cache's lifetimes in Redis (s): the outlets, one outlet, the menu, the featured dishes.
app_env = {"CACHE_TTL_OUTLETS_S": "300", "CACHE_TTL_OUTLET_S": "300", "CACHE_TTL_MENU_S": "300",
           "CACHE_TTL_FEATURED_S": "600"}
# Its public reads, the same for every visitor: the outlets, one outlet, the menu, the featured dishes.
# Only these are micro-cached (with a lock); availability, bookings and the admin API never are.
nginx_public_reads = "^/api/v1/(outlets|outlets/[0-9]+|menu|menu/featured)$"
# It serves its own Prometheus metrics (requests, latency, cache, replication) there.
app_metrics_path = "/metrics"
# It answers under /api/ (and /health, /static/): nginx answers any other path with a 404 itself.
nginx_app_paths = ["/api/"]
# It serves JSON and its static files: no page of it loads anything or is framed.
nginx_content_security_policy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
