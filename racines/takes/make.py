"""Generate one shot into a take: frames stream from the generator into one ffmpeg process
that writes both the lossless frames and the editorial ProRes media."""

from __future__ import annotations

import getpass
import platform
import socket
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import ffmpeg
import numpy as np

from racines import __version__
from racines.errors import RenderFailed
from racines.film.model import Film, Shot
from racines.generators import get_generator
from racines.generators.credits import credit_lines
from racines.media import presets
from racines.media.ffmpeg import FrameWriter, ffmpeg_version, raw_input
from racines.takes.cache import cache_key, sha256_of
from racines.takes.store import Take, TakeStore, reel_for

TAKE_TIMECODE = "00:00:00:00"
LOSSLESS_NAME = "frames.mkv"


def take_key(shot: Shot, film: Film) -> str:
    generator = get_generator(shot.kind)
    extra = None
    if shot.kind == "credits":  # the card's text depends on the other shots
        extra = credit_lines(film, shot.generator.heading, shot.generator.extra_lines)
    return cache_key(shot, film, generator.name, generator.version, extra)


def make_take(film: Film, shot: Shot, store: TakeStore,
              on_frame: Callable[[int], None] | None = None) -> tuple[Take, bool]:
    """Return (take, made): the cached take when nothing that changes its pixels changed."""
    key = take_key(shot, film)
    cached = store.find_cached(shot.id, key)
    if cached is not None:
        return cached, False
    generator = get_generator(shot.kind)

    def fill(staging: Path, take_version: str) -> dict:
        reel = reel_for(shot.id, take_version, key)
        media_name = f"{shot.id}_{take_version}.mov"
        started = time.perf_counter()
        stream = raw_input(film.width, film.height, film.rate_text)
        lossless = stream.output(str(staging / LOSSLESS_NAME), **presets.lossless_rgb())
        editorial = presets.to_bt709(stream, "yuv422p10le").output(
            str(staging / media_name), movflags="+use_metadata_tags", **presets.prores_hq(TAKE_TIMECODE, reel))
        embedded = {"title": f"{shot.id} {take_version}", "racines_shot": shot.id, "racines_take": take_version,
                    "racines_cache_key": key, "racines_generator": f"{generator.name} {generator.version}",
                    "racines_seed": str(shot.generator.seed), "racines_prompt": shot.generator.prompt}
        if shot.source:
            embedded.update(racines_source=shot.source.relpath, racines_contributor=shot.source.contributor,
                            racines_consent=shot.source.consent)
        count = 0
        with FrameWriter(ffmpeg.merge_outputs(lossless, editorial), f"encoding take {shot.id} {take_version}",
                         metadata={str(staging / media_name): embedded}) as writer:
            for frame in generator.frames(shot, film):
                if frame.shape != (film.height, film.width, 3) or frame.dtype != np.uint8:
                    raise RenderFailed(f"generator {generator.name} made a frame of shape {frame.shape} "
                                       f"{frame.dtype} for shot {shot.id}; expected ({film.height}, {film.width}, 3) uint8")
                writer.write(np.ascontiguousarray(frame))
                count += 1
                if on_frame:
                    on_frame(count)
        if count != shot.frames:
            raise RenderFailed(f"generator {generator.name} made {count} frames for shot {shot.id}; "
                               f"the shot file asks for {shot.frames}")
        elapsed = time.perf_counter() - started
        return _manifest(film, shot, generator, key, take_version, reel, media_name, elapsed)

    return store.create(shot.id, fill), True


def _manifest(film, shot, generator, key, take_version, reel, media_name, elapsed) -> dict:
    source = None
    if shot.source:
        source = {"photo": shot.source.relpath, "sha256": sha256_of(shot.source.path),
                  "contributor": shot.source.contributor, "consent": shot.source.consent,
                  "credit": shot.source.credit}
    return {
        "schema": "racines.take/1",
        "shot": shot.id,
        "take": take_version,
        "shot_file": shot.file,
        "cache_key": key,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "frames": shot.frames,
        "film": {"title": film.title, "frame_rate": film.rate_text, "width": film.width, "height": film.height},
        "source": source,
        "assets": {name: {"path": path.relative_to(film.root).as_posix(), "sha256": sha256_of(path)}
                   for name, path in shot.assets.items()},
        "generator": {"name": generator.name, "version": generator.version, "models": list(generator.models),
                      "settings": shot.generator.model_dump(mode="json")},
        "media": {"editorial": media_name, "lossless": LOSSLESS_NAME, "reel": reel,
                  "timecode_start": TAKE_TIMECODE, "codec": "prores_ks HQ yuv422p10le bt709"},
        "software": _software(),
        "machine": {"host": socket.gethostname(), "platform": platform.platform(), "user": _user()},
        "timings": {"generate_and_encode_s": round(elapsed, 3)},
    }


def _software() -> dict:
    found = {"racines": __version__, "python": sys.version.split()[0], "ffmpeg": ffmpeg_version()}
    for package in ("numpy", "opencv-python-headless", "pillow", "torch", "diffusers"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
