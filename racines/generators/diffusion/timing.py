"""Bring a model's clip to the shot: its native frame count and rate to the shot's frames at the
film's rate, and its size to the film's size.

:func:`retime` is the one place that changes timing. It blends the two nearest frames, which
is enough for the small corrections a diffusion clip needs (its frame count is chosen to cover
the shot). Once ``racines.motion`` (optical-flow interpolation) is in the tree, this function
can hand the same schedule to it: ``racines.motion.retime.retime(frames, step * dst_fps,
dst_fps, interpolator, span="endpoints")`` yields the same ``count`` instants.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from fractions import Fraction

import numpy as np

from racines.film.images import fit


def step_of(n: int, src_fps: Fraction | int, dst_fps: Fraction | int, count: int) -> Fraction:
    """How far, in source frames, the clip advances per output frame.

    At the natural speed that is ``src_fps / dst_fps``. When the clip at that speed would not
    last exactly ``count`` frames, it is stretched instead so that its first and last frames
    land on the shot's first and last (a morph must end on its target): ``(n - 1) / (count - 1)``.
    """
    if n < 1 or count < 1:
        raise ValueError(f"cannot retime {n} frames to {count}")
    if n == 1 or count == 1:
        return Fraction(0)
    natural = Fraction(src_fps) / Fraction(dst_fps)
    if math.floor((n - 1) / natural) + 1 == count:
        return natural
    return Fraction(n - 1, count - 1)


def retime(frames: Sequence[np.ndarray], src_fps: Fraction | int, dst_fps: Fraction | int,
           count: int) -> Iterator[np.ndarray]:
    """Exactly ``count`` frames at ``dst_fps`` from a clip at ``src_fps`` (see :func:`step_of`).

    Positions are exact fractions; a position on a source frame reproduces it exactly, one in
    between blends its two neighbours linearly (float frames stay float).
    """
    step = step_of(len(frames), src_fps, dst_fps, count)
    last = len(frames) - 1
    for index in range(count):
        position = index * step
        whole = min(math.floor(position), last)
        t = position - whole
        if t == 0 or whole == last:
            yield frames[whole]
        else:
            a, b = frames[whole], frames[whole + 1]
            yield a + (b - a) * np.float32(t)


def speed_of(n: int, src_fps: Fraction | int, dst_fps: Fraction | int, count: int) -> float:
    """Playback speed relative to the model's own timing (1.0: unchanged)."""
    step = step_of(n, src_fps, dst_fps, count)
    return float(step * Fraction(dst_fps) / Fraction(src_fps)) if step else 1.0


def conform(frames: Sequence[np.ndarray], src_fps, dst_fps, count: int, width: int,
            height: int) -> Iterator[np.ndarray]:
    """The clip retimed to ``count`` frames and cropped to fill ``width`` x ``height`` (float)."""
    for frame in retime(frames, src_fps, dst_fps, count):
        yield frame if frame.shape[:2] == (height, width) else fit(frame, width, height, "cover")


def to_uint8(frame: np.ndarray) -> np.ndarray:
    """Float [0, 1] to uint8, rounding as diffusers does for its PIL output."""
    return (np.clip(frame, 0.0, 1.0) * 255.0).round().astype(np.uint8)
