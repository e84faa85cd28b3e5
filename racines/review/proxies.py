"""Proxies: each take as an H.264 file a browser plays and steps through frame by frame.

Browsers do not play the takes' ProRes, and stepping back through long-GOP H.264 decodes a
whole group of pictures for each frame (a quarter of a second here). A proxy is all-intra
(every frame a key frame) and quick to decode (x264's fastdecode), at most 1280 pixels wide,
BT.709 like the takes, at the rate the
take was made at, and holds every frame of the take's media, handles included, so that frame
n of the proxy is frame n of the take. Made from the lossless frames on first request, once
(concurrent requests wait for the same one), written whole or not at all, and kept under
``renders/cache/proxies/<shot>/`` by version and cache key.
"""

from __future__ import annotations

import threading
from pathlib import Path

import ffmpeg

from racines.core.atomic import atomic_path
from racines.media.ffmpeg import run
from racines.review.files import NotServed, confined
from racines.takes.store import Take

PROXIES_DIR = Path("renders") / "cache" / "proxies"
PROXY_FORMAT = "1"  # bump when the encoding below changes: every proxy is made again
MAX_WIDTH = 1280

_guard = threading.Lock()
_making: dict[Path, threading.Lock] = {}


def proxy_path(root: Path, take: Take) -> Path:
    return Path(root) / PROXIES_DIR / take.shot_id / f"{take.version}-{take.cache_key[:16]}-p{PROXY_FORMAT}.mp4"


def proxy_for(root: Path, take: Take, rate: str) -> Path:
    """The take's proxy at ``rate`` (the take's own), made now if it is not there yet."""
    path = proxy_path(root, take)
    if path.is_file():
        return path
    with _guard:
        lock = _making.setdefault(path, threading.Lock())
    with lock:
        if not path.is_file():
            _make(take, path, rate)
    return path


def _source(take: Take) -> Path:
    """The lossless frames; the editorial media where a take has lost them."""
    for name in (take.info.media.lossless, take.info.media.editorial):
        try:
            return confined(take.folder, name)
        except NotServed:
            continue
    raise NotServed(f"take {take.shot_id} {take.version} has no media")


def _make(take: Take, path: Path, rate: str) -> None:
    with atomic_path(path) as tmp:
        stream = (ffmpeg.input(str(_source(take))).video
                  .filter("scale", w=f"min({MAX_WIDTH},iw)", h=-2, out_color_matrix="bt709", out_range="tv")
                  .filter("format", "yuv420p")
                  # every frame a key frame, no B-frames; constant rate on the take's exact grid;
                  # fastdecode (no CABAC, no deblocking) halves a step in Chromium at 720p (bench/RESULTS.md)
                  .output(str(tmp), f="mp4", vcodec="libx264", preset="veryfast", tune="fastdecode", crf=20, g=1, bf=0,
                          r=rate, fps_mode="cfr", an=None, colorspace="bt709", color_primaries="bt709",
                          color_trc="bt709", color_range="tv", movflags="+faststart"))
        run(stream, f"making the review proxy of {take.shot_id} {take.version}")
