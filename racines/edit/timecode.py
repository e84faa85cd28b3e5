"""Timecode arithmetic, always through OTIO's RationalTime at an exact rate.

Drop-frame exists only at 30000/1001 and 60000/1001; racines uses it when the film's start
timecode is written with ';' (as NLEs do), and never otherwise.
"""

from __future__ import annotations

from fractions import Fraction

import opentimelineio as otio

DROP_FRAME_RATES = (Fraction(30000, 1001), Fraction(60000, 1001))


def is_drop_frame(rate: Fraction, drop_frame: bool) -> bool:
    return bool(drop_frame and rate in DROP_FRAME_RATES)


def nominal_fps(rate: Fraction) -> int:
    """The frames a timecode counts per second: 30 at 30000/1001, 24 at 24000/1001."""
    return round(rate)


def to_timecode(frames: int, rate: Fraction, drop_frame: bool = False) -> str:
    return otio.opentime.to_timecode(otio.opentime.RationalTime(frames, float(rate)), float(rate),
                                     is_drop_frame(rate, drop_frame))


def to_frames(timecode: str, rate: Fraction) -> int:
    """Frames from a timecode; ';' (or '.') before the frames field means drop-frame."""
    return round(otio.opentime.from_timecode(timecode.replace(".", ";"), float(rate)).value)
