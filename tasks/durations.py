"""How long something took, as people read it: one format for every message that says so.

Shared by the status messages, `status`/`history` and the built-in `ping`, so a duration reads
the same wherever it is shown.

>>> format_duration(0.0042), format_duration(7.25), format_duration(600)
('4 ms', '7.2 s', '10.0 min')
"""

from __future__ import annotations


def format_duration(seconds: float) -> str:
    """Milliseconds under a second, seconds under two minutes, minutes beyond."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"
