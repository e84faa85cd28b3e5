"""Benchmark the film render: racines against one hand-written ffmpeg command and moviepy 2.

Run from the repository root:  .venv/bin/python bench/bench_render.py [--runs 2] [--write-results]

All three render the demo timeline from the same takes to the same master (ProRes 422 HQ,
prores_ks profile 3, yuv422p10le), with no review copy:

* racines: ``render_timeline(..., review=False)`` on ``build_timeline``'s timeline, into a
  folder holding the takes as renders/ does (racines then copies the stretches outside
  dissolves from the takes); and, for a like-for-like figure, into a folder that does not
  hold them (racines then encodes every frame);
* ffmpeg:  one command whose ``-filter_complex`` trims each take, ``xfade``s the dissolves
  and ``concat``s the cuts, derived from the same OTIO track;
* moviepy: ``VideoFileClip.subclipped`` + ``CrossFadeIn`` + ``concatenate_videoclips``
  (``--moviepy-shots N`` limits it to a prefix of the film, racines being timed on the same).

Each render runs in a fresh subprocess and a fresh folder under /tmp (deleted afterwards),
while this process samples the resident memory of that subprocess and all its descendants
(the ffmpeg decoders and encoders) every 50 ms: a racines run gives both its time and its
peak memory, and a 4x-long film then shows whether memory grows with the length of the
film. Times are the best of ``--runs``; CPU times are printed too, since the machine may be
shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## Film render (bench/bench_render.py)"
SAMPLE_S = 0.05
TARGETS = {"ffmpeg": 1.15, "moviepy": 1.0, "memory": 1.2}


# --------------------------------------------------------------------------- the edit

def load_demo():
    """The demo film and its takes, made first where missing (existing takes are reused in seconds)."""
    from racines import pipeline
    from racines.film.loader import load_film

    film, _ = pipeline.consent_gate(load_film(ROOT), skip_unconsented=False)
    takes, made = pipeline.make_takes(film, list(film.cut))
    if made:
        print(f"made takes: {', '.join(made)}", flush=True)
    return film, takes


def timeline_for(film, copies: list[dict], shots: int | None, media_base: Path) -> otio.schema.Timeline:
    """The demo's cut (or its first ``shots`` shots), once per element of ``copies``: a dict
    of takes per shot id, so that each repetition can show its own copy of the media.

    Distinct copies matter: racines caches encoded dissolves under a key that includes the
    media file, so a cut repeated over the same takes would encode each dissolve only once
    and the 4x film would not cost 4x. Repetitions get renamed shot ids (s010_r1, ...),
    which ``build_timeline`` accepts: it only looks each id's shot and take up.
    """
    from racines.edit.timeline import build_timeline

    cut = tuple(film.cut[:shots] if shots else film.cut)
    if len(copies) == 1:
        return build_timeline(dataclasses.replace(film, cut=cut), copies[0], media_base)
    shots_by_id, ids, takes = dict(film.shots), [], {}
    for index, copy in enumerate(copies):
        for shot_id in cut:
            new_id = f"{shot_id}_r{index}"
            shots_by_id[new_id] = dataclasses.replace(film.shots[shot_id], id=new_id)
            takes[new_id] = copy[shot_id]
            ids.append(new_id)
    return build_timeline(dataclasses.replace(film, shots=shots_by_id, cut=tuple(ids)), takes, media_base)


def stage_takes(takes: dict, run_dir: Path, copies: int = 1) -> list[dict]:
    """Hard-link each take's editorial media under ``run_dir/takes/``, as in renders/ and
    renders/takes/; ``copies`` times, each copy in a folder of its own.

    racines copies a solo stretch straight from its take only when the take lies below the
    output folder (it names it by a relative path, which ffmpeg's concat demuxer accepts
    safely); elsewhere it encodes the stretch. Every run gets a fresh folder, so racines'
    cache of encoded pieces starts empty: each run is a first render.
    """
    staged = []
    for index in range(copies):
        copy = {}
        for shot_id, take in takes.items():
            folder = run_dir / "takes" / (f"copy{index}" if copies > 1 else "") / take.shot_id / take.version
            folder.mkdir(parents=True, exist_ok=True)
            try:
                os.link(take.media, folder / take.media.name)
            except OSError:  # another file system: copy instead
                shutil.copy2(take.media, folder / take.media.name)
            copy[shot_id] = dataclasses.replace(take, folder=folder)
        staged.append(copy)
    return staged


def write_timeline(film, copies: list[dict], run_dir: Path, shots: int | None = None) -> Path:
    """Save a variant of the timeline as .otio for the render, which then needs neither the
    film nor the take store: the media URLs are relative to the file's folder."""
    path = run_dir / "timeline.otio"
    otio.adapters.write_to_file(timeline_for(film, copies, shots, run_dir), str(path), adapter_name="otio_json")
    return path


