"""Recordings made on the fly for the sound tests, and readers racines does not mix with: the
system's ffmpeg (Debian's) for ebur128, pyloudnorm for integrated loudness, numpy for samples."""

from __future__ import annotations

import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from tests.conftest import write_tiny_project

RATE = 48000


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    """``samples``: float in -1..1, (n,) for mono or (n, channels); written as 16-bit PCM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, rate, (np.clip(samples, -1, 1) * 32767).astype(np.int16))
    return path


def speech_like(seconds: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """Band-limited noise in syllables of about 0.2 s with pauses: what a meter sees of a voice."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    noise = rng.normal(0, 1, n)
    kernel = np.hanning(int(rate / 800))
    voiced = np.convolve(noise, kernel / kernel.sum(), mode="same") * 6
    t = np.arange(n) / rate
    envelope = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) ** 2 * (np.sin(2 * np.pi * 0.4 * t) > -0.6)
    return 0.3 * voiced * envelope


def music_like(seconds: float, rate: int = RATE, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 261.63, 329.63)) / 3
    left, right = 0.2 * chord * (0.8 + 0.2 * np.sin(2 * np.pi * 0.5 * t)), 0.2 * chord
    return np.stack([left, right] + [0.5 * (left + right)] * (channels - 2), 1) if channels > 1 else left


def sound_project(root: Path, rate: str = "24", shots: dict[str, int] | None = None, sound_yaml: str = "",
                  shot_sound: dict[str, str] | None = None, start: str = "01:00:00:00") -> Path:
    """A film of still shots at 64x64 (``shots``: id -> frames), with ``sound_yaml`` as
    shots/sound.yaml and ``shot_sound``: a shot's ``sound:`` list, as YAML."""
    shots = shots or {"s010": 48, "s020": 48, "s030": 24}
    film = (f'title: Sound Test\nframe_rate: "{rate}"\nresolution: 64x64\ntimecode_start: "{start}"\n'
            f"handles: 4\ncut: [{', '.join(shots)}]\n")
    files = {}
    for index, (shot, frames) in enumerate(shots.items()):
        photo = "grid" if index % 2 == 0 else "bloom"
        files[shot] = (f"source: {{photo: photos/{photo}.png, contributor: Amina, consent: granted}}\n"
                       f"duration: {frames}\ngenerator: {{kind: still}}\n")
        if shot_sound and shot in shot_sound:
            files[shot] += "sound:\n" + shot_sound[shot]
    write_tiny_project(root, files, film)
    if sound_yaml:
        (root / "shots" / "sound.yaml").write_text(sound_yaml)
    return root


def decoded(path: Path, stream: str = "0:a:0") -> np.ndarray:
    """The sound of a file as float samples (n, 2), decoded by the system's ffmpeg."""
    raw = subprocess.run([_ffmpeg(), "-v", "error", "-i", str(path), "-map", stream, "-f", "f32le", "-ac", "2",
                          "-ar", str(RATE), "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.float32).reshape(-1, 2)


def ebur128(path: Path) -> tuple[float, float]:
    """(integrated loudness in LUFS, true peak in dBTP) by the system ffmpeg's ebur128 filter."""
    log = subprocess.run([_ffmpeg(), "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a:0", "-af",
                          "ebur128=peak=true:framelog=verbose", "-f", "null", "-"],
                         capture_output=True, text=True, check=True).stderr
    summary = log[log.rindex("Summary:"):]
    integrated = float(re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary).group(1))
    peak = float(re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))
    return integrated, peak


def pyloudnorm_lufs(path: Path) -> float:
    import pyloudnorm

    return float(pyloudnorm.Meter(RATE).integrated_loudness(decoded(path).astype(np.float64)))


def _ffmpeg() -> str:
    """The system's ffmpeg (Debian's package, beside ffprobe), not the one racines renders with."""
    return shutil.which("ffmpeg") or "ffmpeg"


def click_at(samples: np.ndarray) -> int:
    """The sample where the loudest click is, on the left channel."""
    return int(np.argmax(np.abs(samples[:, 0])))


def expected_sample(frame: int, rate: str) -> int:
    exact = Fraction(frame) * RATE / Fraction(rate)
    return round(exact)
