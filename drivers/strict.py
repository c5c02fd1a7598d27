"""The base of every configuration model, in drivers and edge alike: unknown keys are errors, never ignored.

It lives in `drivers` because `edge` builds on `drivers` and `drivers` must never import `edge`.
"""

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A typo in an unattended appliance's config must stop start-up, not disable a feature quietly."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
