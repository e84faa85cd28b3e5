"""Defect 8: a model's 16 fps clip retimed to the film's 24 fps by optical flow, not by blending
neighbouring frames (a blend shows the moving subject twice: ghosting); the frames on source
instants are the source frames, bit for bit; a shot that stretches a clip into slow motion says so."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner

from racines.cli import main
from racines.generators.diffusion.timing import positions, retime, slow_motion, speed_of
from racines.motion.metrics import psnr
from racines.takes.store import TakeStore
from tests.conftest import write_diffusion_project

WIDTH, HEIGHT = 160, 96
SPEED = 6.0  # pixels per source frame (16 fps): a brisk, ordinary motion


def texture(x: np.ndarray, y: np.ndarray, seed: float) -> np.ndarray:
    """A smooth, detailed pattern, defined everywhere so that any sub-pixel position renders exactly."""
    return (0.5 + 0.18 * np.sin(x / 3.1 + seed) * np.cos(y / 4.3 - seed)
            + 0.12 * np.sin((x + 2 * y) / 5.7 + 2 * seed) + 0.08 * np.cos((3 * x - y) / 7.9))


def scene(time_in_frames: float) -> np.ndarray:
    """A textured disc moving right over a still textured background, at a source-frame time."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    cx, cy = 40.0 + SPEED * time_in_frames, HEIGHT / 2
    background = texture(x, y, 0.0) * 0.7
    disc = np.clip(22.0 - np.hypot(x - cx, y - cy), 0.0, 1.0)  # anti-aliased edge
    subject = 0.25 + texture(x - cx, y - cy, 1.7)               # the disc's own texture moves with it
    luma = background * (1 - disc) + subject * disc
    return np.stack([luma, luma * 0.9 + 0.05, luma * 0.8 + 0.1], axis=-1).astype(np.float32).clip(0, 1)


def as8(frame: np.ndarray) -> np.ndarray:
    return (np.clip(frame, 0, 1) * 255).round().astype(np.uint8)


def test_in_between_frames_follow_the_motion_instead_of_blending():
    clip = [scene(i) for i in range(9)]                 # 9 frames at 16 fps
    count = 13                                          # 8 frames span 0.5 s: 13 frames at 24 fps
    out = list(retime(clip, 16, 24, count))
    steps = positions(len(clip), 16, 24, count)
    assert len(out) == count and speed_of(9, 16, 24, count) == 1.0
    flowed, blended = [], []
    for frame, (whole, t) in zip(out, steps, strict=True):
        if t == 0:
            assert frame is clip[whole]                 # a source instant is the source frame itself
            continue
        truth = as8(scene(whole + float(t)))            # the scene rendered at the in-between instant
        blend = clip[whole] * (1 - float(t)) + clip[whole + 1] * float(t)
        assert frame.dtype == np.float32 and frame.shape == clip[0].shape
        flowed.append(psnr(as8(frame), truth))
        blended.append(psnr(as8(blend), truth))
    assert len(flowed) == 8                             # two frames in three are made between
    # the blend shows the disc twice (ghosting); the flow moves it to where it is at that instant
    assert min(flowed) > max(blended) + 3.0, (flowed, blended)
    assert np.mean(flowed) > 30.0


def test_positions_are_exact_fractions_on_any_rate():
    steps = positions(81, 16, Fraction(24000, 1001), 121)
    assert all(isinstance(t, Fraction) for _, t in steps)
    assert steps[0] == (0, 0) and steps[-1] == (80, 0)  # stretched: the clip's ends land on the shot's


def test_a_constant_clip_stays_constant_between_frames():
    clip = [np.full((8, 8, 3), value, np.float32) for value in (0.25, 0.75)]
    middle = list(retime(clip, 16, 24, 3))              # stretched: a step of half a source frame
    assert middle[0] is clip[0] and middle[2] is clip[1]
    assert middle[1] == pytest.approx(np.full((8, 8, 3), 0.5), abs=1e-5)
    thirds = list(retime(clip + [clip[1]], 16, 24, 4))
    assert thirds[1] == pytest.approx(np.full((8, 8, 3), 0.25 + 0.5 * 2 / 3), abs=1e-5)


def test_slow_motion_is_said():
    note = slow_motion(81, 16, 24, 192)                 # the model's 5.06 s asked to fill 8 s
    assert note is not None and "slow motion" in note and "5.06 s" in note and "8.00 s" in note
    assert "speed 0.63" in note and "num_frames" in note
    assert slow_motion(81, 16, 24, 121) is None         # its natural length: speed 1
    assert slow_motion(81, 16, 24, 100) is None         # shorter: faster, not slow
    assert slow_motion(1, 16, 24, 48) is None           # a still has no speed


WAN = "final: {kind: wan-i2v, model: tiny-wan, width: 16, height: 16, num_frames: 9, max_sequence_length: 16, steps: 2}"
PHOTO = "source: {photo: photos/grid.png, contributor: Amina, consent: granted}\n"
DRAFT = "generator: {kind: kenburns}\n"


def test_slow_motion_reaches_validate_render_and_the_manifest(tmp_path, tiny_hub):
    # 9 frames at 16 fps (0.56 s) asked to fill 24 frames at 24 fps (1 s); the other shot fits
    root = write_diffusion_project(tmp_path / "film", {
        "s010": PHOTO + "duration: 24\n" + DRAFT + WAN + "\n",
        "s020": PHOTO + "duration: 12\n" + DRAFT + WAN + "\n"})
    validated = CliRunner().invoke(main, ["--project", str(root), "validate", "--profile", "final"])
    assert validated.exit_code == 0, validated.output
    lines = [line for line in validated.output.splitlines() if "slow motion" in line]
    assert len(lines) == 1 and lines[0].startswith("note: shots/s010.yaml: slow motion") and "0.56 s" in lines[0]
    rendered = CliRunner().invoke(main, ["--project", str(root), "render", "--profile", "final", "--shot", "s010"])
    assert rendered.exit_code == 0, rendered.output
    assert "note: shots/s010.yaml: slow motion" in rendered.output
    retimed = TakeStore(root).latest("s010").manifest["generation"]["retime"]
    assert retimed["speed"] == pytest.approx(8 / 23 * 24 / 16, abs=1e-4) and "slow motion" in retimed["note"]
