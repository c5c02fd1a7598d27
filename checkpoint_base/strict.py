"""The base of every configuration model: unknown keys are errors, never silently ignored."""

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A typo in an unattended appliance's config must stop start-up, not disable a feature quietly."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
