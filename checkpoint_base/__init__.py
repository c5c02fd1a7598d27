"""The lightest layer: what both `drivers` and `edge` build on, importing neither.

`drivers` must never import `edge` (a driver is usable on its own, by the technician commands and the
simulators); `edge` builds on `drivers`. Anything both need lives here.
"""
