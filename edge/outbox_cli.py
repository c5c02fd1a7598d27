"""`checkpoint-edge outbox status|export|purge`: what a technician needs to look into the outbox.

`status` and `export` open the database read-only and are safe while the service runs. `purge` deletes
alerts that would otherwise still be delivered, so it demands `--yes` and an explicit `--count`, removes the
oldest rows first, and records them as dropped (reported in the next status message); stop the service first
so its own bookkeeping starts from the purged state.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from edge.config import EX_CONFIG, ConfigError, load_config
from edge.contract import utc_iso
from edge.outbox import KINDS, Outbox
from edge.outbox.recovery import salvage_rows
from edge.outbox.store import Store

OUTBOX_FILE = "outbox.sqlite3"  # in the state directory (edge/service.py)
DEFAULT_DB = Path("/var/lib/checkpoint-edge") / OUTBOX_FILE


def outbox_status(path: Path) -> dict[str, Any]:
    store = Store.open_read_only(path)
    try:
        totals = store.totals_by_kind()
        oldest = store.oldest_created_unix_s()
        counters = store.counters()
        sequences: dict[str, dict[str, int]] = {}
        for (device, kind), seq in store.last_sequences().items():
            sequences.setdefault(device, {})[kind] = seq
    finally:
        store.close()
    return {
        "path": str(path),
        "depth": {kind: totals.get(kind, (0, 0))[0] for kind in KINDS},
        "bytes": sum(size for _count, size in totals.values()),
        "file_bytes": sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file()),
        "oldest_utc": utc_iso(oldest) if oldest is not None else None,
        "oldest_age_s": round(time.time() - oldest, 3) if oldest is not None else None,
        "dropped": {k: int(counters.get(f"dropped_{k}", 0)) for k in KINDS},
        "last_seq": sequences,
    }


def export_rows(path: Path, out: TextIO, kind: str | None = None, salvage: bool = False) -> int:
    """Write pending rows as JSON lines, oldest first; returns how many. `salvage`: a damaged file moved aside
    by the service (`outbox.sqlite3.damaged-…`), read row by row, skipping what does not read back."""
    store = Store.open_read_only(path)
    count = 0
    try:
        rows = salvage_rows(path) if salvage else store.rows(kind)
        for row in rows:
            if kind is not None and row.kind != kind:
                continue
            try:
                payload = json.loads(row.payload)
            except ValueError:
                if not salvage:
                    raise
                continue  # a damaged payload: nothing to export
            record = {
                "row_id": row.row_id,
                "kind": row.kind,
                "message_id": row.message_id,
                "device_id": row.device_id,
                "seq": row.seq,
                "created_utc": utc_iso(row.created_unix_s),
                "payload": payload,
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    finally:
        store.close()
    return count


def purge_oldest(path: Path, count: int, kind: str | None = None) -> dict[str, int]:
    """Delete the `count` oldest rows (of `kind`, or of any kind), counted as dropped; returns per kind."""
    if not path.is_file():
        raise FileNotFoundError(f"no outbox database at {path}")
    box = Outbox(path)
    try:
        victims: dict[str, list[int]] = {}
        after = 0
        while sum(len(v) for v in victims.values()) < count:
            rows = box.pending(after_row_id=after, limit=500)
            if not rows:
                break
            for row in rows:
                after = row.row_id
                if kind is not None and row.kind != kind:
                    continue
                if sum(len(v) for v in victims.values()) >= count:
                    break
                victims.setdefault(row.kind, []).append(row.row_id)
        for victim_kind, ids in victims.items():
            box.drop(ids, victim_kind, "purged by a technician")
        return {k: len(v) for k, v in victims.items()}
    finally:
        box.close()


def private_output(path: Path) -> TextIO:
    """Open for writing with mode 0600 whatever the umask: exported alerts carry pseudonyms and identities."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_CREAT
    return os.fdopen(fd, "w", encoding="utf-8")


