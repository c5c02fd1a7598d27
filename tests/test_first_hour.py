"""The first hour, as a new user tries it: a plain install runs the demo, which talks and stops cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def path_without_mosquitto() -> str:
    """PATH with every directory holding a `mosquitto` removed, so the demo must use the embedded broker."""
    dirs = [
        d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "mosquitto").exists()
    ]
    return os.pathsep.join(dirs)


def test_demo_reports_progress_and_exits_quietly_on_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "demo"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if " s: " in line and "passengers through" in line:  # a progress line: the scene is running
            break
    assert any("passengers through" in line for line in lines), lines
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the demo did not stop within 20 s of Ctrl-C")
    assert proc.returncode == 130
    assert "Traceback" not in out + err and "demo interrupted" in err


@pytest.mark.slow
def test_plain_pip_install_runs_the_demo_without_mosquitto(tmp_path: Path) -> None:
    """`pip install .` with no extras, no mosquitto on PATH: the embedded broker is a real dependency."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_NO_CACHE_DIR")}
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{path_without_mosquitto()}"
    source = tmp_path / "src"  # a clean copy: the build must not depend on anything left in the work tree
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info", "build", ".pytest_cache"),
    )
    # pip's wheel cache is kept (no --no-cache-dir), so a second run installs without downloading.
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", str(source)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    assert shutil.which("mosquitto", path=env["PATH"]) is None
    demo = subprocess.run(
        [env_dir / "bin" / "checkpoint-edge", "demo"],
        env=env,
        cwd=tmp_path,  # not the repository: the installed package must stand alone
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "broker: amqtt" in demo.stdout, demo.stdout + demo.stderr
    assert demo.returncode == 0 and "DEMO PASSED" in demo.stdout, demo.stdout + demo.stderr
    assert "Traceback" not in demo.stderr


def test_every_package_is_installed_by_pip() -> None:
    """A sub-package missing from [tool.setuptools] packages works from the work tree and breaks `pip install .`."""
    import tomllib

    declared = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in ("edge", "drivers")
        for init in (REPO / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert on_disk - declared == set(), "add these to [tool.setuptools] packages in pyproject.toml"
