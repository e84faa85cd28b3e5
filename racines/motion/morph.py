"""Morph one image into a *different* one, without model weights.

The classic morph (Beier & Neely 1992; Wolberg 1998) with an automatic front end:

1. **Correspondences.** SIFT features (ORB where SIFT is missing) matched with Lowe's ratio
   test, outliers rejected by RANSAC on a homography, thinned to an even spread; plus the
   director's own control points, which always win. The frame's border is pinned.
2. **Mesh.** A Delaunay triangulation of the average shape; each triangle maps affinely
   from source to target, giving a dense source->target displacement and its inverse.
3. **Flow refinement.** Dense DIS flow between each image and the other one warped onto it
   pulls edges and silhouettes the mesh missed into register (heavily smoothed, scaled by
   ``flow_strength``: between unrelated images flow is a suggestion, not a fact).
4. **Frames.** At shape progress ``g`` the in-between mesh is rasterised (exact for any
   deformation), the flow residual is inverted by fixed-point iteration (it is small and
   smooth), both images are warped to the in-between shape with ``grid_sample``, their
   L*a*b* statistics moved towards each other by the blend progress ``c`` so the palette
   flows too, and cross-dissolved with weight ``c``.
5. **Pace.** :meth:`Morph.even` re-times the morph so that every frame changes the
   picture by about as much as the next (structure and pixels), before any easing.

``frame(0, 0)`` is the source and ``frame(1, 1)`` the target, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import Delaunay

from racines.motion.colour import LabStats, lab_to_rgb, rgb_to_lab, transfer
from racines.motion.flow import FlowEstimator, FlowSettings, to_gray
from racines.motion.metrics import pixel_change, structural_change
from racines.motion.warp import (
    backward_warp,
    grid_warp,
    pick_device,
    resize_map,
    sampling_grid,
    to_tensor,
    to_uint8,
)

#: longer side of the working size for features, mesh and flow
WORK_SIDE = 512
#: pinned points along each side of the frame (corners included)
BORDER_POINTS = 5
#: at most this many automatic matches are kept, at least this far apart (fraction of the diagonal)
MAX_AUTO_POINTS = 48
MIN_SPACING = 0.05
#: fewer RANSAC inliers than this and the automatic matches are not trusted at all
MIN_INLIERS = 8
#: RANSAC reprojection threshold, as a fraction of the diagonal
RANSAC_THRESHOLD = 0.006
#: how far (fraction of the diagonal) flow refinement is faded out around matched points and the edge
PIN_REACH = 0.04


@dataclass(frozen=True)
class Correspondence:
    """Matched points, in pixels of the full-size frames: ``source[i]`` becomes ``target[i]``."""

    source: np.ndarray   # (K, 2) float, x then y
    target: np.ndarray   # (K, 2)
    user: np.ndarray     # (K,) bool: True for the director's control points

    def __len__(self) -> int:
        return len(self.source)


def match_features(source: np.ndarray, target: np.ndarray, max_points: int = MAX_AUTO_POINTS,
                   ratio: float = 0.75) -> tuple[np.ndarray, np.ndarray]:
    """Automatic matches between two RGB uint8 images of one size, outliers removed.

    Returns two ``(K, 2)`` arrays of pixel positions (possibly empty: unrelated images, a
    flower and a face, rarely share enough features to pass RANSAC, and then nothing is
    better than wrong matches).
    """
    gray_s, gray_t = to_gray(source), to_gray(target)
    detector = cv2.SIFT_create(nfeatures=2000) if hasattr(cv2, "SIFT_create") else cv2.ORB_create(2000)
    norm = cv2.NORM_L2 if hasattr(cv2, "SIFT_create") else cv2.NORM_HAMMING
    keys_s, desc_s = detector.detectAndCompute(gray_s, None)
    keys_t, desc_t = detector.detectAndCompute(gray_t, None)
    if desc_s is None or desc_t is None or len(keys_s) < 2 or len(keys_t) < 2:
        return np.zeros((0, 2)), np.zeros((0, 2))
    pairs = cv2.BFMatcher(norm).knnMatch(desc_s, desc_t, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < ratio * p[1].distance]
    if len(good) < MIN_INLIERS:
        return np.zeros((0, 2)), np.zeros((0, 2))
    pts_s = np.float32([keys_s[m.queryIdx].pt for m in good])
    pts_t = np.float32([keys_t[m.trainIdx].pt for m in good])
    diagonal = float(np.hypot(*source.shape[:2]))
    method = getattr(cv2, "USAC_MAGSAC", cv2.RANSAC)
    _, inliers = cv2.findHomography(pts_s, pts_t, method, max(1.5, RANSAC_THRESHOLD * diagonal), maxIters=5000,
                                    confidence=0.999)
    if inliers is None or int(inliers.sum()) < MIN_INLIERS:
        return np.zeros((0, 2)), np.zeros((0, 2))
    keep = inliers.ravel().astype(bool)
    order = np.argsort([m.distance for m, k in zip(good, keep) if k])  # best matches first
    pts_s, pts_t = pts_s[keep][order], pts_t[keep][order]
    chosen = _spread(pts_s, MIN_SPACING * diagonal, max_points)
    return pts_s[chosen].astype(np.float64), pts_t[chosen].astype(np.float64)


def _spread(points: np.ndarray, spacing: float, limit: int, taken: np.ndarray | None = None) -> list[int]:
    """Greedy choice of points at least ``spacing`` apart (from each other and from ``taken``)."""
    chosen: list[int] = []
    kept = [] if taken is None else list(taken)
    for index, point in enumerate(points):
        if len(chosen) >= limit:
            break
        if all(np.hypot(*(point - other)) >= spacing for other in kept):
            chosen.append(index)
            kept.append(point)
    return chosen


def border_points(width: int, height: int, per_side: int = BORDER_POINTS) -> np.ndarray:
    """Points along the frame's edge (pixel-edge coordinates, so the mesh covers every pixel)."""
    xs = np.linspace(-0.5, width - 0.5, per_side)
    ys = np.linspace(-0.5, height - 0.5, per_side)
    points = [(x, -0.5) for x in xs] + [(x, height - 0.5) for x in xs]
    points += [(-0.5, y) for y in ys[1:-1]] + [(width - 0.5, y) for y in ys[1:-1]]
    return np.array(points, dtype=np.float64)


