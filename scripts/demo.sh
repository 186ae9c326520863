#!/usr/bin/env bash
# Run the Leadmarket demo on the embedded default: SQLite file in this directory, no Redis.
# Installs into .venv on first use; extra arguments go to `leadmarket demo` (e.g. --port 8080).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
ensure_venv demo
cd "$ROOT"
env -u DATABASE_URL -u REDIS_URL "$VENV/bin/leadmarket" demo "$@"
