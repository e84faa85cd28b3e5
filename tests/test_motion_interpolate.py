"""Frame interpolation against exact ground truth: known pans, zooms and rotations of a photograph."""

from fractions import Fraction

import numpy as np
import pytest
import torch
from motion_fixtures import blend, crop, photograph, view

from racines.motion.interpolate import Interpolator, interpolate
from racines.motion.metrics import psnr

W, H = 256, 192
MARGIN = 12


@pytest.fixture(scope="module")
def interpolator():
    return Interpolator(device="cpu")


# (name, motion of frame 0, motion of frame 1): the ground-truth middle is the view half-way
MOTIONS = [
    ("pan", dict(dx=-3.6, dy=1.4), dict(dx=3.6, dy=-1.4)),
    ("zoom", dict(zoom=0.95), dict(zoom=1.05)),
    ("rotation", dict(angle=-2.5), dict(angle=2.5)),
    ("pan+zoom+rotation", dict(dx=-2.0, zoom=0.97, angle=-1.5), dict(dx=2.0, zoom=1.03, angle=1.5)),
]


@pytest.mark.parametrize("name,before,after", MOTIONS, ids=[m[0] for m in MOTIONS])
def test_middle_frame_matches_ground_truth(interpolator, name, before, after):
    a, b = view(W, H, **before), view(W, H, **after)
    middle = {key: (before.get(key, 1.0 if key == "zoom" else 0.0) + after.get(key, 1.0 if key == "zoom" else 0.0)) / 2
              for key in ("zoom", "angle", "dx", "dy")}
    truth = view(W, H, **middle)
    ours = interpolator.frame(interpolator.prepare(a, b), Fraction(1, 2))
    ours_db = psnr(crop(ours, MARGIN), crop(truth, MARGIN))
    blend_db = psnr(crop(blend(a, b), MARGIN), crop(truth, MARGIN))
    assert ours_db > 28.0, f"{name}: {ours_db:.1f} dB"
    assert ours_db > blend_db + 8.0, f"{name}: ours {ours_db:.1f} dB, blend {blend_db:.1f} dB"


def test_quarter_times_follow_the_motion(interpolator):
    a, b = view(W, H, dx=-4.0), view(W, H, dx=4.0)
    pair = interpolator.prepare(a, b)
    for t, dx in ((Fraction(1, 4), -2.0), (Fraction(3, 4), 2.0)):
        truth = view(W, H, dx=dx)
        assert psnr(crop(interpolator.frame(pair, t), MARGIN), crop(truth, MARGIN)) > 28.0


def test_ends_are_the_inputs_bit_for_bit(interpolator):
    a, b = view(W, H, dx=-3.0), view(W, H, dx=3.0)
    pair = interpolator.prepare(a, b)
    assert interpolator.frame(pair, 0) is a and interpolator.frame(pair, 1) is b
    assert np.array_equal(interpolate(a, b, 0, device="cpu"), a)


def test_moving_object_leaves_no_ghost():
    """A textured card slides over the photograph: where it arrives it must be solid, not a
    half-transparent double exposure; the whole frame must be far better than a blend."""
    background = view(W, H)
    rng = np.random.default_rng(7)  # an aperiodic texture, so that the card's motion is unambiguous
    card = np.repeat(rng.integers(0, 4, (10, 10), dtype=np.uint8).repeat(6, 0).repeat(6, 1)[..., None] * 60, 3, axis=2)

    def scene(x):
        frame = background.copy()
        frame[60:120, x:x + 60] = card
        return frame

    a, b, truth = scene(60), scene(72), scene(66)
    interpolator = Interpolator(device="cpu")
    ours = interpolator.frame(interpolator.prepare(a, b), 0.5)
    covered = (slice(66, 114), slice(121, 125))  # background at t=0, card from t=0.5 on
    error = np.abs(ours[covered].astype(int) - truth[covered]).mean()
    ghost = np.abs(blend(a, b)[covered].astype(int) - truth[covered]).mean()
    assert error < ghost / 10, f"error {error:.1f}, plain blend {ghost:.1f}"
    # the strip the card uncovers (x 60..66) is the hard part: the motion of revealed background
    # is a guess from its neighbours, so only the whole frame is held to a bound here
    assert psnr(ours, truth) > psnr(blend(a, b), truth) + 10


def _strip_errors(interpolator, a, b, truth):
    out = interpolator.frame(interpolator.prepare(a, b), 0.5)
    rows = slice(8, -8)
    return [np.abs(out[rows, cols].astype(int) - truth[rows, cols]).mean() for cols in (slice(0, 5), slice(W - 5, W))]


def test_content_entering_and_leaving_the_frame_comes_from_the_frame_that_has_it():
    """Panning left: at t=0.5 the left edge exists only in frame 0, the right edge only in frame 1.
    The forward-backward check and the out-of-frame test must pick that frame alone."""
    a, b, truth = view(W, H, dx=5), view(W, H, dx=-5), view(W, H)
    aware = _strip_errors(Interpolator(device="cpu"), a, b, truth)
    blind = Interpolator(device="cpu")
    blind._visibility = lambda pair, reach, fractions: torch.ones_like(reach[:, :1])  # every sample trusted
    unaware = _strip_errors(blind, a, b, truth)
    plain = [np.abs(blend(a, b)[8:-8, cols].astype(int) - truth[8:-8, cols]).mean()
             for cols in (slice(0, 5), slice(W - 5, W))]
    for side, ours, without, mixed in zip(("left", "right"), aware, unaware, plain):
        assert ours < 0.6 * without, f"{side}: {ours:.1f} with occlusion handling, {without:.1f} without"
        assert ours < mixed / 3, f"{side}: {ours:.1f}, plain blend {mixed:.1f}"


def test_rejects_frames_of_different_sizes(interpolator):
    with pytest.raises(ValueError, match="one size"):
        interpolator.prepare(photograph()[:64, :64], photograph()[:64, :32])


def test_high_quality_is_sharper_than_normal():
    from racines.motion.interpolate import for_quality

    a, b, truth = view(W, H, dx=-3.3, angle=-1), view(W, H, dx=3.3, angle=1), view(W, H)
    scores = {}
    for quality in ("draft", "normal", "high"):
        interpolator = for_quality(quality, device="cpu")
        scores[quality] = psnr(crop(interpolator.frame(interpolator.prepare(a, b), 0.5), MARGIN), crop(truth, MARGIN))
    assert scores["high"] > scores["normal"] + 1.0, scores
    assert scores["draft"] > psnr(crop(blend(a, b), MARGIN), crop(truth, MARGIN)) + 8.0, scores
