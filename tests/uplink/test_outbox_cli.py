"""`checkpoint-edge outbox status|export|purge`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.contract import validate
from edge.outbox import Outbox
from edge.outbox_cli import main
from tests.uplink.conftest import DEVICE, alert_payload, stats_payload


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path) as box:
        for n in range(5):
            box.append("alert", alert_payload(n))
            box.append("stats", stats_payload(n))
    return path


def test_status_reports_depth_drops_and_sequences(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["outbox", "--db", str(filled), "status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["depth"] == {"alert": 5, "stats": 5, "status": 0, "heartbeat": 0}
    assert report["last_seq"][DEVICE] == {"alert": 5, "stats": 5}
    assert report["dropped"]["alert"] == 0
    assert main(["outbox", "--db", str(filled), "status"]) == 0
    assert "pending: alert 5, stats 5" in capsys.readouterr().out


def test_export_writes_json_lines_oldest_first(filled: Path, tmp_path: Path) -> None:
    out = tmp_path / "export.jsonl"
    assert main(["outbox", "--db", str(filled), "export", "--kind", "alert", "--output", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    for record in records:
        validate("alert", record["payload"])
        assert record["payload"]["message_id"] == record["message_id"]


def test_purge_needs_yes_and_a_count_and_counts_the_drop(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["outbox", "--db", str(filled), "purge", "--yes"])  # no --count
    assert main(["outbox", "--db", str(filled), "purge", "--count", "3"]) == 2
    assert "refusing" in capsys.readouterr().err
    assert main(["outbox", "--db", str(filled), "purge", "--count", "3", "--kind", "stats", "--yes"]) == 0
    assert "purged 3 row(s)" in capsys.readouterr().out
    with Outbox(filled) as box:
        assert box.depth() == {"alert": 5, "stats": 2, "status": 0, "heartbeat": 0}
        assert box.health()["dropped"]["stats"] == 3
        assert [json.loads(r.payload)["seq"] for r in box.pending(limit=10) if r.kind == "stats"] == [4, 5]


def test_a_missing_database_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["outbox", "--db", str(tmp_path / "nope.sqlite3"), "status"]) == 1
    assert "no outbox database at" in capsys.readouterr().err
    assert not (tmp_path / "nope.sqlite3").exists()