def read_timeline(path: Path) -> tuple[otio.schema.Timeline, int, int, Fraction]:
    timeline = otio.adapters.read_from_file(str(path), adapter_name="otio_json")
    meta = timeline.metadata["racines"]
    return timeline, int(meta["width"]), int(meta["height"]), Fraction(meta["frame_rate"])


@dataclasses.dataclass(frozen=True)
class Segment:
    """What one clip reads from its media: handles included, as OTIO defines them."""

    media: Path
    start: int          # first media frame read
    count: int          # media frames read
    dissolve_in: int    # frames of the dissolve from the previous clip (0 after a cut)


def edit_plan(track: otio.schema.Track, media_base: Path) -> list[Segment]:
    """Read the track with OTIO's own rules rather than racines' compose code, as a cross-check.

    A transition's in_offset is media the incoming clip shows before its source start, and
    its out_offset media the outgoing clip shows after its source end (OTIO "handles"); a
    dissolve lasts in_offset + out_offset frames of the record.
    """
    plan, pending = [], 0
    for item in track:
        if isinstance(item, otio.schema.Transition):
            pending = round(item.in_offset.value + item.out_offset.value)
        elif isinstance(item, otio.schema.Clip):
            head, tail = track.handles_of_child(item)
            source = item.source_range
            start = round(source.start_time.value - (head.value if head else 0))
            count = round(source.duration.value + (head.value if head else 0) + (tail.value if tail else 0))
            plan.append(Segment((media_base / item.media_reference.target_url).resolve(), start, count, pending))
            pending = 0
        else:
            raise SystemExit(f"unexpected {type(item).__name__} in the track")
    return plan


def record_frames(plan: list[Segment]) -> int:
    return sum(s.count for s in plan) - sum(s.dissolve_in for s in plan)


def seconds(frames: int, rate: Fraction) -> str:
    """Frames as seconds, floored to the microsecond that ffmpeg parses durations to.

    Flooring keeps an xfade offset at or before the frame it names: a value rounded up by
    even 1 us would start the dissolve one frame late.
    """
    micro = math.floor(Fraction(frames) / rate * 1_000_000)
    return f"{micro // 1_000_000}.{micro % 1_000_000:06d}"


# --------------------------------------------------------------------------- the three renders

def ffmpeg_command(plan: list[Segment], out: Path, rate: Fraction, timecode: str) -> list[str]:
    """One ffmpeg command making the same edit into the same master.

    The graph contains only numbers and labels: media paths go in ``-i`` arguments.
    Clips joined by dissolves are xfade'd into one stream, whose offset is the length
    so far minus the dissolve; the cut-separated streams are then concatenated.
    """
    from racines.media import presets
    from racines.media.ffmpeg import ffmpeg_exe

    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    graph, groups = [], []
    acc, acc_len = None, 0
    for i, seg in enumerate(plan):
        args += ["-i", str(seg.media)]
        graph.append(f"[{i}:v:0]trim=start_frame={seg.start}:end_frame={seg.start + seg.count},"
                     f"setpts=PTS-STARTPTS[c{i}]")
        if acc is None:
            acc, acc_len = f"c{i}", seg.count
        elif seg.dissolve_in:
            graph.append(f"[{acc}][c{i}]xfade=transition=fade:duration={seconds(seg.dissolve_in, rate)}:"
                         f"offset={seconds(acc_len - seg.dissolve_in, rate)}[x{i}]")
            acc, acc_len = f"x{i}", acc_len + seg.count - seg.dissolve_in
        else:
            groups.append(acc)
            acc, acc_len = f"c{i}", seg.count
    groups.append(acc)
    if len(groups) > 1:
        graph.append("".join(f"[{g}]" for g in groups) + f"concat=n={len(groups)}:v=1:a=0[cat]")
        last = "cat"
    else:
        last = groups[0]
    # the same tagging as racines' master (presets.tag_bt709 + prores_hq's -color_* flags)
    tags = ":".join(f"{k}={v}" for k, v in presets.BT709_TAGS.items()).replace("color_range", "range")
    graph.append(f"[{last}]format=yuv422p10le,setparams={tags}[v]")
    args += ["-filter_complex", ";".join(graph), "-map", "[v]"]
    for key, value in presets.prores_hq(timecode).items():
        args += [f"-{key}", str(value)]
    return args + [str(out)]


