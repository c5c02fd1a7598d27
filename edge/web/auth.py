"""Console login: a scrypt password hash in a credential file (no default password), server-side sessions
behind an HttpOnly, SameSite=Strict cookie, and a brake on repeated failures.

Credential file format (one line): `scrypt$<n>$<r>$<p>$<salt, base64>$<hash, base64>`, written by
`checkpoint-edge console-password FILE`. It is read at each login attempt, so a changed password needs no
restart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

SESSION_COOKIE = "checkpoint_console"
MAX_SESSIONS = 32
MAX_FAILURES_PER_MINUTE = 5
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_MAX_PASSWORD_BYTES = 1024


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.strip().split("$")
        if scheme != "scrypt" or len(password.encode()) > _MAX_PASSWORD_BYTES:
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt, validate=True),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def write_credential_file(path: Path, password: str) -> None:
    """Atomically, readable by the owner only."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(hash_password(password) + "\n")
    os.replace(tmp, path)


class ConsoleAuth:
    def __init__(
        self, credentials_file: Path | None, idle_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.credentials_file = credentials_file
        self.idle_s = idle_s
        self._clock = clock
        self._sessions: OrderedDict[str, float] = OrderedDict()
        self._failures: list[float] = []
        self._lock = threading.Lock()
        self.counters = {"logins": 0, "login_failures": 0, "logins_throttled": 0}

    def _stored_hash(self) -> str | None:
        if self.credentials_file is None:
            return None
        try:
            return self.credentials_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            log.error("console: cannot read the credential file %s: %s", self.credentials_file, exc)
            return None

    def login(self, password: str) -> str | None:
        """A new session token, or None (wrong password, no credential file, or too many failures)."""
        now = self._clock()
        with self._lock:
            self._failures = [t for t in self._failures if now - t < 60.0]
            if len(self._failures) >= MAX_FAILURES_PER_MINUTE:
                self.counters["logins_throttled"] += 1
                return None
        stored = self._stored_hash()
        ok = stored is not None and verify_password(password, stored)
        with self._lock:
            if not ok:
                self._failures.append(now)
                self.counters["login_failures"] += 1
                log.warning("console: login refused")
                return None
            token = secrets.token_urlsafe(32)
            self._sessions[token] = now
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
            self.counters["logins"] += 1
            log.info("console: technician logged in")
            return token

    def check(self, token: str | None) -> bool:
        """True for a live session; each request slides its idle deadline."""
        if not token:
            return False
        now = self._clock()
        with self._lock:
            last = self._sessions.get(token)
            if last is None or now - last > self.idle_s:
                self._sessions.pop(token, None)
                return False
            self._sessions[token] = now
            self._sessions.move_to_end(token)
            return True

    def logout(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)
