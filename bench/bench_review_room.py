"""The review room on a film of 100 shots: the film page against `racines status`, and stepping.

1. `racines serve` on the project; the film page (`GET /`) asked again and again after the
   first load, against `racines status` on the same project in the same run (targets: the
   page under 100 ms; the ratio printed). Also the film page's poll (`GET /api/film` with
   the ETag it has: 304) and the first load itself.
2. Stepping one frame in a take's proxy in headless chromium (Debian's, through Playwright):
   the player's own step (seek to the middle of the frame, wait until requestVideoFrameCallback
   reports that frame on screen), 25 frames forward then 25 back (target: median under 50 ms),
   each checked to land on the frame asked for.

The project (99 stills and one Ken Burns shot of --step-frames frames to step through, at
--size) is rendered once into bench/out/review_room/ and kept for the next run (--fresh makes
it again).

    .venv/bin/python bench/bench_review_room.py [--shots 100] [--size 1280x720] [--step-frames 120]
"""

from __future__ import annotations

import argparse
import http.client
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from racines.core.identity import cpu_cores

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out" / "review_room"
RACINES = [sys.executable, "-m", "racines.cli"]


def make_project(root: Path, shots: int, size: str, step_frames: int) -> list[str]:
    (root / "shots").mkdir(parents=True)
    shutil.copytree(REPO / "shots" / "photos", root / "shots" / "photos")
    photos = sorted(p.name for p in (root / "shots" / "photos").iterdir())
    ids = [f"s{index * 10:04d}" for index in range(1, shots + 1)]
    for index, shot_id in enumerate(ids):
        generator = "{kind: kenburns, seed: 1, end: {x: 0.4, y: 0.4, zoom: 1.3}}" if index == 0 else "{kind: still}"
        (root / "shots" / f"{shot_id}.yaml").write_text(
            f"source: {{photo: photos/{photos[index % len(photos)]}, contributor: Person {index % 17}, "
            f"consent: granted}}\nduration: {step_frames if index == 0 else 4}\ngenerator: {generator}\n")
    (root / "shots" / "film.yaml").write_text(
        f"title: Hundred\nframe_rate: 24\nresolution: {size}\nhandles: 2\ncut: [{', '.join(ids)}]\n")
    return ids


def wall(args: list[str], cwd: Path, repeat: int) -> float:
    """The median of ``repeat`` runs, seconds from start to exit."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def get(connection: http.client.HTTPConnection, path: str, headers: dict | None = None) -> tuple[float, int, dict]:
    started = time.perf_counter()
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    response.read()
    return time.perf_counter() - started, response.status, dict(response.getheaders())


def stepping(base: str, shot: str, steps: int) -> list[tuple[float, bool]]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{base}shot/{shot}")
        page.wait_for_function("() => { const p = window.racines.players.main; return p && p.shown === 0 && "
                               "p.inFlight === null; }", timeout=120_000)
        measured = page.evaluate("""async ([steps]) => {
          const player = window.racines.players.main, out = [];
          for (let i = 0; i < steps; i++) {
            const move = i < steps / 2 ? 1 : -1, want = player.target + move, started = performance.now();
            const landed = await player.step(move);
            out.push([performance.now() - started, landed === want && player.shown === want]);
          }
          return out; }""", [steps])
        browser.close()
    return [(ms, ok) for ms, ok in measured]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=100)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--step-frames", type=int, default=120)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fresh", action="store_true", help="make and render the project again")
    args = parser.parse_args()
    root = OUT / f"film-{args.shots}-{args.size}-{args.step_frames}"
    if args.fresh and root.exists():
        shutil.rmtree(root)
    if not (root / "renders" / "hundred_review.mp4").is_file():
        shutil.rmtree(root, ignore_errors=True)
        ids = make_project(root, args.shots, args.size, args.step_frames)
        print(f"{args.shots} shots at {args.size}; first render (not timed)...", flush=True)
        started = time.perf_counter()
        subprocess.run([*RACINES, "render", "--quiet", "--no-master"], cwd=root, check=True, stdout=subprocess.DEVNULL)
        print(f"  first render: {time.perf_counter() - started:.1f} s", flush=True)
    else:
        ids = [f"s{index * 10:04d}" for index in range(1, args.shots + 1)]
    shutil.rmtree(root / "renders" / "cache" / "proxies", ignore_errors=True)

    status = wall([*RACINES, "status"], root, args.repeat)

    started = time.perf_counter()
    server = subprocess.Popen([*RACINES, "serve", "--port", "0"], cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in server.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        ready = time.perf_counter() - started
        port = int(re.search(r"127\.0\.0\.1:(\d+)/", "".join(lines)).group(1))
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        first, code, _ = get(connection, "/")
        assert code == 200, code
        pages = [get(connection, "/")[0] for _ in range(args.requests)]
        _, _, headers = get(connection, "/api/film")
        polls = [get(connection, "/api/film", {"If-None-Match": headers["etag"]}) for _ in range(args.requests)]
        assert all(code == 304 for _, code, _ in polls)
        proxy, code, _ = get(connection, f"/take/{ids[0]}/v001/proxy.mp4")
        assert code == 200, code
        steps = stepping(f"http://127.0.0.1:{port}/", ids[0], args.steps)
    finally:
        server.terminate()
        server.wait(10)

    page_ms = statistics.median(pages) * 1000
    step_ms = sorted(ms for ms, _ in steps)
    print(f"\nmachine: {platform.processor() or platform.machine()}, {cpu_cores()} cores, Python "
          f"{platform.python_version()}; film: {args.shots} shots at {args.size}")
    print(f"racines status (median of {args.repeat})         {status * 1000:8.1f} ms")
    print(f"racines serve: up, the film resolved     {ready * 1000:8.1f} ms (from the command to its address)")
    print(f"film page, first GET /                   {first * 1000:8.1f} ms")
    print(f"film page, GET / (median of {args.requests})         {page_ms:8.1f} ms   max {max(pages) * 1000:.1f} ms   "
          f"target < 100 ms: {'met' if page_ms < 100 else 'NOT met'}")
    print(f"  ratio to racines status                {page_ms / (status * 1000):8.3f}")
    print(f"film page's poll, GET /api/film -> 304   {statistics.median(t for t, _, _ in polls) * 1000:8.1f} ms (median)")
    print(f"the stepping take's proxy, made on first request: {proxy * 1000:.0f} ms ({args.step_frames + 4} frames)")
    print(f"one frame step in headless chromium, median of {len(step_ms)}: {statistics.median(step_ms):.1f} ms, "
          f"p90 {step_ms[int(0.9 * len(step_ms))]:.1f} ms, max {step_ms[-1]:.1f} ms   target < 50 ms: "
          f"{'met' if statistics.median(step_ms) < 50 else 'NOT met'}")
    wrong = sum(not ok for _, ok in steps)
    print(f"  steps that landed elsewhere than asked: {wrong} of {len(steps)}")


if __name__ == "__main__":
    main()
