"""Line-framed barcode/QR scanners (USB-CDC or RS-232): framing, and payload patterns that become scans.

Scanner framing is vendor-configurable (docs/protocols.md §2.4), so prefix, suffix and terminator are all
configuration. Scanners that send no suffix at all are framed by silence: the device calls `end_of_burst()`
when the link has been idle for `idle_gap_s`, which keeps this parser free of clocks.

Payloads become scans through configurable regular expressions whose named groups fill the scan's fields
(a health-code QR's status colour, a ticket's ID number, …). AAMVA PDF417 licences are recognised by their
header and decoded by drivers.idscan.aamva.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from drivers.device import StreamDevice
from drivers.idscan import aamva
from drivers.items import IdDocument, ParsedItem, Rejected
from drivers.strict import StrictModel
from drivers.transport import SerialPortName

# Named groups that fill IdDocument fields; every other named group lands in `extra`.
_DOCUMENT_GROUPS = ("number", "name", "birth_date", "sex", "region", "expiry")
_DATE_GROUPS = ("birth_date", "expiry")


class PayloadPattern(StrictModel):
    """One kind of payload: a regex whose named groups become the scan's fields."""

    name: str = Field(..., min_length=1, max_length=64, description="Label stored in extra.pattern.")
    regex: str = Field(
        ...,
        min_length=1,
        description=(
            "Python regex matched against the whole payload (fullmatch). Named groups number, name, "
            "birth_date, sex, region, expiry fill those fields; health_code is mapped through "
            "health_code_colours; any other named group is copied into extra."
        ),
    )
    doc_type: str = Field(
        default="barcode", min_length=1, max_length=32, description="doc_type of the resulting scans."
    )
    date_format: str = Field(default="%Y%m%d", description="strptime format of the birth_date/expiry groups.")
    health_code_colours: dict[str, Literal["green", "yellow", "red"]] = Field(
        default={},
        description='Raw health_code group value -> colour, e.g. {"0": "green", "1": "yellow", "2": "red"}.',
    )

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regex: {exc}") from exc
        return value


class BarcodeFraming(StrictModel):
    """How a scanner delimits one read on the wire."""

    mode: Literal["terminator", "idle_gap"] = Field(
        default="terminator",
        description="terminator: a read ends with `terminator`; idle_gap: a read ends with silence.",
    )
    prefix: str = Field(default="", max_length=8, description='Sent before every read, e.g. "\\u0002" (STX).')
    suffix: str = Field(default="", max_length=8, description="Sent after every read, before the terminator.")
    terminator: str = Field(
        default="\r", max_length=4, description='Ends a read in terminator mode, e.g. "\\r\\n".'
    )
    idle_gap_s: float = Field(
        default=0.1,
        gt=0.0,
        le=5.0,
        description="Silence that ends a read (idle_gap mode) or discards a stale partial read, s.",
    )
    max_payload_bytes: int = Field(
        default=4096, ge=16, le=65536, description="Longer reads are rejected, bytes."
    )
    encoding: Literal["utf-8", "latin-1", "gb18030"] = Field(
        default="utf-8", description="Text encoding of the payloads."
    )


class BarcodeScannerConfig(StrictModel):
    type: Literal["barcode_scanner"]
    port: SerialPortName = Field(description="pyserial URL or device path, e.g. /dev/ttyACM0.")
    baudrate: int = Field(
        default=9600, ge=1200, le=921600, description="Link speed (ignored by USB-CDC), baud."
    )
    framing: BarcodeFraming = Field(default=BarcodeFraming(), description="How reads are delimited.")
    patterns: list[PayloadPattern] = Field(
        default=[], description="Tried in order; the first full match makes the scan."
    )
    decode_aamva: bool = Field(default=True, description="Decode AAMVA PDF417 driver licence/ID payloads.")
    accept_unmatched: bool = Field(
        default=False, description="Hand up payloads no pattern matches (doc_type barcode, number = payload)."
    )
    repeat_suppress_s: float = Field(
        default=3.0,
        ge=0.0,
        le=60.0,
        description="The same document read again within this time is reported once (0: every read), s.",
    )

    @field_validator("framing")
    @classmethod
    def _terminated(cls, value: BarcodeFraming) -> BarcodeFraming:
        if value.mode == "terminator" and not value.terminator:
            raise ValueError("terminator mode needs a non-empty terminator (or use mode idle_gap)")
        return value


