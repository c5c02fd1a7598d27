"""Sync and resync for thermal modules that stream fixed-length frames behind a header and a checksum."""

from __future__ import annotations

from abc import ABC, abstractmethod

from drivers.items import ParsedItem, Rejected, ThermalImage


class FixedFrameParser(ABC):
    """Incremental decoder: find the header, wait for a whole frame, verify it, decode it.

    A frame that fails its check skips only past its header before searching again: the header bytes can
    occur inside pixel data, and the real next frame may start within the rejected span.
    """

    header: bytes
    frame_len: int

    def __init__(self) -> None:
        self._buf = bytearray()

    @abstractmethod
    def frame_ok(self, frame: bytes) -> bool: ...

    @abstractmethod
    def decode(self, frame: bytes) -> ThermalImage: ...

    def feed(self, chunk: bytes) -> list[ParsedItem]:
        self._buf += chunk
        out: list[ParsedItem] = []
        while True:
            start = self._buf.find(self.header)
            if start < 0:
                keep = len(self.header) - 1  # a header may be split across chunks
                if len(self._buf) > keep:
                    out.append(Rejected("no_header", len(self._buf) - keep))
                    del self._buf[: len(self._buf) - keep]
                return out
            if start > 0:
                out.append(Rejected("no_header", start))
                del self._buf[:start]
            if len(self._buf) < self.frame_len:
                return out
            frame = bytes(self._buf[: self.frame_len])
            if not self.frame_ok(frame):
                out.append(Rejected("checksum", len(self.header)))
                del self._buf[: len(self.header)]
                continue
            del self._buf[: self.frame_len]
            out.append(self.decode(frame))
