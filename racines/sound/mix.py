"""The film's mix, made once per state of its sound and kept under ``renders/cache/sound/KEY/``.

From the timeline's audio tracks (racines.edit.audio): the dialogue stem, the music stem
ducked under it, their sum measured, then brought to EBU R 128 (-23 LUFS, true peak at most
-1 dBTP) by a linear two-pass loudnorm into ``mix.wav`` (48 kHz, 24-bit stereo), the stems
by the same gain. The review copy's sound is made from that mix once for the whole film:
limited, brought to -16 LUFS linearly, encoded to AAC (``review.m4a``), because AAC pieces
joined by stream copy drift. Every figure (before, gain, after, as measured on the written
files) goes into ``mix.json``, the mix manifest.

The key hashes what the mix is made of: each recording's content, where and how it plays,
the ducking, the targets and ffmpeg's version. A change to one voice makes a new key, so a
new mix; the picture is not touched (the deliverables are remuxed, see racines.render).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import ffmpeg
import opentimelineio as otio

from racines.core.atomic import staging_dir, write_json
from racines.edit.audio import PlacedSound, placed_sounds
from racines.errors import RenderFailed
from racines.film.schema import Ducking
from racines.media.ffmpeg import ffmpeg_version, run_reporting
from racines.sound import graph
from racines.sound.loudness import (
    MASTER,
    REVIEW,
    Loudness,
    Target,
    check_linear,
    gain_to,
    is_linear,
    measure,
    measured,
    measuring,
    normalised,
    reports,
)
from racines.sound.place import MIX_RATE, span, total_samples
from racines.takes.cache import HashCache

#: bump when the mix is made otherwise, so that every film is mixed again
MIX_FORMAT = "1"
SOUND_DIR = Path("cache") / "sound"
MANIFEST = "mix.json"
AAC_BITRATE = "192k"
STEMS = ("dialogue", "music")
#: how far under the true-peak target a limiter's ceiling starts, and how much lower each retry goes
CEILING_MARGIN, CEILING_STEP, TRIES = 1.0, 1.0, 4


@dataclass(frozen=True)
class Soundtrack:
    """A finished mix in the cache: the master's sound, the review copy's, the stems."""

    key: str
    folder: Path
    samples: int
    fresh: bool = False     # made by this run, not found in the cache

    @property
    def master(self) -> Path:
        return self.folder / "mix.wav"

    @property
    def review(self) -> Path:
        return self.folder / "review.m4a"

    @property
    def manifest(self) -> Path:
        return self.folder / MANIFEST

    def stem(self, name: str) -> Path:
        return self.folder / f"{name}.wav"


def mix_key(placed: list[PlacedSound], rate: Fraction, total: int, ducking: Ducking, hashes: HashCache) -> str:
    clips = [{**{k: v for k, v in asdict(p).items() if k != "path"}, "sha256": hashes.sha256(p.path)} for p in placed]
    canonical = json.dumps([MIX_FORMAT, str(rate), total, ducking.model_dump(), asdict(MASTER), asdict(REVIEW),
                            AAC_BITRATE, ffmpeg_version(), clips], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def mix_timeline(timeline: otio.schema.Timeline, media_base: Path, out_dir: Path, rate: Fraction, frames: int,
                 ducking: Ducking, root: Path) -> Soundtrack | None:
    """The mix of the timeline's audio tracks (None when it has none): from the cache, else made.
    ``frames``: the picture's length, which the mix matches to the sample; ``root``: the project
    (its hash cache)."""
    placed = placed_sounds(timeline, media_base)
    if not placed:
        return None
    total = total_samples(frames, rate)
    hashes = HashCache.for_project(root)
    try:
        key = mix_key(placed, rate, total, ducking, hashes)
    finally:
        hashes.save()
    cache = out_dir / SOUND_DIR
    soundtrack = Soundtrack(key, cache / key, total, fresh=not (cache / key / MANIFEST).is_file())
    if soundtrack.fresh:
        with staging_dir(cache, key) as work:
            manifest = _make(placed, rate, frames, total, ducking, work)
            write_json(work / MANIFEST, {"key": key, **manifest})
            if soundtrack.folder.exists():
                shutil.rmtree(soundtrack.folder)  # an incomplete one (no manifest)
            os.rename(work, soundtrack.folder)
    _prune(cache, keep=key)
    return soundtrack


def _prune(cache: Path, keep: str) -> None:
    """Only the current mix is kept: the deliverables carry their own copy of the sound."""
    for folder in cache.iterdir():
        if folder.is_dir() and not folder.name.startswith(".") and folder.name != keep:
            shutil.rmtree(folder, ignore_errors=True)


def _make(placed: list[PlacedSound], rate: Fraction, frames: int, total: int, ducking: Ducking, work: Path) -> dict:
    spans = [(p, span(p, rate)) for p in placed]
    voices = [(p, s) for p, s in spans if p.role == "voice"]
    music = [(p, s) for p, s in spans if p.role == "music"]
    raw = {name: work / f".{name}_raw.wav" for name in ("dialogue", "music", "mix")}
    float_wav = {"acodec": "pcm_f32le", "f": "wav"}

    # the dialogue, and its loudness: the key that ducks the music is brought to -23 LUFS
    split = graph.stem(voices, total).asplit()
    log = run_reporting(ffmpeg.merge_outputs(split[0].output(str(raw["dialogue"]), **float_wav), measuring(split[1])),
                        "mixing the voices")
    dialogue = measured(log, "the voices")
    key_gain = 0.0 if dialogue.silent else gain_to(dialogue, MASTER)

    # the music, ducked under the voices; then the two summed, measured
    groups = []
    for duck in (False, True):
        chosen = [(p, s) for p, s in music if p.duck == duck]
        if chosen:
            group = graph.stem(chosen, total)
            if duck and voices:
                group = graph.ducked(group, ffmpeg.input(str(raw["dialogue"])).audio, key_gain, ducking)
            groups.append(group)
    split = graph.summed(groups, total).asplit()
    whole = graph.summed([ffmpeg.input(str(raw["dialogue"])).audio, split[1]], total).asplit()
    log = run_reporting(ffmpeg.merge_outputs(split[0].output(str(raw["music"]), **float_wav),
                                             whole[0].output(str(raw["mix"]), **float_wav), measuring(whole[1])),
                        "mixing the music under the voices")
    before = measured(log, "the mix")
    if before.silent:
        raise RenderFailed("the film's sound is silent: there is nothing to bring to -23 LUFS\n"
                           "    fix: check the recordings' levels and gains in the shot files and shots/sound.yaml")

    # the master's mix and the stems, by one gain
    master = work / "mix.wav"
    source, limiter = _fit(raw["mix"], before, MASTER, work, "the mix")
    gain = gain_to(source.loudness, MASTER) + source.pre_gain
    pcm24 = {"acodec": "pcm_s24le", "f": "wav"}
    outputs = [graph.exact_length(normalised(ffmpeg.input(str(source.path)).audio, source.loudness, MASTER), total)
               .output(str(master), **pcm24)]
    outputs += [ffmpeg.input(str(raw[name])).audio.filter("volume", f"{gain:.4f}dB").output(str(work / f"{name}.wav"),
                                                                                           **pcm24)
                for name in STEMS]
    log = run_reporting(ffmpeg.merge_outputs(*outputs), "bringing the mix to -23 LUFS")
    check_linear(reports(log)[0], "the mix")
    master_measured = measure(master, "the mix")
    _check(master_measured, MASTER, "the mix")

    # the review copy's sound: limited, brought to -16 LUFS, encoded once for the whole film
    review = work / "review.m4a"
    source_r, limiter_r = _fit(master, master_measured, REVIEW, work, "the review copy's sound")
    log = run_reporting(graph.exact_length(normalised(ffmpeg.input(str(source_r.path)).audio, source_r.loudness,
                                                      REVIEW), total)
                        .output(str(review), acodec="aac", f="mp4", **{"b:a": AAC_BITRATE}),
                        "encoding the review copy's sound")
    check_linear(reports(log)[0], "the review copy's sound")
    review_measured = measure(review, "the review copy's sound")
    _check(review_measured, REVIEW, "the review copy's sound")

    for path in work.glob(".*_raw.wav"):
        path.unlink()
    for path in work.glob(".*_limited.wav"):
        path.unlink()
    return {
        "schema_version": 1,
        "sample_rate": MIX_RATE, "channels": 2, "samples": total, "frames": frames,
        "frame_rate": str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}",
        "clips": [{**p.provenance, "role": p.role, "record_in": p.record_in, "frames": p.frames,
                   "record_sample": s.record, "source_sample": s.source, "samples": s.samples, "gain_db": p.gain,
                   "fade_in_samples": s.fade_in, "fade_out_samples": s.fade_out, "duck": p.duck} for p, s in spans],
        "ducking": {**ducking.model_dump(), "key_gain_db": round(key_gain, 2)},
        "master": {"file": master.name, "codec": "pcm_s24le", "target": asdict(MASTER), "before": before.to_json(),
                   "gain_db": round(gain, 2), "limiter_ceiling_dbtp": limiter, "normalization": "linear",
                   "measured": master_measured.to_json()},
        "review": {"file": review.name, "codec": "aac", "bitrate": AAC_BITRATE, "target": asdict(REVIEW),
                   "limiter_ceiling_dbtp": limiter_r, "normalization": "linear", "measured": review_measured.to_json()},
        "stems": {name: f"{name}.wav" for name in STEMS},
        "meter": "ffmpeg ebur128 (ITU-R BS.1770-4, true peak oversampled), " + ffmpeg_version(),
    }


@dataclass(frozen=True)
class _Source:
    """What a linear loudnorm pass reads: a file, its loudness, and the gain already in it."""

    path: Path
    loudness: Loudness
    pre_gain: float = 0.0


def _fit(path: Path, loudness: Loudness, target: Target, work: Path, what: str) -> tuple[_Source, float | None]:
    """``path`` as it is when a linear gain can reach the target; else its peaks limited (after
    the gain, under a ceiling lowered until the gain that remains stays linear). Returns the
    source and the limiter's ceiling in dBTP (None: no limiter)."""
    if is_linear(loudness, target):
        return _Source(path, loudness), None
    pre_gain = gain_to(loudness, target)
    ceiling = target.true_peak - CEILING_MARGIN
    for _ in range(TRIES):
        limited = work / f".{path.stem}_{abs(round(target.integrated))}_limited.wav"
        split = graph.limited(ffmpeg.input(str(path)).audio, pre_gain, ceiling).asplit()
        log = run_reporting(ffmpeg.merge_outputs(split[0].output(str(limited), acodec="pcm_f32le", f="wav"),
                                                 measuring(split[1])), f"limiting the peaks of {what}")
        found = measured(log, what)
        if is_linear(found, target):
            return _Source(limited, found, pre_gain), round(ceiling, 2)
        ceiling -= CEILING_STEP + found.true_peak + gain_to(found, target) - target.true_peak
    raise RenderFailed(f"{what}: its peaks could not be limited enough to reach {target.integrated} LUFS "
                       f"linearly (true peak {target.true_peak} dBTP)")


def _check(found: Loudness, target: Target, what: str) -> None:
    if not found.meets(target):
        raise RenderFailed(f"{what} measures {found.integrated:.2f} LUFS, true peak {found.true_peak:.2f} dBTP; "
                           f"{target.integrated} ± {target.tolerance} LU and at most {target.true_peak} dBTP were "
                           "wanted")


def mix_summary(sound: Soundtrack) -> str:
    """The mix's measured loudness, in a line."""
    data = json.loads(sound.manifest.read_text(encoding="utf-8"))
    master, review = data["master"]["measured"], data["review"]["measured"]
    return (f"master {master['integrated']} LUFS, true peak {master['true_peak']} dBTP; review copy "
            f"{review['integrated']} LUFS, true peak {review['true_peak']} dBTP")
