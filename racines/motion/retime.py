"""Change a clip's frame rate by any exact ratio: 2x, 4x, 16->24, 8->24, 25->24, 24000/1001->24...

Timestamps are exact rationals (:class:`fractions.Fraction`), never floats, so a schedule
never drifts: output frame ``k`` shows the instant ``k / rate_out``, which is the position
``s = k * rate_in / rate_out`` in input frames. It falls between input frames
``floor(s)`` and ``floor(s) + 1`` at time ``t = s - floor(s)``; ``t = 0`` is an input frame
reproduced exactly, anything else is interpolated.

Two ways to decide how many frames come out (``span``):

* ``"duration"`` (the default, for video files): the clip keeps its running time,
  ``N / rate_in`` seconds, so sound stays in sync. Every output instant inside that time is
  made: ``ceil(N * rate_out / rate_in)`` frames. Instants after the last input frame (the
  last frame's own duration) hold that frame.
* ``"endpoints"``: from the first input frame to the last one, both included when the
  ratio lands on it: ``floor((N - 1) * rate_out / rate_in) + 1`` frames.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

SPANS = ("duration", "endpoints")


def as_rate(value: int | str | Fraction) -> Fraction:
    """An exact, positive frame rate from 24, '24', '24000/1001' or a Fraction (floats are refused)."""
    if isinstance(value, float):
        raise ValueError(f"frame rate {value!r} is a float; give an exact rate such as 24 or '24000/1001'")
    try:
        rate = Fraction(value)
    except (ValueError, ZeroDivisionError, TypeError):
        raise ValueError(f"not a frame rate: {value!r}; give an exact rate such as 24 or '24000/1001'") from None
    if rate <= 0:
        raise ValueError(f"a frame rate must be positive, got {value!r}")
    return rate


@dataclass(frozen=True)
class Step:
    """One output frame: its index, and where it sits among the input frames."""

    index: int          # output frame number
    position: Fraction  # in input frames: index * rate_in / rate_out
    frame: int          # the input frame before (or at) this instant
    t: Fraction         # 0 <= t < 1: how far towards frame + 1

    @property
    def exact(self) -> bool:
        """True when this output is an input frame, reproduced without interpolation."""
        return self.t == 0


def frame_count(n_in: int, rate_in: Fraction, rate_out: Fraction, span: str = "duration") -> int:
    """How many frames a clip of ``n_in`` frames has after retiming."""
    _check_span(span)
    if n_in <= 0:
        return 0
    ratio = Fraction(rate_out) / Fraction(rate_in)
    if span == "duration":
        return math.ceil(n_in * ratio)
    return math.floor((n_in - 1) * ratio) + 1


def steps_between(frame: int, rate_in: Fraction, rate_out: Fraction) -> range:
    """Indices of the output frames whose instants fall in ``[frame, frame + 1)`` input frames."""
    ratio = Fraction(rate_out) / Fraction(rate_in)
    return range(math.ceil(frame * ratio), math.ceil((frame + 1) * ratio))


def step(index: int, rate_in: Fraction, rate_out: Fraction) -> Step:
    position = Fraction(index) * Fraction(rate_in) / Fraction(rate_out)
    whole = math.floor(position)
    return Step(index=index, position=position, frame=whole, t=position - whole)


def schedule(n_in: int, rate_in: int | str | Fraction, rate_out: int | str | Fraction,
             span: str = "duration") -> list[Step]:
    """Every output frame of a clip of ``n_in`` frames, with the instants past the last input
    frame clamped to it (they hold the last frame)."""
    rate_in, rate_out = as_rate(rate_in), as_rate(rate_out)
    steps = []
    for index in range(frame_count(n_in, rate_in, rate_out, span)):
        found = step(index, rate_in, rate_out)
        if found.frame >= n_in - 1:
            found = Step(index=index, position=found.position, frame=n_in - 1, t=Fraction(0))
        steps.append(found)
    return steps


def retime(frames: Iterable[np.ndarray], rate_in: int | str | Fraction, rate_out: int | str | Fraction,
           interpolator, span: str = "duration",
           on_frame: Callable[[int], None] | None = None) -> Iterator[np.ndarray]:
    """Stream a clip's frames at a new rate, holding only three input frames at a time.

    Motion is estimated once per pair of input frames, however many frames fall between
    them, and not at all for a pair with no in-between (most pairs of 25 -> 24). The
    optical flow of the next pair runs on a worker thread (OpenCV, CPU) while the current
    pair is warped (torch, CPU or GPU).

    Args:
        frames: the input clip's RGB uint8 frames, in order (an iterator is fine).
        rate_in, rate_out: exact frame rates.
        interpolator: an :class:`~racines.motion.interpolate.Interpolator`.
        span: "duration" or "endpoints" (see the module docstring).
        on_frame: called with the number of frames made so far.
    """
    rate_in, rate_out = as_rate(rate_in), as_rate(rate_out)
    _check_span(span)
    made = 0

    def emit(frame: np.ndarray) -> np.ndarray:
        nonlocal made
        made += 1
        if on_frame:
            on_frame(made)
        return frame

    def needs_motion(frame: int) -> bool:
        return any(not step(k, rate_in, rate_out).exact for k in steps_between(frame, rate_in, rate_out))

    estimator = interpolator.estimator
    grays: dict[int, np.ndarray] = {}

    def motion_job(index: int, first: np.ndarray, second: np.ndarray):
        gray0 = grays.pop(index, None)
        if gray0 is None:
            gray0 = estimator.prepare(first)
        gray1 = estimator.prepare(second)
        grays[index + 1] = gray1
        return interpolator.flows(gray0, gray1)

    iterator = iter(frames)
    previous = next(iterator, None)
    if previous is None:
        return
    current = next(iterator, None)
    index = 0
    pair = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="racines-retime") as worker:
        job = worker.submit(motion_job, 0, previous, current) if current is not None and needs_motion(0) else None
        while current is not None:
            following = next(iterator, None)
            flows = job.result() if job is not None else None
            job = None
            if following is not None and needs_motion(index + 1):
                job = worker.submit(motion_job, index + 1, current, following)
            pair = interpolator.prepare(previous, current, flows=flows, previous=pair) if flows else None
            for out_index in steps_between(index, rate_in, rate_out):
                at = step(out_index, rate_in, rate_out)
                yield emit(previous if at.exact else interpolator.frame(pair, at.t))
            grays.pop(index, None)
            previous, current = current, following
            index += 1
    # the last input frame: its own instant, and in "duration" mode the rest of its duration
    for out_index in steps_between(index, rate_in, rate_out):
        if span == "endpoints" and not step(out_index, rate_in, rate_out).exact:
            break
        yield emit(previous)


def _check_span(span: str) -> None:
    if span not in SPANS:
        raise ValueError(f"span must be one of {', '.join(SPANS)}, got {span!r}")
