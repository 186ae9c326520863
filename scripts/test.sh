#!/usr/bin/env bash
# Run the whole test suite: PostgreSQL and Redis on 127.0.0.1 (started here if they are down),
# then a second short run on the embedded default (SQLite, no Redis).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    for _ in $(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
fi

# Browser tests drive Debian's chromium (no Playwright browser download on these machines).
if [ ! -x /usr/bin/chromium ]; then
    apt-get update -q && apt-get install -y -q chromium
fi

ensure_venv dev
cd "$ROOT"
# Suite 1: everything on PostgreSQL + Redis. Suite 2: the embedded default serves the demo path.
"$VENV/bin/python" -m pytest -m "not embedded" "$@"
env -u DATABASE_URL -u REDIS_URL "$VENV/bin/python" -m pytest -m embedded "$@"
