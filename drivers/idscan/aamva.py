"""AAMVA DL/ID card PDF417 payloads (2020 AAMVA DL/ID Card Design Standard, Annex D): decode and encode.

The header declares its own separators (bytes 1-3), so they are read from the payload rather than assumed.
Real licences are known to carry subfile offsets that are off by a few bytes; a subfile whose declared
offset does not start with its type is searched for after the designators instead of being refused.
"""

from __future__ import annotations

import re
from datetime import date

from drivers.items import IdDocument

COMPLIANCE_INDICATOR = 0x40  # '@'
_FILE_TYPES = (b"ANSI ", b"AAMVA")
_DIGITS = re.compile(rb"\d+")
# Date formats: CCYYMMDD in the 2000 edition (version 01) and for Canada, MMDDCCYY for US jurisdictions since.
_ISO_ORDER = "ccyymmdd"
_US_ORDER = "mmddccyy"


class AamvaError(ValueError):
    """The payload claims to be AAMVA but its structure is broken. `reason` is a short stable string."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def looks_like_aamva(payload: bytes) -> bool:
    return len(payload) >= 9 and payload[0] == COMPLIANCE_INDICATOR and payload[4:9] in _FILE_TYPES


def _header(payload: bytes) -> tuple[str, str, int, int]:
    """(iin, version, number of entries, offset of the first designator)."""
    if not looks_like_aamva(payload):
        raise AamvaError("aamva:header")
    iin, version = payload[9:15], payload[15:17]
    if not (_DIGITS.fullmatch(iin) and _DIGITS.fullmatch(version)):
        raise AamvaError("aamva:header")
    # Version 01 (2000) has no jurisdiction version field.
    count_at = 17 if version == b"01" else 19
    count = payload[count_at : count_at + 2]
    if not _DIGITS.fullmatch(count) or int(count) == 0:
        raise AamvaError("aamva:header")
    return iin.decode(), version.decode(), int(count), count_at + 2


def _designators(payload: bytes) -> tuple[str, str, list[tuple[str, int, int]], int]:
    iin, version, count, first = _header(payload)
    designators = []
    for i in range(count):
        raw = payload[first + 10 * i : first + 10 * (i + 1)]
        if len(raw) < 10:
            raise AamvaError("aamva:truncated")
        if not (raw[:2].isalnum() and _DIGITS.fullmatch(raw[2:10])):
            raise AamvaError("aamva:designator")
        designators.append((raw[:2].decode(), int(raw[2:6]), int(raw[6:10])))
    return iin, version, designators, first + 10 * count


def declared_length(prefix: bytes) -> int | None:
    """Total payload length the header promises, or None while the designators have not all arrived.

    Lets a line-framed scanner whose terminator also occurs inside the payload (CR does) frame AAMVA data.
    Raises AamvaError when the bytes so far cannot be an AAMVA header.
    """
    try:
        _, _, designators, end = _designators(prefix)
    except AamvaError as exc:
        if exc.reason == "aamva:truncated" or len(prefix) < 21:
            return None
        raise
    return max([end] + [offset + length for _, offset, length in designators])


def _date(value: str | None, order: str) -> date | None:
    if not value:
        return None
    if len(value) != 8 or not value.isdigit():
        raise ValueError(value)
    if order == _ISO_ORDER:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    return date(int(value[4:]), int(value[:2]), int(value[2:4]))


def parse_aamva(payload: bytes) -> IdDocument:
    """Decode one payload; raises AamvaError when its structure is broken."""
    iin, version, designators, designators_end = _designators(payload)
    element_sep, segment_end = payload[1:2], payload[3:4]
    elements: dict[str, str] = {}
    subfile_types = []
    for subfile_type, offset, length in designators:
        body = payload[offset : offset + length]
        if not body.startswith(subfile_type.encode()):
            found = payload.find(subfile_type.encode(), designators_end)
            if found < 0:
                raise AamvaError("aamva:subfile")
            body = payload[found : found + length]
        subfile_types.append(subfile_type)
        body = body[2:].split(segment_end, 1)[0]
        for raw in body.split(element_sep):
            text = raw.decode("latin-1").strip("\r\n")
            if len(text) >= 3 and text[:3].isalnum():
                # The first subfile wins: jurisdiction subfiles (Z*) may reuse element ids.
                elements.setdefault(text[:3], text[3:].strip())
    if "DAQ" not in elements:
        raise AamvaError("aamva:no_number")

    country = elements.get("DCG", "")
    order = _ISO_ORDER if version == "01" or country == "CAN" else _US_ORDER
    surname = elements.get("DCS") or elements.get("DAB", "")
    first_names = elements.get("DAC") or elements.get("DCT", "")
    given = " ".join(x for x in (first_names, elements.get("DAD", "")) if x)
    if not surname and "DAA" in elements:
        parts = [p.strip() for p in elements["DAA"].split(",")]
        surname, given = parts[0], " ".join(parts[1:])
    given = given.replace(",", " ").strip()

    failed: list[str] = []
    dates: dict[str, str | None] = {}
    for label, element in (("birth_date", "DBB"), ("expiry", "DBA")):
        try:
            parsed = _date(elements.get(element), order)
        except ValueError:
            failed.append(f"format:{label}")
            parsed = None
        dates[label] = parsed.isoformat() if parsed else None
    sex_code = elements.get("DBC", "")
    sex = {"1": "M", "2": "F", "M": "M", "F": "F"}.get(sex_code)
    extra = {
        "iin": iin,
        "aamva_version": version,
        "subfiles": ",".join(subfile_types),
        "jurisdiction": elements.get("DAJ", ""),
        "surname": surname,
        "given_names": given,
    }
    return IdDocument(
        doc_type="aamva",
        number=elements["DAQ"],
        name=f"{surname} {given}".strip(),
        birth_date=dates["birth_date"],
        sex=sex,
        region=country,
        expiry=dates["expiry"],
        valid=not failed,
        failed_check=failed[0] if failed else None,
        extra=extra,
    )


def encode_aamva(
    subfiles: list[tuple[str, list[tuple[str, str]]]],
    *,
    iin: str = "636000",
    version: str = "10",
    jurisdiction_version: str = "01",
) -> bytes:
    """Build a payload with self-consistent offsets: [(subfile type, [(element id, value), …]), …]."""
    head = b"@\n\x1e\rANSI " + iin.encode() + version.encode()
    if version != "01":
        head += jurisdiction_version.encode()
    head += f"{len(subfiles):02d}".encode()
    bodies = [
        kind.encode() + b"\n".join(eid.encode() + value.encode("latin-1") for eid, value in elements) + b"\r"
        for kind, elements in subfiles
    ]
    offset = len(head) + 10 * len(subfiles)
    designators = b""
    for (kind, _), body in zip(subfiles, bodies, strict=True):
        designators += f"{kind}{offset:04d}{len(body):04d}".encode()
        offset += len(body)
    return head + designators + b"".join(bodies)
