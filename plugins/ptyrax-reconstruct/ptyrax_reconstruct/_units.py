"""Units of length: what a config, a file or a picture may use."""

LENGTH_UNITS = {"m": 1.0, "mm": 1e-3, "um": 1e-6, "nm": 1e-9, "A": 1e-10}
"""Each unit, in metres."""

LENGTH_NAMES = {"m": "m", "mm": "mm", "um": "µm", "nm": "nm", "A": "Å"}
"""How a picture writes each unit."""
