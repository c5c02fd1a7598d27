"""`checkpoint-edge console-password FILE`: writes the technician console's password hash (mode 0600)."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from edge.web.auth import write_credential_file

MIN_PASSWORD_LEN = 10


def _cmd_console_password(args: argparse.Namespace) -> int:
    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("console password: ")
        if getpass.getpass("again: ") != password:
            print("the two entries differ; nothing written", file=sys.stderr)
            return 1
    if len(password) < MIN_PASSWORD_LEN:
        print(
            f"a console password has at least {MIN_PASSWORD_LEN} characters; nothing written", file=sys.stderr
        )
        return 1
    write_credential_file(args.file, password)
    print(f"{args.file}: console password hash written (mode 0600); set web.console.credentials_file to it")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("console-password", help="write the technician console's password hash to FILE")
    cmd.add_argument("file", type=Path)
    cmd.add_argument("--stdin", action="store_true", help="read the password from standard input")
    cmd.set_defaults(func=_cmd_console_password)
