"""Backward warping and flow inversion: the device-agnostic core."""

import numpy as np
import pytest
import torch
from motion_fixtures import view

from racines.motion.warp import (
    backward_warp,
    grid_warp,
    inside,
    invert_displacement,
    pick_device,
    resize_displacement,
    resize_map,
    sampling_grid,
    to_tensor,
    to_uint8,
)


def _constant(h, w, dx, dy):
    field = torch.zeros(1, 2, h, w)
    field[:, 0], field[:, 1] = dx, dy
    return field


def test_zero_displacement_is_identity():
    frame = view(64, 48)
    image = to_tensor(frame, torch.device("cpu"))
    assert np.array_equal(to_uint8(backward_warp(image, torch.zeros(1, 2, 48, 64))), frame)


def test_integer_shift_moves_content_exactly():
    frame = view(64, 48)
    image = to_tensor(frame, torch.device("cpu"))
    out = to_uint8(backward_warp(image, _constant(48, 64, 3.0, -2.0)))
    # output pixel (x, y) reads input (x + 3, y - 2)
    assert np.array_equal(out[2:, :-3], frame[:-2, 3:])


def test_inside_marks_samples_that_leave_the_frame():
    mask = inside(_constant(10, 20, 5.0, 0.0))
    assert mask[0, 0, :, :15].eq(1).all() and mask[0, 0, :, 15:].eq(0).all()


def test_upsampled_grid_equals_upsampled_displacement():
    torch.manual_seed(0)
    small = torch.randn(1, 2, 12, 16) * 2
    image = torch.rand(1, 3, 48, 64)
    direct = backward_warp(image, resize_displacement(small, 48, 64))
    via_grid = grid_warp(image, resize_map(sampling_grid(small), 48, 64))
    assert torch.allclose(direct, via_grid, atol=1e-5)


def test_inversion_of_a_zoom_matches_the_analytic_inverse():
    # forward motion: p -> p + 0.1 * (p - c), a 10% zoom about c
    h, w = 40, 60
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    cx, cy = 30.0, 20.0
    forward = torch.stack([0.1 * (xs - cx), 0.1 * (ys - cy)])[None]
    t = 0.6
    d = invert_displacement(forward, t, iterations=20)
    # x = p + t * 0.1 * (p - c)  =>  p = c + (x - c) / (1 + 0.06)
    expected = torch.stack([(xs - cx) / 1.06 + cx - xs, (ys - cy) / 1.06 + cy - ys])[None]
    assert torch.allclose(d[..., 2:-2, 2:-2], expected[..., 2:-2, 2:-2], atol=1e-3)


def test_pick_device():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            pick_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cpu_and_cuda_warps_agree():
    from racines.motion.interpolate import Interpolator

    a, b = view(160, 120, dx=-2.5), view(160, 120, dx=2.5, angle=1.0)
    results = []
    for device in ("cpu", "cuda"):
        interpolator = Interpolator(device=device)
        results.append(interpolator.frame(interpolator.prepare(a, b), 0.5).astype(np.int16))
    assert np.abs(results[0] - results[1]).max() <= 2
    assert np.abs(results[0] - results[1]).mean() < 0.05
