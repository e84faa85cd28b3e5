"""Retiming schedules: exact rational timestamps, exact counts, input frames reproduced exactly."""

from fractions import Fraction

import numpy as np
import pytest

from racines.motion.interpolate import Interpolator
from racines.motion.retime import as_rate, frame_count, retime, schedule, steps_between


@pytest.mark.parametrize("rate_in,rate_out,n_in,n_out", [
    (16, 24, 16, 24),     # one second stays one second
    (8, 24, 8, 24),
    (25, 24, 25, 24),
    (12, 24, 10, 20),     # 2x
    (6, 24, 10, 40),      # 4x
    ("24000/1001", 24, 1000, 1001),   # 1000 frames of 23.976 last 41.708 s: 1001 frames at 24
    (24, "30000/1001", 24, 30),   # ceil(24 * 30000/1001 / 24) = 30 (29.97...)
])
def test_duration_counts(rate_in, rate_out, n_in, n_out):
    assert frame_count(n_in, as_rate(rate_in), as_rate(rate_out)) == n_out
    assert len(schedule(n_in, rate_in, rate_out)) == n_out


@pytest.mark.parametrize("rate_in,rate_out,n_in,n_out", [
    (16, 24, 17, 25),     # first to last: 16 input intervals become 24 output intervals
    (8, 24, 9, 25),
    (25, 24, 26, 25),
    (12, 24, 10, 19),     # 2x: 2n - 1
    (6, 24, 10, 37),      # 4x: 4n - 3
])
def test_endpoint_counts_and_exact_ends(rate_in, rate_out, n_in, n_out):
    steps = schedule(n_in, rate_in, rate_out, span="endpoints")
    assert len(steps) == n_out
    assert (steps[0].frame, steps[0].t) == (0, 0)
    assert (steps[-1].frame, steps[-1].t) == (n_in - 1, 0)  # the last input frame, exactly


def test_timestamps_are_exact_fractions():
    steps = schedule(16, 16, 24)
    assert all(isinstance(s.position, Fraction) and isinstance(s.t, Fraction) for s in steps)
    # 16 -> 24: every third output frame is an input frame; the others sit at 2/3 and 1/3
    assert [s.t for s in steps[:4]] == [0, Fraction(2, 3), Fraction(1, 3), 0]
    assert [s.frame for s in steps[:4]] == [0, 0, 1, 2]
    # 25 -> 24: the output instant k/24 is input position 25k/24
    assert schedule(25, 25, 24)[5].position == Fraction(125, 24)


def test_duration_span_holds_the_last_frame_for_its_own_duration():
    steps = schedule(4, 12, 24)   # 2x of 4 frames: 8 outputs, the last one holds frame 3
    assert [(s.frame, s.t) for s in steps[-2:]] == [(3, 0), (3, 0)]


def test_steps_between_partition_the_output():
    rate_in, rate_out = Fraction(25), Fraction(24)
    covered = [k for frame in range(50) for k in steps_between(frame, rate_in, rate_out)]
    assert covered == list(range(len(covered)))   # no gaps, no repeats


@pytest.mark.parametrize("bad", [0, -24, "abc", "1/0", 23.976])
def test_bad_rates_are_refused(bad):
    with pytest.raises(ValueError):
        as_rate(bad)


def _clip(count, size=(48, 64)):
    # frames with a moving gradient, each also tagged with its index in one corner
    ys, xs = np.mgrid[0:size[0], 0:size[1]]
    frames = []
    for index in range(count):
        frame = np.repeat(((xs * 3 + ys * 2 + index * 5) % 256).astype(np.uint8)[..., None], 3, axis=2)
        frame[0, 0] = index
        frames.append(frame)
    return frames


@pytest.mark.parametrize("rate_in,rate_out,span", [(16, 24, "duration"), (8, 24, "duration"), (25, 24, "duration"),
                                                   (12, 24, "endpoints"), (6, 24, "endpoints")])
def test_retime_streams_the_scheduled_frames(rate_in, rate_out, span):
    frames = _clip(9)
    interpolator = Interpolator(device="cpu")
    made = list(retime(iter(frames), rate_in, rate_out, interpolator, span=span))
    steps = schedule(len(frames), rate_in, rate_out, span=span)
    assert len(made) == len(steps)
    for frame, step in zip(made, steps):
        assert frame.shape == frames[0].shape and frame.dtype == np.uint8
        if step.exact:
            assert frame is frames[step.frame]   # an input frame, untouched


def test_a_pair_with_no_in_between_costs_no_flow():
    class Counting(Interpolator):
        calls = 0

        def flows(self, gray0, gray1):
            Counting.calls += 1
            return super().flows(gray0, gray1)

    # 24 -> 12: every output frame is an input frame, nothing is interpolated
    made = list(retime(iter(_clip(8)), 24, 12, Counting(device="cpu")))
    assert len(made) == 4 and Counting.calls == 0
