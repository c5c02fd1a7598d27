"""The 18-digit resident ID number (GB 11643-1999): 6-digit region, 8-digit birth date, 3-digit sequence
(odd = male), and an ISO 7064 MOD 11-2 check character where 10 is written `X`."""

from __future__ import annotations

import datetime as dt
import re

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_SHAPE = re.compile(r"^\d{17}[\dX]$")


def check_character(first17: str) -> str:
    r = (12 - sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11) % 11
    return "X" if r == 10 else str(r)


def failed_check(number: str) -> str | None:
    """None when the number is well formed, else the name of the first failing check."""
    if not _SHAPE.match(number):
        return "format"
    try:
        dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "birth_date"
    if check_character(number[:17]) != number[17]:
        return "check_digit"
    return None


def region_code(number: str) -> str:
    return number[:6]


def birth_date_iso(number: str) -> str | None:
    d = number[6:14]
    return f"{d[:4]}-{d[4:6]}-{d[6:]}" if d.isdigit() and len(d) == 8 else None


def sex(number: str) -> str | None:
    return ("M" if int(number[16]) % 2 else "F") if len(number) >= 17 and number[16].isdigit() else None
