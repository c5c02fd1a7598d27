"""Configuration drop-ins: calibration results in a writable directory, merged over the main file at load.

The unit runs with ProtectSystem=strict, so /etc is read-only to the service and to a technician working as
the service user; calibration therefore lands in `<state_dir>/config.d/` (or `storage.dropin_dir`). Files
`*.toml` there are merged in name order over the main configuration:

    [[lanes]]
    id = "lane-1"                       # which lane (required): lanes are merged by id, never by position
    [lanes.screening.reference]         # any per-lane screening override (see `lanes.screening`)
    enabled = true
    roi = [150, 4, 156, 10]

Tables merge key by key; a drop-in may only touch `lanes[id].screening`, so a file in a service-writable
directory can move calibration, never the broker, keys or storage.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import tomllib
from pathlib import Path
from typing import Any

DEFAULT_STATE_DIR = Path("/var/lib/checkpoint-edge")
PID_FILE = "checkpoint-edge.pid"
MAX_DROPIN_BYTES = 64 * 1024
ALLOWED_LANE_KEYS = {"id", "screening"}


class DropInError(ValueError):
    pass


def dropin_dir(data: dict[str, Any]) -> Path:
    """The drop-in directory named by a (raw, unvalidated) configuration."""
    storage = data.get("storage") if isinstance(data.get("storage"), dict) else {}
    assert isinstance(storage, dict)
    explicit = storage.get("dropin_dir")
    if isinstance(explicit, str) and explicit:
        return Path(explicit)
    state = storage.get("state_dir")
    return (Path(state) if isinstance(state, str) and state else DEFAULT_STATE_DIR) / "config.d"


def merge_tables(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_tables(out[key], value)
        else:
            out[key] = value
    return out


def _merge_lanes(data: dict[str, Any], lanes: Any, source: str) -> None:
    if not isinstance(lanes, list):
        raise DropInError(f"{source}: lanes must be an array of tables ([[lanes]])")
    current = data.get("lanes")
    if not isinstance(current, list):
        raise DropInError(f"{source}: the main configuration has no lanes to calibrate")
    by_id = {lane.get("id"): i for i, lane in enumerate(current) if isinstance(lane, dict)}
    for entry in lanes:
        if not isinstance(entry, dict) or "id" not in entry:
            raise DropInError(f'{source}: every [[lanes]] table names its lane with id = "…"')
        extra = sorted(set(entry) - ALLOWED_LANE_KEYS)
        if extra:
            raise DropInError(
                f"{source}: lanes[id={entry['id']}]: a drop-in may set only screening, not {extra}"
            )
        index = by_id.get(entry["id"])
        if index is None:
            raise DropInError(f"{source}: no lane with id {entry['id']!r} in the main configuration")
        current[index] = merge_tables(current[index], {k: v for k, v in entry.items() if k != "id"})


def merge_dropins(data: dict[str, Any], directory: Path) -> tuple[dict[str, Any], list[Path]]:
    """The configuration with every drop-in merged, and the files merged (in order)."""
    if not directory.exists():
        return data, []
    merged = merge_tables(data, {})
    merged["lanes"] = [dict(lane) if isinstance(lane, dict) else lane for lane in data.get("lanes", [])]
    try:
        # listdir, not glob: glob hides a directory the service may not read (then every drop-in is lost).
        names = sorted(os.listdir(directory))
    except OSError as exc:
        raise DropInError(f"{directory}: cannot read the drop-in directory: {exc.strerror or exc}") from None
    files = [directory / n for n in names if n.endswith(".toml") and (directory / n).is_file()]
    for path in files:
        source = str(path)
        try:
            raw = path.read_bytes()
            if len(raw) > MAX_DROPIN_BYTES:
                raise DropInError(f"{source}: larger than {MAX_DROPIN_BYTES} bytes")
            over = tomllib.loads(raw.decode("utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise DropInError(f"{source}: {exc}") from None
        extra = sorted(set(over) - {"lanes"})
        if extra:
            raise DropInError(f"{source}: a drop-in may set only [[lanes]] screening overrides, not {extra}")
        _merge_lanes(merged, over.get("lanes", []), source)
    return merged, files


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"cannot write {type(value).__name__} to a drop-in")


def render_dropin(lane_id: str, table: str, values: dict[str, Any], comment: list[str]) -> str:
    """A drop-in setting `lanes[id].screening.<table>` (or screening keys directly when table is "")."""
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    lines = [f"# Written by `checkpoint-edge calibrate` at {stamp}.", *(f"# {c}" for c in comment)]
    lines += ["", "[[lanes]]", f"id = {_toml_value(lane_id)}", ""]
    lines.append(f"[lanes.screening.{table}]" if table else "[lanes.screening]")
    lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def dropin_name(kind: str, lane_id: str) -> str:
    return f"50-{kind}-{lane_id}.toml"


def write_dropin(directory: Path, name: str, text: str) -> Path:
    """Atomically (write, fsync, rename): the service never reads half a drop-in.

    Run as root (sudo), the directory and file are handed to the owner of the directory above them (the
    service's state directory), so the service can still read what root wrote.
    """
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / name
    tmp = directory / f".{name}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    owner = directory.parent.stat()
    if os.geteuid() == 0 and owner.st_uid != 0:
        for p in (directory, tmp):
            os.chown(p, owner.st_uid, owner.st_gid)
    os.replace(tmp, path)
    return path


def write_pid_file(state_dir: Path) -> Path:
    path = state_dir / PID_FILE
    path.write_text(f"{os.getpid()}\n")
    return path


def signal_reload(state_dir: Path) -> int | None:
    """SIGHUP the running service (its pid file in the state directory); the pid, or None if not running."""
    try:
        pid = int((state_dir / PID_FILE).read_text().strip())
        # A stale pid file may name an unrelated process now: SIGHUP would end most programs.
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        if b"checkpoint-edge" not in cmdline and b"edge.cli" not in cmdline:
            return None
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError):
        return None
    return pid
