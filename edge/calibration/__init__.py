"""Site calibration: blackbody ROI and set point, visible→thermal registration, offset against a clinical
thermometer. Each result becomes a drop-in file (edge/calibration/dropins.py) merged over the main
configuration at load, per lane; nothing applies without the technician's confirmation."""
