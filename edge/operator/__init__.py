"""The lane's operator side: what the kiosk page shows (board.py, texts.py, page.py) and the lane's signals to
its alarm output and display (signals.py)."""
