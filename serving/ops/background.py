"""The service's background work (reloader, cache warmer, feedback writer): one daemon thread each."""

from __future__ import annotations

import threading
from typing import Self


class BackgroundWorker:
    """Runs ``run()`` in a daemon thread from start() until stop(); ``run`` watches ``self._stop``."""

    thread_name = "background"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, name=self.thread_name, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def run(self) -> None:
        raise NotImplementedError
