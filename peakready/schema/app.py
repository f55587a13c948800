# peakready's knobs: the app (role app, on app_servers).
# (What a declaration is: peakready/schema/__init__.py.)

# Workers, pools, timeouts, memory caps and open files come from the plan above.

# The app's name: its system user, /srv/<app_name>, /etc/<app_name>, the unit <app_name>-app.service.
app_name: "group: unit_name" = "peakready"
# Where the app's code comes from: a directory of this repository ("apps/shop"), or a git URL
# (https://... or git@...), checked out at app_ref. Required: the sample app (app/) comes with its
# own settings, group_data/sample_app.py, to the hosts of an inventory's sample_app group.
app_source: "group: app_source" = ""
# The branch, tag or commit of app_source when it is a git URL.
app_ref: "group: git_ref" = "main"
# The ASGI (or WSGI) application gunicorn serves, "module:object": in the app's code or one of its
# packages (checked before the first change). Required.
app_module: "group: module_object" = ""
# gunicorn's worker class: "uvicorn" for an ASGI app (Starlette, FastAPI), "gthread" (threads per
# worker: db_pool_size + db_pool_overflow, from the plan) or "sync" for a WSGI one (Flask, Django). gunicorn, and uvicorn-worker for
# "uvicorn", are added to the app's dependencies when it does not name them.
app_worker_class: 'plan: one_of("uvicorn", "sync", "gthread")' = "uvicorn"
# The module run once per release, before it goes live (migrations); "": none.
app_migrate_module: "group: module_or_empty" = ""
# The same as a command, for the frameworks' own: "python manage.py migrate --noinput", "alembic
# upgrade head", "flask db upgrade"; "": none. It runs in the release's directory with the
# virtualenv first on PATH, the app's environment, and DATABASE_URL set to the migrations user's.
app_migrate_command: "group: migrate_command" = ""
# The command that gathers the app's static files into app_static_dir at release time (it gets
# STATIC_ROOT, that directory's path): "python manage.py collectstatic --noinput"; "": none.
app_static_command: "group: static_command" = ""
# The release's directory nginx serves at /static/ ("static"); "": none.
app_static_dir: "group: relative_dir" = ""
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
# After a switch to a new release, the live service must answer app_health_path with 200 three times
# in a row within this many seconds; else `current` goes back to the release before and the deploy fails.
app_live_check_s: "group: integer(5, 600)" = 60
# A worker is replaced after this many requests (plus up to app_max_requests_jitter more, so they
# do not all restart at once); 0: never. Off by default: the memory cap above already replaces a
# worker that leaks, and under a spike 10000 requests come every few seconds; each replacement
# closes the worker's idle keep-alive connections, and a request nginx sends on one as it closes
# can fail (bench/ saw 1 in 142 000 with recycling every 4 s).
app_max_requests: "group: integer(0, 10_000_000)" = 0
app_max_requests_jitter: "group: integer(0, 10_000_000)" = 1000
# The app gets a Redis for its cache: REDIS_URL (and REDIS_SOCKET beside it on a cache host). False:
# no Redis for the app, app_servers need no cache_servers, and an app that caches only when it is
# given one (the sample app) reads MariaDB for every request (what bench/'s baseline measures).
app_cache: "plan: boolean" = True
