"""Image-quality and smoothness measures used by the morph's pacing, the tests and the benchmark.

``ssim`` follows Wang et al. 2004 (Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03), the
settings of scikit-image's ``structural_similarity(gaussian_weights=True,
use_sample_covariance=False)``, so figures can be compared with published ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (capped at 100 dB for identical images)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 100.0 if mse == 0 else 10.0 * np.log10(peak * peak / mse)


def _luma(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def ssim(a: np.ndarray, b: np.ndarray, peak: float = 255.0, colour: bool = True) -> float:
    """Mean structural similarity; on RGB images the mean over channels (``colour``) or on luma."""
    if a.ndim == 3 and not colour:
        a, b = _luma(a), _luma(b)
    if a.ndim == 3:
        return float(np.mean([ssim(a[..., c], b[..., c], peak) for c in range(a.shape[2])]))
    x, y = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2

    def blur(image):
        return cv2.GaussianBlur(image, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    index = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    pad = 5  # scikit-image leaves out the half-window at the border
    return float(index[pad:-pad, pad:-pad].mean())


def structural_change(a: np.ndarray, b: np.ndarray) -> float:
    """How much the picture's structure changes from ``a`` to ``b``: ``sqrt(1 - SSIM)`` on luma.

    For a cross-dissolve between unrelated images this distance runs fastest where the two
    pictures overlap most visibly, which pixel differences do not show: a linear dissolve
    changes every pixel at a constant rate, yet reads as a double exposure that comes and goes.
    """
    return float(np.sqrt(max(1.0 - ssim(a, b, colour=False), 0.0)))


def pixel_change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference, in 8-bit levels."""
    return float(np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def smoothness(frames: Sequence[np.ndarray], change=pixel_change) -> float:
    """Max over mean of the frame-to-frame ``change``: 1.0 is perfectly even; a pop shows as a peak."""
    steps = [change(frames[i], frames[i + 1]) for i in range(len(frames) - 1)]
    mean = float(np.mean(steps))
    return float(np.max(steps) / mean) if mean > 0 else 1.0
