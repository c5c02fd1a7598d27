"""SAM resident-ID reader simulator: answers status/find/select/read with the real frames."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from drivers.idscan import sam_protocol as proto
from drivers.items import Rejected
from drivers.sim.simulator import Simulator

# Returns the 256-byte text block of the card lying on the reader now, or None.
CardSource = Callable[[], bytes | None]

_PHOTO = bytes(1024)  # the real photo is an encrypted WLT blob; its content never matters to us


class SamReaderSimulator(Simulator):
    def __init__(
        self, card_source: CardSource, link_path: Path | None = None, *, seed: int | None = None
    ) -> None:
        super().__init__(link_path, seed=seed)
        self.card_source = card_source
        self.parser = proto.SamFrameParser()
        self.reads_served = 0
        self.commands: list[tuple[int, int]] = []
        self._selected: bytes | None = None
        self._sam_ready_at = 0.0
        self._not_ready_sw = 0x00

    def power_on(self) -> None:
        super().power_on()
        self.parser = proto.SamFrameParser()
        self._selected = None

    def reboot(self, *, sam_not_ready_s: float = 0.0, status_word: int = 0x00) -> None:
        """The reader resets; its SAM module answers status with `status_word` until it is ready."""
        self.power_on()
        self._sam_ready_at = time.monotonic() + sam_not_ready_s
        self._not_ready_sw = status_word

    def step(self) -> None:
        for item in self.parser.feed(self.receive(timeout_s=0.05)):
            if isinstance(item, Rejected):
                continue
            cmd, para = item.body[0], item.body[1] if len(item.body) > 1 else 0
            self.commands.append((cmd, para))
            self.send(self._answer(cmd, para))

    def _answer(self, cmd: int, para: int) -> bytes:
        card = self.card_source()
        if (cmd, para) == proto.CMD_SAM_STATUS and time.monotonic() < self._sam_ready_at:
            return proto.encode_response(self._not_ready_sw)
        if (cmd, para) in (proto.CMD_SAM_STATUS, (0x10, 0xFF), (0x61, 0xFF)):
            return proto.encode_response(proto.SW_OK)
        if (cmd, para) == proto.CMD_FIND_CARD:
            return (
                proto.encode_response(proto.SW_CARD_FOUND, bytes(4))
                if card
                else proto.encode_response(proto.SW_NO_CARD)
            )
        if (cmd, para) == proto.CMD_SELECT_CARD:
            self._selected = card
            return (
                proto.encode_response(proto.SW_OK, bytes(8))
                if card
                else proto.encode_response(proto.SW_SELECT_FAILED)
            )
        if (cmd, para) == proto.CMD_READ_BASE:
            if not card or card != self._selected:
                return proto.encode_response(proto.SW_READ_FAILED)
            self.reads_served += 1
            head = len(card).to_bytes(2, "big") + len(_PHOTO).to_bytes(2, "big")
            return proto.encode_response(proto.SW_OK, head + card + _PHOTO)
        return proto.encode_response(proto.SW_READ_FAILED)
