"""Barcode/QR scanner simulator: frames each scanned payload exactly as the configured scanner would."""

from __future__ import annotations

from pathlib import Path

from drivers.idscan.barcode import BarcodeFraming
from drivers.sim.simulator import QueuedSimulator


def framed(payload: bytes, framing: BarcodeFraming) -> bytes:
    wire = framing.prefix.encode("latin-1") + payload + framing.suffix.encode("latin-1")
    return wire if framing.mode == "idle_gap" else wire + framing.terminator.encode("latin-1")


class BarcodeScannerSimulator(QueuedSimulator):
    def __init__(
        self, framing: BarcodeFraming | None = None, link_path: Path | None = None, *, seed: int | None = None
    ) -> None:
        super().__init__(link_path, seed=seed)
        self.framing = framing or BarcodeFraming()
        # In idle-gap mode two reads must be separated by silence, or they are one read.
        if self.framing.mode == "idle_gap":
            self.min_gap_s = 3 * self.framing.idle_gap_s

    def scan(self, payload: bytes) -> None:
        self.present_raw(framed(payload, self.framing))
