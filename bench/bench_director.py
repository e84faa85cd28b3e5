"""The director's loop at scale: a film of 100 shots with every take cached.

1. A no-op `racines render` against `racines --version`, same run (target: < 2x).
2. After changing one shot: `racines render` against rendering that shot alone (target:
   <= 1.2x), two ways: its take alone (`racines render --shot ID`), and the shot alone as a
   film of one shot (`racines render` in a project whose cut is that shot: take, EDL, master
   and review copy). Also `racines render --no-master` (takes, EDL and review copy: the
   director's quick iteration) and `--no-review`.

Each command's CPU time (its own and its ffmpeg processes') is measured too. What a render
does beyond making the changed take (the film's pieces, the EDL, the joins) needs that take,
so it comes after it and cannot take less than its CPU-seconds shared between the cores:
that bounds the ratio to the take this machine allows.

    .venv/bin/python bench/bench_director.py [--shots 100] [--size 640x360] [--frames 48]
"""

from __future__ import annotations

import argparse
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from racines.core.identity import cpu_cores

REPO = Path(__file__).resolve().parents[1]
RACINES = [sys.executable, "-m", "racines.cli"]
KINDS = ["kenburns", "still", "morph"]


def make_project(root: Path, shots: int, size: str, frames: int) -> list[str]:
    (root / "shots").mkdir(parents=True)
    shutil.copytree(REPO / "shots" / "photos", root / "shots" / "photos")
    shutil.copytree(REPO / "shots" / "flowers", root / "shots" / "flowers")
    photos = sorted(p.name for p in (root / "shots" / "photos").iterdir())
    flowers = sorted(p.name for p in (root / "shots" / "flowers").iterdir())
    ids = [f"s{index * 10:04d}" for index in range(1, shots + 1)]
    for index, shot_id in enumerate(ids):
        kind = KINDS[index % len(KINDS)]
        generator = {"kenburns": "{kind: kenburns, seed: 1, end: {x: 0.4, y: 0.4, zoom: 1.3}}",
                     "still": "{kind: still, seed: 1}",
                     "morph": f"{{kind: morph, seed: 1, target: flowers/{flowers[index % len(flowers)]}}}"}[kind]
        transition = "{dissolve: 8}" if index % 3 == 0 and index < shots - 1 else "cut"
        (root / "shots" / f"{shot_id}.yaml").write_text(
            f"source: {{photo: photos/{photos[index % len(photos)]}, contributor: Person {index % 17}, "
            f"consent: granted}}\nduration: {frames}\ngenerator: {generator}\ntransition: {transition}\n")
    (root / "shots" / "film.yaml").write_text(
        f"title: Hundred\nframe_rate: 24\nresolution: {size}\ncut: [{', '.join(ids)}]\n")
    return ids


def timed(args: list[str], cwd: Path, repeat: int = 1) -> tuple[float, float]:
    """The fastest of ``repeat`` runs: seconds from start to exit, and the CPU-seconds that the
    command and the processes it waited for (ffmpeg) spent."""
    best = (float("inf"), float("nan"))
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best = min(best, (elapsed, cpu))
    return best


