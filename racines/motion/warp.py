"""Backward warping with :func:`torch.nn.functional.grid_sample`, the same code on CPU and CUDA.

Conventions used across :mod:`racines.motion`:

* images are float tensors ``(N, C, H, W)`` in [0, 1] on the working device;
* a *displacement* (or flow) is a tensor ``(N, 2, H, W)`` in pixels, channel 0 along x and
  channel 1 along y: the value at pixel ``x`` says where to read, ``x + d(x)``;
* pixel centres sit on integer coordinates, so ``align_corners=True`` is the matching
  ``grid_sample`` convention.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The device to compute on: ``device`` when it names one ("cpu", "cuda:1"...), else
    ``$RACINES_DEVICE`` when set, else CUDA when available, else the CPU."""
    if device is None or str(device) == "auto":
        device = os.environ.get("RACINES_DEVICE", "auto") or "auto"
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {str(device)!r}; use 'auto', 'cpu' or 'cuda'") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} was asked for, but torch sees no CUDA GPU; use 'cpu' or 'auto'")
    return chosen


def configure_cpu_threads(threads: int | None = None) -> int:
    """Set torch's intra-op thread count for CPU work; return it.

    The default is half the cores this process may use (at least one): optical flow runs on
    its own thread (OpenCV) beside the warping, and ffmpeg decodes and encodes beside both,
    so giving torch every core only makes its OpenMP threads wait on each other (on a busy
    2-core machine a frame took three times longer with two torch threads than with one).
    ``RACINES_TORCH_THREADS`` or ``OMP_NUM_THREADS`` in the environment win over the default.
    """
    if threads is None:
        chosen = os.environ.get("RACINES_TORCH_THREADS") or os.environ.get("OMP_NUM_THREADS")
        if chosen and chosen.isdigit() and int(chosen) > 0:
            threads = int(chosen)
        else:
            available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            threads = max(1, available // 2)
    torch.set_num_threads(threads)
    return threads


def to_tensor(frame: np.ndarray, device: torch.device) -> torch.Tensor:
    """An RGB uint8 ``(H, W, 3)`` array as a ``(1, 3, H, W)`` float tensor in [0, 1] on ``device``."""
    if not frame.flags.writeable:  # frames decoded from a pipe are read-only views of bytes
        frame = frame.copy()
    tensor = torch.from_numpy(np.ascontiguousarray(frame)).to(device, non_blocking=True)
    return tensor.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """A ``(1, 3, H, W)`` float tensor in [0, 1] back to an RGB uint8 ``(H, W, 3)`` array (rounded)."""
    out = image[0].mul(255.0).add_(0.5).clamp_(0.0, 255.0).to(torch.uint8)
    return out.permute(1, 2, 0).contiguous().cpu().numpy()


@lru_cache(maxsize=16)
def _base_grid(height: int, width: int, device: torch.device) -> torch.Tensor:
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float32, device=device),
        torch.arange(width, dtype=torch.float32, device=device),
        indexing="ij",
    )
    return torch.stack((xs, ys)).unsqueeze(0)  # (1, 2, H, W), pixel coordinates


def pixel_grid(height: int, width: int, device: torch.device) -> torch.Tensor:
    """Pixel-centre coordinates ``(1, 2, H, W)``: channel 0 is x, channel 1 is y (cached, do not modify)."""
    return _base_grid(height, width, torch.device(device))


def sampling_grid(displacement: torch.Tensor) -> torch.Tensor:
    """Where ``x + displacement(x)`` lies, in grid_sample's [-1, 1] coordinates, as ``(N, 2, H, W)``.

    Such a grid can be upsampled bilinearly (``align_corners=True``) to warp a larger image
    of the same picture: the result is exactly what upsampling the displacement would give,
    with fewer full-size operations.
    """
    _, _, h, w = displacement.shape
    scale = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], device=displacement.device,
                         dtype=displacement.dtype).view(1, 2, 1, 1)
    return (pixel_grid(h, w, displacement.device) + displacement) * scale - 1.0


def grid_warp(image: torch.Tensor, grid: torch.Tensor, mode: str = "bilinear", padding: str = "border") -> torch.Tensor:
    """Sample ``image`` at a ``(N, 2, H', W')`` grid from :func:`sampling_grid`, resized to the image if needed."""
    n, _, h, w = image.shape
    if grid.shape[-2:] != (h, w):
        grid = F.interpolate(grid, size=(h, w), mode="bilinear", align_corners=True)
    grid = grid.permute(0, 2, 3, 1)
    if grid.shape[0] != n:
        grid = grid.expand(n, -1, -1, -1)
    return F.grid_sample(image, grid, mode=mode, padding_mode=padding, align_corners=True)


