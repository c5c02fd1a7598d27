"""Golden vectors from the protocol research and the fixtures in tests/data/fixtures: every byte and check
digit here was derived independently of this code, from the vendors' documents and public captures."""

from __future__ import annotations

import struct
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from drivers.idscan import aamva
from drivers.idscan import resident_id_number as ric
from drivers.idscan import sam_protocol as sam
from drivers.idscan.mrz import check_digit, parse_mrz
from drivers.items import IdDocument, Rejected, ThermalImage
from drivers.thermal import gy_mcu8833 as g8833
from drivers.thermal import gy_mcu90640 as g90640

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fixtures"
TODAY = date(2026, 11, 23)

UTOPIA_TD3 = ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"]
UTOPIA_TD2 = ["I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6"]
UTOPIA_TD1 = [
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
]


# ---- ICAO 9303 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "digit"), [("L898902C3", 6), ("740812", 2), ("<<<<<<<<<<<<<<", 0)])
def test_icao_check_digit_vectors(field: str, digit: int) -> None:
    assert check_digit(field) == digit


@pytest.mark.parametrize(
    ("lines", "doc_type", "number", "birth", "expiry", "sex", "region"),
    [
        (UTOPIA_TD3, "mrz_td3", "L898902C3", "1974-08-12", "2012-04-15", "F", "UTO"),
        (
            [UTOPIA_TD3[0], "L898902C<3UTO6908061F9406236ZE184226B<<<<<14"],
            "mrz_td3",
            "L898902C",
            "1969-08-06",
            "1994-06-23",
            "F",
            "UTO",
        ),
        (UTOPIA_TD2, "mrz_td2", "D23145890", "1974-08-12", "2012-04-15", "F", "UTO"),
        (UTOPIA_TD1, "mrz_td1", "D23145890", "1974-08-12", "2012-04-15", "F", "UTO"),
        (
            [
                "IDAUT10000999<6<<<<<<<<<<<<<<<",
                "7109094F1112315AUT<<<<<<<<<<<4",
                "MUSTERFRAU<<ISOLDE<<<<<<<<<<<<",
            ],
            "mrz_td1",
            "10000999",
            "1971-09-09",
            "2011-12-31",
            "F",
            "AUT",
        ),
        (
            [
                "I<SWE59000002<8198703142391<<<",
                "8703145M1701027SWE<<<<<<<<<<<8",
                "SPECIMEN<<SVEN<<<<<<<<<<<<<<<<",
            ],
            "mrz_td1",
            "59000002",
            "1987-03-14",
            "2017-01-02",
            "M",
            "SWE",
        ),
        (
            ["P<POLKOWALSKA<KWIATKOWSKA<<JOANNA<<<<<<<<<<<", "AA00000000POL6002084F1412314<<<<<<<<<<<<<<<4"],
            "mrz_td3",
            "AA0000000",
            "1960-02-08",
            "2014-12-31",
            "F",
            "POL",
        ),
        (
            ["VIUSATRAVELER<<HAPPYPERSON<<<<<<<<<<<<<<<<<<", "555123ABC6GBR6502056F04122361FLNDDDAM5803085"],
            "mrz_mrva",
            "555123ABC",
            "1965-02-05",
            "2004-12-23",
            "F",
            "GBR",
        ),
    ],
)
def test_icao_specimens_are_valid(
    lines: list[str], doc_type: str, number: str, birth: str, expiry: str, sex: str, region: str
) -> None:
    doc = parse_mrz(lines, TODAY)
    assert (doc.valid, doc.failed_check) == (True, None)
    assert (doc.doc_type, doc.number, doc.birth_date, doc.expiry, doc.sex, doc.region) == (
        doc_type,
        number,
        birth,
        expiry,
        sex,
        region,
    )


def test_utopia_names() -> None:
    doc = parse_mrz(UTOPIA_TD3, TODAY)
    assert doc.extra["surname"] == "ERIKSSON" and doc.extra["given_names"] == "ANNA MARIA"
    assert doc.name == "ERIKSSON ANNA MARIA"


def test_tampered_td3_birth_date_is_invalid_and_named() -> None:
    tampered = [UTOPIA_TD3[0], "L898902C36UTO7408152F1204159ZE184226B<<<<<10"]
    doc = parse_mrz(tampered, TODAY)
    assert doc.valid is False
    assert doc.failed_check == "check_digit:birth_date"
    assert doc.extra["failed_checks"] == "birth_date,composite"


def test_older_edition_negative_test_dob_check_digit() -> None:
    # The public negative test changes the DOB check digit 1 -> 9.
    doc = parse_mrz([UTOPIA_TD3[0], "L898902C<3UTO6908069F9406236ZE184226B<<<<<14"], TODAY)
    assert doc.failed_check == "check_digit:birth_date"


