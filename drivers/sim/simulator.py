"""The common shape of a device simulator: a thread serving one PtyLink until stopped."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from pathlib import Path

from drivers.sim.pty_link import PtyLink


class Simulator(ABC):
    def __init__(self, link_path: Path | None = None) -> None:
        self.link = PtyLink(link_path)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> str:
        return self.link.port

    def start(self) -> Simulator:
        self._thread = threading.Thread(target=self._serve, name=f"sim-{type(self).__name__}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.link.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self.step()

    @abstractmethod
    def step(self) -> None:
        """One bounded unit of work (at most ~50 ms) so stop() is prompt."""
