"""Barcode and MRZ scanners: the same document within repeat_suppress_s is one read, as with the SAM reader."""

from __future__ import annotations

import pytest

from drivers.idscan.barcode import BarcodeScannerConfig, BarcodeScannerDevice
from drivers.idscan.mrz import MrzReaderConfig, MrzReaderDevice
from drivers.items import IdDocument, IdScan


@pytest.mark.parametrize(
    "device",
    [
        BarcodeScannerDevice("b", BarcodeScannerConfig(type="barcode_scanner", port="loop://")),
        MrzReaderDevice("m", MrzReaderConfig(type="mrz_reader", port="loop://")),
    ],
)
def test_the_same_document_within_the_window_is_one_read(device: BarcodeScannerDevice) -> None:
    scans: list[IdScan] = []
    card = IdDocument(doc_type="mrz_td3", number="E12345678")
    other = IdDocument(doc_type="mrz_td3", number="E87654321")
    for t_mono, document in [(0.0, card), (1.0, card), (2.9, card), (3.1, other), (3.5, card), (7.0, card)]:
        device.handle([document], t_mono, 1e9 + t_mono, scans.append)
    assert [(s.t_mono, s.document.number) for s in scans] == [
        (0.0, "E12345678"),
        (3.1, "E87654321"),
        (3.5, "E12345678"),  # another document came between: a new passenger
        (7.0, "E12345678"),  # the window (3 s) has passed
    ]
    assert device.repeats_suppressed == 2


def test_zero_reports_every_read() -> None:
    device = BarcodeScannerDevice(
        "b", BarcodeScannerConfig(type="barcode_scanner", port="loop://", repeat_suppress_s=0)
    )
    scans: list[IdScan] = []
    card = IdDocument(doc_type="barcode", number="X1", extra={"health_code": "green"})
    for t in (0.0, 0.1, 0.2):
        device.handle([card], t, t, scans.append)
    assert len(scans) == 3
