"""`checkpoint-edge lists keygen|sign|verify`: the centre's side of signed rule lists.

The centre keeps the private key offline or in its signing service; appliances get the public key
(rules.lists_public_key_file). `verify` runs the appliance's own checks, so a document that passes it applies.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from edge.list_signing import ListKeyError, generate_key_pair, load_private_key, load_public_keys, sign
from edge.lists_publish import register_publish
from edge.rule_lists import MAX_DOCUMENT_BYTES, Rejected, RuleLists, parse_signed


def _cmd_keygen(args: argparse.Namespace) -> int:
    try:
        key = generate_key_pair(args.private, args.public)
    except FileExistsError:
        print(f"{args.private} exists: refusing to overwrite a signing key", file=sys.stderr)
        return 1
    print(
        f"key id {key}: private key {args.private} (mode 0600, keep it at the centre), public key {args.public}"
    )
    return 0


def _cmd_sign(args: argparse.Namespace) -> int:
    try:
        private_key = load_private_key(args.key)
        lists: Any = json.loads(args.lists.read_bytes())
        RuleLists.model_validate(lists)  # never sign what an appliance would refuse
    except ListKeyError as exc:
        print(exc, file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"{args.lists}: {exc}", file=sys.stderr)
        return 1
    document = json.dumps(sign(lists, private_key), ensure_ascii=False, separators=(",", ":")).encode()
    if len(document) > MAX_DOCUMENT_BYTES:
        print(
            f"signed document is {len(document)} bytes: over the {MAX_DOCUMENT_BYTES}-byte cap",
            file=sys.stderr,
        )
        return 1
    if args.output is None:
        sys.stdout.buffer.write(document + b"\n")
    else:
        tmp = args.output.with_name(args.output.name + ".tmp")
        tmp.write_bytes(document)
        os.replace(tmp, args.output)  # appliances polling the file never read half of it
        print(f"signed version {lists['version']} → {args.output}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    try:
        trusted = load_public_keys(args.public_key)
        with args.document.open("rb") as f:
            raw = f.read(MAX_DOCUMENT_BYTES + 1)
        lists, signer, _ = parse_signed(raw, trusted)
    except (ListKeyError, OSError) as exc:
        print(exc, file=sys.stderr)
        return 1
    except Rejected as exc:
        print(f"{args.document}: REJECTED: {exc}", file=sys.stderr)
        return 1
    print(
        f"{args.document}: OK: version {lists.version}, signed by {signer}, "
        f"{len(lists.key_regions)} key regions, {len(lists.watch_list)} watch-list entries"
    )
    return 0


def register(sub: Any) -> None:
    lists = sub.add_parser("lists", help="sign and verify rule-list documents (the centre's side)")
    actions = lists.add_subparsers(dest="lists_command", required=True, metavar="ACTION")

    keygen = actions.add_parser("keygen", help="make an Ed25519 signing key pair")
    keygen.add_argument("--private", type=Path, required=True, help="where to write the private key (0600)")
    keygen.add_argument("--public", type=Path, required=True, help="where to write the public key")
    keygen.set_defaults(func=_cmd_keygen)

    signer = actions.add_parser(
        "sign", help="sign a lists JSON object (integer version, key_regions, watch_list)"
    )
    signer.add_argument("lists", type=Path, help="the unsigned lists JSON")
    signer.add_argument("--key", type=Path, required=True, help="the PEM private key")
    signer.add_argument("--output", type=Path, help="write here (atomically) instead of stdout")
    signer.set_defaults(func=_cmd_sign)

    verify = actions.add_parser("verify", help="check a signed document as an appliance would")
    verify.add_argument("document", type=Path)
    verify.add_argument("--public-key", type=Path, required=True, help="the PEM public key file")
    verify.set_defaults(func=_cmd_verify)

    register_publish(actions)  # edge/lists_publish.py: retained, to every node of a cluster
