"""ffmpeg graphs of the mix, built with ffmpeg-python from values racines computed.

A clip: its recording decoded, resampled to 48 kHz (soxr), made stereo (mono in both
channels at -3 dB, more channels folded down by ffmpeg's matrix), cut to its samples, gain, fades,
then delayed to its first sample on the record. A stem: its clips summed (``amix`` without
its default division by the number of inputs), padded and cut to the film's exact length.
Music is ducked under the voices by ``sidechaincompress`` keyed by the dialogue.
Nothing the user typed reaches a filter's arguments: recordings are inputs, given as paths.
"""

from __future__ import annotations

from collections.abc import Sequence

import ffmpeg

from racines.edit.audio import PlacedSound
from racines.film.schema import Ducking
from racines.sound.place import MIX_RATE, Span


def clip(stream, placed: PlacedSound, where: Span):
    """``stream``: the recording's sound as decoded."""
    if placed.sample_rate != MIX_RATE:
        stream = stream.filter("aresample", MIX_RATE, resampler="soxr")
    # ffmpeg's matrix: mono to both channels at -3 dB (equal power), more channels folded down
    stream = stream.filter("aformat", sample_fmts="flt", channel_layouts="stereo")
    stream = stream.filter("atrim", start_sample=where.source, end_sample=where.source + where.samples)
    stream = stream.filter("asetpts", "PTS-STARTPTS")
    if placed.gain:
        stream = stream.filter("volume", f"{placed.gain:.4f}dB")
    if where.fade_in:
        stream = stream.filter("afade", t="in", start_sample=0, nb_samples=where.fade_in)
    if where.fade_out:
        stream = stream.filter("afade", t="out", start_sample=where.samples - where.fade_out, nb_samples=where.fade_out)
    if where.record:
        stream = stream.filter("adelay", delays=f"{where.record}S", all=1)
    return stream


def silence(total: int):
    return exact_length(ffmpeg.input(f"anullsrc=r={MIX_RATE}:cl=stereo", f="lavfi").audio, total)


def summed(streams: Sequence, total: int):
    """The streams added sample by sample, exactly ``total`` samples long."""
    if not streams:
        return silence(total)
    mixed = streams[0] if len(streams) == 1 else \
        ffmpeg.filter(list(streams), "amix", inputs=len(streams), normalize=0, duration="longest", dropout_transition=0)
    return exact_length(mixed, total)


def exact_length(stream, total: int):
    return stream.filter("apad", whole_len=total).filter("atrim", end_sample=total)


def stem(clips: Sequence[tuple[PlacedSound, Span]], total: int):
    """The clips summed; a recording heard more than once is decoded once and split."""
    by_path: dict[str, list[tuple[PlacedSound, Span]]] = {}
    for placed, where in clips:
        by_path.setdefault(str(placed.path), []).append((placed, where))
    chains = []
    for path, group in by_path.items():
        source = ffmpeg.input(path).audio
        split = source.asplit() if len(group) > 1 else None
        chains += [clip(split[index] if split is not None else source, placed, where)
                   for index, (placed, where) in enumerate(group)]
    return summed(chains, total)


def ducked(music, key, gain_db: float, ducking: Ducking):
    """``music`` lowered while ``key`` (the dialogue, brought by ``gain_db`` to -23 LUFS) speaks."""
    key = key.filter("volume", f"{gain_db:.4f}dB")
    return ffmpeg.filter([music, key], "sidechaincompress", threshold=f"{10 ** (ducking.threshold_db / 20):.6f}",
                         ratio=ducking.ratio, attack=ducking.attack_ms, release=ducking.release_ms, level_sc=1)


def limited(stream, pre_gain_db: float, ceiling_db: float):
    """Gain, then a true-peak limiter: oversampled four times, its delay compensated (``latency``),
    so that the result keeps its place to the sample."""
    stream = stream.filter("aresample", 4 * MIX_RATE, resampler="soxr")
    stream = stream.filter("volume", f"{pre_gain_db:.4f}dB")
    stream = stream.filter("alimiter", limit=f"{10 ** (ceiling_db / 20):.6f}", attack=5, release=50, level=0,
                           latency=1)
    return stream.filter("aresample", MIX_RATE, resampler="soxr")