def test_td1_invalid_composite_from_passporteye_doctest() -> None:
    lines = [
        "IDAUT10000999<6<<<<<<<<<<<<<<<",
        "7109094F1112315AUT<<<<<<<<<<<6",
        "MUSTERFRAU<<ISOLDE<<<<<<<<<<<<",
    ]
    doc = parse_mrz(lines, TODAY)
    assert (doc.valid, doc.failed_check) == (False, "check_digit:composite")


@pytest.mark.parametrize(
    ("line2", "failed"),
    [
        ("L898902C37UTO7408122F1204159ZE184226B<<<<<10", "check_digit:document_number"),
        ("L898902C36UTO7408122F1204158ZE184226B<<<<<10", "check_digit:expiry"),
        ("L898902C36UTO7408122F1204159ZE184226B<<<<<20", "check_digit:personal_number"),
        ("L898902C36UTO7408122F1204159ZE184226B<<<<<11", "check_digit:composite"),
    ],
)
def test_each_td3_check_is_verified(line2: str, failed: str) -> None:
    doc = parse_mrz([UTOPIA_TD3[0], line2], TODAY)
    assert (doc.valid, doc.failed_check) == (False, failed)


def test_td1_overflowing_document_number() -> None:
    # 9303 part 5: a 12-character number puts '<' in the check position and continues in optional data.
    number = "D23145890734"
    digit = str(check_digit(number))
    line1 = ("I<UTO" + number[:9] + "<" + number[9:] + digit).ljust(30, "<")
    line2 = "7408122F1204159UTO<<<<<<<<<<<"
    composite = str(check_digit(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]))
    doc = parse_mrz([line1, line2 + composite, UTOPIA_TD1[2]], TODAY)
    assert (doc.valid, doc.number) == (True, number)


def td3_line2(number: str, nationality: str, birth: str, sex: str, expiry: str, personal: str = "") -> str:
    """A TD3 line 2 with every check digit computed (for fields the specimens do not cover)."""
    personal = personal.ljust(14, "<")
    personal_digit = "<" if set(personal) == {"<"} else str(check_digit(personal))
    line = (
        f"{number}{check_digit(number)}{nationality}{birth}{check_digit(birth)}{sex}"
        f"{expiry}{check_digit(expiry)}{personal}{personal_digit}"
    )
    return line + str(check_digit(line[0:10] + line[13:20] + line[21:43]))


def test_century_choice_uses_the_reference_date() -> None:
    doc = parse_mrz(UTOPIA_TD3, date(2030, 1, 1))
    assert doc.birth_date == "1974-08-12"  # 2074 would be in the future
    line2 = td3_line2("L898902C3", "UTO", "000101", "F", "301231")
    doc = parse_mrz([UTOPIA_TD3[0], line2], date(2026, 11, 23))
    assert doc.valid and doc.birth_date == "2000-01-01" and doc.expiry == "2030-12-31"
    late = parse_mrz([UTOPIA_TD3[0], td3_line2("L898902C3", "UTO", "991231", "F", "991231")], TODAY)
    assert late.birth_date == "1999-12-31" and late.expiry == "1999-12-31"  # 2099 is beyond the window


def test_empty_personal_number_may_carry_a_filler_check_digit() -> None:
    doc = parse_mrz([UTOPIA_TD3[0], td3_line2("L898902C3", "UTO", "740812", "F", "120415")], TODAY)
    assert doc.valid


def test_impossible_date_with_a_good_check_digit_is_invalid() -> None:
    doc = parse_mrz([UTOPIA_TD3[0], td3_line2("L898902C3", "UTO", "741332", "F", "120415")], TODAY)
    assert (doc.valid, doc.failed_check, doc.birth_date) == (False, "format:birth_date", None)


# ---- Resident ID number (ISO 7064 MOD 11-2) -------------------------------------------------------


@pytest.mark.parametrize(
    "number", ["360426199101010071", "38064219921117061X", "486268198802140611", "990000200001020018"]
)
def test_resident_id_check_characters(number: str) -> None:
    assert ric.check_character(number[:17]) == number[17]
    assert ric.failed_check(number) is None


def test_resident_id_wrong_check_character() -> None:
    assert ric.failed_check("360426199101010072") == "check_digit"


# ---- SAM reader frames ------------------------------------------------------------------------------

SAM_COMMANDS = [
    ((0x10, 0xFF, b""), "AAAAAA9669000310FFEC"),
    ((0x11, 0xFF, b""), "AAAAAA9669000311FFED"),
    ((0x12, 0xFF, b""), "AAAAAA9669000312FFEE"),
    ((0x20, 0x01, b""), "AAAAAA96690003200122"),
    ((0x20, 0x02, b""), "AAAAAA96690003200221"),
    ((0x30, 0x01, b""), "AAAAAA96690003300132"),
    ((0x30, 0x03, b""), "AAAAAA96690003300330"),
    ((0x30, 0x10, b""), "AAAAAA96690003301023"),
    ((0x61, 0xFF, b"\x50"), "AAAAAA9669000461FF50CA"),
]