def database_path(args: argparse.Namespace) -> Path:
    """--db FILE, else the state directory (--state-dir, or --config's storage.state_dir), else the default."""
    if getattr(args, "db", None) is not None:
        return Path(args.db)
    if getattr(args, "state_dir", None) is not None:
        return Path(args.state_dir) / OUTBOX_FILE
    if getattr(args, "config", None) is not None:
        return load_config(Path(args.config)).storage.state_dir / OUTBOX_FILE
    return DEFAULT_DB


def _handle(args: argparse.Namespace) -> int:
    try:
        path = database_path(args)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return EX_CONFIG
    if getattr(args, "salvage", None) is not None:
        path = Path(args.salvage)
    try:
        if args.outbox_command == "status":
            report = outbox_status(path)
            if args.json:
                print(json.dumps(report, indent=2))
            else:
                depth = ", ".join(f"{k} {v}" for k, v in report["depth"].items())
                dropped = ", ".join(f"{k} {v}" for k, v in report["dropped"].items())
                print(f"outbox {report['path']}")
                print(f"  pending: {depth} ({report['bytes']} bytes; file {report['file_bytes']} bytes)")
                print(
                    f"  oldest:  {report['oldest_utc'] or '-'}"
                    + (f" ({report['oldest_age_s']:.0f} s ago)" if report["oldest_age_s"] is not None else "")
                )
                print(f"  dropped since creation: {dropped}")
                for device, seqs in sorted(report["last_seq"].items()):
                    print(
                        f"  last seq {device or '(none)'}: "
                        + ", ".join(f"{k} {v}" for k, v in sorted(seqs.items()))
                    )
            return 0
        if args.outbox_command == "export":
            salvage = args.salvage is not None
            if args.output is not None:
                with private_output(args.output) as out:
                    count = export_rows(path, out, args.kind, salvage)
            else:
                count = export_rows(path, sys.stdout, args.kind, salvage)
            print(f"exported {count} row(s)", file=sys.stderr)
            return 0
        if args.outbox_command == "purge":
            if not args.yes:
                print("refusing to purge without --yes: purged alerts are never delivered", file=sys.stderr)
                return 2
            purged = purge_oldest(path, args.count, args.kind)
            total = sum(purged.values())
            detail = ", ".join(f"{k} {v}" for k, v in purged.items()) or "nothing"
            print(f"purged {total} row(s), oldest first: {detail}; counted as dropped")
            return 0
    except (FileNotFoundError, sqlite3.Error, OSError) as error:
        print(f"outbox: {error}", file=sys.stderr)
        return 1
    return 2


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _location(parser: argparse.ArgumentParser, default: object) -> None:
    """Where the database is: accepted before or after the sub-command (`outbox status --config F`)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--db", type=Path, default=default, help=f"outbox database file (default {DEFAULT_DB})"
    )
    where.add_argument("--config", type=Path, default=default, help="the appliance's configuration file")
    where.add_argument("--state-dir", type=Path, default=default, help="the service's state directory")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("outbox", help="inspect, export or purge the durable outbox")
    _location(parser, None)
    commands = parser.add_subparsers(dest="outbox_command", required=True)
    status = commands.add_parser(
        "status", help="pending rows by kind, oldest age, drops, last sequence numbers"
    )
    _location(status, argparse.SUPPRESS)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    export = commands.add_parser("export", help="pending rows as JSON lines, oldest first")
    export.add_argument("--kind", choices=KINDS)
    export.add_argument("--output", type=Path, help="file to write, mode 0600 (default: standard output)")
    export.add_argument(
        "--salvage",
        type=Path,
        metavar="FILE",
        help="read a damaged outbox the service moved aside (outbox.sqlite3.damaged-…), row by row",
    )
    _location(export, argparse.SUPPRESS)
    purge = commands.add_parser("purge", help="delete the oldest pending rows (they will never be delivered)")
    purge.add_argument("--count", type=_positive, required=True, help="how many rows to delete, oldest first")
    purge.add_argument("--kind", choices=KINDS, help="only rows of this kind")
    purge.add_argument("--yes", action="store_true", help="confirm: purged rows are lost for good")
    _location(purge, argparse.SUPPRESS)
    parser.set_defaults(func=_handle)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="checkpoint-edge")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
