"""The codec of a take's lossless frames: Ut Video (racines) against FFV1 and FFV1's faster kin.

For each photograph of the demo (shots/photos), a slow push-in at the film's size is encoded
by the same ffmpeg build with each codec, as racines encodes a take's frames (planar RGB in
Matroska), then decoded back to RGB. Printed per codec, means over the photographs: CPU
seconds to encode and to decode (user + system of the ffmpeg process), megabytes per second
of film, and whether every decoded frame equals its source (framemd5).

    .venv/bin/python bench/bench_lossless.py [--size 1280x720] [--frames 48]
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from racines.media.ffmpeg import ffmpeg_exe  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from bench_prores import push_in_arguments, source_frames  # noqa: E402

CODECS = {
    "FFV1 level 3, 4 slices": ["-c:v", "ffv1", "-level", "3", "-slices", "4"],
    "Ut Video, median (racines)": ["-c:v", "utvideo", "-pred", "median"],
    "FFV Huffyuv": ["-c:v", "ffvhuff"],
}


def cpu_of(command: list[str], **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, check=True, **kwargs)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done


def framemd5(args: list[str]) -> str:
    return subprocess.run([ffmpeg_exe(), "-v", "error", *args, "-pix_fmt", "rgb24", "-f", "framemd5", "-"],
                          capture_output=True, text=True, check=True).stdout


def main() -> None:
    args, photos = push_in_arguments(__doc__)
    raw_args = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", args.size, "-r", "24"]
    totals = {name: [0.0, 0.0, 0.0] for name in CODECS}
    exact = {name: True for name in CODECS}
    with tempfile.TemporaryDirectory(prefix="racines-bench-lossless-") as folder:
        raw, out = Path(folder) / "frames.rgb", Path(folder) / "frames.mkv"
        for photo in photos:
            source_frames(photo, args.size, args.frames, False, raw)
            source = framemd5([*raw_args, "-i", str(raw)])
            for name, codec in CODECS.items():
                encode, _ = cpu_of([ffmpeg_exe(), "-v", "error", *raw_args, "-i", str(raw), *codec,
                                    "-pix_fmt", "gbrp", "-f", "matroska", "-y", str(out)])
                decode, _ = cpu_of([ffmpeg_exe(), "-v", "error", "-i", str(out), "-pix_fmt", "rgb24",
                                    "-f", "rawvideo", "-"], stdout=subprocess.DEVNULL)
                megabytes = out.stat().st_size / 1e6 * 24 / args.frames
                for index, value in enumerate((encode, decode, megabytes)):
                    totals[name][index] += value / len(photos)
                exact[name] &= framemd5(["-i", str(out)]).splitlines()[-args.frames:] == \
                    source.splitlines()[-args.frames:]
    print("| codec | encode CPU s | decode CPU s | MB per second of film | bit-exact |\n|---|---:|---:|---:|---|")
    for name, (encode, decode, megabytes) in totals.items():
        print(f"| {name} | {encode:.2f} | {decode:.2f} | {megabytes:.1f} | {'yes' if exact[name] else 'NO'} |")
    ffv1, ours = totals["FFV1 level 3, 4 slices"], totals["Ut Video, median (racines)"]
    print(f"Ut Video against FFV1: {ffv1[0] / ours[0]:.1f}x less CPU to encode, {ffv1[1] / ours[1]:.1f}x less to "
          f"decode, {ours[2] / ffv1[2]:.2f}x the bytes")


if __name__ == "__main__":
    main()
