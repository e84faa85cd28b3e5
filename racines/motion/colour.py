"""Colour transfer in CIE L*a*b* statistics (Reinhard et al. 2001), in torch on any device.

During a morph the source's palette is moved, a little more each frame, towards the
target's (and the target's from the source's), so that colour flows along with shape
instead of one palette fading out under the other. Matching the mean and standard
deviation of each L*a*b* channel is the classic, weightless way to do it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# sRGB (D65) to CIE XYZ, and the D65 white point
_RGB_TO_XYZ = torch.tensor([[0.412453, 0.357580, 0.180423],
                            [0.212671, 0.715160, 0.072169],
                            [0.019334, 0.119193, 0.950227]])
_WHITE = torch.tensor([0.950456, 1.0, 1.088754])
_EPSILON = 216.0 / 24389.0   # (6/29)^3
_KAPPA = 24389.0 / 27.0


def _srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    return torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055).clamp_min(0) ** 2.4)


def _linear_to_srgb(linear: torch.Tensor) -> torch.Tensor:
    linear = linear.clamp(0.0, 1.0)
    return torch.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1.0 / 2.4) - 0.055)


def _mix(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Apply a 3x3 matrix to the channels of an (N, 3, H, W) image."""
    return torch.einsum("ij,njhw->nihw", matrix.to(image.device, image.dtype), image)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1], ``(N, 3, H, W)``, to L*a*b* (L* in [0, 100]) under D65."""
    xyz = _mix(_RGB_TO_XYZ, _srgb_to_linear(rgb)) / _WHITE.to(rgb.device, rgb.dtype).view(1, 3, 1, 1)
    f = torch.where(xyz > _EPSILON, xyz.clamp_min(_EPSILON) ** (1.0 / 3.0), (_KAPPA * xyz + 16.0) / 116.0)
    fx, fy, fz = f[:, 0:1], f[:, 1:2], f[:, 2:3]
    return torch.cat([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """L*a*b* under D65 back to sRGB in [0, 1] (out-of-gamut colours are clipped)."""
    fy = (lab[:, 0:1] + 16.0) / 116.0
    fx = fy + lab[:, 1:2] / 500.0
    fz = fy - lab[:, 2:3] / 200.0
    f = torch.cat([fx, fy, fz], dim=1)
    xyz = torch.where(f ** 3 > _EPSILON, f ** 3, (116.0 * f - 16.0) / _KAPPA)
    xyz = xyz * _WHITE.to(lab.device, lab.dtype).view(1, 3, 1, 1)
    return _linear_to_srgb(_mix(torch.linalg.inv(_RGB_TO_XYZ), xyz))


@dataclass(frozen=True)
class LabStats:
    """Per-channel mean and standard deviation of an image in L*a*b*, each ``(1, 3, 1, 1)``."""

    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def of(cls, lab: torch.Tensor) -> LabStats:
        return cls(mean=lab.mean(dim=(2, 3), keepdim=True), std=lab.std(dim=(2, 3), keepdim=True).clamp_min(1e-3))

    def towards(self, other: LabStats, amount: float) -> LabStats:
        """Statistics ``amount`` of the way from these to ``other``.

        Both are interpolated linearly: a geometric blend of the spreads would crawl and then
        leap when one image is nearly grey (a black-and-white archive print has almost no
        a*/b* spread), which shows as a pop at the end of the morph.
        """
        return LabStats(mean=self.mean + (other.mean - self.mean) * amount,
                        std=self.std + (other.std - self.std) * amount)


def transfer(lab: torch.Tensor, own: LabStats, wanted: LabStats) -> torch.Tensor:
    """Give an L*a*b* image (whose statistics are ``own``) the statistics ``wanted``; returns L*a*b*."""
    return (lab - own.mean) * (wanted.std / own.std) + wanted.mean
