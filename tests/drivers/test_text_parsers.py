"""MRZ-reader and barcode-scanner framing: line ends, lost lines, prefixes/suffixes, idle gaps, patterns."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from drivers.idscan import aamva
from drivers.idscan.barcode import (
    BarcodeFraming,
    BarcodeParser,
    BarcodeScannerConfig,
    PayloadDecoder,
    PayloadPattern,
)
from drivers.idscan.mrz import MrzParser
from drivers.items import IdDocument, Rejected
from tests.drivers.test_golden_vectors import AAMVA_SAMPLE, UTOPIA_TD1, UTOPIA_TD2, UTOPIA_TD3

TODAY = date(2026, 11, 23)


def docs(items: list[object]) -> list[IdDocument]:
    return [x for x in items if isinstance(x, IdDocument)]


def rejected(items: list[object]) -> list[str]:
    return [x.reason for x in items if isinstance(x, Rejected)]


# ---- MRZ --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("line_end", [b"\r", b"\n", b"\r\n"])
def test_mrz_any_line_end_and_byte_by_byte(line_end: bytes) -> None:
    parser = MrzParser(TODAY)
    stream = b"".join(x.encode() + line_end for x in UTOPIA_TD1 + UTOPIA_TD3)
    items = [item for byte in stream for item in parser.feed(bytes([byte]))]
    assert [d.doc_type for d in docs(items)] == ["mrz_td1", "mrz_td3"]
    assert all(d.valid for d in docs(items))
    assert rejected(items) == []


def test_mrz_stx_etx_wrapped_zone() -> None:
    stream = b"\x02" + b"\r".join(x.encode() for x in UTOPIA_TD2) + b"\x03"
    assert [d.doc_type for d in docs(MrzParser(TODAY).feed(stream))] == ["mrz_td2"]


def test_mrz_lost_line_never_glues_two_documents() -> None:
    parser = MrzParser(TODAY)
    # TD1 with its second line lost, then a complete TD1.
    stream = b"\r\n".join(x.encode() for x in [UTOPIA_TD1[0], UTOPIA_TD1[2], *UTOPIA_TD1]) + b"\r\n"
    items = parser.feed(stream)
    assert [(d.doc_type, d.valid) for d in docs(items)] == [("mrz_td1", True)]
    assert "incomplete_mrz" in rejected(items) or "out_of_order" in rejected(items)


def test_mrz_zone_interrupted_by_another_format() -> None:
    parser = MrzParser(TODAY)
    items = parser.feed((UTOPIA_TD3[0] + "\r" + UTOPIA_TD2[0] + "\r" + UTOPIA_TD2[1] + "\r").encode())
    assert [d.doc_type for d in docs(items)] == ["mrz_td2"]
    assert rejected(items) == ["incomplete_mrz"]


def test_mrz_noise_lines_are_rejected_with_reasons() -> None:
    items = MrzParser(TODAY).feed(b"hello\r\nABC<<123\r\n" + b"X" * 200)
    assert rejected(items) == ["bad_charset", "bad_length", "line_too_long"]


def test_mrz_end_of_burst_drops_a_half_zone() -> None:
    parser = MrzParser(TODAY)
    assert parser.feed(UTOPIA_TD3[0].encode() + b"\r\n") == []
    assert parser.end_of_burst() == [Rejected("incomplete_mrz", 45)]
    # The next zone is unaffected.
    assert docs(parser.feed(("\r\n".join(UTOPIA_TD3) + "\r\n").encode()))[0].valid


def test_mrz_lowercase_ocr_output_is_not_guessed_at() -> None:
    items = MrzParser(TODAY).feed(("\r".join(x.lower() for x in UTOPIA_TD3) + "\r").encode())
    assert docs(items) == [] and rejected(items) == ["bad_charset", "bad_charset"]


# ---- Barcode ----------------------------------------------------------------------------------------

HEALTH = PayloadPattern(
    name="health_code",
    regex=r"HC\|(?P<number>\d{17}[\dX])\|(?P<health_code>[012])\|(?P<expiry>\d{8})",
    health_code_colours={"0": "green", "1": "yellow", "2": "red"},
)


def parser_for(
    framing: BarcodeFraming, *patterns: PayloadPattern, accept_unmatched: bool = False
) -> BarcodeParser:
    return BarcodeParser(framing, PayloadDecoder(list(patterns), accept_unmatched=accept_unmatched))


def test_health_code_pattern_fills_fields_and_maps_colour() -> None:
    (doc,) = docs(parser_for(BarcodeFraming(), HEALTH).feed(b"HC|990000200001020018|1|20261231\r"))
    assert (doc.doc_type, doc.number, doc.expiry, doc.valid) == (
        "barcode",
        "990000200001020018",
        "2026-12-31",
        True,
    )
    assert doc.extra == {"pattern": "health_code", "health_code": "yellow"}


def test_unknown_health_colour_is_invalid() -> None:
    pattern = PayloadPattern(name="hc", regex=r"(?P<health_code>\w+)")
    (doc,) = docs(parser_for(BarcodeFraming(), pattern).feed(b"purple\r"))
    assert (doc.valid, doc.failed_check) == (False, "health_code")


def test_bad_date_in_a_pattern_is_invalid() -> None:
    (doc,) = docs(parser_for(BarcodeFraming(), HEALTH).feed(b"HC|990000200001020018|0|20261341\r"))
    assert (doc.valid, doc.failed_check, doc.expiry) == (False, "format:expiry", None)


def test_unmatched_payloads_are_rejected_unless_accepted() -> None:
    assert rejected(parser_for(BarcodeFraming(), HEALTH).feed(b"ABC123\r")) == ["no_pattern_match"]
    (doc,) = docs(parser_for(BarcodeFraming(), accept_unmatched=True).feed(b"ABC123\r"))
    assert (doc.doc_type, doc.number) == ("barcode", "ABC123")


def test_stx_etx_framing_with_garbage_before_the_prefix() -> None:
    parser = parser_for(BarcodeFraming(prefix="\x02", terminator="\x03"), accept_unmatched=True)
    items = parser.feed(b"zz\x02ONE\x03\x02TWO\x03noise\x03")
    assert [d.number for d in docs(items)] == ["ONE", "TWO"]
    assert rejected(items) == ["garbage", "bad_prefix"]


def test_suffix_is_required_and_stripped() -> None:
    parser = parser_for(BarcodeFraming(suffix="#", terminator="\n"), accept_unmatched=True)
    items = parser.feed(b"A1#\nB2\n")
    assert [d.number for d in docs(items)] == ["A1"] and rejected(items) == ["bad_suffix"]


def test_crlf_sent_to_a_cr_configured_parser_does_not_leak_lf() -> None:
    parser = parser_for(BarcodeFraming(terminator="\r"), accept_unmatched=True)
    assert [d.number for d in docs(parser.feed(b"A\r\nB\r\n"))] == ["A", "B"]


def test_idle_gap_mode_frames_by_silence() -> None:
    parser = parser_for(BarcodeFraming(mode="idle_gap"), accept_unmatched=True)
    assert parser.feed(b"HELLO ") == [] and parser.feed(b"WORLD\r") == []
    (doc,) = docs(parser.end_of_burst())
    assert doc.number == "HELLO WORLD"
    assert parser.end_of_burst() == []


def test_stale_partial_read_is_dropped_at_the_gap_in_terminator_mode() -> None:
    parser = parser_for(BarcodeFraming(), accept_unmatched=True)
    parser.feed(b"HALF")
    assert parser.end_of_burst() == [Rejected("no_terminator", 4)]
    assert [d.number for d in docs(parser.feed(b"WHOLE\r"))] == ["WHOLE"]


def test_overlong_read_is_rejected() -> None:
    parser = parser_for(BarcodeFraming(max_payload_bytes=16), accept_unmatched=True)
    assert rejected(parser.feed(b"X" * 40)) == ["too_long"]


def test_aamva_sample_through_a_cr_terminated_scanner() -> None:
    # The sample's segment terminator is CR, the same byte as the scanner's terminator.
    items = parser_for(BarcodeFraming(terminator="\r"), HEALTH).feed(AAMVA_SAMPLE + b"\r")
    (doc,) = docs(items)
    assert (doc.doc_type, doc.number, doc.birth_date) == ("aamva", "T64235789", "1986-06-06")
    assert rejected(items) == []


def test_aamva_with_over_declared_length_is_recovered_at_the_gap() -> None:
    payload = bytearray(aamva.encode_aamva([("DL", [("DAQ", "Q1"), ("DCS", "ROE")])]))
    payload[25:29] = b"0099"  # the designator claims more bytes than the subfile has
    parser = parser_for(BarcodeFraming(terminator="\n"))
    assert parser.feed(bytes(payload) + b"\n") == []
    (doc,) = docs(parser.end_of_burst())
    assert doc.number == "Q1"


def test_broken_aamva_header_is_rejected() -> None:
    items = parser_for(BarcodeFraming(terminator="\x03")).feed(b"@\n\x1e\rANSI 6360001001XX\x03")
    assert rejected(items) == ["aamva:header"]
    # A header cut short waits for its remaining bytes; silence then drops it.
    parser = parser_for(BarcodeFraming(terminator="\x03"))
    assert parser.feed(b"@\n\x1e\rANSI 636000\x03") == []
    assert rejected(parser.end_of_burst()) == ["no_terminator"]


def test_config_validates_regexes_and_terminators() -> None:
    with pytest.raises(ValidationError, match="invalid regex"):
        PayloadPattern(name="x", regex="(unclosed")
    with pytest.raises(ValidationError, match="non-empty terminator"):
        BarcodeScannerConfig(
            type="barcode_scanner", port="/dev/ttyACM0", framing=BarcodeFraming(terminator="")
        )
    with pytest.raises(ValidationError, match="Extra inputs"):
        BarcodeScannerConfig.model_validate({"type": "barcode_scanner", "port": "/dev/ttyACM0", "baud": 9600})


def _td1_with_name(name_line: str, *, valid: bool) -> list[str]:
    line2 = UTOPIA_TD1[1] if valid else UTOPIA_TD1[1][:-1] + "0"  # a wrong composite digit
    return [UTOPIA_TD1[0], line2, name_line]


ANDERSSON = "ANDERSSON<<ANNA<<<<<<<<<<<<<<<"  # looks like a TD1 line 1: 'A', then letters


def test_mrz_two_stray_lines_before_a_zone_do_not_swallow_its_first_line() -> None:
    strays = ["I0<AA000000000000000000000000<", "<<<<<<<<<<<<<<<<<<<<<<<<<AAAAA"]
    items = MrzParser(TODAY).feed("\r\n".join([*strays, *UTOPIA_TD1, ""]).encode())
    assert [(d.doc_type, d.number, d.valid) for d in docs(items)] == [("mrz_td1", "D23145890", True)]
    assert rejected(items) == ["incomplete_mrz", "out_of_order"]


def test_mrz_invalid_td1_with_an_opening_like_name_is_released_by_silence() -> None:
    parser = MrzParser(TODAY)
    assert docs(parser.feed("\r\n".join([*_td1_with_name(ANDERSSON, valid=False), ""]).encode())) == []
    (doc,) = docs(parser.end_of_burst())
    assert (doc.valid, doc.failed_check, doc.extra["surname"]) == (
        False,
        "check_digit:composite",
        "ANDERSSON",
    )


def test_mrz_invalid_td1_with_an_opening_like_name_then_another_zone() -> None:
    lines = [*_td1_with_name(ANDERSSON, valid=False), *UTOPIA_TD1, ""]
    items = MrzParser(TODAY).feed("\r\n".join(lines).encode())
    assert [(d.extra["surname"], d.valid) for d in docs(items)] == [("ANDERSSON", False), ("ERIKSSON", True)]
    assert rejected(items) == []