def worker_racines(timeline_path: Path, out: Path, copy_solo: bool = True) -> dict:
    from racines.render.deliver import render_timeline

    timeline, width, height, rate = read_timeline(timeline_path)
    began = time.perf_counter()
    result = render_timeline(timeline, timeline_path.parent, out, "racines", width, height, rate, review=False,
                             copy_solo=copy_solo)
    return {"seconds": time.perf_counter() - began, "frames": result.frames, "path": str(result.master),
            "pieces_encoded": getattr(result, "pieces_encoded", None)}


def worker_moviepy(timeline_path: Path, out_dir: Path) -> dict:
    """moviepy 2's documented dissolve: CrossFadeIn on the incoming clip + compose with negative padding.

    ``padding`` is one number per concatenation, so clips joined by equal dissolves are
    concatenated together, a change of dissolve length nests one concatenation in the next,
    and cuts join the results with the default ``chain`` method.
    """
    from moviepy import VideoFileClip, concatenate_videoclips, vfx

    from racines.media import presets

    _let_moviepy_read_stream_groups()

    timeline, _, _, rate = read_timeline(timeline_path)
    fps = float(rate)
    plan = edit_plan(timeline.video_tracks()[0], timeline_path.parent)
    out = out_dir / "moviepy_master.mov"
    began = time.perf_counter()
    opened, chains, run, run_d = [], [], [], 0.0
    for seg in plan:
        clip = VideoFileClip(str(seg.media), audio=False)
        opened.append(clip)
        clip = clip.subclipped(seg.start / fps, (seg.start + seg.count) / fps)
        d = seg.dissolve_in / fps
        if not run:
            run, run_d = [clip], 0.0
        elif not seg.dissolve_in:  # a cut: close the dissolve chain so far
            chains.append(_moviepy_join(run, run_d, concatenate_videoclips))
            run, run_d = [clip], 0.0
        else:
            if run_d and d != run_d:  # another dissolve length: nest what we have
                run = [_moviepy_join(run, run_d, concatenate_videoclips)]
            run.append(clip.with_effects([vfx.CrossFadeIn(d)]))
            run_d = d
    chains.append(_moviepy_join(run, run_d, concatenate_videoclips))
    film_clip = chains[0] if len(chains) == 1 else concatenate_videoclips(chains)
    # moviepy ignores pixel_format for the output, so the codec options go in ffmpeg_params;
    # the scale filter converts its rgb24 with the BT.709 matrix, as racines' takes were made
    tags = [arg for k, v in presets.BT709_TAGS.items() for arg in (f"-{k}", v)]
    film_clip.write_videofile(
        str(out), fps=fps, codec="prores_ks", audio=False, logger=None,
        ffmpeg_params=["-profile:v", "3", "-vendor", "apl0", "-pix_fmt", "yuv422p10le",
                       "-vf", "scale=out_color_matrix=bt709:out_range=tv", *tags])
    elapsed = time.perf_counter() - began
    for clip in opened:
        clip.close()
    return {"seconds": elapsed, "frames": record_frames(plan), "path": str(out)}


