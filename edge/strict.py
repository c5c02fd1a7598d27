"""`StrictModel` for `edge` modules; it lives in `checkpoint_base` so that `drivers` need not import `edge`."""

from checkpoint_base.strict import StrictModel

__all__ = ["StrictModel"]
