"""Generate one shot into a take: frames stream from the generator into one ffmpeg process
that writes both the lossless frames and the editorial ProRes media."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import ffmpeg
import numpy as np

from racines import __version__
from racines.core.cost import Meter
from racines.core.identity import machine
from racines.errors import RenderFailed
from racines.film.model import Film, Shot
from racines.generators import get_generator
from racines.media import presets
from racines.media.ffmpeg import FrameWriter, ffmpeg_version, raw_input
from racines.takes.cache import HashCache, key_inputs, key_of
from racines.takes.manifest import SCHEMA_VERSION, TakeManifest
from racines.takes.sheets import STRIP_WIDTH, contact_strip, sample_indices, shrink
from racines.takes.store import Take, TakeStore, reel_for

TAKE_TIMECODE = "00:00:00:00"
LOSSLESS_NAME = "frames.mkv"
THUMBNAIL_NAME = "thumbnail.jpg"
CONTACT_NAME = "contact.jpg"


def take_timecode(film: Film) -> str:
    """Where the take's timecode track starts: drop-frame when the film's timecode is, so that
    the EDL's drop-frame source timecodes name frames the NLE finds in the media."""
    return "00:00:00;00" if film.drop_frame else TAKE_TIMECODE


def take_inputs(shot: Shot, film: Film, hashes: HashCache, derived: object = None) -> dict[str, object]:
    inputs = key_inputs(shot, film, get_generator(shot.kind), hashes, derived)
    if film.drop_frame:  # the timecode track is part of the media; non-drop-frame keys stay as they were
        inputs["timecode"] = take_timecode(film)
    return inputs


