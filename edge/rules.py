"""Screening rules: from a joined passenger (temperature decision and/or ID scan) to one outcome category
with every reason that applied. Pure: no I/O, the caller passes today's date."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from pydantic import Field, field_validator

from edge.strict import StrictModel

# Most urgent first: the outcome is the most urgent category any reason asks for.
CATEGORIES = ("hold", "medical_referral", "guide_to_service_point", "recheck", "clear")


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
    key_regions: list[KeyRegion] = Field(default_factory=list, description="Key regions and their action.")
    invalid_document_action: str = Field(
        "recheck", description="Outcome when a scanned document fails its checks (never silently accepted)."
    )


@dataclass(frozen=True)
class Reason:
    code: str  # fever, indeterminate, recheck, key_region, watch_list, health_code, invalid_document
    detail: str
    category: str


@dataclass(frozen=True)
class Decision:
    category: str
    reasons: tuple[Reason, ...]


_TEMPERATURE_CATEGORY = {"elevated": ("fever", "medical_referral"), "recheck": ("recheck", "recheck")}


def decide(
    temperature_status: str | None,
    temperature_reasons: tuple[str, ...],
    region: str | None,
    document_valid: bool | None,
    document_failed_check: str | None,
    rules: RulesSettings,
    today: dt.date,
) -> Decision:
    reasons: list[Reason] = []
    if temperature_status in _TEMPERATURE_CATEGORY:
        code, category = _TEMPERATURE_CATEGORY[temperature_status]
        reasons.append(Reason(code, "; ".join(temperature_reasons), category))
    elif temperature_status == "indeterminate":
        reasons.append(Reason("indeterminate", "; ".join(temperature_reasons), "recheck"))
    if document_valid is False:
        reasons.append(
            Reason(
                "invalid_document", f"failed check: {document_failed_check}", rules.invalid_document_action
            )
        )
    if region:
        for entry in rules.key_regions:
            if region.startswith(entry.prefix) and entry.applies_on(today):
                reasons.append(Reason("key_region", f"region {region} matches {entry.prefix}", entry.action))
                break
    if not reasons:
        return Decision("clear", ())
    category = min((r.category for r in reasons), key=CATEGORIES.index)
    return Decision(category, tuple(reasons))