class PayloadDecoder:
    """Payload bytes -> IdDocument or Rejected, through AAMVA detection and the configured patterns."""

    def __init__(
        self,
        patterns: list[PayloadPattern],
        *,
        encoding: str = "utf-8",
        decode_aamva: bool = True,
        accept_unmatched: bool = False,
    ) -> None:
        self._patterns = [(p, re.compile(p.regex, re.DOTALL)) for p in patterns]
        self._encoding, self.decodes_aamva, self._accept_unmatched = encoding, decode_aamva, accept_unmatched

    def decode(self, payload: bytes) -> IdDocument | Rejected:
        if self.decodes_aamva and aamva.looks_like_aamva(payload):
            try:
                return aamva.parse_aamva(payload)
            except aamva.AamvaError as exc:
                return Rejected(exc.reason, len(payload))
        try:
            text = payload.decode(self._encoding)
        except UnicodeDecodeError:
            return Rejected("bad_encoding", len(payload))
        for pattern, compiled in self._patterns:
            match = compiled.fullmatch(text)
            if match:
                return _from_match(pattern, match)
        if self._accept_unmatched:
            return IdDocument(doc_type="barcode", number=text)
        return Rejected("no_pattern_match", len(payload))


def _from_match(pattern: PayloadPattern, match: re.Match[str]) -> IdDocument:
    groups = {k: v for k, v in match.groupdict().items() if v is not None}
    fields: dict[str, str | None] = {k: groups.pop(k) for k in _DOCUMENT_GROUPS if k in groups}
    failed: str | None = None
    for label in _DATE_GROUPS:
        raw = fields.get(label)
        if raw is None:
            continue
        try:
            fields[label] = datetime.strptime(raw, pattern.date_format).date().isoformat()
        except ValueError:
            fields[label] = None
            failed = failed or f"format:{label}"
    sex = (fields.get("sex") or "").upper()[:1]
    extra = {"pattern": pattern.name, **groups}
    if "health_code" in groups:
        raw_code = groups["health_code"]
        colour = pattern.health_code_colours.get(raw_code, raw_code.lower())
        if colour not in ("green", "yellow", "red"):
            failed = failed or "health_code"
        extra["health_code"] = colour
    return IdDocument(
        doc_type=pattern.doc_type,
        number=fields.get("number") or "",
        name=fields.get("name") or "",
        birth_date=fields.get("birth_date"),
        sex=sex if sex in ("M", "F") else None,
        region=fields.get("region") or "",
        expiry=fields.get("expiry"),
        valid=failed is None,
        failed_check=failed,
        extra=extra,
    )


