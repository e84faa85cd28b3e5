"""Bring a model's clip to the shot: its native frame count and rate to the shot's frames at the
film's rate, and its size to the film's size.

:func:`retime` is the one place that changes timing. Output frame ``k`` sits at the exact
position ``k * step`` in source frames (a :class:`~fractions.Fraction`, see :func:`step_of`):
on a source frame it is that frame, bit for bit; between two it is made by racines' own
optical-flow interpolation (:mod:`racines.motion`), which moves the picture to the in-between
instant instead of blending the neighbours (a blend shows both positions at once: ghosting).
A 16 fps clip at 24 fps has two frames in three made that way.

:func:`slow_motion` says when a shot is longer than the clip at its natural speed, so that
the clip is stretched into slow motion: the take's report and ``racines validate`` say it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from racines.film.images import fit

if TYPE_CHECKING:  # torch and OpenCV load when a clip is retimed, not when a shot file is checked
    import torch

    from racines.motion import Interpolator, PairMotion

#: the interpolation quality of takes: bicubic resampling keeps the model's fine detail
QUALITY = "high"


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


def positions(n: int, src_fps: Fraction | int, dst_fps: Fraction | int, count: int) -> list[tuple[int, Fraction]]:
    """Each output frame's place among the source frames: (frame before or at it, t in [0, 1))."""
    step = step_of(n, src_fps, dst_fps, count)
    found = []
    for index in range(count):
        position = index * step
        whole = min(math.floor(position), n - 1)
        found.append((whole, position - whole))
    return found


def retime(frames: Sequence[np.ndarray], src_fps: Fraction | int, dst_fps: Fraction | int, count: int,
           interpolator: Interpolator | None = None) -> Iterator[np.ndarray]:
    """Exactly ``count`` frames at ``dst_fps`` from a clip at ``src_fps`` (float32 RGB in [0, 1]).

    A position on a source frame yields that frame itself; one between two source frames is
    interpolated along the optical flow of the pair (computed once per pair, however many
    frames fall between). ``interpolator``: default, :func:`racines.motion.for_quality` at
    :data:`QUALITY` on racines' device.
    """
    pair: tuple[int, PairMotion] | None = None
    for whole, t in positions(len(frames), src_fps, dst_fps, count):
        if t == 0:
            yield frames[whole]
            continue
        if interpolator is None:
            from racines.motion import for_quality

            interpolator = for_quality(QUALITY)
        if pair is None or pair[0] != whole:
            pair = whole, motion_of(interpolator, frames[whole], frames[whole + 1])
        yield between(interpolator, pair[1], t)


def motion_of(interpolator: Interpolator, first: np.ndarray, second: np.ndarray) -> PairMotion:
    """The pair's flow and occlusion, estimated on its 8-bit copies; the float frames are what
    is warped, so that the take is quantised once, at the end."""
    pair = interpolator.prepare(to_uint8(first), to_uint8(second))
    return dataclasses.replace(pair, frames=(float_tensor(first, interpolator.device),
                                             float_tensor(second, interpolator.device)), originals=None)


def float_tensor(frame: np.ndarray, device: torch.device) -> torch.Tensor:
    import torch

    return torch.from_numpy(np.ascontiguousarray(frame, dtype=np.float32)).to(device).permute(2, 0, 1).unsqueeze(0)


def between(interpolator: Interpolator, pair: PairMotion, t: Fraction) -> np.ndarray:
    return interpolator.at(pair, t)[0].permute(1, 2, 0).contiguous().cpu().numpy()


def speed_of(n: int, src_fps: Fraction | int, dst_fps: Fraction | int, count: int) -> float:
    """Playback speed relative to the model's own timing (1.0: unchanged)."""
    step = step_of(n, src_fps, dst_fps, count)
    return float(step * Fraction(dst_fps) / Fraction(src_fps)) if step else 1.0


def slow_motion(n: int, src_fps: Fraction | int, dst_fps: Fraction | int, count: int) -> str | None:
    """A warning when the shot stretches the clip into slow motion (speed below 1), else None."""
    speed = speed_of(n, src_fps, dst_fps, count)
    if n < 2 or speed >= 1.0:
        return None
    made, shown = n / Fraction(src_fps), count / Fraction(dst_fps)
    return (f"slow motion: the model's {n} frames at {src_fps} fps last {float(made):.2f} s and are stretched "
            f"to fill {float(shown):.2f} s (speed {speed:.2f}); shorten the shot, or set num_frames or fps "
            "in its final: block if the model makes more")


def conform(frames: Sequence[np.ndarray], src_fps, dst_fps, count: int, width: int, height: int,
            interpolator: Interpolator | None = None) -> Iterator[np.ndarray]:
    """The clip retimed to ``count`` frames and cropped to fill ``width`` x ``height`` (float)."""
    for frame in retime(frames, src_fps, dst_fps, count, interpolator):
        yield frame if frame.shape[:2] == (height, width) else fit(frame, width, height, "cover")


def to_uint8(frame: np.ndarray) -> np.ndarray:
    """Float [0, 1] to uint8, rounding as diffusers does for its PIL output."""
    return (np.clip(frame, 0.0, 1.0) * 255.0).round().astype(np.uint8)