def _orientation(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = (points[triangles[:, i]] for i in range(3))
    return np.sign((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))


def build_mesh(correspondence: Correspondence, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(source points, target points, triangles) with the border pinned and fold-overs removed.

    The triangulation is made on the average shape, so one topology serves the whole morph.
    An automatic match whose triangles would flip between source and target (the mesh
    folding over itself) is dropped; the director's points are kept as given.
    """
    border = border_points(width, height)
    src, dst, user = correspondence.source, correspondence.target, correspondence.user
    while True:
        points_s = np.vstack([border, src])
        points_t = np.vstack([border, dst])
        mesh = Delaunay((points_s + points_t) / 2.0)
        # a point that coincides with another on the average shape is left out of the mesh by
        # qhull; drop it explicitly so that the points and the mesh agree
        unused = sorted({int(i) - len(border) for i in mesh.coplanar[:, 0]} - set(range(-len(border), 0)))
        if unused:
            src, dst, user = np.delete(src, unused, 0), np.delete(dst, unused, 0), np.delete(user, unused)
            continue
        triangles = mesh.simplices
        flipped = _orientation(points_s, triangles) != _orientation(points_t, triangles)
        if not flipped.any():
            break
        counts = np.bincount(triangles[flipped].ravel(), minlength=len(points_s))[len(border):]
        counts[user] = 0
        if counts.max() == 0:
            break  # only the director's points fold: their choice, kept
        drop = int(np.argmax(counts))
        src, dst, user = np.delete(src, drop, 0), np.delete(dst, drop, 0), np.delete(user, drop)
    return points_s, points_t, triangles


def mesh_displacement(points_from: np.ndarray, points_to: np.ndarray, triangles: np.ndarray,
                      width: int, height: int) -> np.ndarray:
    """Piecewise-affine displacement ``(H, W, 2)``: pixel ``p`` inside a triangle of ``points_from``
    goes to the matching place in the triangle of ``points_to``."""
    shift = 4  # fillConvexPoly's fixed-point bits: sub-pixel vertices
    ids = np.zeros((height, width), dtype=np.int32)
    matrices = np.zeros((len(triangles) + 1, 2, 3), dtype=np.float64)
    matrices[0] = [[1, 0, 0], [0, 1, 0]]
    for index, triangle in enumerate(triangles, start=1):
        a, b = points_from[triangle], points_to[triangle]
        system = np.hstack([a, np.ones((3, 1))])
        if abs(np.linalg.det(system)) < 1e-9:
            matrices[index] = matrices[0]  # a degenerate triangle covers no pixel that matters
        else:
            matrices[index] = np.linalg.solve(system, b).T
        corners = np.round(a * (1 << shift)).astype(np.int32)
        cv2.fillConvexPoly(ids, corners, index, lineType=cv2.LINE_8, shift=shift)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    m = matrices[ids]
    moved_x = m[..., 0, 0] * xs + m[..., 0, 1] * ys + m[..., 0, 2]
    moved_y = m[..., 1, 0] * xs + m[..., 1, 1] * ys + m[..., 1, 2]
    return np.stack([moved_x - xs, moved_y - ys], axis=-1).astype(np.float32)


def _pinned(points: np.ndarray, size: tuple[int, int], reach: float = PIN_REACH) -> np.ndarray:
    """Weight in [0, 1] that is 0 on matched points and on the frame's edge, 1 far from them.

    Flow refinement is kept away from what is already known: a control point must land
    exactly where the director put it, and the edge stays on the edge.
    """
    w, h = size
    radius = reach * float(np.hypot(w, h))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    weight = np.ones((h, w), np.float32)
    for x, y in points:
        weight *= 1.0 - np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2.0 * radius * radius))
    edge = np.minimum(np.minimum(xs + 0.5, w - 0.5 - xs), np.minimum(ys + 0.5, h - 0.5 - ys))
    return weight * np.clip(edge / radius, 0.0, 1.0)


def _normalised_gray(image: np.ndarray) -> np.ndarray:
    """Grey with zero mean and unit spread mapped to uint8, so that flow compares structure, not exposure."""
    gray = to_gray(image).astype(np.float32)
    gray = (gray - gray.mean()) / max(float(gray.std()), 1.0)
    return np.clip(gray * 48.0 + 128.0, 0, 255).astype(np.uint8)


class Morph:
    """A morph between two RGB uint8 images of the same size.

    Example::

        morph = Morph(photo, flowers, control_points=[((410, 220), (380, 260))])
        for g in np.linspace(0, 1, 48):
            frame = morph.frame(morph.even(g))   # RGB uint8, the film's size

    Args:
        source, target: the fitted images (``H, W, 3`` uint8).
        control_points: the director's pairs ``((xs, ys), (xt, yt))`` in pixels of the frame.
        auto_match: also find matches automatically (SIFT + RANSAC).
        flow_strength: 0 (mesh only) to 1 (full flow refinement).
        colour_transfer: move each image's L*a*b* statistics towards the other's during the blend.
        device: "auto", "cpu", "cuda"...
        iterations: fixed-point iterations for the (small, smooth) flow refinement.
    """

    def __init__(self, source: np.ndarray, target: np.ndarray,
                 control_points: Sequence[tuple[Sequence[float], Sequence[float]]] = (),
                 auto_match: bool = True, flow_strength: float = 0.5, colour_transfer: bool = True,
                 device: str | torch.device | None = None, iterations: int = 4):
        if source.shape != target.shape or source.ndim != 3 or source.shape[2] != 3:
            raise ValueError(f"source and target must be RGB images of one size, got {source.shape} and {target.shape}")
        if not 0.0 <= flow_strength <= 1.0:
            raise ValueError(f"flow_strength must be between 0 and 1, got {flow_strength!r}")
        self.device = pick_device(device)
        self.source, self.target = source, target
        self.colour_transfer = colour_transfer
        self.iterations = iterations
        height, width = source.shape[:2]
        scale = min(1.0, WORK_SIDE / max(width, height))
        self.work_size = (max(16, round(width * scale)), max(16, round(height * scale)))
        self.correspondence = self._correspondences(control_points, auto_match)
        w, h = self.work_size
        c = self.correspondence
        self.mesh = build_mesh(Correspondence(self._to_work(c.source), self._to_work(c.target), c.user), w, h)
        self._images = torch.cat([to_tensor(source, self.device), to_tensor(target, self.device)])
        self.residual = self._residual(flow_strength) if flow_strength > 0 else None
        self._pace: np.ndarray | None = None
        if colour_transfer:
            self._lab = rgb_to_lab(self._images)
            self._stats = (LabStats.of(self._lab[:1]), LabStats.of(self._lab[1:]))

    # -- set-up -----------------------------------------------------------------------

    def _to_work(self, points: np.ndarray) -> np.ndarray:
        height, width = self.source.shape[:2]
        w, h = self.work_size
        return (np.asarray(points, dtype=np.float64) + 0.5) * [w / width, h / height] - 0.5

    def _from_work(self, points: np.ndarray) -> np.ndarray:
        height, width = self.source.shape[:2]
        w, h = self.work_size
        return (np.asarray(points, dtype=np.float64) + 0.5) * [width / w, height / h] - 0.5

    def _small(self, image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, self.work_size, interpolation=cv2.INTER_AREA)

    def _correspondences(self, control_points, auto_match: bool) -> Correspondence:
        user = np.array([[p[0][0], p[0][1], p[1][0], p[1][1]] for p in control_points], dtype=np.float64).reshape(-1, 4)
        src, dst = user[:, :2], user[:, 2:]
        if auto_match:
            auto_s, auto_t = match_features(self._small(self.source), self._small(self.target))
            auto_s, auto_t = self._from_work(auto_s), self._from_work(auto_t)
            # the director's points win: automatic ones too close to them are left out
            diagonal = float(np.hypot(*self.source.shape[:2]))
            keep = _spread(auto_s, MIN_SPACING * diagonal, len(auto_s), taken=src)
            src, dst = np.vstack([src, auto_s[keep]]), np.vstack([dst, auto_t[keep]])
        flags = np.arange(len(src)) < len(user)
        return Correspondence(source=src, target=dst, user=flags)

    def _residual(self, strength: float) -> torch.Tensor:
        """Smoothed flow from each image to the other one warped onto it by the mesh, ``(2, 2, h, w)``.

        With ``M`` the mesh's source->target map and ``R`` the source's residual, source
        point ``p`` corresponds to target point ``M(p + R(p))``; likewise for the target.
        """
        w, h = self.work_size
        points_s, points_t, triangles = self.mesh
        to_target = mesh_displacement(points_s, points_t, triangles, w, h)
        to_source = mesh_displacement(points_t, points_s, triangles, w, h)
        fields = torch.from_numpy(np.stack([to_target, to_source])).permute(0, 3, 1, 2).to(self.device)
        small = torch.cat([to_tensor(self._small(self.source), self.device),
                           to_tensor(self._small(self.target), self.device)])
        aligned = backward_warp(small.flip(0), fields, padding="border")   # each image on the other's shape
        estimator = FlowEstimator(FlowSettings(preset="medium", scale=1.0, max_side=0, smoothness=20.0))
        residual = []
        for own, other, anchors in zip(small, aligned, (points_s, points_t)):
            flow = estimator.flow(_normalised_gray(to_uint8(own[None])), _normalised_gray(to_uint8(other[None])))
            flow = cv2.GaussianBlur(flow, (0, 0), max(w, h) / 48.0) * strength
            residual.append(flow * _pinned(anchors, self.work_size)[..., None])
        estimator.close()
        return torch.from_numpy(np.stack(residual)).permute(0, 3, 1, 2).to(self.device)

    # -- frames -----------------------------------------------------------------------

    def frame(self, shape: float, blend: float | None = None) -> np.ndarray:
        """The morph at shape progress ``shape`` and dissolve progress ``blend`` (default: the same), RGB uint8."""
        blend = shape if blend is None else blend
        if shape <= 0 and blend <= 0:
            return self.source
        if shape >= 1 and blend >= 1:
            return self.target
        return to_uint8(self.at(shape, blend))

    def at(self, shape: float, blend: float | None = None) -> torch.Tensor:
        """The morph as a ``(1, 3, H, W)`` tensor in [0, 1] on the device."""
        height, width = self.source.shape[:2]
        shape = float(min(max(shape, 0.0), 1.0))
        blend = shape if blend is None else float(min(max(blend, 0.0), 1.0))
        images = self._coloured(self._images, self._lab, blend) if self.colour_transfer else self._images
        return self._blend(images, resize_map(sampling_grid(self.reach(shape)), height, width), blend)

    def reach(self, shape: float) -> torch.Tensor:
        """Where each pixel of the in-between frame at ``shape`` reads the source and the target:
        displacements ``(2, 2, h, w)`` at the working size.

        The in-between mesh (every vertex ``shape`` of the way from its source to its target
        position) is rasterised, so the mesh part is exact however strong the deformation;
        only the smooth flow residual is inverted by fixed-point iteration.
        """
        w, h = self.work_size
        points_s, points_t, triangles = self.mesh
        between = points_s + (points_t - points_s) * shape
        to_s = mesh_displacement(between, points_s, triangles, w, h)
        to_t = mesh_displacement(between, points_t, triangles, w, h)
        reach = torch.from_numpy(np.stack([to_s, to_t])).permute(0, 3, 1, 2).to(self.device)
        if self.residual is None:
            return reach
        # source point p sits at mesh_g(p + g R_s(p)): solve p = q - g R_s(p) from q = x + reach
        fractions = torch.tensor([shape, 1.0 - shape], device=self.device).view(2, 1, 1, 1)
        solved = reach
        for _ in range(self.iterations):
            solved = reach - fractions * backward_warp(self.residual, solved, padding="border")
        return solved

    @staticmethod
    def _blend(images: torch.Tensor, grid: torch.Tensor, blend: float) -> torch.Tensor:
        first = grid_warp(images[:1], grid[:1])
        second = grid_warp(images[1:], grid[1:])
        return second.sub_(first).mul_(blend).add_(first).clamp_(0.0, 1.0)

    def pace(self, samples: int = 33, side: int = 192) -> np.ndarray:
        """Cumulative amount of visible change at ``samples`` evenly spaced progress values, 0 to 1.

        The morph is rendered small at each value, and each step is measured as a blend of
        structural change (SSIM) and pixel change, each relative to its own average.
        :meth:`even` inverts this curve so that every frame changes the picture by the same
        amount, as DiffMorpher's perceptual "reschedule" does with LPIPS.
        """
        if self._pace is not None and len(self._pace) == samples:
            return self._pace
        height, width = self.source.shape[:2]
        scale = min(1.0, side / max(width, height))
        size = (max(16, round(height * scale)), max(16, round(width * scale)))
        images = F.interpolate(self._images, size=size, mode="area")
        labs = rgb_to_lab(images) if self.colour_transfer else None
        frames = []
        for u in np.linspace(0.0, 1.0, samples).tolist():
            coloured = self._coloured(images, labs, u) if self.colour_transfer else images
            frames.append(to_uint8(self._blend(coloured, resize_map(sampling_grid(self.reach(u)), *size), u)))
        structure = np.array([structural_change(a, b) for a, b in zip(frames, frames[1:])])
        pixels = np.array([pixel_change(a, b) for a, b in zip(frames, frames[1:])])
        steps = structure / max(structure.mean(), 1e-9) + pixels / max(pixels.mean(), 1e-9) + 1e-3
        self._pace = np.concatenate([[0.0], np.cumsum(steps) / steps.sum()])
        return self._pace

    def even(self, progress: float) -> float:
        """The progress value at which the morph has made ``progress`` of its visible change."""
        curve = self.pace()
        return float(np.interp(progress, curve, np.linspace(0.0, 1.0, len(curve))))

    def _coloured(self, images: torch.Tensor, labs: torch.Tensor, blend: float) -> torch.Tensor:
        """Both images with their palettes moved ``blend`` of the way from the source's to the target's."""
        own_s, own_t = self._stats
        wanted = own_s.towards(own_t, float(blend))
        coloured = lab_to_rgb(torch.cat([transfer(labs[:1], own_s, wanted), transfer(labs[1:], own_t, wanted)]))
        # the ends are the images themselves, not a round trip through L*a*b*
        if blend <= 0:
            coloured[:1] = images[:1]
        if blend >= 1:
            coloured[1:] = images[1:]
        return coloured
