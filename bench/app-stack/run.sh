#!/bin/sh
# Serve each candidate stack (bench/app-stack/stacks.py) with gunicorn -w 2 on 127.0.0.1:18080 and load it
# with hey: 5 s per URL, 32 connections. About 50 s in all. Needs DATABASE_URL (a migrated,
# seeded database), gunicorn, hey, and fastapi, starlette, aiomysql, asyncmy importable.
set -eu
cd "$(dirname "$0")"
PORT=18080
CONC=32
SECS=5

serve_and_load() {  # stack worker-class url-path...
    stack=$1 worker=$2; shift 2
    BENCH_STACK=$stack gunicorn -w 2 -k "$worker" -b 127.0.0.1:$PORT --log-level warning stacks:app &
    pid=$!
    tries=0
    until curl -sf "http://127.0.0.1:$PORT/ping" > /dev/null; do
        tries=$((tries + 1)); [ $tries -lt 100 ] || { kill "$pid"; echo "$stack did not start"; exit 1; }
        sleep 0.1
    done
    for path in "$@"; do
        hey -z ${SECS}s -c $CONC "http://127.0.0.1:$PORT$path" > /tmp/peakready-bench.txt
        rps=$(awk '/Requests\/sec/ {print $2}' /tmp/peakready-bench.txt)
        p99=$(awk '/ 99% in/ {print $3}' /tmp/peakready-bench.txt)
        codes=$(awk '/^ *\[[0-9]+\]/ {printf "%s%s ", $1, $2}' /tmp/peakready-bench.txt)
        printf '%-18s %-28s %-12s %8s req/s  p99 %6s s  %s\n' "$stack" "${worker##*.}" "$path" "$rps" "$p99" "$codes"
    done
    kill "$pid"
    wait "$pid" || true
}

UV=uvicorn_worker.UvicornWorker
serve_and_load fastapi-asyncmy   $UV /ping /outlets/3
serve_and_load starlette-asyncmy $UV /ping /outlets/3
serve_and_load fastapi-aiomysql  $UV /outlets/3
serve_and_load starlette-aiomysql $UV /outlets/3
serve_and_load starlette-asyncmy stacks.AsyncioH11Worker /ping /outlets/3
rm -f /tmp/peakready-bench.txt
