"""Screening rules: from a joined passenger (temperature decision and/or ID scan) to one outcome category
with every reason that applied. Pure: no I/O; the caller passes the lists in force and today's date."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, field_validator

from drivers.items import IdDocument
from drivers.strict import StrictModel
from edge.records import Category, PassengerMeasurement

# Most urgent first: the outcome is the most urgent category any reason asks for.
CATEGORIES: tuple[str, ...] = tuple(Category)


class KeyRegion(StrictModel):
    prefix: str = Field(
        description="Resident-ID region-code prefix (1–6 digits) or an MRZ nationality (3 letters)."
    )
    action: str = Field("guide_to_service_point", description="Outcome category for a match.")
    valid_from: dt.date | None = Field(None, description="First day the entry applies (inclusive).")
    valid_until: dt.date | None = Field(None, description="Last day the entry applies (inclusive).")

    @field_validator("prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        if not re.fullmatch(r"\d{1,6}|[A-Z]{3}", value):
            raise ValueError("must be 1–6 digits or a 3-letter nationality code")
        return value

    @field_validator("action")
    @classmethod
    def _known_action(cls, value: str) -> str:
        if value not in CATEGORIES or value == "clear":
            raise ValueError(f"must be one of {', '.join(c for c in CATEGORIES if c != 'clear')}")
        return value

    def applies_on(self, day: dt.date) -> bool:
        return (self.valid_from is None or day >= self.valid_from) and (
            self.valid_until is None or day <= self.valid_until
        )


class RulesSettings(StrictModel):
    key_regions: list[KeyRegion] = Field(
        default_factory=list,
        description="Key regions in force until a list file or list update replaces them.",
    )
    lists_file: Path | None = Field(
        None,
        description="Signed JSON list document (see docs/contract.md, rule lists) re-read whenever it is "
        "replaced; applied only when its signature and version check out.",
    )
    lists_public_key_file: Path | None = Field(
        None,
        description="PEM file with the centre's Ed25519 list-signing public key(s) "
        "(`checkpoint-edge lists keygen` makes a pair). Without it every list file or list update is refused.",
    )
    health_code_actions: dict[str, str] = Field(
        default_factory=lambda: {"yellow": "guide_to_service_point", "red": "medical_referral"},
        description="Health-code colour from a scanned code → outcome category (green: none).",
    )
    invalid_document_action: str = Field(
        "recheck", description="Outcome when a scanned document fails its checks (never silently accepted)."
    )

    @field_validator("health_code_actions")
    @classmethod
    def _known_actions(cls, value: dict[str, str]) -> dict[str, str]:
        for colour, action in value.items():
            if colour not in ("green", "yellow", "red") or action not in CATEGORIES:
                raise ValueError(f"{colour} = {action!r}: colours are green/yellow/red, actions {CATEGORIES}")
        return value

    @field_validator("invalid_document_action")
    @classmethod
    def _known_action(cls, value: str) -> str:
        if value not in CATEGORIES:
            raise ValueError(f"must be one of {', '.join(CATEGORIES)}")
        return value


@dataclass(frozen=True)
class Reason:
    code: str  # fever, indeterminate, recheck, key_region, watch_list, health_code, invalid_document,
    # identity_ambiguous
    detail: str
    category: str


@dataclass(frozen=True)
class Decision:
    category: str
    reasons: tuple[Reason, ...]


_TEMPERATURE_CATEGORY = {
    "elevated": ("fever", "medical_referral"),
    "recheck": ("recheck", "recheck"),
    "indeterminate": ("indeterminate", "recheck"),
}


def decide(
    temperature: PassengerMeasurement | None,
    document: IdDocument | None,
    id_hmac: str | None,
    key_regions: Iterable[KeyRegion],
    watch_actions: Mapping[str, str],
    rules: RulesSettings,
    today: dt.date,
    identity_ambiguous: str = "",
) -> Decision:
    """identity_ambiguous: why the lane could not tell whose card this is (a face without its card, or a card
    without its face): the operator re-checks a face; a card's own reasons (a watch-list hold) still apply."""
    reasons: list[Reason] = []
    # Guidance the lane gives itself (step closer, wait and re-measure, …) is counted, not escalated.
    if (
        temperature is not None
        and temperature.status in _TEMPERATURE_CATEGORY
        and not temperature.lane_guidance
    ):
        code, category = _TEMPERATURE_CATEGORY[temperature.status]
        reasons.append(Reason(code, "; ".join(temperature.reasons), category))
    if document is not None:
        if not document.valid:
            reasons.append(
                Reason(
                    "invalid_document",
                    f"failed check: {document.failed_check}",
                    rules.invalid_document_action,
                )
            )
        if document.region:
            for entry in key_regions:
                if document.region.startswith(entry.prefix) and entry.applies_on(today):
                    reasons.append(
                        Reason("key_region", f"region {document.region} matches {entry.prefix}", entry.action)
                    )
                    break
        if id_hmac is not None and id_hmac in watch_actions:
            reasons.append(Reason("watch_list", "document number on the watch list", watch_actions[id_hmac]))
        colour = document.extra.get("health_code")
        if colour in rules.health_code_actions:
            reasons.append(Reason("health_code", f"health code {colour}", rules.health_code_actions[colour]))
    if identity_ambiguous and (temperature is not None or reasons):
        reasons.append(Reason("identity_ambiguous", identity_ambiguous, "recheck"))
    if not reasons:
        return Decision("clear", ())
    category = min((r.category for r in reasons), key=CATEGORIES.index)
    return Decision(category, tuple(reasons))
