"""CH340 "LCUS" USB serial relay boards (LCUS-1/2/4/8): 9600 baud, 4-byte commands, no reply.

    A0 <channel> <state> <sum>      channel 1..8, state 00 = open (off) / 01 = closed (on),
                                    sum = (0xA0 + channel + state) & 0xFF

e.g. `A0 01 01 A2` closes relay 1, `A0 01 00 A1` opens it. The board keeps no state across a USB replug
(every relay drops out), so the driver re-sends every channel's state after each (re)connect.
Pure: the encoder for the driver and the parser for the simulator and tests; no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.items import Rejected

START = 0xA0
FRAME_LEN = 4
MAX_CHANNEL = 8


def encode_relay(channel: int, on: bool) -> bytes:
    if not 1 <= channel <= MAX_CHANNEL:
        raise ValueError(f"LCUS channels are 1..{MAX_CHANNEL}, got {channel}")
    state = 1 if on else 0
    return bytes([START, channel, state, (START + channel + state) & 0xFF])


@dataclass(frozen=True)
class RelayCommand:
    channel: int
    on: bool


class RelayFrameParser:
    """Incremental: frames behind `A0`, checked by their sum; garbage before a valid frame is reported."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[RelayCommand | Rejected]:
        self._buf += chunk
        out: list[RelayCommand | Rejected] = []
        skipped = 0
        while len(self._buf) >= FRAME_LEN:
            b = self._buf
            channel, state = b[1], b[2]
            if (
                b[0] == START
                and 1 <= channel <= MAX_CHANNEL
                and state in (0, 1)
                and b[3] == (START + channel + state) & 0xFF
            ):
                if skipped:
                    out.append(Rejected("no LCUS frame", skipped))
                    skipped = 0
                out.append(RelayCommand(channel, state == 1))
                del b[:FRAME_LEN]
            else:
                del b[:1]
                skipped += 1
        if skipped:
            out.append(Rejected("no LCUS frame", skipped))
        return out
