"""Where each clip's samples go in the mix (pure): frames of the film to samples at 48 kHz.

Every position is computed from whole frames with exact rationals, never from float
seconds, and rounded to the nearest sample once, where a frame holds no whole number of
samples (30000/1001: 1601.6). A clip fills exactly its span of the record, from the sample
where its first frame starts to the one where the frame after its last starts, so that clips
laid end to end neither overlap nor leave a gap, and the mix ends with the picture's last frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from racines.edit.audio import PlacedSound, samples_at

MIX_RATE = 48000


@dataclass(frozen=True)
class Span:
    """A clip in samples of the mix: its first sample on the record and in the recording
    (after resampling to the mix's rate), how many it plays, and its fades."""

    record: int
    source: int
    samples: int
    fade_in: int
    fade_out: int


def span(clip: PlacedSound, rate: Fraction) -> Span:
    record = samples_at(clip.record_in, rate, MIX_RATE)
    end = samples_at(clip.record_in + clip.frames, rate, MIX_RATE)
    # fades run from the clip's ends, so that a fade of its whole length is exactly its length
    fade_in = samples_at(clip.record_in + clip.fade_in, rate, MIX_RATE) - record
    fade_out = end - samples_at(clip.record_in + clip.frames - clip.fade_out, rate, MIX_RATE)
    return Span(record, samples_at(clip.source_in, rate, MIX_RATE), end - record, fade_in, fade_out)


def total_samples(frames: int, rate: Fraction) -> int:
    """The mix's length: where the frame after the film's last would start."""
    return samples_at(frames, rate, MIX_RATE)
