"""Game-day mode: a drill watched live from a terminal."""

from harness.gameday.live import LiveState, render

__all__ = ["LiveState", "render"]
