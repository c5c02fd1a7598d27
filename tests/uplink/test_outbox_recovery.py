"""Damaged, unusable and read-only outbox storage: the appliance keeps going and keeps what it can."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from edge.outbox import Outbox
from edge.outbox.recovery import salvage_rows
from tests.uplink.conftest import alert_payload


def damage_pages(path: Path, first_page: int = 3) -> None:
    """Overwrite every page after `first_page` with garbage, keeping the header page intact."""
    size = path.stat().st_size
    page = 4096
    with path.open("r+b") as f:
        for offset in range(first_page * page, size - page, page):
            f.seek(offset + 100)
            f.write(os.urandom(page // 2))


def test_a_damaged_database_is_moved_aside_and_seq_carries_on(tmp_path: Path) -> None:
    db = tmp_path / "outbox.sqlite3"
    with Outbox(db) as box:
        stamped = [box.append("alert", alert_payload(n)) for n in range(200)]
    assert stamped[-1]["seq"] == 200
    damage_pages(db)

    with Outbox(db) as box:  # used to raise "database disk image is malformed" and stop `run`
        assert box.health()["disk_state"] == "ok" and box.durable
        after = box.append("alert", alert_payload(999))
        assert after["seq"] > 1  # carried on from the damaged file, not restarted
        assert [r.message_id for r in box.pending(limit=10)] == [after["message_id"]]
    (moved,) = tmp_path.glob("outbox.sqlite3.damaged-*[0-9]Z")
    salvaged = list(salvage_rows(moved))
    ids = {s["message_id"] for s in stamped}
    assert all(r.message_id in ids for r in salvaged)  # whatever reads back is genuine


def test_salvage_export_writes_what_survives(tmp_path: Path) -> None:
    db = tmp_path / "outbox.sqlite3"
    with Outbox(db) as box:
        for n in range(50):
            box.append("alert", alert_payload(n))
    out = tmp_path / "salvaged.jsonl"
    result = subprocess.run(
        [
            "python",
            "-m",
            "edge.cli",
            "outbox",
            "export",
            "--salvage",
            str(db),
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PATH": f"{Path(os.sys.executable).parent}:{os.environ['PATH']}"},
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 50 and lines[0]["kind"] == "alert"
    assert out.stat().st_mode & 0o777 == 0o600  # personal data: never world-readable


def test_an_unusable_disk_at_boot_is_left_for_ram_and_returned_to(small_tmpfs: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    try:
        box = Outbox(small_tmpfs / "o.db")
        assert not box.durable and box.health()["disk_state"] in ("read_only", "error")
        held = [box.append("alert", alert_payload(n)) for n in range(3)]
        first = box.pending(limit=1)[0]
        assert box.retry_disk() is False or not box.durable  # still read-only: stays in RAM
        assert not box.durable
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_tmpfs)], check=True)
    box.retry_disk()
    assert box.durable and box.health()["disk_state"] == "ok" and box.health()["in_memory_only"] == 0
    assert box.delete([first.row_id])  # an id the uplink held before the move still acknowledges its row
    later = box.append("alert", alert_payload(9))
    assert later["seq"] == held[-1]["seq"] + 1
    box.close()
    with Outbox(small_tmpfs / "o.db") as reopened:  # durable now: the rest survives a restart
        assert [r.message_id for r in reopened.pending(limit=10)] == [
            held[1]["message_id"],
            held[2]["message_id"],
            later["message_id"],
        ]


@pytest.mark.parametrize("rows_on_disk", [0, 2])
def test_returning_to_disk_keeps_rows_the_disk_already_had(tmp_path: Path, rows_on_disk: int) -> None:
    db = tmp_path / "o.db"
    with Outbox(db) as box:
        old = [box.append("alert", alert_payload(n)) for n in range(rows_on_disk)]
    (tmp_path / "not-a-directory").write_text("")
    box = Outbox(tmp_path / "not-a-directory" / "o.db")  # unusable at boot (even for root)
    assert not box.durable
    new = box.append("alert", alert_payload(7))
    box.path = db  # the same disk, now usable (as after a lock is released)
    box.retry_disk()
    assert box.durable
    assert [r.message_id for r in box.pending(limit=10)] == [
        new["message_id"],
        *(o["message_id"] for o in old),
    ]
    box.close()


def test_outbox_commands_take_the_config_or_state_dir_after_the_sub_command(tmp_path: Path) -> None:
    from edge.outbox_cli import main
    from tests.edge.test_config import MINIMAL

    state = tmp_path / "state"
    with Outbox(state / "outbox.sqlite3") as box:
        box.append("alert", alert_payload(1))
    config = tmp_path / "edge.toml"
    config.write_text(MINIMAL + f'[storage]\nstate_dir = "{state}"\n')
    out = tmp_path / "a.jsonl"
    assert main(["outbox", "export", "--config", str(config), "--output", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 1
    assert main(["outbox", "status", "--state-dir", str(state), "--json"]) == 0
    assert main(["outbox", "--state-dir", str(state), "status"]) == 0  # before the sub-command still works
    broken = tmp_path / "broken.toml"
    broken.write_text("site_id = 1\n")
    assert main(["outbox", "status", "--config", str(broken)]) == 78


def test_a_database_locked_at_boot_runs_in_ram_and_returns_when_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    import edge.outbox.store

    db = tmp_path / "o.db"
    with Outbox(db) as box:
        old = box.append("alert", alert_payload(0))
    monkeypatch.setattr(edge.outbox.store, "BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the file
    try:
        box = Outbox(db)
        assert not box.durable and "locked" in (box.health()["last_error"] or "")
        new = box.append("alert", alert_payload(1))
        assert box.retry_disk() is False or not box.durable
        assert not box.durable
    finally:
        holder.execute("COMMIT")
        holder.close()
    box.retry_disk()
    assert box.durable and box.health()["disk_state"] == "ok"
    assert [r.message_id for r in box.pending(limit=10)] == [new["message_id"], old["message_id"]]
    box.close()
