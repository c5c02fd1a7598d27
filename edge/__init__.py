"""checkpoint-edge: the screening service that runs on each checkpoint appliance."""

__version__ = "0.1.0"
