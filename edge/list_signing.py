"""Ed25519 signatures on the centre's rule-list documents: who may change what the appliance screens for.

A signed document is one JSON object:

    {"lists": {"version": 7, "key_regions": [...], "watch_list": [...]},
     "signature": {"alg": "ed25519", "key_id": "3f9a…", "value": "<base64, 64 bytes>"}}

The signature covers the canonical bytes of `lists`: UTF-8 JSON with keys sorted, no whitespace, non-ASCII
characters kept as they are (`json.dumps(lists, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`).
Lists hold only strings, integers and dates written as strings, so any JSON library reproduces these bytes.
`key_id` is the first 16 hex digits of SHA-256 over the raw 32-byte public key: it names which of the
appliance's trusted keys to check (a file may hold several, e.g. the current and the next during a rotation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

MAX_PUBLIC_KEY_FILE_BYTES = 64 << 10
_PEM_BLOCK = re.compile(rb"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)


class ListKeyError(ValueError):
    """A trusted-key or signing-key file is missing, unreadable or not an Ed25519 key; the message names it."""


class SignatureRejected(ValueError):
    """The document is unsigned, signed by a key the appliance does not trust, or the signature is wrong."""


def canonical_bytes(lists: Any) -> bytes:
    return json.dumps(lists, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_keys(path: Path) -> dict[str, Ed25519PublicKey]:
    """Every PEM public key in the file, by key id; each must be Ed25519."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_PUBLIC_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise ListKeyError(f"lists public key file {path} cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_PUBLIC_KEY_FILE_BYTES:
        raise ListKeyError(f"lists public key file {path} is larger than {MAX_PUBLIC_KEY_FILE_BYTES} bytes")
    keys: dict[str, Ed25519PublicKey] = {}
    for block in _PEM_BLOCK.findall(data):
        try:
            key = serialization.load_pem_public_key(block)
        except ValueError as exc:
            raise ListKeyError(f"lists public key file {path}: unreadable PEM block ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ListKeyError(f"lists public key file {path}: holds a non-Ed25519 key")
        keys[key_id(key)] = key
    if not keys:
        raise ListKeyError(f"lists public key file {path} holds no PEM public key")
    return keys


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise ListKeyError(f"signing key file {path} cannot be read: {exc.strerror or exc}") from None
    except (ValueError, TypeError) as exc:
        raise ListKeyError(f"signing key file {path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ListKeyError(f"signing key file {path}: not an Ed25519 key")
    return key


def sign(lists: Any, private_key: Ed25519PrivateKey) -> dict[str, Any]:
    """The signed document for a lists object (the centre side)."""
    signature = private_key.sign(canonical_bytes(lists))
    return {
        "lists": lists,
        "signature": {
            "alg": "ed25519",
            "key_id": key_id(private_key.public_key()),
            "value": base64.b64encode(signature).decode("ascii"),
        },
    }


def verify(document: Any, trusted: dict[str, Ed25519PublicKey]) -> tuple[Any, str]:
    """(the `lists` object, the signing key id) of a correctly signed document; SignatureRejected otherwise."""
    if not isinstance(document, dict) or set(document) != {"lists", "signature"}:
        raise SignatureRejected("not a signed list document (expected exactly the keys lists and signature)")
    signature = document["signature"]
    if not isinstance(signature, dict) or signature.get("alg") != "ed25519":
        raise SignatureRejected("signature.alg must be ed25519")
    signer = signature.get("key_id")
    if not isinstance(signer, str) or signer not in trusted:
        raise SignatureRejected(f"signed by key {str(signer)[:32]!r}, which this appliance does not trust")
    value = signature.get("value")
    try:
        raw_signature = base64.b64decode(value if isinstance(value, str) else "", validate=True)
    except binascii.Error:
        raise SignatureRejected("signature.value is not base64") from None
    try:
        trusted[signer].verify(raw_signature, canonical_bytes(document["lists"]))
    except InvalidSignature:
        raise SignatureRejected(f"bad signature (key {signer}): the document was altered or forged") from None
    return document["lists"], signer


def generate_key_pair(private_path: Path, public_path: Path) -> str:
    """A new signing key (mode 0600) and its public half for the appliances; returns the key id."""
    private_key = Ed25519PrivateKey.generate()
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public_path.write_bytes(
        private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key_id(private_key.public_key())
