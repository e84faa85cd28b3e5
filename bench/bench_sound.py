"""Benchmark the film's sound: what the mix adds to a render, and what a change of one voice costs.

Run from the repository root:  .venv/bin/python bench/bench_sound.py [--write-results]

Two copies of the demo project in a fresh folder under /tmp (removed afterwards): the demo as
it is (three voices, music) and the demo without its sound (no shots/sound.yaml, no sound:
lists). Each measurement runs in a fresh process; wall time is the work itself, timed inside
that process (Python's start and racines' imports left out), CPU time is that process's and
its ffmpeg children's:

1. ``racines render`` of each copy from nothing (takes, exports, film): with sound / without
   (target at most 1.10x);
2. the film step alone (takes present, renders/ otherwise emptied): with / without;
3. a change to one voice (its gain) then ``racines render``: a new mix, the master's sound
   swapped in place and the review copy remuxed, against the mix alone (``mix_timeline`` into
   an empty cache, the same timeline) (target at most 1.2x).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## Sound (bench/bench_sound.py)"
TARGETS = {"render": 1.10, "voice": 1.2}


# --------------------------------------------------------------------------- in a fresh process

def child_render(root: Path) -> dict:
    from racines import pipeline

    started = time.perf_counter()
    made = pipeline.render(root, pipeline.RenderOptions(film=pipeline.FilmOptions(workers=os.cpu_count() or 1)))
    return {"wall": time.perf_counter() - started, "encoded": made.deliverables.pieces_encoded,
            "remuxed": len(made.deliverables.remuxed)}


def child_mix(root: Path) -> dict:
    from racines import pipeline
    from racines.sound.mix import mix_timeline

    film, _ = pipeline.consent_gate(pipeline.load(root), False)
    timeline = pipeline.cut_timeline(film, pipeline.selected_takes(film))
    out = Path(tempfile.mkdtemp(prefix="mix-", dir=root))
    started = time.perf_counter()
    sound = mix_timeline(timeline, root / "edl", out, film.rate, round(timeline.duration().value), film.ducking,
                         film.root)
    wall = time.perf_counter() - started
    assert sound is not None and sound.fresh
    return {"wall": wall}


def in_child(kind: str, root: Path) -> dict:
    """Run ``child_<kind>`` in a fresh process: its own timing, and the CPU of its process tree."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(root)], capture_output=True, text=True)
    whole = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(f"{kind} in {root} failed:\n{out.stdout}\n{out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["command"] = whole
    return result


# --------------------------------------------------------------------------- the projects

def without_sound(shots: Path) -> None:
    (shots / "sound.yaml").unlink()
    for path in shots.glob("s*.yaml"):
        text = path.read_text(encoding="utf-8")
        if "\nsound:" in text:
            path.write_text(text[:text.index("\nsound:") + 1], encoding="utf-8")


def film_step_only(root: Path) -> None:
    """renders/ without what the film step makes: the takes (and the images' decode cache) stay."""
    for item in (root / "renders").iterdir():
        if item.name not in ("takes", "cache"):
            item.unlink() if item.is_file() or item.is_symlink() else shutil.rmtree(item)
    for item in (root / "renders" / "cache").iterdir():
        if item.name != "decoded-images.json":
            item.unlink() if item.is_file() else shutil.rmtree(item)
    shutil.rmtree(root / "edl", ignore_errors=True)


def machine() -> str:
    model = "unknown CPU"
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    from racines.media.ffmpeg import ffmpeg_version

    return (f"{model}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}; "
            f"ffmpeg {ffmpeg_version()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-results", action="store_true", help="Update this section of bench/RESULTS.md.")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, root = args.child
        print(json.dumps({"render": child_render, "mix": child_mix}[kind](Path(root))))
        return

    work = Path(tempfile.mkdtemp(prefix="racines-bench-sound-"))
    try:
        projects = {"with": work / "with", "without": work / "without"}
        for root in projects.values():
            shutil.copytree(ROOT / "shots", root / "shots", ignore=shutil.ignore_patterns("__pycache__"))
        without_sound(projects["without"] / "shots")
        rows, figures = [], {}
        for label, root in projects.items():
            print(f"whole render, {label} sound...", flush=True)
            figures[f"whole {label}"] = in_child("render", root)
        for label, root in projects.items():
            film_step_only(root)
            print(f"film step, {label} sound...", flush=True)
            figures[f"film {label}"] = in_child("render", root)
        print("mix alone...", flush=True)
        figures["mix"] = in_child("mix", projects["with"])
        shot = projects["with"] / "shots" / "s020.yaml"
        shot.write_text(shot.read_text(encoding="utf-8").replace("    offset: 12", "    offset: 12\n    gain: -3"))
        print("one voice changed...", flush=True)
        figures["voice"] = in_child("render", projects["with"])
        assert figures["voice"]["encoded"] == 0 and figures["voice"]["remuxed"] == 2, figures["voice"]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    labels = {"whole with": "racines render, demo with sound, from nothing",
              "whole without": "racines render, demo without sound, from nothing",
              "film with": "the film step alone, with sound (takes present)",
              "film without": "the film step alone, without sound (takes present)",
              "mix": "the mix alone (mix_timeline, empty cache)",
              "voice": "one voice's gain changed, then racines render (new mix, sound into the deliverables)"}
    for key, label in labels.items():
        f = figures[key]
        rows.append(f"| {label} | {f['wall']:.1f} s | {f['cpu']:.1f} s | {f['command']:.1f} s |")
    ratio = {name: figures[a]["wall"] / figures[b]["wall"] for name, a, b in
             (("whole", "whole with", "whole without"), ("film", "film with", "film without"), ("voice", "voice", "mix"))}
    cpu = {name: figures[a]["cpu"] / figures[b]["cpu"] for name, a, b in
           (("whole", "whole with", "whole without"), ("film", "film with", "film without"), ("voice", "voice", "mix"))}
    verdict = {name: "**met**" if ratio[name] <= TARGETS[target] else "**not met**"
               for name, target in (("whole", "render"), ("voice", "voice"))}
    load = os.getloadavg()
    text = "\n".join([
        SECTION, "",
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {machine()}; the demo (1280x720, 24 fps, "
        "1002 frames; three voices and a theme heard three times), master and review copy.", "",
        "| run | wall (work) | CPU (process tree) | wall (command) |", "|---|---:|---:|---:|", *rows, "",
        f"- with sound / without, whole render: {ratio['whole']:.3f} in wall time (target <= {TARGETS['render']}; in CPU "
        f"time {cpu['whole']:.3f}): {verdict['whole']}",
        f"- with sound / without, the film step alone: {ratio['film']:.3f} in wall time ({cpu['film']:.3f} in CPU time): "
        "information, no target",
        f"- one voice changed / the mix alone: {ratio['voice']:.3f} in wall time (target <= {TARGETS['voice']}; in CPU "
        f"time {cpu['voice']:.3f}): {verdict['voice']}",
        "- wall (work): timed inside the process, Python's start and racines' imports left out; wall (command): the "
        "whole process; CPU: user + system time of the process and its ffmpeg children.",
        f"- load average at the end: {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} (the machine is shared: wall times "
        "are noisy, CPU ratios steadier).", ""])
    print(text)
    if args.write_results:
        current = RESULTS.read_text(encoding="utf-8")
        pattern = re.compile(re.escape(SECTION) + r".*?(?=\n## |\Z)", re.S)
        updated = pattern.sub(text.rstrip("\n") + "\n", current) if SECTION in current else \
            current.rstrip("\n") + "\n\n" + text
        RESULTS.write_text(updated, encoding="utf-8")


if __name__ == "__main__":
    main()
