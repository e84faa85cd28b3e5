"""The ProRes 422 HQ encoder settings of takes and masters: fixed quantiser against rate control.

For each photograph of the demo (shots/photos), a slow push-in of 48 frames at the film's
size is encoded by the same ffmpeg build three ways: prores_ks with its rate control (its
default), prores_ks at racines' fixed quantiser (racines.media.presets.prores_hq), and
prores_aw. The same frames with film grain added make the hard case. Printed per case: CPU
seconds (user + system of the ffmpeg process), bit rate, and PSNR against the source frames.

    .venv/bin/python bench/bench_prores.py [--size 1280x720] [--frames 48]
"""

from __future__ import annotations

import argparse
import platform
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from racines.media.ffmpeg import ffmpeg_exe  # noqa: E402
from racines.media.presets import PRORES_QSCALE  # noqa: E402

ENCODERS = {
    "prores_ks, rate control": ["-c:v", "prores_ks", "-profile:v", "3"],
    f"prores_ks, qscale {PRORES_QSCALE} (racines)": ["-c:v", "prores_ks", "-profile:v", "3",
                                                     "-qscale:v", str(PRORES_QSCALE)],
    "prores_aw": ["-c:v", "prores_aw", "-profile:v", "3"],
}


def source_frames(photo: Path, size: str, frames: int, grain: bool, out: Path) -> None:
    width, height = size.split("x")
    chain = f"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height}"
    if grain:
        chain += ",noise=alls=12:allf=t"
    chain += f",zoompan=z='1+0.003*on':d={frames}:s={size}"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-loop", "1", "-i", str(photo), "-vf", chain, "-frames:v",
                    str(frames), "-pix_fmt", "rgb24", "-f", "rawvideo", "-y", str(out)], check=True)


def encode(raw: Path, size: str, args: list[str], out: Path) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", size, "-r", "24",
                    "-i", str(raw), *args, "-pix_fmt", "yuv422p10le", "-f", "mov", "-y", str(out)], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def psnr(raw: Path, size: str, encoded: Path) -> float:
    out = subprocess.run([ffmpeg_exe(), "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", size, "-r", "24", "-i", str(raw),
                          "-i", str(encoded), "-lavfi", "[1:v]format=rgb24[b];[0:v][b]psnr", "-f", "null", "-"],
                         capture_output=True, text=True, check=True).stderr
    return float(out.rsplit("average:", 1)[1].split()[0])


def push_in_arguments(doc: str) -> tuple[argparse.Namespace, list[Path]]:
    """The options of a benchmark over push-ins on the demo's photographs, and the photographs."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--frames", type=int, default=48)
    args = parser.parse_args()
    photos = sorted((REPO / "shots" / "photos").glob("*.jpg"))
    print(f"{platform.node()}: {len(photos)} photographs, {args.frames} frames at {args.size}, ffmpeg {ffmpeg_exe()}")
    return args, photos


def main() -> None:
    args, photos = push_in_arguments(__doc__)
    totals: dict[tuple[bool, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="racines-bench-prores-") as folder:
        raw, out = Path(folder) / "frames.rgb", Path(folder) / "out.mov"
        for grain in (False, True):
            for photo in photos:
                source_frames(photo, args.size, args.frames, grain, raw)
                for name, encoder in ENCODERS.items():
                    cpu = encode(raw, args.size, encoder, out)
                    mbit = out.stat().st_size * 8 * 24 / args.frames / 1e6
                    row = totals.setdefault((grain, name), [0.0, 0.0, 0.0])
                    for index, value in enumerate((cpu, mbit, psnr(raw, args.size, out))):
                        row[index] += value / len(photos)
    print("| frames | encoder | CPU s | Mbit/s | PSNR dB |\n|---|---|---:|---:|---:|")
    for (grain, name), (cpu, mbit, db) in totals.items():
        print(f"| {'with grain' if grain else 'clean'} | {name} | {cpu:.2f} | {mbit:.0f} | {db:.2f} |")
    rate_control, racines = list(ENCODERS)[:2]
    for grain in (False, True):
        peer, ours = totals[(grain, rate_control)], totals[(grain, racines)]
        print(f"{'with grain' if grain else 'clean'}: racines' setting uses {peer[0] / ours[0]:.1f}x less CPU than "
              f"the rate control, {ours[2] - peer[2]:+.2f} dB, {ours[1] / peer[1]:.2f}x the bit rate")


if __name__ == "__main__":
    main()