@pytest.mark.parametrize(("command", "hex_frame"), SAM_COMMANDS)
def test_sam_command_vectors(command: tuple[int, int, bytes], hex_frame: str) -> None:
    assert sam.encode_command(*command) == bytes.fromhex(hex_frame)


def _sam_response_vectors() -> list[tuple[str, bytes]]:
    rows = (FIXTURES / "sam_responses.hex").read_text().strip().splitlines()
    return [(label, bytes.fromhex(hex_frame)) for label, hex_frame in (row.split("\t") for row in rows)]


@pytest.mark.parametrize(("label", "frame"), _sam_response_vectors())
def test_sam_response_vectors_parse_and_reencode(label: str, frame: bytes) -> None:
    items = sam.SamFrameParser().feed(frame)
    assert len(items) == 1 and isinstance(items[0], sam.SamFrame), label
    body = items[0].body
    assert sam.encode_response(body[2], body[3:], body[0], body[1]) == frame
    expected_sw3 = {"SAM ok": 0x90, "find: no card": 0x80, "find: ok 9F": 0x9F, "read: fail 41": 0x41}
    expected_sw3 |= {"select: fail 81": 0x81, "select: ok": 0x90}
    assert items[0].sw3 == expected_sw3[label]


def test_the_published_wrong_find_card_checksum_is_rejected() -> None:
    items = sam.SamFrameParser().feed(bytes.fromhex("AAAAAA96690003200121"))
    assert items[0] == Rejected("xor_check", 5)
    assert not any(isinstance(x, sam.SamFrame) for x in items)


def test_sam_read_base_fixture() -> None:
    frame = (FIXTURES / "sam_read_base_synthetic.bin").read_bytes()
    assert len(frame) == 1295
    docs = sam.SamSessionParser().feed(frame)
    assert len(docs) == 1 and isinstance(docs[0], IdDocument)
    doc = docs[0]
    assert (doc.doc_type, doc.number, doc.name, doc.sex) == (
        "cn_resident_id",
        "990000200001020018",
        "测试",
        "M",
    )
    assert (doc.birth_date, doc.region, doc.valid) == ("2000-01-02", "990000", True)


def test_sam_read_base_with_a_forged_number_is_invalid() -> None:
    frame = bytearray((FIXTURES / "sam_read_base_synthetic.bin").read_bytes())
    at = 14 + 122 + 2 * 17  # the check character of the number in the text block
    frame[at] = ord("9")
    frame[-1] = 0
    x = 0
    for b in frame[5:-1]:
        x ^= b
    frame[-1] = x
    (doc,) = sam.SamSessionParser().feed(bytes(frame))
    assert isinstance(doc, IdDocument)
    assert (doc.valid, doc.failed_check, doc.region) == (False, "check_digit:number", "")


# ---- Thermal fixtures -------------------------------------------------------------------------------


def test_gy_mcu90640_manual_example_bytes() -> None:
    # Manual: `6E 0E` -> 36.94 °C, Ta `8D 0E` -> 37.25 °C, length `02 06` = 1538 LE.
    assert struct.unpack("<h", bytes.fromhex("6E0E"))[0] / 100 == 36.94
    assert struct.unpack("<h", bytes.fromhex("8D0E"))[0] / 100 == 37.25
    assert struct.unpack("<H", g90640.HEADER[2:])[0] == 1538


def test_gy_mcu90640_command_vectors() -> None:
    assert g90640.cmd_baud(9600) == bytes.fromhex("A51501BB")
    assert g90640.cmd_baud(115200) == bytes.fromhex("A51502BC")
    assert g90640.cmd_baud(460800) == bytes.fromhex("A51503BD")
    rates = {0.5: "A52500CA", 1.0: "A52501CB", 2.0: "A52502CC", 4.0: "A52503CD", 8.0: "A52504CE"}
    for hz, hex_cmd in rates.items():
        assert g90640.cmd_rate(hz) == bytes.fromhex(hex_cmd)
    assert bytes.fromhex("A53501DB") == g90640.CMD_QUERY_MODE
    assert bytes.fromhex("A53502DC") == g90640.CMD_CONTINUOUS
    assert g90640.cmd_emissivity(0.95) == bytes.fromhex("A5455F49")
    assert g90640.command(0x55, 0x01) == bytes.fromhex("A55501FB")
    assert g90640.command(0x65, 0x01) == bytes.fromhex("A565010B")


