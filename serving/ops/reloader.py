"""Hot swap: the service follows the published pointer (CURRENT) of the artifact folder.

A background thread checks the pointer every ``reload_poll_s`` seconds; POST /v1/admin/reload checks it at
once. A new version is loaded and verified (every checksum) beside the one being served, then swapped in with
one reference assignment: requests already running finish on the old version, none is dropped. A version
that fails verification is refused, remembered (not retried until the pointer changes again) and reported by
/readyz, and the old one keeps serving.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from graphrec.serving.ops.background import BackgroundWorker
from graphrec.serving.request.recommender import RecommendationService
from graphrec.serving.request.served_policy import SESSION_CODES
from graphrec.serving.request.served_version import load_version
from graphrec.training.artifacts import IN_USE_FRESH_S, ArtifactError, ArtifactRoot, current_version, note_in_use

log = logging.getLogger(__name__)


@dataclass
class ReloadResult:
    version: str | None
    changed: bool
    error: str | None = None


class ArtifactReloader(BackgroundWorker):
    thread_name = "artifact-reloader"

    def __init__(self, service: RecommendationService, root: Path, poll_s: float,
                 on_swap: Callable[[str], None] | None = None, policy: str = "greedy",
                 session_codes: int = SESSION_CODES) -> None:
        super().__init__()
        self.service = service
        self.root = root
        self.policy = policy  # which policy each new version is served with (GRAPHREC_POLICY)
        self.session_codes = session_codes
        self.poll_s = poll_s
        self.on_swap = on_swap
        self.refused: dict[str, str] = {}  # version -> why it was refused
        self.holder = f"{socket.gethostname()}-{os.getpid()}"  # this process, in the artifact folder's in-use notes
        self._noted_at = -float("inf")
        self._lock = threading.Lock()

    def check(self, force: bool = False) -> ReloadResult:
        """Swap to the published version if it is not the one served; ``force`` retries a refused version."""
        with self._lock:
            published = current_version(self.root)
            served = self.service.artifacts.version if self.service.artifacts else None
            if published is None or published == served:
                return ReloadResult(served, changed=False)
            if published in self.refused and not force:
                return ReloadResult(served, changed=False, error=self.refused[published])
            try:
                artifacts = load_version(ArtifactRoot(self.root).version(published), self.policy, self.session_codes)
            except (ArtifactError, OSError, ValueError) as error:
                self.refused[published] = str(error)
                log.error("refused artifact version %s: %s; still serving %s", published, error, served)
                return ReloadResult(served, changed=False, error=str(error))
            self.refused.pop(published, None)
            self.service.swap(artifacts)
            log.info("now serving artifact version %s (was %s)", published, served)
            self.note_in_use()
            if self.on_swap:
                self.on_swap(published)
            return ReloadResult(published, changed=True)

    def note_in_use(self) -> None:
        """Tell pruning (training.artifacts.prune) which version this process serves."""
        artifacts = self.service.artifacts
        try:
            note_in_use(self.root, self.holder, artifacts.version if artifacts else None)
            self._noted_at = time.monotonic()
        except OSError:
            log.exception("artifact reloader: could not note the served version")

    def run(self) -> None:
        while True:
            if time.monotonic() - self._noted_at > IN_USE_FRESH_S / 4:
                self.note_in_use()
            if self._stop.wait(self.poll_s):
                break
            try:
                self.check()
            except Exception:  # the watcher must outlive a bad poll
                log.exception("artifact reloader: check failed")
        note_in_use(self.root, self.holder, None)
