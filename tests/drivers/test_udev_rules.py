"""systemd/99-checkpoint-edge.rules: well-formed (udevadm is not available in CI) and covering every adapter."""

from __future__ import annotations

import re
from pathlib import Path

RULES = Path(__file__).resolve().parents[2] / "systemd" / "99-checkpoint-edge.rules"
_KEYS = "ACTION|SUBSYSTEM|KERNEL|KERNELS|ATTR|ATTRS|ENV|DRIVERS|SYMLINK|GROUP|MODE|IMPORT|GOTO|LABEL|TAG"
_ASSIGNMENT = re.compile(rf'^({_KEYS})(\{{[A-Za-z_]+\}})?(==|!=|\+=|-=|:=|=)"[^"]*"$')


def rules() -> list[list[str]]:
    text = RULES.read_text().replace("\\\n", " ")
    parsed = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            parsed.append([token.strip() for token in re.split(r',\s*(?=(?:[^"]*"[^"]*")*[^"]*$)', line)])
    return parsed


def test_every_token_is_a_known_key_with_an_operator_and_a_quoted_value() -> None:
    for rule in rules():
        for token in rule:
            assert _ASSIGNMENT.match(token), f"malformed: {token!r} in {rule}"


def test_the_goto_target_exists_and_rules_match_before_assigning() -> None:
    all_rules = rules()
    labels = {t.split('"')[1] for r in all_rules for t in r if t.startswith("LABEL=")}
    gotos = {t.split('"')[1] for r in all_rules for t in r if t.startswith("GOTO=")}
    assert gotos <= labels
    for rule in all_rules:
        if any(t.startswith("SYMLINK+=") for t in rule):
            assert any("==" in t for t in rule), rule


def test_supported_adapters_have_stable_names() -> None:
    text = " ".join(" ".join(r) for r in rules())
    for vendor, product in (
        ("1a86", "7523"),
        ("067b", "2303"),
        ("0403", "6001"),
        ("10c4", "ea60"),
        ("1e4e", "0100"),
    ):
        assert f'ATTRS{{idVendor}}=="{vendor}"' in text and product in text


def test_adapters_without_serial_numbers_are_named_by_socket_only() -> None:
    for rule in rules():
        joined = " ".join(rule)
        if '"1a86"' in joined or '"067b"' in joined:
            links = [t for t in rule if t.startswith("SYMLINK")]
            assert links and all("ID_PATH_TAG" in t and "SERIAL" not in t for t in links)
