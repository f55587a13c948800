#!/bin/bash
# What the data tier adds to a deploy, measured in one run: a fresh local VPS per variant, its
# first deploy and a no-change re-run, for base alone and for base + MariaDB + Redis.
#   bash bench/deploy-tiers.sh        (after `make venv`; about 2 minutes; removes its VPSes)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/deploy_base.py" <<'PY'
from peakready.preflight import check_host, inventory_secrets
from peakready.roles.base import base
base(check_host(), inventory_secrets())
PY
cat > "$work/deploy_data.py" <<'PY'
from peakready.preflight import check_host, inventory_secrets
from peakready.roles.base import base
from peakready.roles.mariadb import mariadb
from peakready.roles.redis import redis
plan, secrets = check_host(), inventory_secrets()
for role in (base, mariadb, redis):
    role(plan, secrets)
PY
for variant in base data; do
    name=peakready-bench-$variant
    .venv/bin/python targets/vps.py up --name "$name" >/dev/null
    for run in first rerun; do
        start=$(date +%s.%N)
        PEAKREADY_VPS=$name .venv/bin/pyinfra -y inventories/docker.py "$work/deploy_$variant.py" >/dev/null 2>&1
        printf '%s %s %.1f s\n' "$variant" "$run" "$(echo "$(date +%s.%N) - $start" | bc)"
    done
    .venv/bin/python targets/vps.py down --name "$name" >/dev/null 2>&1
done
