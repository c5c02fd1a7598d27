"""Device drivers: pure protocol parsers, serial transport, device classes and their simulators."""
