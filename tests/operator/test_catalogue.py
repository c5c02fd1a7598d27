"""The operator message catalogue: complete, compiled, shipped, and used for every text a screen shows."""

from __future__ import annotations

import io
from importlib import resources
from pathlib import Path

from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from edge.i18n import DEFAULT_LANGUAGE, LOCALE_DIR, language, translate
from edge.i18n.compile import main as compile_main
from edge.operator import texts
from edge.screening import outcome

REPO = Path(__file__).resolve().parents[2]
PO = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "checkpoint_edge.po"


def _msgids_in(path: Path) -> set[str]:
    return {
        message if isinstance(message, str) else message[0]
        for _line, message, _comments, _context in extract_from_file(
            "python", str(path), keywords={"N_": None}
        )
    }


def test_every_msgid_in_the_operator_code_has_a_chinese_translation() -> None:
    with PO.open("rb") as f:
        catalog = read_po(f)
    translated = {m.id: m.string for m in catalog if m.id}
    used = set()
    for path in (REPO / "edge" / "operator").glob("*.py"):
        used |= _msgids_in(path)
    assert len(used) >= 30
    missing = sorted(m for m in used if not translated.get(m))
    assert not missing, f"msgids without a zh_CN translation: {missing}"
    unused = sorted(set(translated) - used)
    assert not unused, f"translations nothing uses (stale .po entries): {unused}"


def test_the_shipped_mo_matches_the_po() -> None:
    assert compile_main(["--check"]) == 0, "run python -m edge.i18n.compile"
    shipped = resources.files("edge.i18n").joinpath("locale/zh_CN/LC_MESSAGES/checkpoint_edge.mo")
    assert shipped.is_file()  # package data: a plain `pip install .` ships it


def test_chinese_is_the_default_and_english_is_the_msgid() -> None:
    assert DEFAULT_LANGUAGE == "zh_CN"
    assert language(None) == language("zh-CN") == language("zh") == language("fr") == "zh_CN"
    assert language("en-GB") == language("en") == "en"
    headline = texts.OUTCOMES["medical_referral"][1]
    assert translate("zh_CN", headline) == "体温异常，请配合医务人员复测"
    assert translate("en", headline) == headline
    assert translate("zh_CN", texts.TEMPERATURE, value=37.86) == "37.9 ℃"


def test_every_guidance_the_screener_gives_has_a_text() -> None:
    advice = set(outcome.ADVICE.values()) | set(outcome.LANE_GUIDANCE)
    # assess_passenger's own advice strings besides the per-fault table
    source = io.StringIO((REPO / "edge" / "screening" / "assess.py").read_text())
    for phrase in ("refer to a clinical thermometer", "measure again", "wait and re-measure"):
        assert f'"{phrase}"' in source.getvalue()
        advice.add(phrase)
    assert advice <= set(texts.GUIDANCE), sorted(advice - set(texts.GUIDANCE))


def test_no_text_on_the_display_names_the_watch_list() -> None:
    for lang in ("zh_CN", "en"):
        for catalogue in (texts.OUTCOMES.values(),):
            for _style, msgid in catalogue:
                text = translate(lang, msgid).lower()
                assert "watch" not in text and "名单" not in text
