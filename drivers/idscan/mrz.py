"""ICAO Doc 9303 machine-readable zones (TD1, TD2, TD3, MRV-A, MRV-B) from MRZ readers' text lines.

Written from the ICAO field tables (docs/protocols.md §2.3); the GPLv3 `mrz` package is deliberately not
used. Every check digit and the composite are verified; a document with a failing check is still handed
up, marked invalid with the failing field named, so a lane can never mistake it for a good read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import Field

from drivers.device import StreamDevice
from drivers.items import IdDocument, ParsedItem, Rejected
from drivers.strict import StrictModel
from drivers.transport import SerialPortName

# Characters -> values for the 7-3-1 check digit: 0-9 -> 0-9, A-Z -> 10-35, '<' -> 0.
_CHAR_VALUE = {**{str(d): d for d in range(10)}, **{chr(65 + i): 10 + i for i in range(26)}, "<": 0}
_WEIGHTS = (7, 3, 1)
_MRZ_LINE = re.compile(r"[A-Z0-9<]+")
_NAME_CHARS = re.compile(r"[A-Z<]+")
# Readers end lines with CR, LF or CR LF; some wrap the whole zone in STX ... ETX.
_SEPARATORS = re.compile(rb"[\r\n\x02\x03]")
_LINE_LENGTHS = {30: 3, 36: 2, 44: 2}  # characters per line -> lines per document
_MAX_LINE_BYTES = 128  # longest legal line is 44; anything far beyond is noise or a missing terminator

# The 20th/21st-century split for two-digit years: expiry dates may lie this far ahead of the reference.
EXPIRY_YEARS_AHEAD = 50


def check_digit(field: str) -> int:
    """ICAO 9303 part 3 §4.9: weights 7, 3, 1 repeating, sum mod 10."""
    return sum(_CHAR_VALUE[c] * _WEIGHTS[i % 3] for i, c in enumerate(field)) % 10


def _digit_ok(field: str, digit: str, *, filler_allowed: bool = False) -> bool:
    # An optional field left entirely empty may carry '<' as its check digit (9303 part 4, personal number).
    if filler_allowed and digit == "<" and set(field) <= {"<"}:
        return True
    return digit.isdigit() and int(digit) == check_digit(field)


def _century_date(yymmdd: str, reference: date, *, is_birth: bool) -> date:
    if not yymmdd.isdigit():
        raise ValueError("not digits")
    yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6])
    year = 2000 + yy
    if is_birth:
        # A birth date cannot lie in the future.
        if (year, mm, dd) > (reference.year, reference.month, reference.day):
            year -= 100
    elif year > reference.year + EXPIRY_YEARS_AHEAD:
        year -= 100
    return date(year, mm, dd)


def _name(field: str) -> tuple[str, str]:
    surname, _, given = field.partition("<<")
    return surname.replace("<", " ").strip(), given.replace("<", " ").strip()


@dataclass(frozen=True)
class _Check:
    name: str
    field: str
    digit: str
    filler_allowed: bool = False

    def passed(self) -> bool:
        return _digit_ok(self.field, self.digit, filler_allowed=self.filler_allowed)


@dataclass(frozen=True)
class _Fields:
    doc_type: str
    document_code: str
    issuer: str
    number: str
    nationality: str
    birth_yymmdd: str
    sex: str
    expiry_yymmdd: str
    name_field: str
    checks: tuple[_Check, ...]


def _overflowing_number(head: str, optional: str) -> tuple[str, str]:
    """Numbers longer than 9 (TD1/TD2): '<' in the check position; the rest + check digit open the optional
    data.

    Returns (full number, its check digit).
    """
    tail = optional.split("<", 1)[0]
    if len(tail) < 2:
        return head, "<"
    return head + tail[:-1], tail[-1]


def _td1(l1: str, l2: str, l3: str) -> _Fields:
    number, number_digit = l1[5:14], l1[14]
    if number_digit == "<" and l1[15] != "<":
        number, number_digit = _overflowing_number(l1[5:14], l1[15:30])
    checks = (
        _Check("document_number", number, number_digit),
        _Check("birth_date", l2[0:6], l2[6]),
        _Check("expiry", l2[8:14], l2[14]),
        _Check("composite", l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29], l2[29]),
    )
    return _Fields("mrz_td1", l1[0:2], l1[2:5], number, l2[15:18], l2[0:6], l2[7], l2[8:14], l3, checks)


def _two_line(l1: str, l2: str, doc_type: str, *, composite: bool, overflow: bool) -> _Fields:
    width = len(l1)
    number, number_digit = l2[0:9], l2[9]
    if overflow and number_digit == "<" and l2[28] != "<":
        number, number_digit = _overflowing_number(l2[0:9], l2[28 : width - 1])
    checks = [
        _Check("document_number", number, number_digit),
        _Check("birth_date", l2[13:19], l2[19]),
        _Check("expiry", l2[21:27], l2[27]),
    ]
    if doc_type == "mrz_td3":
        checks.append(_Check("personal_number", l2[28:42], l2[42], filler_allowed=True))
    if composite:
        checks.append(_Check("composite", l2[0:10] + l2[13:20] + l2[21 : width - 1], l2[width - 1]))
    return _Fields(
        doc_type, l1[0:2], l1[2:5], number, l2[10:13], l2[13:19], l2[20], l2[21:27], l1[5:], tuple(checks)
    )


def _fields(lines: list[str]) -> _Fields:
    width = len(lines[0])
    visa = lines[0][0] == "V"
    if width == 30:
        return _td1(lines[0], lines[1], lines[2])
    if width == 36:
        if visa:
            return _two_line(lines[0], lines[1], "mrz_mrvb", composite=False, overflow=False)
        return _two_line(lines[0], lines[1], "mrz_td2", composite=True, overflow=True)
    if visa:
        return _two_line(lines[0], lines[1], "mrz_mrva", composite=False, overflow=False)
    return _two_line(lines[0], lines[1], "mrz_td3", composite=True, overflow=False)


def plausible_first_line(line: str) -> bool:
    """Can this line open a document? Used to resynchronise after a reader dropped or garbled a line."""
    if len(line) == 30:
        return line[0] in "ACI" and _NAME_CHARS.fullmatch(line[2:5]) is not None
    if len(line) in (36, 44):
        return line[0] in "ACIPV" and _NAME_CHARS.fullmatch(line[2:]) is not None
    return False


def _plausible_group(lines: list[str]) -> bool:
    # Line 2 carries dates and check digits, so it never looks like an opening line; and its sex position
    # holds M, F, X or '<'. A group failing either is misaligned (a line was lost), not a bad document.
    sex = lines[1][7] if len(lines[0]) == 30 else lines[1][20]
    names_only = len(lines) < 3 or _NAME_CHARS.fullmatch(lines[2]) is not None  # TD1 line 3 is the name
    return (
        plausible_first_line(lines[0]) and not plausible_first_line(lines[1]) and sex in "MFX<" and names_only
    )


def parse_mrz(lines: list[str], reference_date: date) -> IdDocument:
    """Decode one complete zone. `reference_date` (today, supplied by the caller) places two-digit years.

    Raises ValueError when the lines do not form a TD1/TD2/TD3/MRV zone at all.
    """
    width = len(lines[0]) if lines else 0
    if width not in _LINE_LENGTHS or len(lines) != _LINE_LENGTHS[width] or {len(x) for x in lines} != {width}:
        raise ValueError("not an MRZ: wrong line count or length")
    if not all(_MRZ_LINE.fullmatch(x) for x in lines):
        raise ValueError("not an MRZ: characters outside A-Z 0-9 <")
    f = _fields(lines)
    failed = [c.name for c in f.checks if not c.passed()]
    failed_check = f"check_digit:{failed[0]}" if failed else None

    def dated(yymmdd: str, label: str, *, is_birth: bool) -> str | None:
        nonlocal failed_check
        if "<" in yymmdd:  # 9303 allows unknown date parts to be filled with '<'
            return None
        try:
            parsed = _century_date(yymmdd, reference_date, is_birth=is_birth)
        except ValueError:
            failed.append(f"format:{label}")
            failed_check = failed_check or f"format:{label}"
            return None
        return parsed.isoformat()

    birth = dated(f.birth_yymmdd, "birth_date", is_birth=True)
    expiry = dated(f.expiry_yymmdd, "expiry", is_birth=False)
    surname, given = _name(f.name_field)
    extra = {
        "document_code": f.document_code.rstrip("<"),
        "issuer": f.issuer.replace("<", ""),
        "surname": surname,
        "given_names": given,
    }
    if failed:
        extra["failed_checks"] = ",".join(failed)
    return IdDocument(
        doc_type=f.doc_type,
        number=f.number.replace("<", ""),
        name=f"{surname} {given}".strip(),
        birth_date=birth,
        sex=f.sex if f.sex in ("M", "F") else None,
        region=f.nationality.replace("<", ""),
        expiry=expiry,
        valid=not failed,
        failed_check=failed_check,
        extra=extra,
    )


class MrzParser:
    """Incremental: bytes from a reader in any chunking -> one IdDocument per complete zone.

    Lines that cannot belong to a zone are rejected with a reason; a zone missing a line is rejected as
    "incomplete_mrz" once the next zone starts, so one dropped line never glues two documents together.

    One case needs a look ahead: a TD1 group that fails its checks and whose third line could itself open
    a zone (names such as "ANDERSSON" look like a TD1 line 1) may be two stray lines plus the start of the
    real zone. Such a document is held until the next group completes: if that group is a valid zone, the
    two stray lines are rejected; otherwise the held document is handed up as it was (invalid). Silence
    (`end_of_burst`) also releases it, so it is delayed by at most the reader's idle gap.
    """

    def __init__(self, reference_date: date) -> None:
        self.reference_date = reference_date
        self._buffer = bytearray()
        self._pending: list[tuple[str, int]] = []  # (line, bytes it took on the wire)
        self._held: tuple[IdDocument, int] | None = None  # (invalid TD1, bytes of its first two lines)

    def feed(self, chunk: bytes) -> list[ParsedItem]:
        self._buffer += chunk
        out: list[ParsedItem] = []
        while True:
            match = _SEPARATORS.search(self._buffer)
            if match is None:
                if len(self._buffer) > _MAX_LINE_BYTES:
                    out.append(Rejected("line_too_long", len(self._buffer)))
                    self._buffer.clear()
                return out
            raw = bytes(self._buffer[: match.start()])
            del self._buffer[: match.end()]
            self._line(raw, match.end() - match.start(), out)

    def end_of_burst(self) -> list[ParsedItem]:
        """The link went quiet: a zone still waiting for lines will not be completed."""
        out: list[ParsedItem] = []
        if self._buffer:
            raw = bytes(self._buffer)
            self._buffer.clear()
            self._line(raw, 0, out)
        self._drop_pending(out)
        return out

    def _release_held(self, out: list[ParsedItem]) -> None:
        """Hand up the held document; its third line (the first pending one) goes with it."""
        if self._held is None:
            return
        out.append(self._held[0])
        self._held = None
        if self._pending:
            self._pending.pop(0)

    def _drop_pending(self, out: list[ParsedItem]) -> None:
        self._release_held(out)
        if self._pending:
            out.append(Rejected("incomplete_mrz", sum(n for _, n in self._pending)))
        self._pending = []

    def _line(self, raw: bytes, separator_len: int, out: list[ParsedItem]) -> None:
        nbytes = len(raw) + separator_len
        stripped = raw.strip(b" \t")
        if not stripped:
            if raw:
                out.append(Rejected("blank_line", len(raw)))
            return
        try:
            text = stripped.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        if not text or _MRZ_LINE.fullmatch(text) is None:
            self._drop_pending(out)
            out.append(Rejected("bad_charset", nbytes))
            return
        if len(text) not in _LINE_LENGTHS:
            self._drop_pending(out)
            out.append(Rejected("bad_length", nbytes))
            return
        if self._pending and len(self._pending[0][0]) != len(text):
            self._drop_pending(out)
        if not self._pending and not plausible_first_line(text):
            out.append(Rejected("out_of_order", nbytes))
            return
        self._pending.append((text, nbytes))
        self._complete(out)

    def _complete(self, out: list[ParsedItem]) -> None:
        while self._pending and len(self._pending) == _LINE_LENGTHS[len(self._pending[0][0])]:
            lines = [text for text, _ in self._pending]
            if _plausible_group(lines):
                doc = parse_mrz(lines, self.reference_date)
                if self._held is not None:
                    if doc.valid:
                        out.append(Rejected("incomplete_mrz", self._held[1]))  # the held lines were strays
                        self._held = None
                        out.append(doc)
                        self._pending = []
                        return
                    self._release_held(out)
                    self._resync(out)
                    continue
                if len(lines) == 3 and not doc.valid and plausible_first_line(lines[2]):
                    self._held = (doc, self._pending[0][1] + self._pending[1][1])
                    self._pending = self._pending[2:]
                    return
                out.append(doc)
                self._pending = []
                return
            # A misaligned group: the first line was an orphan (or the held document's last line).
            if self._held is not None:
                self._release_held(out)
            else:
                out.append(Rejected("incomplete_mrz", self._pending.pop(0)[1]))
            self._resync(out)

    def _resync(self, out: list[ParsedItem]) -> None:
        while self._pending and not plausible_first_line(self._pending[0][0]):
            out.append(Rejected("out_of_order", self._pending.pop(0)[1]))


class MrzReaderConfig(StrictModel):
    """An MRZ reader (OCR swipe or page reader) that sends the zone as text lines on a serial link."""

    type: Literal["mrz_reader"]
    port: SerialPortName = Field(description="pyserial URL or device path (/dev/serial/by-path/…).")
    baudrate: int = Field(default=9600, ge=1200, le=921600, description="Link speed, baud.")
    idle_gap_s: float = Field(
        default=0.5, gt=0.0, le=10.0, description="Silence after which a zone missing lines is dropped, s."
    )
    repeat_suppress_s: float = Field(
        default=3.0,
        ge=0.0,
        le=60.0,
        description="The same document read again within this time is reported once (0: every read), s.",
    )


class MrzReaderDevice(StreamDevice):
    kind = "idscan"

    def __init__(self, device_id: str, config: MrzReaderConfig) -> None:
        self.config = config
        super().__init__(device_id, config.port, config.baudrate)
        self.idle_gap_s = config.idle_gap_s
        self.repeat_suppress_s = config.repeat_suppress_s

    def new_parser(self) -> MrzParser:
        # The reference date only places two-digit years; refreshing it at each (re)connect is plenty.
        return MrzParser(reference_date=date.today())
