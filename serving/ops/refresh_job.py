"""The refresh job as a child process of the service (behind POST /v1/admin/refresh): the service owns the
embedded graph, so it writes a snapshot and `graphrec refresh --from-export` (training.refresh) reads it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graphrec.serving.settings import ServiceSettings
from graphrec.training.children import child_env
from graphrec.training.refresh import last_report


class RefreshJob:
    """The refresh as a child process of the service, reading a snapshot the service wrote (one at a time).

    The child runs at a lower CPU priority, so that training competes as little as possible with requests.
    """

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self.snapshot: Path | None = None
        self.started: str | None = None
        self.log_path = settings.data_dir / "refresh.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, snapshot: Path, *, model: str | None = None, epochs: int | None = None,
              force: bool = False, warm: bool = True) -> None:
        with self._lock:
            if self.running:
                raise RuntimeError("a refresh is already running")
            # At a lower CPU priority, so the service keeps its cores; `nice` in the argv, since preexec_fn is not
            # safe in a threaded process.
            nice = ["nice", "-n", "10"] if shutil.which("nice") else []
            command = [*nice, sys.executable, "-m", "graphrec", "refresh", "--from-export", str(snapshot)]
            command += ["--model", model] if model else []
            command += ["--epochs", str(epochs)] if epochs else []
            command += ["--force"] if force else []
            command += [] if warm else ["--no-warm"]
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("ab") as log_file:
                self._process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=child_env())
            self.snapshot, self.started = snapshot, datetime.now(UTC).isoformat()

    @property
    def exit_code(self) -> int | None:
        """The last job's exit code; None before one has ended."""
        process = self._process
        return None if process is None or self.running else process.returncode

    def status(self) -> dict[str, Any]:
        return {"running": self.running, "started": self.started, "snapshot": str(self.snapshot) if self.snapshot
                else None, "exit_code": self.exit_code,
                "log": str(self.log_path), "log_tail": log_tail(self.log_path),
                "last_report": last_report(self.settings.artifacts_dir)}

    def wait(self, timeout_s: float | None = None) -> int | None:
        return self._process.wait(timeout=timeout_s) if self._process else None

    def stop(self) -> None:
        if self.running:
            assert self._process is not None
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()


def log_tail(path: Path, max_bytes: int = 4_096) -> str:
    """The end of the job's log (its progress bars' latest lines), or "" before it has one."""
    try:
        with path.open("rb") as file:
            file.seek(max(0, path.stat().st_size - max_bytes))
            text = file.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    # tqdm redraws a bar with carriage returns: keep each line's last state.
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.splitlines()[-20:])
