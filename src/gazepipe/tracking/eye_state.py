"""Eye state: open or closed, from the landmark aspect ratio."""

from __future__ import annotations

from gazepipe.tracking.eye import Eye

CLOSED_ASPECT_RATIO = 0.18


def openness(eye: Eye) -> float:
    """0 for a closed eye, about 1 for a wide open one."""
    return float(min(1.0, eye.aspect_ratio / 0.3))


def is_closed(eye: Eye) -> bool:
    return eye.aspect_ratio < CLOSED_ASPECT_RATIO
