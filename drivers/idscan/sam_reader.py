"""Resident ID card reader speaking the "SAM" serial protocol (shared/docs/protocols.md §2.1).

Frame: preamble `AA AA AA 96 69`, LEN (big-endian, counts body + check), body, XOR check over LEN..body.
Commands carry CMD PARA [data]; responses carry SW1 SW2 SW3 [data]. The reader is polled:
find card (20 01) → select (20 02) → read base message (30 01), whose 256-byte UCS-2 LE text block
holds name, sex, nation, birth date, address, ID number, authority and validity dates.
The photo blob that follows is never decoded, logged or kept.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from drivers.device import Emit, SerialDevice
from drivers.idscan import resident_id_number as ric
from drivers.items import IdDocument, IdScan, Rejected
from drivers.transport import DeviceGone, SerialPortName, monotonic_now
from edge.strict import StrictModel

PREAMBLE = b"\xaa\xaa\xaa\x96\x69"
MAX_LEN = 4096  # a base message with fingerprints is ~2.3 kB; anything larger is noise

CMD_SAM_STATUS = (0x11, 0xFF)
CMD_FIND_CARD = (0x20, 0x01)
CMD_SELECT_CARD = (0x20, 0x02)
CMD_READ_BASE = (0x30, 0x01)

SW_OK = 0x90
SW_CARD_FOUND = 0x9F
SW_NO_CARD = 0x80
SW_SELECT_FAILED = 0x81
SW_READ_FAILED = 0x41

TEXT_BLOCK_LEN = 256


def _xor(data: bytes) -> int:
    x = 0
    for b in data:
        x ^= b
    return x


def encode_frame(body: bytes) -> bytes:
    length = struct.pack(">H", len(body) + 1)
    return PREAMBLE + length + body + bytes([_xor(length + body)])


def encode_command(cmd: int, para: int, data: bytes = b"") -> bytes:
    return encode_frame(bytes([cmd, para]) + data)


def encode_response(sw3: int, data: bytes = b"", sw1: int = 0, sw2: int = 0) -> bytes:
    return encode_frame(bytes([sw1, sw2, sw3]) + data)


@dataclass(frozen=True)
class SamFrame:
    """One checked frame: for a response, head = (SW1, SW2, SW3); for a command, (CMD, PARA)."""

    body: bytes

    @property
    def sw3(self) -> int:
        return self.body[2] if len(self.body) >= 3 else -1

    @property
    def data(self) -> bytes:
        return self.body[3:]


class SamFrameParser:
    """Incremental frame decoder (either direction). Bad checks and garbage are rejected and resynced."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[SamFrame | Rejected]:
        self._buf += chunk
        out: list[SamFrame | Rejected] = []
        while True:
            start = self._buf.find(PREAMBLE)
            if start < 0:
                keep = len(PREAMBLE) - 1
                if len(self._buf) > keep:
                    out.append(Rejected("no_preamble", len(self._buf) - keep))
                    del self._buf[: len(self._buf) - keep]
                return out
            if start > 0:
                out.append(Rejected("no_preamble", start))
                del self._buf[:start]
            if len(self._buf) < 7:
                return out
            (length,) = struct.unpack_from(">H", self._buf, 5)
            if length < 2 or length > MAX_LEN:
                out.append(Rejected("bad_length", len(PREAMBLE)))
                del self._buf[: len(PREAMBLE)]
                continue
            total = 7 + length
            if len(self._buf) < total:
                return out
            frame = bytes(self._buf[:total])
            if _xor(frame[5:-1]) != frame[-1]:
                out.append(Rejected("xor_check", len(PREAMBLE)))
                del self._buf[: len(PREAMBLE)]
                continue
            del self._buf[:total]
            out.append(SamFrame(frame[7:-1]))


def _field(text: bytes, offset: int, size: int) -> str:
    return text[offset : offset + size].decode("utf-16-le", errors="replace").strip(" \x00")


def _iso(yyyymmdd: str) -> str | None:
    return (
        f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:]}"
        if len(yyyymmdd) == 8 and yyyymmdd.isdigit()
        else None
    )