def _let_moviepy_read_stream_groups() -> None:
    """moviepy 2.1/2.2 parse ``ffmpeg -i``'s text and fail on ffmpeg >= 8's "Stream group"
    line, which a take's timecode track produces; drop that line before moviepy parses it."""
    from moviepy.video.io import ffmpeg_reader

    original = ffmpeg_reader.FFmpegInfosParser

    class Parser(original):
        def __init__(self, infos, *args, **kwargs):
            kept = [line for line in infos.splitlines() if not line.lstrip().startswith("Stream group")]
            super().__init__("\n".join(kept), *args, **kwargs)

    ffmpeg_reader.FFmpegInfosParser = Parser


def _moviepy_join(clips, dissolve: float, concatenate):
    if len(clips) == 1:
        return clips[0]
    return concatenate(clips, method="compose", padding=-dissolve)


# --------------------------------------------------------------------------- measuring

def tree_rss(root_pid: int) -> int:
    """Resident bytes of a process and all its descendants, at one instant.

    /proc/<pid>/task/*/children is not available on every kernel, so the tree is rebuilt
    from each process's parent id. Shared pages (libraries mapped by several ffmpeg
    processes) count once per process: this errs high, never low.
    """
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])  # after "(comm)": state, ppid
        parents.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        todo.extend(parents.get(pid, ()))
        try:
            with open(f"/proc/{pid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return total


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy since boot, all processes (/proc/stat)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_s(usage) -> float:
    return usage.ru_utime + usage.ru_stime


def run_sampled(cmd: list[str], log: Path) -> dict:
    """Run a command; return its wall time, the CPU time and peak RSS of its process tree,
    the CPU time other processes took meanwhile (the machine is shared), and its stdout.

    A waited-for child's CPU includes that of the children it waited for, so RUSAGE_CHILDREN
    covers the ffmpeg processes a worker runs.
    """
    with open(log, "w+b") as out:
        mine0, self0, busy0 = (cpu_s(resource.getrusage(resource.RUSAGE_CHILDREN)),
                               cpu_s(resource.getrusage(resource.RUSAGE_SELF)), machine_busy_s())
        began = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, cwd=ROOT)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(SAMPLE_S)
        wall = time.perf_counter() - began
        busy = machine_busy_s() - busy0
        cpu = cpu_s(resource.getrusage(resource.RUSAGE_CHILDREN)) - mine0
        sampler = cpu_s(resource.getrusage(resource.RUSAGE_SELF)) - self0
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise SystemExit(f"failed (exit {proc.returncode}): {' '.join(cmd[:6])} ...\n{text[-2000:]}")
    return {"process_s": wall, "cpu_s": cpu, "others_cpu_s": max(0.0, busy - cpu - sampler),
            "peak_rss": peak, "stdout": text}


def render_in_worker(kind: str, timeline: Path, out: Path) -> dict:
    """One racines or moviepy render in a fresh interpreter; its time is measured inside it."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--timeline", str(timeline),
           "--out", str(out)]
    sampled = run_sampled(cmd, timeline.parent / "worker.log")
    result = json.loads(sampled.pop("stdout").strip().splitlines()[-1])
    return {**sampled, **result}


def render_ffmpeg(timeline_path: Path) -> dict:
    """The hand-written command, timed from outside (an ffmpeg process starts in milliseconds)."""
    timeline, _, _, rate = read_timeline(timeline_path)
    plan = edit_plan(timeline.video_tracks()[0], timeline_path.parent)
    timecode = otio.opentime.to_timecode(timeline.global_start_time, float(rate))
    master = timeline_path.parent / "ffmpeg_master.mov"
    sampled = run_sampled(ffmpeg_command(plan, master, rate, timecode), timeline_path.parent / "ffmpeg.log")
    del sampled["stdout"]
    return {**sampled, "seconds": sampled["process_s"], "path": str(master)}


def count_frames(path: Path) -> int:
    """Frames in a file's video stream, counted by remuxing it to nowhere (no decode)."""
    from racines.media.ffmpeg import ffmpeg_exe

    done = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0",
                           "-c", "copy", "-f", "null", "-"], capture_output=True, text=True, check=True)
    counts = re.findall(r"frame=\s*(\d+)", done.stderr)
    return int(counts[-1]) if counts else -1