def set_seed(root: Path, shot_id: str, seed: int) -> None:
    path = root / "shots" / f"{shot_id}.yaml"
    text = path.read_text()
    start = text.index("seed: ") + len("seed: ")
    end = min(i for i in (text.find(",", start), text.find("}", start)) if i != -1)
    path.write_text(text[:start] + str(seed) + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=100)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="racines-bench-director-") as folder:
        root = Path(folder) / "film"
        ids = make_project(root, args.shots, args.size, args.frames)
        print(f"{args.shots} shots of {args.frames} frames at {args.size}; first render (not timed)...", flush=True)
        started = time.perf_counter()
        subprocess.run([*RACINES, "render", "--quiet"], cwd=root, check=True, stdout=subprocess.DEVNULL)
        print(f"  first render: {time.perf_counter() - started:.1f} s")

        version, _ = timed([*RACINES, "--version"], root, args.repeat)
        noop, _ = timed([*RACINES, "render", "--quiet"], root, args.repeat)

        # shots in the middle of the film: the cheapest kind to make (kenburns, next to a
        # dissolve) and the film's own kind (morph)
        middle = len(ids) // 2 - (len(ids) // 2) % 3
        changed = {"kenburns": ids[middle], "morph": ids[middle + 2]}
        results = {kind: one_change(root, shot_id, args.repeat, one_shot_film(root, shot_id))
                   for kind, shot_id in changed.items()}

    cores = cpu_cores()  # the cores racines itself runs on (its affinity)
    print(f"\nmachine: {platform.processor() or platform.machine()}, {cores} cores, Python {platform.python_version()}")
    print(f"racines --version                 {version:7.3f} s")
    print(f"racines render, nothing changed   {noop:7.3f} s   ratio {noop / version:5.2f}  (target < 2)")
    for kind, runs in results.items():
        wall = {name: statistics.median(w for w, _ in values) for name, values in runs.items()}
        cpu = {name: statistics.median(c for _, c in values) for name, values in runs.items()}
        alone, film_alone = wall["alone"], wall["film alone"]
        print(f"\nafter changing {changed[kind]} ({kind}), medians of {args.repeat} (full renders: {3 * args.repeat}):")
        print(f"  render --shot {changed[kind]} (its take)      {alone:7.3f} s   {cpu['alone']:6.2f} CPU-s")
        print(f"  {changed[kind]} alone as a one-shot film    {film_alone:7.3f} s   {cpu['film alone']:6.2f} CPU-s")
        for name, label in (("whole", "racines render"), ("no master", "  --no-master"), ("no review", "  --no-review")):
            print(f"  {label:32s} {wall[name]:7.3f} s   {cpu[name]:6.2f} CPU-s   ratio {wall[name] / alone:5.2f} to the take, "
                  f"{wall[name] / film_alone:5.2f} to the one-shot film" + ("  (target <= 1.2)" if name == "whole" else ""))
        # the film's pieces, EDL and joins need the new take: what the render does beyond the take
        # comes after it, and on these cores takes at least its CPU-seconds shared between them
        beyond = cpu["whole"] - cpu["alone"]
        print(f"  work beyond the take: {beyond:.2f} CPU-s, at least {beyond / cores:.3f} s on {cores} cores once the "
              f"take is made: a ratio to the take of {(alone + beyond / cores) / alone:.2f} at best")


def one_shot_film(root: Path, shot_id: str) -> Path:
    """A project beside ``root`` whose cut is ``shot_id`` alone, rendered once (not timed)."""
    alone = root.parent / f"alone-{shot_id}"
    (alone / "shots").mkdir(parents=True)
    for folder in ("photos", "flowers"):
        shutil.copytree(root / "shots" / folder, alone / "shots" / folder)
    text = (root / "shots" / f"{shot_id}.yaml").read_text()
    (alone / "shots" / f"{shot_id}.yaml").write_text(text.replace("transition: {dissolve: 8}", "transition: cut"))
    film = (root / "shots" / "film.yaml").read_text()
    (alone / "shots" / "film.yaml").write_text(film[:film.index("cut:")] + f"cut: [{shot_id}]\n")
    subprocess.run([*RACINES, "render", "--quiet"], cwd=alone, check=True, stdout=subprocess.DEVNULL)
    return alone


def one_change(root: Path, shot_id: str, repeat: int, alone: Path) -> dict[str, list[tuple[float, float]]]:
    """Seconds and CPU-seconds of each kind of render after a change of seed to ``shot_id``."""
    runs = {"whole": [], "alone": [], "film alone": [], "no review": [], "no master": []}
    options = {"whole": [], "alone": ["--shot", shot_id], "no review": ["--no-review"], "no master": ["--no-master"],
               "film alone": []}
    seed = 100
    for _ in range(repeat):
        # a full render before each partial one, so that each finds the film current but for one change
        for name in ("whole", "alone", "film alone", "whole", "no review", "whole", "no master"):
            seed += 1
            project = alone if name == "film alone" else root
            set_seed(project, shot_id, seed)
            runs[name].append(timed([*RACINES, "render", "--quiet", *options[name]], project))
    return runs


if __name__ == "__main__":
    main()
