"""The operator-facing message catalogue: gettext, zh-CN by default, English selectable.

Every text an operator or passenger reads (the lane display, its faults, the guidance) is an English msgid
looked up here; English is the msgids themselves, Chinese comes from `locale/zh_CN/LC_MESSAGES/
checkpoint_edge.po`, compiled to the `.mo` beside it. The `.mo` is committed (a plain `pip install .` ships
it as package data, no build step); `python -m edge.i18n.compile` regenerates it after editing the `.po`, and
a test fails when they disagree or when a msgid used in code has no Chinese translation.

Logs, the MQTT contract and the technician console stay in English machine codes: they are not in here.
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path

DOMAIN = "checkpoint_edge"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT_LANGUAGE = "zh_CN"
# Each language's own name, for the switch on the page (an endonym is the same in every language).
LANGUAGES = {"zh_CN": "中文", "en": "English"}


def N_(message: str) -> str:
    """Marks a msgid for extraction where the text is translated later (at display time)."""
    return message


def language(requested: str | None) -> str:
    """A supported language code for what a client asked for (zh, zh-CN, zh_CN, en-GB …), else the default."""
    if not requested:
        return DEFAULT_LANGUAGE
    tag = requested.replace("-", "_").split(",")[0].strip()
    if tag in LANGUAGES:
        return tag
    base = tag.split("_")[0].lower()
    return next((code for code in LANGUAGES if code.split("_")[0] == base), DEFAULT_LANGUAGE)


@cache
def translations(lang: str) -> gettext.NullTranslations:
    if lang == "en":
        return gettext.NullTranslations()  # the msgids are English
    # fallback=False: a missing catalogue is a packaging bug that must show, not an English screen in China.
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang], fallback=False)


def translate(lang: str, message: str, **values: object) -> str:
    text = translations(lang).gettext(message)
    return text.format(**values) if values else text