class BarcodeParser:
    """Incremental framing + decoding. Feed bytes split anywhere; call end_of_burst() after idle_gap_s."""

    def __init__(self, framing: BarcodeFraming, decoder: PayloadDecoder) -> None:
        self._framing, self._decoder = framing, decoder
        self._prefix = framing.prefix.encode("latin-1")
        self._suffix = framing.suffix.encode("latin-1")
        self._terminator = framing.terminator.encode("latin-1")
        self._buffer = bytearray()
        # Where to look for the terminator next: past an AAMVA payload's declared length, whose CR/LF
        # separators would otherwise end the read early.
        self._search_from = 0

    @classmethod
    def from_config(cls, config: BarcodeScannerConfig) -> BarcodeParser:
        decoder = PayloadDecoder(
            config.patterns,
            encoding=config.framing.encoding,
            decode_aamva=config.decode_aamva,
            accept_unmatched=config.accept_unmatched,
        )
        return cls(config.framing, decoder)

    def feed(self, chunk: bytes) -> list[ParsedItem]:
        self._buffer += chunk
        out: list[ParsedItem] = []
        if self._framing.mode == "idle_gap":
            if len(self._buffer) > self._framing.max_payload_bytes:
                out.append(Rejected("too_long", len(self._buffer)))
                self._buffer.clear()
            return out
        while True:
            # A CR LF line end read with a CR terminator leaves an LF in front of the next read.
            if not self._prefix and self._buffer[:1] in (b"\r", b"\n") and self._search_from == 0:
                del self._buffer[:1]
                continue
            end = self._find_terminator()
            if end is None:
                overhead = len(self._prefix) + len(self._suffix)
                if len(self._buffer) > self._framing.max_payload_bytes + overhead:
                    out.append(Rejected("too_long", len(self._buffer)))
                    self._buffer.clear()
                    self._search_from = 0
                return out
            frame = bytes(self._buffer[:end])
            del self._buffer[: end + len(self._terminator)]
            self._search_from = 0
            self._read(frame, len(self._terminator), out)

    def end_of_burst(self) -> list[ParsedItem]:
        """The link has been silent for idle_gap_s. In idle_gap mode that ends a read. In terminator mode a
        partial read is stale and is dropped so it cannot glue onto the next one, except an AAMVA payload
        whose header over-declared its length but which did end with the terminator."""
        out: list[ParsedItem] = []
        if not self._buffer:
            return out
        frame = bytes(self._buffer)
        aamva_pending = self._search_from > 0
        self._buffer.clear()
        self._search_from = 0
        if self._framing.mode == "idle_gap":
            self._read(frame, 0, out)
        elif aamva_pending and frame.endswith(self._terminator):
            self._read(frame[: -len(self._terminator)], len(self._terminator), out)
        elif frame.strip(b"\r\n"):
            out.append(Rejected("no_terminator", len(frame)))
        return out

    def _find_terminator(self) -> int | None:
        if self._search_from == 0 and self._decoder.decodes_aamva:
            aamva_end = self._aamva_end()
            if aamva_end is None:
                return None
            self._search_from = aamva_end
        index = self._buffer.find(self._terminator, self._search_from)
        return index if index >= 0 else None

    def _aamva_end(self) -> int | None:
        """0 when the pending read is not AAMVA, None while its header is still arriving, else the buffer
        index where its declared payload ends (its CR/LF separators must not end the read early)."""
        body_at = 0
        if self._prefix:
            at = self._buffer.find(self._prefix)
            if at < 0:
                return 0
            body_at = at + len(self._prefix)
        head = bytes(self._buffer[body_at : body_at + 9])
        if head[:1] != b"@":
            return 0
        if len(head) < 9:
            partial = any(kind.startswith(head[4:]) for kind in (b"ANSI ", b"AAMVA"))
            return None if partial else 0
        if not aamva.looks_like_aamva(head):
            return 0
        try:
            total = aamva.declared_length(bytes(self._buffer[body_at:]))
        except aamva.AamvaError:
            return 0
        return None if total is None else body_at + total

    def _read(self, frame: bytes, terminator_len: int, out: list[ParsedItem]) -> None:
        if self._prefix:
            at = frame.find(self._prefix)
            if at < 0:
                if frame:
                    out.append(Rejected("bad_prefix", len(frame) + terminator_len))
                return
            if at > 0:
                out.append(Rejected("garbage", at))
            frame = frame[at + len(self._prefix) :]
            terminator_len += len(self._prefix)
        if self._suffix:
            if not frame.endswith(self._suffix):
                out.append(Rejected("bad_suffix", len(frame) + terminator_len))
                return
            frame = frame[: -len(self._suffix)]
            terminator_len += len(self._suffix)
        if not frame.strip(b"\r\n"):
            if frame or self._prefix or self._suffix:
                out.append(Rejected("empty", len(frame) + terminator_len))
            return
        if len(frame) > self._framing.max_payload_bytes:
            out.append(Rejected("too_long", len(frame) + terminator_len))
            return
        payload = frame.lstrip(b"\r\n")
        if not aamva.looks_like_aamva(payload):
            payload = payload.rstrip(b"\r\n")
        out.append(self._decoder.decode(payload))


class BarcodeScannerDevice(StreamDevice):
    kind = "idscan"

    def __init__(self, device_id: str, config: BarcodeScannerConfig) -> None:
        self.config = config
        super().__init__(device_id, config.port, config.baudrate)
        self.idle_gap_s = config.framing.idle_gap_s
        self.repeat_suppress_s = config.repeat_suppress_s

    def new_parser(self) -> BarcodeParser:
        return BarcodeParser.from_config(self.config)