def test_gy_mcu90640_two_frame_fixture_with_false_sync() -> None:
    stream = (FIXTURES / "gy_mcu90640_stream_2frames.bin").read_bytes()
    items = g90640.GyMcu90640Parser().feed(stream)
    frames = [x for x in items if isinstance(x, ThermalImage)]
    assert len(frames) == 2
    assert [x for x in items if isinstance(x, Rejected)] == [Rejected("no_header", 3)]
    assert frames[1].ambient_c == pytest.approx(28.5)
    assert frames[0].temps_c.shape == (24, 32) and frames[0].temps_c.dtype == np.float32
    hot = frames[1].temps_c >= 37.8 - 1e-4
    assert hot.sum() == 36  # the 6×6 blob
    assert not (frames[0].temps_c >= 37.8 - 1e-4).any()


def test_gy_mcu90640_bad_checksum_fixture_is_rejected() -> None:
    items = g90640.GyMcu90640Parser().feed((FIXTURES / "gy_mcu90640_bad_checksum.bin").read_bytes())
    assert not any(isinstance(x, ThermalImage) for x in items)
    assert Rejected("checksum", 4) in items


def test_gy_mcu90640_encoder_round_trip_unmirrors_columns() -> None:
    image = np.arange(24 * 32, dtype=np.float32).reshape(24, 32) / 10
    wire = g90640.encode_frame(image, 25.0)
    # On the wire (Col 1, Row 1) is the upper right corner: the first pixel is the image's top-right one.
    assert struct.unpack_from("<h", wire, 4)[0] == round(image[0, 31] * 100)
    (decoded,) = g90640.GyMcu90640Parser().feed(wire)
    assert isinstance(decoded, ThermalImage)
    np.testing.assert_allclose(decoded.temps_c, image, atol=0.006)


def test_gy_mcu8833_public_sample() -> None:
    frame = (FIXTURES / "gy_mcu8833_sample.bin").read_bytes()
    assert len(frame) == 71 and frame[-1] == 0x83
    (image,) = g8833.GyMcu8833Parser().feed(frame)
    assert isinstance(image, ThermalImage)
    assert image.temps_c.shape == (8, 8)
    assert image.temps_c[0, 0] == 0x1A and image.temps_c.max() == 0x1E
    assert g8833.encode_frame(image.temps_c, frame[2:6]) == frame


# ---- AAMVA ------------------------------------------------------------------------------------------

AAMVA_SAMPLE = (
    b"@\n\x1e\rANSI 636000100102DL00410278ZV03190008DLDAQT64235789\nDCSSAMPLE\nDDEN\nDACMICHAEL\nDDFN\n"
    b"DADJOHN\nDDGN\nDCUJR\nDCAD\nDCBK\nDCDPH\nDBD06062019\nDBB06061986\nDBA12102024\nDBC1\nDAU068 in\n"
    b"DAYBRO\nDAG2300 WEST BROAD STREET\nDAIRICHMOND\nDAJVA\nDAK232690000  \nDCF2424244747474786102204\n"
    b"DCGUSA\nDCK123456789\nDDAF\nDDB06062018\nDDC06062020\nDDD1\rZVZVA01\r"
)


def test_aamva_sample_offsets_are_self_consistent() -> None:
    assert AAMVA_SAMPLE[41:43] == b"DL" and AAMVA_SAMPLE[319:321] == b"ZV"
    assert aamva.declared_length(AAMVA_SAMPLE) == len(AAMVA_SAMPLE) == 327


def test_aamva_sample_decodes() -> None:
    doc = aamva.parse_aamva(AAMVA_SAMPLE)
    assert (doc.doc_type, doc.number, doc.name) == ("aamva", "T64235789", "SAMPLE MICHAEL JOHN")
    assert (doc.birth_date, doc.expiry, doc.sex, doc.region) == ("1986-06-06", "2024-12-10", "M", "USA")
    assert doc.extra["jurisdiction"] == "VA" and doc.extra["subfiles"] == "DL,ZV"


def test_aamva_encoder_round_trip() -> None:
    payload = aamva.encode_aamva(
        [("ID", [("DAQ", "X1"), ("DCS", "ROE"), ("DAC", "JANE"), ("DBB", "19900131"), ("DCG", "CAN")])]
    )
    doc = aamva.parse_aamva(payload)
    assert (doc.number, doc.birth_date, doc.region) == ("X1", "1990-01-31", "CAN")


def test_a_sam_frame_never_prints_the_card_data() -> None:
    frame = (FIXTURES / "sam_read_base_synthetic.bin").read_bytes()
    (parsed,) = sam.SamFrameParser().feed(frame)
    text = repr(parsed) + str(parsed)
    assert text == "SamFrame(head=000090, 1287 bytes)" * 2
    assert "测试" not in text and "9900002000" not in text