def best(results: list[dict]) -> dict:
    return min(results, key=lambda r: r["seconds"])


# --------------------------------------------------------------------------- reporting

def mib(n: int) -> float:
    return n / 2**20


def machine() -> str:
    try:
        model = next(line.split(":", 1)[1].strip() for line in
                     subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
                     if line.startswith("Model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def verdict(ok: bool | None) -> str:
    return "information, no target" if ok is None else "met" if ok else "NOT met"


def write_results(text: str) -> None:
    """Replace this benchmark's section of bench/RESULTS.md, keeping every other section."""
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    start = old.find(SECTION)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        following = old.find("\n## ", start + len(SECTION))
        new = old[:start] + text + ("" if following < 0 else "\n" + old[following + 1:])
    RESULTS.write_text(new, encoding="utf-8")


def measure(kind: str, film, takes, tmp: Path, shots: int | None = None, repeat: int = 1) -> dict:
    """One render in a folder of its own; its output's frames are counted, then the folder
    is deleted (a ProRes HQ master of the demo is about 0.5 GB).

    ``racines_outside`` has racines encode every frame of the master (``copy_solo=False``),
    like for like with the hand-written command.
    """
    run_dir = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=tmp))
    try:
        timeline = write_timeline(film, stage_takes(takes, run_dir, repeat), run_dir, shots)
        if kind == "ffmpeg":
            result = render_ffmpeg(timeline)
        elif kind == "racines_outside":  # like for like: every frame of the master encoded
            (run_dir / "out").mkdir()
            result = render_in_worker("racines_encode_all", timeline, run_dir / "out")
        else:
            result = render_in_worker(kind, timeline, run_dir)
        result["frames_in_file"] = count_frames(Path(result["path"]))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return result


