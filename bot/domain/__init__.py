"""The domain: incidents, phases, severity, timeline. Pure Python, no I/O, no clock reads."""
