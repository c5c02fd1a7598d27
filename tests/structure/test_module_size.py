"""Rooms a maintainer can hold: no module in edge/ or drivers/ over 400 lines (split by job, not by cut)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 400


def test_no_module_in_edge_or_drivers_is_over_400_lines() -> None:
    too_long = {
        str(path.relative_to(ROOT)): n
        for folder in ("edge", "drivers")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not too_long, f"split these by job (≤ {MAX_LINES} lines): {too_long}"
