"""Frame interpolation and morphs: racines.motion against its peers, measured in one run.

Run::

    .venv/bin/pip install -e '.[bench]'        # scikit-image: sample photographs and SSIM
    .venv/bin/python bench/bench_interpolation.py [--quick] [--repeats 3]

Three parts, each printing ratios against peers run in the same process on the same input:

1. **Quality against ground truth.** Real photographs from scikit-image (astronaut, coffee,
   chelsea, camera) seen through a moving camera (pan, zoom, rotation, all three), rendered
   at 24 fps with sub-pixel accuracy. Every other frame is dropped (12 fps) and brought
   back by each method; the held-out frames are the truth (PSNR, SSIM). Peers: ffmpeg
   ``minterpolate`` (mi_mode=mci, mc_mode=aobmc, me_mode=bidir, vsbmc=1) and a plain blend
   of the neighbours. minterpolate's first in-between is left out for every method: it
   needs one frame of history and would lose a few dB there that say nothing about motion.
2. **Speed.** A 2-second 12 fps clip (a real photograph panned and zoomed) at 1280x720 and
   1920x1080, encoded losslessly; each method decodes it and makes 24 fps for ffmpeg's null
   muxer. Wall-clock throughput (output frames per second) and CPU seconds per output frame
   (this process, its threads and its ffmpeg children), best of ``--repeats`` alternated
   runs, because other work on a shared machine slows either side at random.
3. **Morph smoothness.** Pairs of unrelated photographs, 25 frames, linear pacing: max over
   mean of the frame-to-frame change, for pixels (mean absolute difference) and for
   structure (sqrt(1 - SSIM)); 1.0 is perfectly even. Peer: a plain cross-dissolve.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch

try:
    from skimage import data as samples
    from skimage.metrics import structural_similarity
except ImportError:  # pragma: no cover - a usage error, not a bench result
    sys.exit("bench needs scikit-image: pip install -e '.[bench]'")

from racines.film.images import fit
from racines.media.ffmpeg import FrameWriter, ffmpeg_exe, ffmpeg_version, raw_input
from racines.motion import configure_cpu_threads, for_quality, probe, retime
from racines.motion.metrics import pixel_change, psnr, smoothness, structural_change
from racines.motion.morph import Morph
from racines.motion.video import read_video

OUT = Path(__file__).parent / "out"
MINTERPOLATE = "minterpolate=fps={fps}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1"


# --- inputs --------------------------------------------------------------------------------


def photograph(name: str) -> np.ndarray:
    image = getattr(samples, name)()
    return np.dstack([image] * 3) if image.ndim == 2 else image[..., :3]


def camera_view(source: np.ndarray, width: int, height: int, zoom: float, angle: float, dx: float,
                dy: float) -> np.ndarray:
    """What a camera framing ``source`` sees: centred, scaled by ``zoom``, turned, moved (cubic, sub-pixel)."""
    sh, sw = source.shape[:2]
    matrix = cv2.getRotationMatrix2D((sw / 2, sh / 2), angle, zoom)
    matrix[:, 2] += (width / 2 - sw / 2 + dx, height / 2 - sh / 2 + dy)
    return cv2.warpAffine(source, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)


#: camera motion per 24 fps frame, as (zoom factor, degrees, dx, dy) per frame, at 640 px wide
MOTIONS = {
    "pan": (1.0, 0.0, -7.0, 2.5),
    "zoom": (1.022, 0.0, 0.0, 0.0),
    "rotate": (1.0, 1.1, 0.0, 0.0),
    "pan+zoom+rotate": (1.012, 0.7, -4.5, -1.5),
}


def sequence(name: str, motion: str, width: int, height: int, frames: int, speed: float = 1.0) -> list[np.ndarray]:
    source = photograph(name)
    # the photograph is enlarged so that the camera sees a downscaled, detailed picture
    base = 1.6 * max(width / source.shape[1], height / source.shape[0])
    plate = cv2.resize(source, None, fx=base, fy=base, interpolation=cv2.INTER_CUBIC)
    zoom, angle, dx, dy = MOTIONS[motion]
    s = speed * width / 640
    return [camera_view(plate, width, height, 0.7 * zoom ** (k * speed), angle * k * speed, dx * k * s, dy * k * s)
            for k in range(frames)]


# --- peers ---------------------------------------------------------------------------------


def minterpolate(frames: list[np.ndarray], rate: int) -> list[np.ndarray]:
    height, width = frames[0].shape[:2]
    args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{width}x{height}", "-r", str(rate), "-i", "pipe:", "-vf", MINTERPOLATE.format(fps=2 * rate),
            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"]
    out = subprocess.run(args, input=b"".join(f.tobytes() for f in frames), capture_output=True, check=True).stdout
    size = width * height * 3
    return [np.frombuffer(out[i:i + size], np.uint8).reshape(height, width, 3) for i in range(0, len(out), size)]


def blend(a: np.ndarray, b: np.ndarray, t: float = 0.5) -> np.ndarray:
    return np.clip(a.astype(np.float64) * (1 - t) + b.astype(np.float64) * t + 0.5, 0, 255).astype(np.uint8)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    return float(structural_similarity(a, b, channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False))


# --- 1. quality ----------------------------------------------------------------------------


def quality(args) -> dict:
    width, height = (640, 360) if args.quick else (1280, 720)
    names = ["astronaut", "coffee"] if args.quick else ["astronaut", "coffee", "chelsea", "camera"]
    speeds = [1.0] if args.quick else [1.0, 2.0]
    ours = {"ours": for_quality("normal", device=args.device), "ours high": for_quality("high", device=args.device)}
    methods = [*ours, "minterpolate", "blend"]
    rows, scores = [], {m: [] for m in methods}
    print(f"\n## 1. Quality against held-out frames ({width}x{height}, 12 -> 24 fps)\n")
    print("PSNR (dB) / SSIM over the held-out frames; 'ours' is the default (--quality normal).\n")
    print("| photograph | motion | speed | " + " | ".join(methods) + " |")
    print("|---|---|---|" + "---|" * len(methods))
    for name in names:
        for motion in MOTIONS:
            for speed in speeds:
                truth = sequence(name, motion, width, height, 17, speed)
                kept = truth[::2]
                made = {m: list(retime(iter(kept), 12, 24, interpolator, span="endpoints"))
                        for m, interpolator in ours.items()}
                made["minterpolate"] = minterpolate(kept, 12)
                made["blend"] = [blend(truth[j - 1], truth[j + 1]) if j % 2 else truth[j]
                                 for j in range(len(truth) - 1)]
                held_out = [j for j in range(3, len(truth), 2) if j < len(made["minterpolate"])]
                result = {}
                for method in methods:
                    frames = made[method]
                    result[method] = (float(np.mean([psnr(frames[j], truth[j]) for j in held_out])),
                                      float(np.mean([ssim(frames[j], truth[j]) for j in held_out])))
                    scores[method].append(result[method])
                rows.append((name, motion, speed, result))
                cells = " | ".join(f"{result[m][0]:.2f} / {result[m][1]:.4f}" for m in methods)
                print(f"| {name} | {motion} | {speed:g}x | {cells} |", flush=True)
    mean = {m: (float(np.mean([s[0] for s in v])), float(np.mean([s[1] for s in v]))) for m, v in scores.items()}
    print("| **mean** | | | " + " | ".join(f"**{mean[m][0]:.2f} / {mean[m][1]:.4f}**" for m in methods) + " |")
    gain_mi = mean["ours"][0] - mean["minterpolate"][0]
    gain_blend = mean["ours"][0] - mean["blend"][0]
    worst_mi = min(r[3]["ours"][0] - r[3]["minterpolate"][0] for r in rows)
    print(f"\nours - minterpolate: {gain_mi:+.2f} dB on average (target >= +1 dB), worst sequence {worst_mi:+.2f} dB")
    print(f"ours - blend: {gain_blend:+.2f} dB on average (target >= +3 dB)")
    print(f"ours high - ours: {mean['ours high'][0] - mean['ours'][0]:+.2f} dB")
    return {"gain_mi": gain_mi, "gain_blend": gain_blend, "mean": mean}


# --- 2. speed ------------------------------------------------------------------------------


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def make_clip(width: int, height: int) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"pan_zoom_{width}x{height}_12fps.mkv"
    if not path.exists():
        frames = sequence("astronaut", "pan+zoom+rotate", width, height, 24)
        writer = raw_input(width, height, "12").output(str(path), vcodec="ffv1", pix_fmt="yuv444p")
        with FrameWriter(writer, "writing the bench clip") as out:
            for frame in frames:
                out.write(frame)
    return path


def run_minterpolate(path: Path) -> tuple[float, float, int]:
    cpu, start = _children_cpu(), time.perf_counter()
    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-vf", MINTERPOLATE.format(fps=24),
            "-f", "null", "-"]
    result = subprocess.run(args, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    frames = int(result.stderr.rsplit("frame=", 1)[1].split()[0])
    return wall, _children_cpu() - cpu, frames


def run_ours(path: Path, device: str, quality: str = "normal") -> tuple[float, float, int]:
    info = probe(path)
    interpolator = for_quality(quality, device=device)
    cpu, children, start = _own_cpu(), _children_cpu(), time.perf_counter()
    count = 0
    sink = raw_input(info.width, info.height, "24").output("-", f="null")
    with FrameWriter(sink, "writing to the null muxer") as writer:
        for frame in retime(read_video(path, info), info.rate, Fraction(24), interpolator):
            writer.write(np.ascontiguousarray(frame))
            count += 1
    wall = time.perf_counter() - start
    return wall, (_own_cpu() - cpu) + (_children_cpu() - children), count


def speed(args) -> dict:
    sizes = [(1280, 720)] if args.quick else [(1280, 720), (1920, 1080)]
    # (label, device, quality): every quality on the CPU, the default on a GPU when there is one
    ours = [(f"ours {q} (cpu)", "cpu", q) for q in ("normal", "draft", "high")]
    if torch.cuda.is_available():
        ours.append(("ours normal (cuda)", "cuda", "normal"))
    print("\n## 2. Speed, 12 -> 24 fps, decode + interpolate + null muxer\n")
    print(f"torch CPU threads: {torch.get_num_threads()}, best of {args.repeats} alternated runs\n")
    print("| size | method | output fps (wall) | CPU s per output frame | ours / minterpolate (wall) | (CPU) |")
    print("|---|---|---|---|---|---|")
    found = {}
    for width, height in sizes:
        path = make_clip(width, height)
        best = {}
        for _ in range(args.repeats):
            for label, device, level in [("minterpolate", None, None), *ours]:
                wall, cpu, frames = run_minterpolate(path) if device is None else run_ours(path, device, level)
                fps, cpu_per_frame = frames / wall, cpu / frames
                old = best.get(label, (0.0, float("inf"), frames))
                best[label] = (max(old[0], fps), min(old[1], cpu_per_frame), frames)
        peer = best["minterpolate"]
        print(f"| {width}x{height} | minterpolate | {peer[0]:.2f} | {peer[1]:.3f} | | |")
        for label, _, _ in ours:
            mine = best[label]
            print(f"| {width}x{height} | {label} | {mine[0]:.2f} | {mine[1]:.3f} | "
                  f"**{mine[0] / peer[0]:.2f}x** | {peer[1] / mine[1]:.2f}x |", flush=True)
        found[(width, height)] = dict(best)
    ratio = found[(1280, 720)]["ours normal (cpu)"][0] / found[(1280, 720)]["minterpolate"][0]
    print(f"\n720p throughput, ours (CPU) / minterpolate: {ratio:.2f}x (target >= 2x)")
    return {"ratio_720": ratio, "found": found}


# --- 3. morph smoothness -------------------------------------------------------------------


def morphs(args) -> dict:
    width, height, count = 640, 360, 25
    pairs = [("astronaut", "chelsea"), ("chelsea", "coffee"), ("astronaut", "coffee"), ("camera", "chelsea")]
    if args.quick:
        pairs = pairs[:2]
    print(f"\n## 3. Morph smoothness ({width}x{height}, {count} frames, linear pacing; 1.0 = perfectly even)\n")
    print("| pair | ours: pixels / structure | dissolve: pixels / structure | ms per frame (ours) |")
    print("|---|---|---|---|")
    wins = []
    for a, b in pairs:
        source, target = fit(photograph(a), width, height), fit(photograph(b), width, height)
        start = time.perf_counter()
        morph = Morph(source, target, device=args.device)
        ours = [morph.frame(morph.even(k / (count - 1))) for k in range(count)]
        per_frame = (time.perf_counter() - start) / count * 1000
        dissolve = [blend(source, target, k / (count - 1)) for k in range(count)]
        o = (smoothness(ours, pixel_change), smoothness(ours, structural_change))
        d = (smoothness(dissolve, pixel_change), smoothness(dissolve, structural_change))
        wins.append(o[1] < d[1])
        print(f"| {a} -> {b} | {o[0]:.3f} / **{o[1]:.3f}** | {d[0]:.3f} / {d[1]:.3f} | {per_frame:.0f} |", flush=True)
    print(f"\nstructure: ours smoother than the dissolve on {sum(wins)} of {len(wins)} pairs; in pixels a linear "
          "dissolve is even by construction (every pixel moves at a constant rate)")
    return {"wins": wins}


def machine() -> None:
    model = "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"# bench_interpolation, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n")
    print(f"machine: {model}, {cores} cores, GPU: {gpu}; load average {os.getloadavg()[0]:.2f} at start")
    print(f"python {platform.python_version()}, torch {torch.__version__}, opencv {cv2.__version__}, "
          f"ffmpeg {ffmpeg_version()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer sequences and sizes")
    parser.add_argument("--repeats", type=int, default=3, help="speed runs per method (best is kept)")
    parser.add_argument("--device", default="cpu", help="device for the quality and morph parts")
    parser.add_argument("--only", choices=["quality", "speed", "morphs"], help="run one part")
    args = parser.parse_args()
    configure_cpu_threads()
    machine()
    if args.only in (None, "quality"):
        quality(args)
    if args.only in (None, "speed"):
        speed(args)
    if args.only in (None, "morphs"):
        morphs(args)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
