"""Loudness by EBU R 128: measured with ffmpeg's ebur128, then a linear gain to the target.

Two passes: the first measures (integrated loudness, true peak, loudness range, gate
threshold) with ``ebur128`` (the same BS.1770 meter as loudnorm's, at a sixth of its cost:
loudnorm runs its whole limiter at 192 kHz even to measure), the second applies loudnorm with
those figures and ``linear=true``, which is a plain gain, as long as the gain would not lift
the true peak over the target. Otherwise loudnorm falls back to its dynamic mode without a word
(it pumps), so its report is read and a run that was not linear is refused (the caller limits
the peaks first and measures again). loudnorm works at 192 kHz: its output is resampled back
to the mix's rate.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import ffmpeg

from racines.errors import RenderFailed
from racines.media.ffmpeg import run_reporting

MIX_RATE = 48000
#: loudness range given to loudnorm: its widest, so that no film's range stops a linear pass
LRA_TARGET = 50
_REPORT = re.compile(r"\[Parsed_loudnorm_(\d+) @ [^\]]*\]\s*(\{.*?\})", re.S)
_SUMMARY = re.compile(r"\[Parsed_ebur128_(\d+) @ [^\]]*\] Summary:(.*?)Peak:\s*(\S+) dBFS", re.S)
_NUMBER = r"\s*(-?inf|-?[\d.]+)"


@dataclass(frozen=True)
class Target:
    integrated: float       # LUFS
    true_peak: float        # dBTP
    tolerance: float = 0.5  # LU either side


#: EBU R 128 for the master; the review copy is for laptops and phones, as streaming platforms play
MASTER = Target(-23.0, -1.0)
REVIEW = Target(-16.0, -1.0, 1.0)


@dataclass(frozen=True)
class Loudness:
    integrated: float       # LUFS; -inf for silence
    true_peak: float        # dBTP
    lra: float              # LU
    threshold: float        # LUFS, the relative gate

    @property
    def silent(self) -> bool:
        return not math.isfinite(self.integrated) or self.integrated <= -70

    def meets(self, target: Target) -> bool:
        return abs(self.integrated - target.integrated) <= target.tolerance and self.true_peak <= target.true_peak

    def to_json(self) -> dict:
        return {key: round(value, 2) if math.isfinite(value) else None for key, value in asdict(self).items()}


def reports(log: str) -> list[dict]:
    """The JSON report of each loudnorm filter in an ffmpeg log at the info level, in filter order."""
    found = sorted(((int(index), json.loads(text)) for index, text in _REPORT.findall(log)), key=lambda r: r[0])
    return [report for _, report in found]


def summaries(log: str) -> list[Loudness]:
    """What each ebur128 filter of an ffmpeg log at the info level measured, in filter order
    (its summary gives one decimal: a gain from it lands within 0.05 LU)."""
    found = []
    for index, body, peak in _SUMMARY.findall(log):
        integrated = re.search(r"Integrated loudness:\s*I:" + _NUMBER + r" LUFS\s*Threshold:" + _NUMBER, body)
        lra = re.search(r"Loudness range:\s*LRA:" + _NUMBER, body)
        if integrated is None or lra is None:
            raise RenderFailed(f"ebur128 gave a summary racines cannot read:{body}")
        found.append((int(index), Loudness(float(integrated.group(1)), float(peak), float(lra.group(1)),
                                           float(integrated.group(2)))))
    return [loudness for _, loudness in sorted(found, key=lambda item: item[0])]


def measuring(stream):
    """An output that measures ``stream`` (BS.1770 loudness, true peak) and writes nothing: its
    summary goes to the log."""
    return stream.filter("ebur128", peak="true", framelog="verbose").output("-", f="null")


def measured(log: str, what: str) -> Loudness:
    """The one measurement of ``log``."""
    found = summaries(log)
    if len(found) != 1:
        raise RenderFailed(f"ebur128 gave {len(found)} summaries while measuring {what}")
    return found[0]


def measure(path: Path, what: str) -> Loudness:
    """The loudness of a sound file (or a movie's first sound track), in one pass."""
    return measured(run_reporting(measuring(ffmpeg.input(str(path)).audio), f"measuring the loudness of {what}"), what)


def gain_to(loudness: Loudness, target: Target) -> float:
    """The gain in dB that brings ``loudness`` to the target: what a linear loudnorm applies."""
    return target.integrated - loudness.integrated


#: under the true-peak target by this much, for ebur128's summary, which rounds to a tenth of a dB
PEAK_MARGIN = 0.1


def is_linear(loudness: Loudness, target: Target) -> bool:
    """Whether loudnorm will stay linear: the gain must not lift the true peak over the target."""
    return loudness.true_peak + gain_to(loudness, target) <= target.true_peak - PEAK_MARGIN


def normalised(stream, loudness: Loudness, target: Target):
    """``stream`` brought to the target by loudnorm's linear mode, back at the mix's rate."""
    stream = stream.filter("loudnorm", I=target.integrated, TP=target.true_peak, LRA=LRA_TARGET,
                           measured_I=f"{loudness.integrated:.2f}", measured_TP=f"{loudness.true_peak:.2f}",
                           measured_LRA=f"{max(loudness.lra, 0.1):.2f}", measured_thresh=f"{loudness.threshold:.2f}",
                           linear="true", print_format="json")
    return stream.filter("aresample", MIX_RATE, resampler="soxr")


def check_linear(report: dict, what: str) -> None:
    """Refuse a pass that loudnorm ran in its dynamic mode (it says so in its report)."""
    if report.get("normalization_type") != "linear":
        raise RenderFailed(f"loudnorm did not normalise {what} linearly ({report.get('normalization_type')}): the "
                           "peaks needed limiting first")
