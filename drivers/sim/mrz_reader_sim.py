"""MRZ reader simulator: sends each presented document's zone as text lines, as OCR swipe readers do."""

from __future__ import annotations

from pathlib import Path

from drivers.sim.simulator import QueuedSimulator

# ICAO 9303 specimens ("Utopia", fictional people): the default documents of `simulate mrz_reader`.
SPECIMENS: tuple[tuple[str, ...], ...] = (
    ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"),
    ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6"),
    ("I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"),
)


def zone_bytes(lines: tuple[str, ...] | list[str], line_end: bytes = b"\r\n") -> bytes:
    return b"".join(line.encode("ascii") + line_end for line in lines)


class MrzReaderSimulator(QueuedSimulator):
    def __init__(
        self, link_path: Path | None = None, *, line_end: bytes = b"\r\n", seed: int | None = None
    ) -> None:
        super().__init__(link_path, seed=seed)
        self.line_end = line_end

    def present(self, lines: tuple[str, ...] | list[str]) -> None:
        self.present_raw(zone_bytes(lines, self.line_end))
