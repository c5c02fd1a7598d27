"""The rooms' import directions: drivers never import edge; the light modules stay light."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imported_after(code: str) -> set[str]:
    probe = code + "\nimport sys\nprint('\\n'.join(sorted(sys.modules)))\n"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return set(out.split())


def test_drivers_never_import_edge() -> None:
    import drivers

    names = [m.name for m in pkgutil.walk_packages(drivers.__path__, "drivers.")]
    modules = _imported_after("\n".join(f"import {name}" for name in names))
    assert not {m for m in modules if m == "edge" or m.startswith("edge.")}


def test_rules_and_passengers_do_not_load_the_screening_pipeline() -> None:
    modules = _imported_after("import edge.rules, edge.passengers, edge.records")
    assert "edge.screening.pipeline" not in modules
    assert "cv2" not in modules and "onnxruntime" not in modules


def test_check_config_loads_no_opencv_onnxruntime_or_paho() -> None:
    """`check-config` is the unit's ExecStartPre: validating a TOML file must stay light."""
    code = (
        "import sys\nfrom edge.cli import main\nassert main(['check-config', 'config/example.toml']) == 0\n"
    )
    modules = _imported_after(code)
    heavy = {m for m in modules if m.split(".")[0] in ("cv2", "onnxruntime", "paho")}
    assert not heavy, sorted(heavy)[:5]