def backward_warp(image: torch.Tensor, displacement: torch.Tensor, mode: str = "bilinear",
                  padding: str = "border") -> torch.Tensor:
    """Sample ``image`` at ``x + displacement(x)`` for every output pixel ``x``.

    ``displacement`` must have the image's height and width. ``padding`` is grid_sample's
    padding mode ("border", "reflection" or "zeros") for positions outside the image.
    """
    if displacement.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"displacement is {tuple(displacement.shape[-2:])}, image is {tuple(image.shape[-2:])}")
    return grid_warp(image, sampling_grid(displacement), mode=mode, padding=padding)


def inside(displacement: torch.Tensor, margin: float = 0.5) -> torch.Tensor:
    """1 where ``x + displacement(x)`` falls inside the image (within ``margin`` pixels), else 0; ``(N, 1, H, W)``."""
    _, _, h, w = displacement.shape
    positions = pixel_grid(h, w, displacement.device) + displacement
    x, y = positions[:, :1], positions[:, 1:]
    ok = (x >= -margin) & (x <= w - 1 + margin) & (y >= -margin) & (y <= h - 1 + margin)
    return ok.to(displacement.dtype)


def resize_displacement(displacement: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resample a displacement field to ``(height, width)``, rescaling its vectors to the new pixel size."""
    _, _, h, w = displacement.shape
    if (h, w) == (height, width):
        return displacement
    resized = F.interpolate(displacement, size=(height, width), mode="bilinear", align_corners=True)
    # with align_corners=True the first and last pixel centres coincide, hence (n - 1) ratios
    sx = (width - 1) / max(w - 1, 1)
    sy = (height - 1) / max(h - 1, 1)
    return resized * torch.tensor([sx, sy], device=displacement.device, dtype=displacement.dtype).view(1, 2, 1, 1)


def resize_map(values: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resample a scalar map (masks, weights) to ``(height, width)`` bilinearly."""
    if values.shape[-2:] == (height, width):
        return values
    return F.interpolate(values, size=(height, width), mode="bilinear", align_corners=True)


def invert_displacement(forward: torch.Tensor, scale: float | torch.Tensor, iterations: int = 4,
                        start: torch.Tensor | None = None, tolerance: float = 0.0) -> torch.Tensor:
    """Solve ``d(x) = -scale * forward(x + d(x))`` by fixed-point iteration.

    ``forward`` moves each pixel ``p`` of an image to ``p + forward(p)``. After a fraction
    ``scale`` of that motion the pixel sits at ``x = p + scale * forward(p)``; the answer
    ``d`` says, for each ``x``, where to read the image: ``p = x + d(x)``. This turns a
    forward motion into the backward displacement that :func:`backward_warp` needs, without
    splatting, so it runs on any device. It converges while ``scale * |grad forward| < 1``,
    which holds for real motion between neighbouring frames; ``start`` warm-starts it.
    With ``tolerance > 0`` it stops early once no vector moves by more than that many pixels
    (the check costs a device sync per iteration, so it is off by default).
    ``scale`` may be a tensor of shape ``(N, 1, 1, 1)``, one fraction per batch item.
    """
    if not torch.is_tensor(scale) and scale == 0:
        return torch.zeros_like(forward)
    d = -scale * forward if start is None else start
    for _ in range(iterations):
        updated = -scale * backward_warp(forward, d, padding="border")
        if tolerance > 0 and (updated - d).abs().max().item() < tolerance:
            return updated
        d = updated
    return d


def inversion_residual(forward: torch.Tensor, scale: float | torch.Tensor, displacement: torch.Tensor) -> torch.Tensor:
    """How far ``displacement`` is from solving ``d(x) = -scale * forward(x + d(x))``, in pixels, ``(N, 1, H, W)``.

    Large where no pixel of the image moves to ``x`` at all: content that is hidden in this
    image (disoccluded) and must come from the other one.
    """
    miss = displacement + scale * backward_warp(forward, displacement, padding="border")
    return miss.square().sum(1, keepdim=True).sqrt()