def make_take(film: Film, shot: Shot, store: TakeStore, hashes: HashCache | None = None,
              derived: object = None, on_frame: Callable[[int], None] | None = None) -> tuple[Take, bool]:
    """Return (take, made): the cached take when nothing that changes its pixels changed.

    ``derived`` is data a generator takes from other takes (the credits card's lines); it is
    part of the cache key. A failure is recorded beside the takes for ``racines status``.
    """
    hashes = hashes or HashCache()
    inputs = take_inputs(shot, film, hashes, derived)
    key = key_of(inputs)
    cached = store.find_cached(shot.id, key)
    if cached is not None:
        return cached, False
    generator = get_generator(shot.kind)

    def fill(staging: Path, take_version: str) -> TakeManifest:
        reel = reel_for(shot.id, take_version, key)
        media_name = f"{shot.id}_{take_version}.mov"
        started = time.perf_counter()
        manifest = _manifest(film, shot, generator, inputs, key, take_version, reel, media_name)
        stream = raw_input(film.width, film.height, film.rate_text)
        lossless = stream.output(str(staging / LOSSLESS_NAME), **presets.lossless_rgb())
        editorial = presets.to_bt709(stream, "yuv422p10le").output(
            str(staging / media_name), movflags="+use_metadata_tags", **presets.prores_hq(take_timecode(film), reel))
        count, total = 0, shot.frames + 2 * film.handles
        wanted = {film.handles + i for i in sample_indices(shot.frames)}
        samples = []
        meter = Meter(gpu=generator.runs_on_gpu)  # the take's energy: generation and encoding together
        with meter, FrameWriter(ffmpeg.merge_outputs(lossless, editorial), f"encoding take {shot.id} {take_version}",
                                metadata={str(staging / media_name): embedded_provenance(manifest)}) as writer:
            for frame in generator.frames_with_handles(shot, film, film.handles, derived):
                if frame.shape != (film.height, film.width, 3) or frame.dtype != np.uint8:
                    raise RenderFailed(f"generator {generator.name} made a frame of shape {frame.shape} "
                                       f"{frame.dtype} for shot {shot.id}; expected ({film.height}, {film.width}, 3) uint8")
                writer.write(np.ascontiguousarray(frame))
                if count in wanted:
                    samples.append((count - film.handles, shrink(frame, STRIP_WIDTH)))
                count += 1
                if on_frame:
                    on_frame(count)
        if count != total:
            raise RenderFailed(f"generator {generator.name} made {count} frames for shot {shot.id}; "
                               f"the shot file asks for {shot.frames} and {film.handles} of handle at each end")
        samples[len(samples) // 2][1].save(staging / THUMBNAIL_NAME, quality=88)
        contact_strip(samples).save(staging / CONTACT_NAME, quality=88)
        artefacts = generator.artefacts()  # the X-ray strip...: in the staging folder, so kept only with the take
        for name, picture in artefacts.items():
            picture.save(staging / name)
        # device, precision, prompts as written and enhanced...: known once the frames are drawn
        return manifest.model_copy(update={
            "timings": {"generate_and_encode_s": round(time.perf_counter() - started, 3)},
            "generation": generator.provenance(), "apparatus": generator.apparatus(), "cost": meter.result,
            "media": manifest.media.model_copy(update={"artefacts": sorted(artefacts)})})

    try:
        take = store.create(shot.id, fill)
    except Exception as exc:
        store.record_failure(shot.id, key, f"{type(exc).__name__}: {exc}")
        raise
    store.clear_failure(shot.id)
    return take, True


def embedded_provenance(take: TakeManifest) -> dict[str, str]:
    """Tags for the take's media. The whole provenance also goes in the standard ``comment``
    tag, which a plain remux keeps; the ``racines_*`` keys need ``-movflags use_metadata_tags``."""
    manifest = take.to_json()
    provenance = {k: manifest[k] for k in ("shot", "take", "cache_key", "source", "generator", "software",
                                           "machine", "created", "film", "profile")}
    tags = {"title": f"{manifest['shot']} {manifest['take']}", "racines_shot": manifest["shot"],
            "racines_take": manifest["take"], "racines_cache_key": manifest["cache_key"],
            "comment": "racines provenance " + json.dumps(provenance, sort_keys=True, ensure_ascii=False)}
    if manifest["source"]:
        tags.update(racines_source=manifest["source"]["photo"], racines_contributor=manifest["source"]["contributor"],
                    racines_consent=manifest["source"]["consent"])
    return tags


def _manifest(film, shot, generator, inputs, key, take_version, reel, media_name) -> TakeManifest:
    models = generator.models_for(shot, film)
    source = None
    if shot.source:
        source = {"photo": shot.source.relpath, "sha256": inputs["photo"],
                  "contributor": shot.source.contributor, "consent": shot.source.consent,
                  "credit": shot.source.credit}
    return TakeManifest.model_validate({
        "schema_version": SCHEMA_VERSION,
        "shot": shot.id,
        "take": take_version,
        "shot_file": shot.file,
        "cache_key": key,
        "cache_inputs": inputs,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "frames": shot.frames + 2 * film.handles,
        "shot_frames": shot.frames,
        "handles": film.handles,
        "film": {"title": film.title, "frame_rate": film.rate_text, "width": film.width, "height": film.height},
        "source": source,
        "assets": {name: {"path": path.relative_to(film.root).as_posix(), "sha256": inputs[f"{name} image"]}
                   for name, path in shot.assets.items()},
        "profile": shot.profile,
        "generator": {"name": generator.name, "version": generator.version, "models": models,
                      "description": generator.describe(models), "settings": shot.generator.model_dump(mode="json")},
        "media": {"editorial": media_name, "lossless": LOSSLESS_NAME, "reel": reel,
                  "thumbnail": THUMBNAIL_NAME, "contact_sheet": CONTACT_NAME,
                  "timecode_start": take_timecode(film),
                  "codec": f"prores_ks HQ qscale {presets.PRORES_QSCALE} yuv422p10le bt709"},
        "software": _software(),
        "machine": machine(),
    })


def _software() -> dict:
    found = {"racines": __version__, "python": sys.version.split()[0], "ffmpeg": ffmpeg_version()}
    for package in ("numpy", "opencv-python-headless", "pillow", "torch", "diffusers", "transformers"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found

