"""What the load benchmarks share: the servers they talk to, `leadmarket serve` as a real process
group on a free port, and cleanup of the databases and Redis keys a run made."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]
PG_SERVER = os.environ.get("LEADMARKET_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("LEADMARKET_BENCH_REDIS", "redis://127.0.0.1:6379/11")


def drop_database(database: str) -> None:
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    admin.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`leadmarket serve` in its own process group, so stopping it stops its workers too.
    `bench_flag` names the environment variable that mounts the run's bare endpoint."""

    def __init__(self, database_url: str, workers: int, redis_prefix: str, log_dir: Path, bench_flag: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = shutil.which("leadmarket")
        argv = [command] if command else [sys.executable, "-m", "leadmarket.cli"]
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL,
               "LEADMARKET_REDIS_PREFIX": redis_prefix, bench_flag: "1",
               "LEADMARKET_SECRET_KEY": secrets.token_hex(32),
               # One load generator on one IP: limits stay on (their cost is measured) but high.
               "LEADMARKET_RATE_LIMIT_API_KEY": "1000000000", "LEADMARKET_RATE_LIMIT_API_IP": "1000000000",
               "LEADMARKET_RATE_LIMIT_CLICK_IP": "1000000000",
               # serve the code next to this script, whatever copy of it pip installed
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.log_path = log_dir / f"serve-{workers}w.log"
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [*argv, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    async def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited early; see {self.log_path}")
                try:
                    async with session.get(self.base + "/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"server not ready after {timeout:.0f}s; see {self.log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.log.close()


def delete_redis_keys(prefix: str) -> None:
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=prefix + "*", count=1000):
            client.delete(key)
        client.close()
    except redis.RedisError:
        pass
