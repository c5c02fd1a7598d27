"""Compile the catalogue's .po sources to the .mo files shipped beside them (needs Babel, a dev dependency).

python -m edge.i18n.compile          writes every locale/*/LC_MESSAGES/checkpoint_edge.mo
python -m edge.i18n.compile --check  exit 1 when a .mo is missing or stale (CI)
"""

from __future__ import annotations

import argparse
import gettext
import io
import sys
from pathlib import Path

from edge.i18n import DOMAIN, LOCALE_DIR


def compiled(po_path: Path) -> bytes:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po_path.open("rb") as f:
        catalog = read_po(f)
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def messages(mo_bytes: bytes) -> dict[str, str]:
    """The translations a .mo holds, without its header (Babel stamps the compile date into it)."""
    catalog = gettext.GNUTranslations(io.BytesIO(mo_bytes))
    return {k: v for k, v in catalog._catalog.items() if k}  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only check that the .mo files are current")
    args = parser.parse_args(argv)
    stale = []
    for po in sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo = po.with_suffix(".mo")
        data = compiled(po)
        if mo.exists() and messages(mo.read_bytes()) == messages(data):
            continue
        if args.check:
            stale.append(str(mo))
        else:
            mo.write_bytes(data)
            print(f"wrote {mo}")
    if stale:
        print("stale catalogue(s), run python -m edge.i18n.compile: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
