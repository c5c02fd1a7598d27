"""Is the wall clock synchronised? Alerts and statistics carry wall-clock times the centre compares.

The kernel knows: chrony, systemd-timesyncd and ntpd all discipline it through adjtimex(2), which returns
TIME_ERROR while the clock is unsynchronised (the same source `timedatectl`'s "System clock synchronized"
reads). No daemon, no container API, no privilege needed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

TIME_ERROR = 5
_TIMEX_BYTES = 512  # struct timex is 208 bytes on 64-bit Linux; modes = 0 (first field) only reads


def clock_synchronised() -> bool | None:
    """True / False from the kernel's NTP state; None where it cannot be read (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        state = int(libc.adjtimex(ctypes.create_string_buffer(_TIMEX_BYTES)))
    except (OSError, AttributeError) as exc:
        log.debug("adjtimex unavailable: %s", exc)
        return None
    if state < 0:
        return None
    return state != TIME_ERROR