def decode_text_block(text: bytes) -> IdDocument:
    """The 256-byte UCS-2 LE block of a 30 01 response. Address, nation and authority stay on the device."""
    if len(text) != TEXT_BLOCK_LEN:
        return IdDocument("cn_resident_id", number="", valid=False, failed_check="text_length")
    number = _field(text, 122, 36)
    sex_code = _field(text, 30, 2)
    failed = ric.failed_check(number)
    return IdDocument(
        doc_type="cn_resident_id",
        number=number,
        name=_field(text, 0, 30),
        birth_date=_iso(_field(text, 36, 16)),
        sex={"1": "M", "2": "F"}.get(sex_code),
        region=number[:6] if failed is None else "",
        expiry=_iso(_field(text, 204, 16)),  # "长期" (indefinite) has no date: None
        valid=failed is None,
        failed_check=failed,
    )


def encode_text_block(
    name: str,
    sex_code: str,
    nation: str,
    birth_yyyymmdd: str,
    address: str,
    number: str,
    authority: str,
    valid_from: str,
    valid_to: str,
) -> bytes:
    def pad(value: str, chars: int) -> bytes:
        return value[:chars].ljust(chars).encode("utf-16-le")

    block = (
        pad(name, 15)
        + pad(sex_code, 1)
        + pad(nation, 2)
        + pad(birth_yyyymmdd, 8)
        + pad(address, 35)
        + pad(number, 18)
        + pad(authority, 15)
        + pad(valid_from, 8)
        + pad(valid_to, 8)
    )
    return block + b"\x00" * (TEXT_BLOCK_LEN - len(block))


def decode_read_base(data: bytes) -> IdDocument:
    """Response data of 30 01: text length (BE16), photo length (BE16), text, photo."""
    if len(data) < 4:
        return IdDocument("cn_resident_id", number="", valid=False, failed_check="short_response")
    text_len, _photo_len = struct.unpack_from(">HH", data, 0)
    if text_len != TEXT_BLOCK_LEN or len(data) < 4 + text_len:
        return IdDocument("cn_resident_id", number="", valid=False, failed_check="text_length")
    return decode_text_block(data[4 : 4 + text_len])


class SamReaderConfig(StrictModel):
    type: Literal["sam_id_reader"]
    port: SerialPortName = Field(description="pyserial URL or device path of the reader.")
    baudrate: int = Field(115200, ge=1200, le=921600, description="Every known SAM reader uses 115200.")
    poll_interval_s: float = Field(0.5, gt=0.0, le=5.0, description="How often to look for a card, s.")
    response_timeout_s: float = Field(2.5, gt=0.0, le=10.0, description="Longest wait for a response, s.")


class SamReaderDevice(SerialDevice):
    kind = "idscan"

    def __init__(self, device_id: str, config: SamReaderConfig) -> None:
        super().__init__(device_id, config.port, config.baudrate)
        self.config = config
        self.parser = SamFrameParser()
        self._card_present = False  # a card left on the reader is reported once, not once per poll

    def initialise(self) -> None:
        self.parser = SamFrameParser()
        self.link.reset_input()
        reply = self._transact(*CMD_SAM_STATUS)
        if reply.sw3 != SW_OK:
            raise DeviceGone(f"SAM status {reply.sw3:#04x}")
        self._card_present = False

    def serve(self, emit: Emit) -> None:
        found = self._transact(*CMD_FIND_CARD)
        if found.sw3 != SW_CARD_FOUND:
            self._card_present = False
            time.sleep(self.config.poll_interval_s)
            return
        if self._card_present:
            time.sleep(self.config.poll_interval_s)
            return
        if self._transact(*CMD_SELECT_CARD).sw3 != SW_OK:
            self.rejected["select_failed"] += 1
            return
        reply = self._transact(*CMD_READ_BASE)
        if reply.sw3 != SW_OK:
            self.rejected[f"read_failed_{reply.sw3:02x}"] += 1
            return
        t_mono, t_wall = monotonic_now()
        self._card_present = True
        self._count_item()
        emit(IdScan(self.device_id, t_mono, t_wall, decode_read_base(reply.data)))

    def _transact(self, cmd: int, para: int) -> SamFrame:
        self.link.write(encode_command(cmd, para))
        deadline = time.monotonic() + self.config.response_timeout_s
        while time.monotonic() < deadline:
            for item in self.parser.feed(self.link.read()):
                if isinstance(item, Rejected):
                    self.rejected[item.reason] += 1
                else:
                    return item
        raise DeviceGone(
            f"no response to command {cmd:02x} {para:02x} within {self.config.response_timeout_s} s"
        )
