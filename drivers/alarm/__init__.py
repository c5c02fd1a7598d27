"""Lane alarm outputs: a USB serial relay board (CH340 "LCUS") or a Linux GPIO line, driven by outcome patterns."""
