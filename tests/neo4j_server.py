"""A real Neo4j Community 5 server on a loopback port, built from Maven Central, for the tests and benchmarks.

tests/neo4j-server/ holds a pom.xml and one Java class that starts Neo4j with the Bolt connector on. Maven
downloads the server jars once (into ~/.m2) and compiles the class; later starts reuse the build. The server
runs with authentication on and a generated password, over a store folder that survives a restart, so a test
can end the process and start it again on the same store and port.

By hand or for a benchmark: ``python -m tests.neo4j_server`` prints NEO4J_URI and NEO4J_PASSWORD and serves
until Ctrl-C.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parent / "neo4j-server"
TARGET = PROJECT / "target"
CLASSPATH_FILE = TARGET / "classpath.txt"
MAIN_CLASS = "graphrec.testserver.Neo4jTestServer"
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when the thread that started it ends


class Neo4jUnavailable(RuntimeError):
    """No Neo4j test server can be built or started here (no Java or Maven, a failed build or start)."""


def missing_tools() -> list[str]:
    return [tool for tool in ("java", "mvn") if shutil.which(tool) is None]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def build(*, quiet: bool = True) -> list[str]:
    """The server's Java class path, compiling the launcher first when its sources are newer than the build."""
    if missing := missing_tools():
        raise Neo4jUnavailable(f"{' and '.join(missing)} not found: the Neo4j test server needs a JDK 17 and Maven")
    sources = [PROJECT / "pom.xml", *PROJECT.joinpath("src").rglob("*.java")]
    built_at = CLASSPATH_FILE.stat().st_mtime if CLASSPATH_FILE.exists() else 0.0
    if built_at <= max(path.stat().st_mtime for path in sources):
        command = ["mvn", "-B", *(["-q"] if quiet else []), "-f", str(PROJECT / "pom.xml"), "compile",
                   "dependency:build-classpath", f"-Dmdep.outputFile={CLASSPATH_FILE}"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            output = done.stdout[-4000:] + done.stderr[-2000:]
            raise Neo4jUnavailable(f"building the Neo4j test server failed:\n{output}")
    return [str(TARGET / "classes"), CLASSPATH_FILE.read_text().strip()]


def child_setup(nice: int = 0) -> Callable[[], None]:
    """What the server's process runs before java: its CPU priority and, on Linux, a SIGTERM (Neo4j's clean
    shutdown) when the thread that started it ends, so a test run or benchmark killed mid-way leaves no server."""

    def setup() -> None:
        if nice:
            os.nice(nice)
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return setup


@dataclass
class Neo4jServer:
    """One server process over ``home``; ``start`` again after ``stop`` or ``kill`` reuses the store and port."""

    home: Path
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    heap: str = "1g"
    page_cache: str = "512m"
    settings: dict[str, str] = field(default_factory=dict)
    nice: int = 0  # CPU priority of the server's threads (benchmarks: a server that does not starve its clients)
    jvm_options: tuple[str, ...] = ("-XX:+UseG1GC",)  # the JVM's own defaults, as a production server runs
    process: subprocess.Popen[bytes] | None = None
    started_in_s: float | None = None

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    def _write_conf(self) -> None:
        conf = {
            "server.bolt.enabled": "true",
            "server.bolt.listen_address": f"127.0.0.1:{self.port}",
            "server.http.enabled": "false",
            "server.https.enabled": "false",
            "dbms.security.auth_enabled": "true",
            "server.memory.pagecache.size": self.page_cache,
            "dbms.usage_report.enabled": "false",
            "db.tx_log.rotation.retention_policy": "2 files",
            **self.settings,
        }
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "neo4j.conf").write_text("".join(f"{key}={value}\n" for key, value in conf.items()))

    def start(self, timeout_s: float = 180.0) -> Neo4jServer:
        if self.process is not None and self.process.poll() is None:
            return self
        classpath = build()
        self._write_conf()
        began = time.monotonic()
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                ["java", f"-Xmx{self.heap}", f"-Xms{self.heap}", *self.jvm_options, "-cp", os.pathsep.join(classpath),
                 MAIN_CLASS, str(self.home)],
                env={**os.environ, "NEO4J_TEST_PASSWORD": self.password}, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=child_setup(self.nice))
        while True:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                if b"NEO4J_READY" in log.read():
                    break
            if self.process.poll() is not None:
                raise Neo4jUnavailable(f"the Neo4j test server exited with {self.process.returncode}:\n"
                                       f"{self.log_tail()}")
            if time.monotonic() - began > timeout_s:
                self.kill()
                raise Neo4jUnavailable(f"the Neo4j test server did not start in {timeout_s:.0f} s:\n{self.log_tail()}")
            time.sleep(0.1)
        self.started_in_s = time.monotonic() - began
        return self

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self, timeout_s: float = 60.0) -> None:
        """A clean shutdown (SIGTERM runs Neo4j's shutdown hook)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """The process ended at once, as a crash would end it; the store recovers on the next start."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def version(self) -> str:
        import neo4j

        with neo4j.GraphDatabase.driver(self.uri, auth=("neo4j", self.password)) as driver:
            records = driver.execute_query("CALL dbms.components() YIELD versions, edition "
                                           "RETURN versions[0] AS version, edition").records
        return f"{records[0]['version']} {records[0]['edition']}"

    def environment(self) -> dict[str, str]:
        return {"NEO4J_URI": self.uri, "NEO4J_USER": "neo4j", "NEO4J_PASSWORD": self.password}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="store folder (default: a new temporary folder)")
    parser.add_argument("--port", type=int, default=0, help="Bolt port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--heap", default="1g")
    parser.add_argument("--page-cache", default="512m")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="graphrec-neo4j-"))
    server = Neo4jServer(home=home, port=args.port or free_port(), heap=args.heap, page_cache=args.page_cache)
    server.start()
    for key, value in server.environment().items():
        print(f"{key}={value}")
    print(f"# Neo4j {server.version()} started in {server.started_in_s:.1f} s; store at {home}", flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        server.stop()


if __name__ == "__main__":
    main()
