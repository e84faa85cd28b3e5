"""Frame interpolation between two consecutive frames, at any time ``t`` in [0, 1].

The method, weightless and the same on CPU and CUDA:

1. dense DIS flow both ways, ``F01`` and ``F10``, at a reduced size (:mod:`.flow`);
2. a forward-backward consistency check marks the pixels of each frame that have no match
   in the other (occluded, or moved out of the picture);
3. for time ``t``, each flow is turned into the backward displacement from the new frame to
   its source frame by fixed-point inversion (:func:`.warp.invert_displacement`), which is
   exact for smooth motion such as pans, zooms and rotations, unlike the linear flow
   blends of Super SloMo;
4. both frames are warped to ``t`` with ``grid_sample`` and blended with weights
   ``(1 - t)`` and ``t``, except where one side cannot see the point: its sample fell
   outside the frame, its inversion found no pixel that moves there (disocclusion), or
   it shows content that the other frame does not have while the other side shows
   content both frames have (see :meth:`Interpolator._visibility`).

``t = 0`` and ``t = 1`` return the input frames themselves, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

from racines.motion.flow import FlowEstimator, FlowSettings
from racines.motion.warp import (
    backward_warp,
    grid_warp,
    inside,
    inversion_residual,
    invert_displacement,
    pick_device,
    resize_map,
    sampling_grid,
    to_tensor,
    to_uint8,
)

# forward-backward check (Sundaram et al. 2010): a pixel is occluded when the round trip
# misses by more than a fraction of the motion plus a constant, in working-size pixels
CONSISTENCY_RELATIVE = 0.01
CONSISTENCY_ABSOLUTE = 0.5
# a flow inversion that misses by less than RESIDUAL_TRUSTED pixels (working size) is trusted
# fully, by more than RESIDUAL_TRUSTED + RESIDUAL_SPAN not at all
RESIDUAL_TRUSTED = 0.5
RESIDUAL_SPAN = 1.0

#: named trade-offs for ``racines interpolate --quality`` (see bench/RESULTS.md for their figures)
QUALITY = {
    "draft": {"flow": FlowSettings(preset="fast", scale=0.5), "mode": "bilinear"},
    "normal": {"flow": FlowSettings(preset="medium", scale=0.5), "mode": "bilinear"},
    # full-size flow measured no better than half-size (bench/RESULTS.md); bicubic resampling
    # is what keeps fine detail sharp
    "high": {"flow": FlowSettings(preset="medium", scale=0.5), "mode": "bicubic"},
}


@dataclass
class PairMotion:
    """Everything about a pair of frames that does not depend on ``t``: reused for every in-between."""

    frames: tuple[torch.Tensor, torch.Tensor]   # frame 0 and frame 1, (1, 3, H, W) float in [0, 1]
    flows: torch.Tensor         # (2, 2, h, w): F01 and F10 at the working size
    occluded: torch.Tensor      # (2, 1, h, w): pixels of frame 0 (resp. 1) with no match in the other
    originals: tuple[np.ndarray, np.ndarray] | None = None   # the uint8 inputs, returned as-is at t=0 and t=1

    @property
    def size(self) -> tuple[int, int]:
        return self.frames[0].shape[-1], self.frames[0].shape[-2]


def occlusion(forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """Soft mask in [0, 1] of pixels whose forward flow has no consistent way back, or leaves the frame."""
    back_there = backward_warp(backward, forward, padding="border")
    miss = (forward + back_there).square().sum(1, keepdim=True)
    bound = CONSISTENCY_RELATIVE * (forward.square().sum(1, keepdim=True) + back_there.square().sum(1, keepdim=True))
    # soft over a band of the threshold, so that blend weights do not step from pixel to pixel
    soft = ((miss - bound) / (bound + CONSISTENCY_ABSOLUTE) - 0.5).clamp(0.0, 1.0)
    return torch.maximum(soft, 1.0 - inside(forward))


class Interpolator:
    """Makes in-between frames for pairs of consecutive frames.

    Example::

        interpolator = Interpolator(device="auto")
        pair = interpolator.prepare(frame0, frame1)         # RGB uint8 (H, W, 3) arrays
        middle = interpolator.frame(pair, Fraction(1, 2))   # RGB uint8 (H, W, 3)

    Args:
        device: "auto" (CUDA when available, else CPU), "cpu", "cuda" or a torch device.
        flow: how the optical flow is computed (preset, working scale).
        mode: ``grid_sample`` resampling, "bilinear" (default) or "bicubic" (sharper, slower).
        iterations: fixed-point iterations when inverting the flow for a time ``t``.
    """

    def __init__(self, device: str | torch.device | None = None, flow: FlowSettings | None = None,
                 mode: str = "bilinear", iterations: int = 4):
        if mode not in ("bilinear", "bicubic"):
            raise ValueError(f"mode must be 'bilinear' or 'bicubic', got {mode!r}")
        self.device = pick_device(device)
        self.estimator = FlowEstimator(flow)
        self.mode = mode
        self.iterations = iterations

    def flows(self, gray0: np.ndarray, gray1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(F01, F10) between two :meth:`FlowEstimator.prepare` copies; CPU only, safe to run on a
        worker thread while the device warps the previous pair."""
        return self.estimator.both(gray0, gray1, prepared=True)

    def prepare(self, frame0: np.ndarray, frame1: np.ndarray,
                flows: tuple[np.ndarray, np.ndarray] | None = None,
                previous: PairMotion | None = None) -> PairMotion:
        """Flow and occlusion for a pair of RGB uint8 frames of the same size.

        ``flows`` are the pair's :meth:`flows` when already computed; ``previous`` is the
        pair that ended on ``frame0``, whose copy of it on the device is reused.
        """
        if frame0.shape != frame1.shape or frame0.ndim != 3 or frame0.shape[2] != 3:
            raise ValueError(f"frames must be RGB arrays of one size, got {frame0.shape} and {frame1.shape}")
        if flows is None:
            flows = self.flows(self.estimator.prepare(frame0), self.estimator.prepare(frame1))
        stacked = torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2).to(self.device)
        occluded = occlusion(stacked, stacked.flip(0))
        if previous is not None and previous.originals is not None and previous.originals[1] is frame0:
            first = previous.frames[1]
        else:
            first = to_tensor(frame0, self.device)
        return PairMotion(frames=(first, to_tensor(frame1, self.device)), flows=stacked, occluded=occluded,
                          originals=(frame0, frame1))

    def at(self, pair: PairMotion, t: float | Fraction) -> torch.Tensor:
        """The frame at time ``t`` as a ``(1, 3, H, W)`` tensor on the device."""
        t = float(t)
        if t <= 0.0:
            return pair.frames[0]
        if t >= 1.0:
            return pair.frames[1]
        # Everything but the final resampling runs at the flow's working size: the motion
        # field is smooth, so its upsampled sampling grid loses nothing that matters.
        # Frame 0 has moved by t of F01 at time t, frame 1 by (1 - t) of F10.
        fractions = torch.tensor([t, 1.0 - t], device=self.device).view(2, 1, 1, 1)
        reach = invert_displacement(pair.flows, fractions, self.iterations)
        times = torch.tensor([1.0 - t, t], device=self.device).view(2, 1, 1, 1)
        weights = self._visibility(pair, reach, fractions) * times
        total = weights.sum(0, keepdim=True)
        # frame 1's share of the blend; where neither side can be trusted, the plain blend's t
        share = torch.where(total < 1e-3, torch.full_like(total, t), weights[1:] / total.clamp_min(1e-3))
        height, width = pair.frames[0].shape[-2:]
        share = resize_map(share, height, width)
        grid = resize_map(sampling_grid(reach), height, width)
        first = grid_warp(pair.frames[0], grid[:1], mode=self.mode)
        second = grid_warp(pair.frames[1], grid[1:], mode=self.mode)
        return second.sub_(first).mul_(share).add_(first).clamp_(0.0, 1.0)

    @staticmethod
    def _visibility(pair: PairMotion, reach: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
        """How far each side's sample can be trusted at time t, ``(2, 1, h, w)`` in [0, 1].

        A side is not trusted where its sample falls outside the picture, or where no pixel
        of that frame moves to this place at all (the inversion does not converge: the
        content here is hidden in that frame). Where both sides see something, content
        visible in both frames wins over content that only one frame has (a moving
        object stays in front of what it covers and uncovers); both flagged, both count.
        """
        residual = inversion_residual(pair.flows, fractions, reach)
        converged = (1.0 - (residual - RESIDUAL_TRUSTED) / RESIDUAL_SPAN).clamp(0.0, 1.0)
        valid = converged * inside(reach)                                    # (2, 1, h, w)
        only_here = backward_warp(pair.occluded, reach, padding="border")   # content the other frame lacks
        seen_by_both = valid * (1.0 - only_here)
        return valid * (1.0 - only_here * seen_by_both.flip(0))

    def frame(self, pair: PairMotion, t: float | Fraction) -> np.ndarray:
        """The frame at time ``t`` as RGB uint8; the inputs themselves at ``t = 0`` and ``t = 1``."""
        if pair.originals is not None and float(t) <= 0.0:
            return pair.originals[0]
        if pair.originals is not None and float(t) >= 1.0:
            return pair.originals[1]
        return to_uint8(self.at(pair, t))


def for_quality(quality: str, device: str | torch.device | None = None) -> Interpolator:
    """An :class:`Interpolator` for a named quality: "draft", "normal" (the default) or "high"."""
    if quality not in QUALITY:
        raise ValueError(f"unknown quality {quality!r}; use one of {', '.join(QUALITY)}")
    return Interpolator(device=device, **QUALITY[quality])


def interpolate(frame0: np.ndarray, frame1: np.ndarray, t: float | Fraction = Fraction(1, 2),
                device: str | torch.device | None = None, flow: FlowSettings | None = None,
                mode: str = "bilinear") -> np.ndarray:
    """One in-between frame of two RGB uint8 frames at time ``t`` (0 gives ``frame0``, 1 ``frame1``)."""
    interpolator = Interpolator(device=device, flow=flow, mode=mode)
    return interpolator.frame(interpolator.prepare(frame0, frame1), t)
