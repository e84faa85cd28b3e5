"""Make the demo's sound (run once; the files are committed): three students' voices spoken by
Debian's espeak-ng, in French, Arabic and Vietnamese, and a short piece of music synthesised
here with numpy. Every file is legal to ship (see SOURCES.md).

    python shots/make_demo_sound.py      # needs espeak-ng (make system-deps installs it)
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from scipy.io import wavfile

HERE = Path(__file__).resolve().parent / "sound"
VOICES = {  # file: (espeak-ng voice, words per minute, text)
    "amina_fr.wav": ("fr", 150, "Ma grand-mère est arrivée à Marseille en mille neuf cent soixante-deux, "
                                "avec une valise et une photo de son village."),
    "karim_ar.wav": ("ar", 140, "جاء جدي إلى فرنسا سنة ألف وتسعمائة وخمسة وسبعين، وكان يحلم بالعودة."),
    "linh_vi.wav": ("vi", 140, "Mẹ tôi rời Sài Gòn năm một nghìn chín trăm bảy mươi chín, trên một chiếc thuyền nhỏ."),
}
RATE, SECONDS = 48000, 8.0


def voices() -> None:
    """espeak-ng's own output: 22050 Hz, mono, 16-bit (racines resamples it, with a note)."""
    for name, (voice, speed, text) in VOICES.items():
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(HERE / name), text], check=True)


def note(t: np.ndarray, frequency: float, start: float, length: float) -> np.ndarray:
    """A soft bell: a sine and its octave, a quick attack and a long decay."""
    local = t - start
    envelope = np.where(local >= 0, (1 - np.exp(-local / 0.02)) * np.exp(-local / (length / 3)), 0.0)
    return envelope * (np.sin(2 * np.pi * frequency * local) + 0.3 * np.sin(4 * np.pi * frequency * local))


def music() -> None:
    """Eight seconds in A minor: a breathing pad (A, C, E) and a slow melody, spread in stereo."""
    t = np.arange(int(RATE * SECONDS)) / RATE
    pad = sum(np.sin(2 * np.pi * f * t + phase) for f, phase in ((110.0, 0), (130.81, 1.1), (164.81, 2.3), (220.0, .7)))
    pad *= 0.5 + 0.5 * np.sin(2 * np.pi * t / SECONDS - np.pi / 2) ** 2  # swells and settles once per loop
    melody = [(659.25, 0.5), (523.25, 1.5), (587.33, 2.5), (493.88, 3.5), (523.25, 4.5), (440.0, 5.5)]
    bells = [note(t, frequency, start, 2.0) for frequency, start in melody]
    left = 0.25 * pad + sum(b * (0.7 if i % 2 else 0.3) for i, b in enumerate(bells))
    right = 0.25 * pad + sum(b * (0.3 if i % 2 else 0.7) for i, b in enumerate(bells))
    stereo = np.stack([left, right], 1)
    edge = int(0.05 * RATE)  # no click where the loop starts and ends
    stereo[:edge] *= np.linspace(0, 1, edge)[:, None]
    stereo[-edge:] *= np.linspace(1, 0, edge)[:, None]
    stereo *= 0.5 / np.abs(stereo).max()  # peaks at -6 dBFS
    wavfile.write(HERE / "theme.wav", RATE, (stereo * 32767).astype(np.int16))


if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    voices()
    music()