def report(label: str, kind: str, r: dict) -> None:
    print(f"  {label:6s} {kind:15s} {r['seconds']:6.1f} s {r['frames_in_file'] / r['seconds']:5.1f} fps  "
          f"{r['frames_in_file']} frames  CPU {r['cpu_s']:6.1f} s  peak RSS {mib(r['peak_rss']):4.0f} MiB  "
          f"(other processes: {r['others_cpu_s']:5.1f} CPU s)"
          + (f"  {r['pieces_encoded']} pieces encoded" if r.get("pieces_encoded") is not None else ""), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2,
                        help="timed runs of racines and ffmpeg; the best counts (default 2)")
    parser.add_argument("--moviepy-runs", type=int, default=2, help="timed runs of moviepy (default 2; 0 skips it)")
    parser.add_argument("--moviepy-shots", type=int, default=0,
                        help="moviepy renders only the first N shots, and racines is timed on the same (default: "
                             "the whole film)")
    parser.add_argument("--skip-outside", action="store_true",
                        help="skip racines rendering to a folder that does not hold the takes (every frame encoded)")
    parser.add_argument("--repeat", type=int, default=4,
                        help="film length multiple for the memory check (default 4; 0 skips it)")
    parser.add_argument("--write-results", action="store_true", help=f"update this benchmark's section of "
                                                                     f"bench/{RESULTS.name}")
    # internal: one render inside a fresh interpreter
    parser.add_argument("--worker", choices=["racines", "racines_encode_all", "moviepy"], help=argparse.SUPPRESS)
    parser.add_argument("--timeline", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    opts = parser.parse_args()

    if opts.worker:
        worker = {"racines": worker_racines, "moviepy": worker_moviepy,
                  "racines_encode_all": lambda t, o: worker_racines(t, o, copy_solo=False)}[opts.worker]
        print(json.dumps(worker(opts.timeline, opts.out)), flush=True)
        return

    from racines.media.ffmpeg import ffmpeg_version

    started = time.perf_counter()
    print("checking the takes (made if missing, else reused) ...", flush=True)
    film, takes = load_demo()
    prefix = opts.moviepy_shots or None
    timeline = timeline_for(film, [takes], None, ROOT)
    expected = round(timeline.video_tracks()[0].duration().value)
    p_frames = round(timeline_for(film, [takes], prefix, ROOT).video_tracks()[0].duration().value)
    plan = edit_plan(timeline.video_tracks()[0], ROOT)
    # the ffmpeg and moviepy edits are read with OTIO's rules; they must agree with the timeline
    assert record_frames(plan) == expected, (record_frames(plan), expected)
    width, height = film.width, film.height
    dissolving = sum(s.dissolve_in for s in plan)
    print(f"demo: {len(plan)} clips, {expected} frames ({dissolving} in dissolves), {width}x{height} @ "
          f"{film.rate_text} fps; ffmpeg {ffmpeg_version()}; {machine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="racines-bench-") as name:
        tmp = Path(name)
        # The renders of a round alternate, so that any drift of the machine hits each of them.
        runs: dict[str, list[dict]] = {"racines": [], "racines_outside": [], "ffmpeg": [], "moviepy": [],
                                       "racines_prefix": []}
        kinds = ("racines", "ffmpeg") if opts.skip_outside else ("racines", "racines_outside", "ffmpeg")
        for n in range(1, max(opts.runs, opts.moviepy_runs) + 1):
            print(f"round {n}", flush=True)
            if n <= opts.runs:
                for kind in kinds:
                    runs[kind].append(measure(kind, film, takes, tmp))
                    report("film", kind, runs[kind][-1])
            if n <= opts.moviepy_runs:
                if prefix:
                    runs["racines_prefix"].append(measure("racines", film, takes, tmp, shots=prefix))
                    report("prefix", "racines", runs["racines_prefix"][-1])
                runs["moviepy"].append(measure("moviepy", film, takes, tmp, shots=prefix))
                report("prefix" if prefix else "film", "moviepy", runs["moviepy"][-1])

        long = None
        if opts.repeat:
            print(f"memory: racines on the cut repeated {opts.repeat} times ...", flush=True)
            long = measure("racines", film, takes, tmp, repeat=opts.repeat)
            report(f"x{opts.repeat}", "racines", long)

    # ------------------------------------------------------------------ summary
    def row(label: str, r: dict) -> tuple[str, ...]:
        return (label, f"{r['seconds']:.1f} s", f"{r['frames_in_file'] / r['seconds']:.1f}", f"{r['cpu_s']:.0f} s",
                f"{mib(r['peak_rss']):.0f} MiB", f"{r['others_cpu_s']:.0f} s")

    rac, ffm = best(runs["racines"]), best(runs["ffmpeg"])
    r_ffmpeg = rac["seconds"] / ffm["seconds"]
    rows = [row("racines: render_timeline(review=False)", rac),
            row("(a) one ffmpeg command: trim + xfade + concat", ffm)]
    checks = [(f"racines / ffmpeg = {r_ffmpeg:.2f} in wall time (target <= {TARGETS['ffmpeg']}; "
               f"in CPU time {rac['cpu_s'] / ffm['cpu_s']:.2f})", r_ffmpeg <= TARGETS["ffmpeg"]),
              (f"same frame count, racines / ffmpeg: {rac['frames_in_file']} / {ffm['frames_in_file']} "
               f"(timeline {expected})",
               all(r["frames_in_file"] == expected for r in runs["racines"] + runs["racines_outside"] + runs["ffmpeg"]))]
    if runs["racines_outside"]:
        out = best(runs["racines_outside"])
        rows.insert(1, row("racines, output folder not holding the takes", out))
        checks.append((f"like for like, every frame encoded: racines with the output elsewhere / ffmpeg = "
                       f"{out['seconds'] / ffm['seconds']:.2f} in wall time, {out['cpu_s'] / ffm['cpu_s']:.2f} in "
                       f"CPU time", None))
    if runs["moviepy"]:
        mp = best(runs["moviepy"])
        base = best(runs["racines_prefix"]) if prefix else rac
        scope = f"first {prefix} shots, {p_frames} frames" if prefix else "whole film"
        r_moviepy = base["seconds"] / mp["seconds"]
        if prefix:
            rows.append(row(f"racines, {scope}", base))
        rows.append(row(f"(b) moviepy {_moviepy_version()}, {scope}", mp))
        checks += [(f"racines / moviepy = {r_moviepy:.2f} in wall time ({scope}; target < {TARGETS['moviepy']:g}; "
                    f"in CPU time {base['cpu_s'] / mp['cpu_s']:.2f})", r_moviepy < TARGETS["moviepy"]),
                   (f"same frame count, racines / moviepy: {base['frames_in_file']} / {mp['frames_in_file']} "
                    f"(timeline {p_frames})",
                    all(r["frames_in_file"] == p_frames for r in runs["moviepy"] + (runs["racines_prefix"] or [rac])))]
    if long:
        peak_1x = max(r["peak_rss"] for r in runs["racines"])  # the highest 1x run, against the 4x run
        r_mem = long["peak_rss"] / peak_1x
        rows.append(row(f"racines, the cut x{opts.repeat}, {long['frames_in_file']} frames (memory)", long))
        checks.append((f"peak RSS x{opts.repeat} / x1 = {mib(long['peak_rss']):.0f} / {mib(peak_1x):.0f} MiB = "
                       f"{r_mem:.2f} (target <= {TARGETS['memory']})", r_mem <= TARGETS["memory"]))

    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    runs_text = f"best of {opts.runs} runs" + (f" (moviepy: {opts.moviepy_runs})" if opts.moviepy_runs != opts.runs
                                               else "")
    header = (f"{date}; {machine()}; ffmpeg {ffmpeg_version()}; demo film {width}x{height} @ {film.rate_text} fps, "
              f"{expected} frames of which {dissolving} in dissolves, to ProRes 422 HQ (prores_ks, yuv422p10le), "
              f"no review copy; {runs_text}")
    columns = ("render", "wall", "fps", "CPU", "peak RSS", "others' CPU")
    notes = ["racines copies the frames outside dissolves from the takes (ProRes is intra-only) and encodes only "
             "the dissolves, when the takes lie below its output folder (renders/takes/ below renders/); "
             "ffmpeg and moviepy encode every frame",
             "wall: the render call alone, in a fresh process (ffmpeg: the whole command); CPU: user + system time "
             "of the render's process tree",
             "peak RSS: the render's process plus all its ffmpeg children, summed, sampled every 50 ms from /proc",
             "others' CPU: CPU time other processes on this machine took during that run (it slows the run)"]
    measured = [r for group in runs.values() for r in group] + ([long] if long else [])
    share = max(r["others_cpu_s"] / (r["seconds"] * (os.cpu_count() or 1)) for r in measured)
    if share > 0.25:  # above this the best-of-N wall times mostly measure the neighbours
        notes.append(f"other processes took up to {share:.0%} of the machine during these runs: wall times are "
                     "inflated and noisy, CPU-time ratios are the steadier figures")
    widths = [max(len(r[i]) for r in rows + [columns]) for i in range(len(columns))]
    print("\n" + "=" * 30 + " film render benchmark " + "=" * 30)
    print(header)
    for r in [columns] + rows:
        print("  " + r[0].ljust(widths[0]) + "".join("  " + v.rjust(w) for v, w in zip(r[1:], widths[1:])))
    for text, ok in checks:
        print(f"  [{'info' if ok is None else 'ok' if ok else 'MISS'}] {text}")
    for note in notes:
        print(f"  {note}")
    print(f"  (the benchmark took {time.perf_counter() - started:.0f} s)")

    if opts.write_results:
        lines = [SECTION, "", header + ".", "", "| " + " | ".join(columns) + " |", "|---" + "|---:" * 5 + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        lines += [""] + [f"- {text}: **{verdict(ok)}**" for text, ok in checks]
        lines += [f"- {note}." for note in notes] + [""]
        write_results("\n".join(lines))
        print(f"updated bench/{RESULTS.name}")


def _moviepy_version() -> str:
    from importlib.metadata import version

    return version("moviepy")


if __name__ == "__main__":
    main()
