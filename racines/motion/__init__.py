"""Motion without model weights: optical flow, warping, frame interpolation, retiming and morphs.

Modules, one job each:

* :mod:`.flow` - dense DIS optical flow in both directions (OpenCV, CPU);
* :mod:`.warp` - ``grid_sample`` backward warping and flow inversion (torch, CPU or CUDA);
* :mod:`.interpolate` - in-between frames at any time ``t``, occlusion-aware;
* :mod:`.retime` - exact rational frame-rate conversion schedules, streaming;
* :mod:`.colour` - LAB statistics colour transfer;
* :mod:`.morph` - morphs between two different images (features, mesh, flow, dissolve);
* :mod:`.video` - video files in and out through ffmpeg, for ``racines interpolate``.
"""

from racines.motion.flow import FlowEstimator, FlowSettings
from racines.motion.interpolate import Interpolator, PairMotion, for_quality, interpolate
from racines.motion.retime import Step, as_rate, frame_count, retime, schedule
from racines.motion.video import VideoInfo, interpolate_file, parse_output_rate, probe, rate_text
from racines.motion.warp import backward_warp, configure_cpu_threads, pick_device

__all__ = [
    "FlowEstimator", "FlowSettings", "Interpolator", "PairMotion", "Step", "VideoInfo", "as_rate",
    "backward_warp", "configure_cpu_threads", "for_quality", "frame_count", "interpolate", "interpolate_file",
    "parse_output_rate", "pick_device", "probe", "rate_text", "retime", "schedule",
]
