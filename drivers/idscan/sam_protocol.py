"""The resident ID card reader's "SAM" serial protocol, pure: bytes in, frames and documents out.

Frame: preamble `AA AA AA 96 69`, LEN (big-endian, counts body + check), body, XOR check over LEN..body.
Commands carry CMD PARA [data]; responses carry SW1 SW2 SW3 [data]. A successful read base message
(30 01) carries a 256-byte UCS-2 LE text block holding name, sex, nation, birth date, address, ID number,
authority and validity dates. The photo blob that follows is never decoded, logged or kept.
The device's polling state machine is in `sam_reader.py`; the simulator uses the encoders here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from drivers.idscan import resident_id_number as ric
from drivers.items import IdDocument, ParsedItem, Rejected

PREAMBLE = b"\xaa\xaa\xaa\x96\x69"
MAX_LEN = 4096  # a base message with fingerprints is ~2.3 kB; anything larger is noise

CMD_SAM_STATUS = (0x11, 0xFF)
CMD_FIND_CARD = (0x20, 0x01)
CMD_SELECT_CARD = (0x20, 0x02)
CMD_READ_BASE = (0x30, 0x01)
CMD_SET_MAX_RF = (0x61, 0xFF)

SW_OK = 0x90
SW_CARD_FOUND = 0x9F
SW_NO_CARD = 0x80
SW_SELECT_FAILED = 0x81
SW_READ_FAILED = 0x41

TEXT_BLOCK_LEN = 256


def _xor(data: bytes | bytearray) -> int:
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


@dataclass(frozen=True, repr=False)
class SamFrame:
    """One checked frame: for a response, head = (SW1, SW2, SW3); for a command, (CMD, PARA)."""

    body: bytes

    def __repr__(self) -> str:
        # A read-base body holds the card's text and photo: a stray log line must never print them.
        return f"SamFrame(head={self.body[:3].hex()}, {len(self.body)} bytes)"

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
                # A false preamble in noise may claim a long frame; a complete, checked frame behind it must
                # not wait for bytes that a polled reader will never send.
                later = self._checked_frame_after(1)
                if later is None:
                    return out
                out.append(Rejected("false_preamble", later))
                del self._buf[:later]
                continue
            frame = bytes(self._buf[:total])
            if _xor(frame[5:-1]) != frame[-1]:
                out.append(Rejected("xor_check", len(PREAMBLE)))
                del self._buf[: len(PREAMBLE)]
                continue
            del self._buf[:total]
            out.append(SamFrame(frame[7:-1]))

    def _checked_frame_after(self, start: int) -> int | None:
        at = self._buf.find(PREAMBLE, start)
        while at >= 0 and at + 7 <= len(self._buf):
            (length,) = struct.unpack_from(">H", self._buf, at + 5)
            end = at + 7 + length
            if (
                2 <= length <= MAX_LEN
                and end <= len(self._buf)
                and _xor(self._buf[at + 5 : end - 1]) == self._buf[end - 1]
            ):
                return at
            at = self._buf.find(PREAMBLE, at + 1)
        return None


def _field(text: bytes, offset: int, size: int) -> str:
    return text[offset : offset + size].decode("utf-16-le", errors="replace").strip(" \x00")


def _iso(yyyymmdd: str) -> str | None:
    return (
        f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:]}"
        if len(yyyymmdd) == 8 and yyyymmdd.isdigit()
        else None
    )


_NUMBER_CHECKS = {
    "format": "format:number",
    "birth_date": "format:number",
    "check_digit": "check_digit:number",
}


def decode_text_block(text: bytes) -> IdDocument:
    """The 256-byte UCS-2 LE block of a 30 01 response. Address, nation and authority stay on the device.

    Besides the number's own check character, the birth date and sex printed in the text must agree with
    the ones the number encodes: a mismatch means a corrupted or forged card, never a good read.
    """
    if len(text) != TEXT_BLOCK_LEN:
        return IdDocument("cn_resident_id", number="", valid=False, failed_check="text_length")
    number = _field(text, 122, 36)
    sex = {"1": "M", "2": "F"}.get(_field(text, 30, 2))
    birth = _iso(_field(text, 36, 16))
    failed = ric.failed_check(number)
    failed_check = _NUMBER_CHECKS.get(failed, failed) if failed else None
    if failed_check is None and birth != ric.birth_date_iso(number):
        failed_check = "mismatch:birth_date"
    if failed_check is None and sex is not None and sex != ric.sex(number):
        failed_check = "mismatch:sex"
    valid_from = _iso(_field(text, 188, 16))
    return IdDocument(
        doc_type="cn_resident_id",
        number=number,
        name=_field(text, 0, 30),
        birth_date=birth,
        sex=sex,
        region=ric.region_code(number) if failed is None else "",
        expiry=_iso(_field(text, 204, 16)),  # "长期" (indefinite) has no date: None
        valid=failed_check is None,
        failed_check=failed_check,
        extra={"valid_from": valid_from} if valid_from else {},
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


def is_read_base_response(frame: SamFrame) -> bool:
    """A successful 30 01 answer: status 00 00 90 followed by the two BE16 lengths and the text block."""
    return frame.body[:3] == b"\x00\x00\x90" and len(frame.data) >= 4 + TEXT_BLOCK_LEN


class SamSessionParser:
    """Reader→host bytes of a whole session -> one IdDocument per successful read-base response.

    Status, find and select answers carry no document and produce nothing; broken frames are Rejected.
    Pure, like every parser: the `read` technician command and the fuzz tests use it on recorded bytes.
    """

    def __init__(self) -> None:
        self._frames = SamFrameParser()

    def feed(self, chunk: bytes) -> list[ParsedItem]:
        out: list[ParsedItem] = []
        for item in self._frames.feed(chunk):
            if isinstance(item, Rejected):
                out.append(item)
            elif is_read_base_response(item):
                out.append(decode_read_base(item.data))
        return out
