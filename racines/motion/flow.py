"""Dense optical flow in both directions with OpenCV's DIS (no model weights).

DIS (Kroeger et al., ECCV 2016) is a coarse-to-fine patch search with a variational
refinement. It runs on the CPU; the flow is handed to torch afterwards, so the warping can
run on the GPU. Flow is computed on a reduced copy of the frames (``scale``) and upsampled:
at video resolutions a half-size flow costs a quarter of the time and loses little,
because the motion field is much smoother than the image.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def to_gray(frame: np.ndarray) -> np.ndarray:
    """Luma (BT.601 weights, as OpenCV) of an RGB uint8 frame; grey frames pass through."""
    if frame.ndim == 2:
        return frame
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


@dataclass(frozen=True)
class FlowSettings:
    """How the flow is computed.

    Args:
        preset: DIS operating point, "ultrafast", "fast" or "medium" (slower, finer).
        scale: fraction of the frame size at which flow is computed (1.0 = full size).
        max_side: also cap the working size so that its longer side is at most this many
            pixels (keeps 4K affordable); 0 disables the cap.
        min_side: but never reduce a frame whose longer side is below this (small frames
            have no detail to spare).
        smoothness: weight of the variational refinement's smoothness term (DIS "alpha");
            ``None`` keeps the preset's value. Larger values give smoother fields, which suits
            morphs between unrelated images.
    """

    preset: str = "medium"
    scale: float = 0.5
    max_side: int = 1024
    min_side: int = 640
    smoothness: float | None = None

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ValueError(f"unknown DIS preset {self.preset!r}; use one of {', '.join(PRESETS)}")
        if not 0.0 < self.scale <= 1.0:
            raise ValueError(f"flow scale must be in (0, 1], got {self.scale!r}")

    def working_size(self, width: int, height: int) -> tuple[int, int]:
        longest = max(width, height)
        scale = max(self.scale, min(1.0, self.min_side / longest))
        if self.max_side:
            scale = min(scale, self.max_side / longest)
        # DIS needs a few pyramid levels: never go below 32 pixels a side
        return max(32, round(width * scale)), max(32, round(height * scale))


class FlowEstimator:
    """Forward and backward DIS flow between two frames, at a reduced working size.

    Example::

        estimator = FlowEstimator(FlowSettings(preset="medium", scale=0.5))
        forward, backward = estimator.both(frame0, frame1)   # (h, w, 2) float32 each

    Flows are in pixels *of the working size*; :meth:`working_size` gives that size.
    """

    def __init__(self, settings: FlowSettings | None = None):
        self.settings = settings or FlowSettings()
        # one DIS instance per direction: instances keep state and are not shareable across threads
        self._dis = [self._make() for _ in range(2)]
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="racines-flow")

    def _make(self):
        dis = cv2.DISOpticalFlow_create(PRESETS[self.settings.preset])
        if self.settings.smoothness is not None:
            dis.setVariationalRefinementAlpha(float(self.settings.smoothness))
        return dis

    def working_size(self, width: int, height: int) -> tuple[int, int]:
        return self.settings.working_size(width, height)

    def prepare(self, frame: np.ndarray) -> np.ndarray:
        """The grey, downscaled copy of a frame that flow is computed on (reuse it for the next pair)."""
        gray = to_gray(frame)
        size = self.working_size(gray.shape[1], gray.shape[0])
        if size != (gray.shape[1], gray.shape[0]):
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        return gray

    def flow(self, a: np.ndarray, b: np.ndarray, which: int = 0) -> np.ndarray:
        """Flow from prepared frame ``a`` to prepared frame ``b``: ``a(p) ~ b(p + flow(p))``."""
        return self._dis[which].calc(a, b, None)

    def both(self, a: np.ndarray, b: np.ndarray, prepared: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(flow a->b, flow b->a). The two directions run on two threads (OpenCV releases the GIL)."""
        if not prepared:
            a, b = self.prepare(a), self.prepare(b)
        backward = self._pool.submit(self.flow, b, a, 1)
        forward = self.flow(a, b, 0)
        return forward, backward.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __del__(self):  # the pool's thread would otherwise outlive a dropped estimator
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False)
