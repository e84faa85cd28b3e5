"""The timed-text rules a subtitle obeys, in whole frames of the film, and how text is counted.

The defaults are Netflix's (Timed Text Style Guide: General Requirements; Subtitle Timing
Guidelines) and agree with the BBC's subtitle guidelines where both speak: 42 characters a line,
2 lines, 17 characters a second (spaces and punctuation counted), at least 20 frames at 24 fps
(5/6 s) and at most 7 s on screen, 2 frames between subtitles whatever the rate, an out-time at
most 12 frames (0.5 s at 24 fps) after the speech, gaps of 12 frames or fewer closed to 2
frames, in- and out-times within 12 frames of a cut moved to it. The rules given at 24 fps are
scaled to the film's rate and rounded to the nearest frame; film.yaml's ``subtitles:`` block
overrides any of them.
"""

from __future__ import annotations

import functools
import math
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

import regex

from racines.film.loader import frames_of
from racines.film.model import Film

#: the frame rate the Netflix numbers are given at
REFERENCE_RATE = Fraction(24)

_GRAPHEME = regex.compile(r"\X")


def nfc(text: str) -> str:
    """Text as racines stores and counts it: composed (NFC), so 'é' is one code point whether
    it was typed as one or as 'e' and a combining accent."""
    return unicodedata.normalize("NFC", text)


@functools.lru_cache(maxsize=65536)   # line breaking counts the same words many times over
def characters(text: str) -> int:
    """Characters as a reader sees them: user-perceived graphemes of the NFC text (an Arabic
    letter with its vowel marks, a Vietnamese letter with two diacritics, an emoji sequence:
    one each); spaces and punctuation count, line breaks do not."""
    return len(_GRAPHEME.findall(nfc(text).replace("\n", "")))


def _scaled(frames_at_24: int, rate: Fraction) -> int:
    """A duration given in frames at 24 fps, in frames at ``rate``, rounded to the nearest."""
    exact = Fraction(frames_at_24) * rate / REFERENCE_RATE
    return math.floor(exact + Fraction(1, 2))


@dataclass(frozen=True)
class Rules:
    """The rules in whole frames of a film at ``rate`` (the defaults: 24 fps)."""

    rate: Fraction = REFERENCE_RATE
    max_line_chars: int = 42
    max_lines: int = 2
    max_cps: Fraction = Fraction(17)
    min_frames: int = 20
    max_frames: int = 168
    min_gap: int = 2
    linger: int = 12          # the out-time may run this far past the speech; gaps this short are closed
    snap: int = 12            # in- and out-times this close to a cut move to it

    @classmethod
    def at(cls, rate: Fraction) -> Rules:
        """Netflix's rules for a film at ``rate``: those given at 24 fps scaled, the gap not."""
        rate = Fraction(rate)
        return cls(rate=rate, min_frames=_scaled(20, rate), max_frames=math.floor(7 * rate + Fraction(1, 2)),
                   linger=_scaled(12, rate), snap=_scaled(12, rate))

    @property
    def max_chars(self) -> int:
        return self.max_line_chars * self.max_lines

    def seconds(self, frames: int) -> Fraction:
        return Fraction(frames) / self.rate

    def cps(self, text: str, frames: int) -> Fraction:
        """Characters a second of ``text`` shown for ``frames``."""
        return Fraction(characters(text)) * self.rate / max(frames, 1)

    def reading_frames(self, text: str) -> int:
        """The fewest frames ``text`` needs at the reading speed (rounded up)."""
        return math.ceil(Fraction(characters(text)) * self.rate / self.max_cps)

    def wanted_frames(self, text: str) -> int:
        """How long ``text`` should stay: long enough to be read, and at least the minimum."""
        return max(self.min_frames, self.reading_frames(text))


def rules_of(film: Film) -> Rules:
    """The film's rules: Netflix's at its rate, with what film.yaml ``subtitles:`` changes."""
    settings, rate = film.subtitles, film.rate
    rules = Rules.at(rate)

    def frames(value: int | str | None, default: int) -> int:
        return default if value is None else frames_of(value, rate)

    return Rules(rate=rate, max_line_chars=settings.max_line_chars, max_lines=settings.max_lines,
                 max_cps=Fraction(settings.max_cps).limit_denominator(1000),
                 min_frames=frames(settings.min_duration, rules.min_frames),
                 max_frames=frames(settings.max_duration, rules.max_frames),
                 min_gap=frames(settings.min_gap, rules.min_gap), linger=frames(settings.linger, rules.linger),
                 snap=frames(settings.snap, rules.snap))
