"""Resident ID card reader speaking the "SAM" serial protocol (frame and status words in drivers/README.md): the device.

The reader is polled: find card (20 01) → select (20 02) → read base message (30 01) → wait for the card to
leave. Framing and the text block codec are pure and live in `sam_protocol.py`.
"""

from __future__ import annotations

import enum
import time
from typing import Literal

from pydantic import Field

from drivers.device import Emit, SerialDevice
from drivers.idscan.sam_protocol import (
    CMD_FIND_CARD,
    CMD_READ_BASE,
    CMD_SAM_STATUS,
    CMD_SELECT_CARD,
    CMD_SET_MAX_RF,
    SW_CARD_FOUND,
    SW_NO_CARD,
    SW_OK,
    SW_READ_FAILED,
    SW_SELECT_FAILED,
    SamFrame,
    SamFrameParser,
    decode_read_base,
    encode_command,
    is_read_base_response,
)
from drivers.items import IdScan, Rejected
from drivers.strict import StrictModel
from drivers.transport import DeviceGone, SerialPortName, monotonic_now

MAX_RETRIES = 2  # re-sends of a command whose response arrived damaged
RESPONSE_GAP_S = 0.15  # silence inside a response that means it will not be completed


class PollState(enum.Enum):
    FIND = "find"  # looking for a card (20 01) every poll interval
    SELECT = "select"  # a card answered: select it (20 02)
    READ = "read"  # read the base message (30 01)
    CARD_PRESENT = "card_present"  # read done; wait until the card leaves before reading again


class SamReaderConfig(StrictModel):
    type: Literal["sam_id_reader"]
    port: SerialPortName = Field(description="pyserial URL or device path of the reader.")
    baudrate: int = Field(
        default=115200, ge=1200, le=921600, description="Every known SAM reader uses 115200."
    )
    poll_interval_s: float = Field(
        default=0.5, gt=0.0, le=5.0, description="How often to look for a card, s."
    )
    response_timeout_s: float = Field(
        default=2.5, gt=0.0, le=10.0, description="Longest wait for a response (a base read takes ~2 s), s."
    )
    repeat_suppress_s: float = Field(
        default=3.0,
        ge=0.0,
        le=60.0,
        description="The same card read again within this time is not reported twice, s.",
    )


class SamReaderDevice(SerialDevice):
    """Polling state machine: status at connect, then find → select → read → wait for the card to leave.

    Every status word is handled: 9F/80 from find, 90/81 from select, 90/41 from read; any other word is
    counted as sw_<cmd>_<sw3> and the machine returns to FIND. A reader that stops answering is "gone".
    """

    kind = "idscan"

    def __init__(self, device_id: str, config: SamReaderConfig) -> None:
        super().__init__(device_id, config.port, config.baudrate)
        self.config = config
        self.parser = SamFrameParser()
        self.poll_state = PollState.FIND
        self._last_number: str | None = None
        self._last_emit_mono = 0.0

    def initialise(self) -> None:
        self.parser = SamFrameParser()
        self.link.reset_input()
        reply = self._transact(*CMD_SAM_STATUS)
        if reply.sw3 != SW_OK:
            raise DeviceGone(f"wrong mode: SAM status {reply.sw3:#04x}")
        # hev-idcard-reader raises the RF frame size once after a good status; older readers ignore it.
        self._transact(*CMD_SET_MAX_RF, data=b"\x50")
        self.poll_state = PollState.FIND

    def serve(self, emit: Emit) -> None:
        state = self.poll_state
        if state in (PollState.FIND, PollState.CARD_PRESENT):
            self._find(state)
        elif state == PollState.SELECT:
            self._select()
        else:
            self._read(emit)

    def _find(self, state: PollState) -> None:
        reply = self._transact(*CMD_FIND_CARD)
        if reply.sw3 == SW_CARD_FOUND:
            if state == PollState.FIND:
                self.poll_state = PollState.SELECT
                return
        elif reply.sw3 == SW_NO_CARD:
            self.poll_state = PollState.FIND
        else:
            self._unexpected("find", reply)
            self.poll_state = PollState.FIND
        self.stop_event.wait(self.config.poll_interval_s)

    def _select(self) -> None:
        reply = self._transact(*CMD_SELECT_CARD)
        if reply.sw3 == SW_OK:
            self.poll_state = PollState.READ
            return
        if reply.sw3 == SW_SELECT_FAILED:
            self._reject(Rejected("select_failed", len(reply.body) + 8))
        else:
            self._unexpected("select", reply)
        self.poll_state = PollState.FIND

    def _read(self, emit: Emit) -> None:
        reply = self._transact(*CMD_READ_BASE)
        if reply.sw3 != SW_OK or not is_read_base_response(reply):
            if reply.sw3 == SW_READ_FAILED:
                self._reject(Rejected("read_failed", len(reply.body) + 8))  # the card left mid-read
            else:
                self._unexpected("read", reply)
            self.poll_state = PollState.FIND
            return
        t_mono, t_wall = monotonic_now()
        self.poll_state = PollState.CARD_PRESENT
        document = decode_read_base(reply.data)
        repeated = document.number == self._last_number
        if repeated and t_mono - self._last_emit_mono < self.config.repeat_suppress_s:
            return
        self._last_number, self._last_emit_mono = document.number, t_mono
        if not document.valid:
            self._count(self.invalid, document.failed_check or "unknown")
        self._count_item()
        emit(IdScan(self.device_id, t_mono, t_wall, document))

    def _unexpected(self, step: str, reply: SamFrame) -> None:
        self._reject(Rejected(f"sw_{step}_{reply.sw3 & 0xFF:02x}", len(reply.body) + 8))

    def extra_status(self) -> dict[str, object]:
        return {"poll_state": self.poll_state.value}

    def _transact(self, cmd: int, para: int, data: bytes = b"") -> SamFrame:
        """Send one command and return its response.

        A response that arrived damaged (a check failed, or bytes came and then the line fell quiet without
        a whole frame: a reader sends its answer in one burst) is asked for again at once, up to MAX_RETRIES
        times, rather than waiting out the timeout and reconnecting.
        """
        command = encode_command(cmd, para, data)
        # The reader speaks only when asked: anything waiting is a late duplicate of an earlier answer.
        self.link.reset_input()
        self.parser = SamFrameParser()
        self.link.write(command)
        retries = 0
        deadline = time.monotonic() + self.config.response_timeout_s
        last_rx: float | None = None  # when bytes of this response last arrived
        while time.monotonic() < deadline:
            chunk = self.link.read()
            now = self.last_loop_mono = time.monotonic()
            damaged = False
            if chunk:
                last_rx = now
            elif last_rx is not None and now - last_rx >= RESPONSE_GAP_S:
                damaged = True  # a burst ended without a whole frame
            for item in self.parser.feed(chunk):
                if isinstance(item, Rejected):
                    self._reject(item)
                    damaged = damaged or item.reason in ("xor_check", "bad_length")
                elif len(item.body) >= 3:
                    return item
                else:
                    self._reject(Rejected("short_response", len(item.body) + 8))
            if damaged and retries < MAX_RETRIES:
                retries += 1
                self.parser = SamFrameParser()  # drop the damaged remains
                self.link.write(command)
                last_rx = None
                deadline = time.monotonic() + self.config.response_timeout_s
        raise DeviceGone(
            f"no response to command {cmd:02x} {para:02x} within {self.config.response_timeout_s} s"
        )
