"""Fault injection for tests: a TCP proxy the test can cut (a database "going down" between the app
and the real server), our own redis-server to stop and start, and the app's processes run for real."""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from tests.ports import free_port, wait_for_port




class FaultProxy:
    """Forwards 127.0.0.1:<port> to `target`. `down()` cuts every open connection and closes new
    ones at once (the peer sees "server closed the connection unexpectedly"); `up()` heals it.
    `lose_answers()` lets requests through but cuts each connection when its answer comes back
    (the work was done, the client never hears of it) until `deliver_answers()`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0), reuse_port=False)
        self.port = self._listener.getsockname()[1]
        self._down = threading.Event()
        self._losing = threading.Event()
        self.lost = 0  # answers dropped while losing them
        self._closed = threading.Event()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        self.refused = 0  # connections turned away while down
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._down.is_set():
                self.refused += 1
                _hard_close(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _hard_close(client)
                continue
            pair = (client, upstream)
            with self._lock:
                self._pairs.add(pair)
            threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _pump(self, pair: tuple[socket.socket, socket.socket]) -> None:
        client, upstream = pair
        peers = {client: upstream, upstream: client}
        try:
            while not self._down.is_set():
                readable, _, _ = select.select(list(peers), [], [], 0.1)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is upstream and self._losing.is_set():
                        self.lost += 1
                        return
                    peers[sock].sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._pairs.discard(pair)
            _hard_close(client)
            _hard_close(upstream)

    def down(self) -> None:
        self._down.set()
        with self._lock:
            pairs = list(self._pairs)
        for client, upstream in pairs:
            _hard_close(client)
            _hard_close(upstream)

    def up(self) -> None:
        self._down.clear()

    def lose_answers(self) -> None:
        self._losing.set()

    def deliver_answers(self) -> None:
        self._losing.clear()

    def close(self) -> None:
        self._closed.set()
        self.down()
        self._listener.close()


def _hard_close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class RedisServer:
    """A redis-server of the test's own on a free port (never the shared one), stopped and started
    at will; it keeps nothing on disk."""

    def __init__(self, workdir: Path) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed")
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


class AppProcess:
    """`leadmarket <args>` as a real process in its own session, so SIGKILL takes its children too
    (a prefork worker's pool and embedded beat die with it, as on a crashed machine)."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.args, self.env, self.log_path = args, env, log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n=== start {self.starts}\n".encode())
        log.flush()
        binary = Path(sys.executable).parent / "leadmarket"  # the venv running the tests
        command = str(binary) if binary.exists() else shutil.which("leadmarket") or "leadmarket"
        self.process = subprocess.Popen([command, *self.args], env=self.env, stdout=log, stderr=log,
                                        start_new_session=True)
        log.close()

    def kill(self) -> None:
        """SIGKILL the process and everything it started: no cleanup, no goodbye."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        self.process = None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")
