"""This process tuned for frame work, in one place: each entry point (the command line, a batch
worker, a Ray task) calls :func:`tune_for_frames` once before any frame is made."""

from __future__ import annotations

import os
import sys

from racines.core.allocator import keep_frame_memory
from racines.core.identity import cpu_cores


def share_cpu_cores() -> None:
    """Leave cores for ffmpeg and OpenCV beside torch's CPU work (the morph generator warps with
    torch; see racines.motion.warp.configure_cpu_threads). Set through the environment, so that
    torch is not imported by a run that does not need it; a value already set wins."""
    if "OMP_NUM_THREADS" not in os.environ and "torch" not in sys.modules:
        os.environ["OMP_NUM_THREADS"] = os.environ.get("RACINES_TORCH_THREADS") or str(max(1, cpu_cores() // 2))


def tune_for_frames() -> None:
    """glibc keeps frame-sized memory for the next frame (forked workers inherit it), and torch
    leaves cores to the encoders beside it."""
    keep_frame_memory()
    share_cpu_cores()
