"""Batches as cron runs them, as separate processes on the demo film (256x144): two started
together (one waits or refuses, nothing is corrupted), and a batch SIGKILLed at five points
and run again each time, whose film is frame-identical to an uninterrupted batch's, with no
finished take made twice."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from racines.core.lock import project_lock
from racines.takes.store import VERSION, TakeStore
from tests.conftest import REPO, framemd5

CUT = ["s010", "s020", "s030", "s040", "s050", "s060", "s070", "s080", "s090"]
OUTPUTS = ("racines_master.mov", "racines_review.mp4")


def demo_at_256(folder: Path) -> Path:
    root = folder / "demo"
    shutil.copytree(REPO / "shots", root / "shots", ignore=shutil.ignore_patterns("reviews"))
    film = root / "shots/film.yaml"
    film.write_text(film.read_text().replace("resolution: 1280x720", "resolution: 256x144"))
    return root


def start(root: Path, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "racines.cli", "--project", str(root), "batch", "--backoff", "0",
               "--profile", "draft", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)


def versions(root: Path) -> dict[str, list[str]]:
    store = TakeStore(root)
    return {shot: [t.version for t in store.takes(shot)] for shot in CUT}


def assert_store_consistent(root: Path) -> None:
    """Every version folder is a complete take: a kill never leaves half a take behind a number."""
    for shot in CUT:
        folder = root / "renders/takes" / shot
        numbered = sorted(p.name for p in folder.iterdir() if VERSION.match(p.name)) if folder.is_dir() else []
        assert numbered == [t.version for t in TakeStore(root).takes(shot)], (shot, numbered)
        assert len(numbered) <= 1, f"{shot} was generated twice: {numbered}"


def assert_no_orphans(root: Path) -> None:
    """The killed batch's workers died with it (they would hold the lock and keep rendering)."""
    pids = {int(m) for log in (root / "renders/dailies").glob("*/logs/s*.log")
            for m in re.findall(r" executor on \S+, pid (\d+)", log.read_text())}
    deadline = time.monotonic() + 0.25  # the kernel kills them as the batch dies: milliseconds
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.02)
    assert not [pid for pid in pids if alive(pid)], "workers outlived the killed batch"
    with project_lock(root, wait_s=1):
        pass


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead; only a running process holds files and the lock
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.fixture(scope="module")
def together(tmp_path_factory):
    """Two batches started at the same moment, then a third while the winner is running."""
    root = demo_at_256(tmp_path_factory.mktemp("together"))
    first, waiting = start(root), start(root, "--wait", "600")
    opening = first.stdout.readline()  # "batch: ..." if it holds the lock, else its refusal
    third = subprocess.run([sys.executable, "-m", "racines.cli", "--project", str(root), "batch"],
                           capture_output=True, text=True, timeout=120)
    outputs = [opening + first.stdout.read(), waiting.communicate(timeout=300)[0]]  # read() keeps what readline buffered
    first.wait(timeout=300)
    return root, (first.returncode, waiting.returncode, third.returncode), outputs, third.stderr


def test_two_batches_started_together(together):
    root, (first, waiting, third), (first_out, waiting_out), third_err = together
    # the one that does not wait either won the lock (and the waiting one then finds
    # nothing to do) or was refused (and the waiting one did the work)
    assert (first, waiting) in ((0, 5), (75, 0)), (first_out, waiting_out)
    refused = first_out if first == 75 else third_err
    assert third == 75 and "another batch holds" in third_err and "renders/.batch.lock" in third_err
    assert "--wait SECONDS" in refused
    if first == 0:
        assert "waiting up to 600 s for the batch that holds" in waiting_out
    assert versions(root) == {shot: ["v001"] for shot in CUT}
    summary = json.loads(next((root / "renders/dailies").glob("*/summary.json")).read_text())
    assert {s["state"] for s in summary["shots"]} <= {"made", "up to date"}
    assert len(framemd5(root / "renders" / OUTPUTS[0])) == 1002


class Batch:
    """A batch process whose output lines are collected by a thread, to be killed on a condition."""

    def __init__(self, root: Path):
        self.root, self.lines = root, []
        self.logs = {log: log.stat().st_size for log in root.glob("renders/dailies/*/logs/*.log")}
        self.process = start(root)
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self._reader.start()

    def kill_when(self, point: str, condition) -> list[str]:
        while not condition(self):
            if self.process.poll() is not None:
                self._reader.join()
                pytest.fail(f"the batch ended before the kill point '{point}':\n{''.join(self.lines)}")
            time.sleep(0.005)
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()  # not the reader: workers that outlived the batch would hold its stdout open
        assert self.process.returncode == -signal.SIGKILL, f"the batch had ended before the kill at '{point}'"
        return self.lines

    def made(self) -> list[str]:
        return [line.split()[1] for line in list(self.lines) if line.startswith("made ")]

    def progress(self, shot: str) -> bool:
        """The shot's worker has written a quarter of its frames in this run."""
        for log in self.root.glob(f"renders/dailies/*/logs/{shot}.log"):
            with open(log, encoding="utf-8") as handle:
                handle.seek(self.logs.get(log, 0))
                if re.search(r" \d+/\d+ frames\n", handle.read()):
                    return True
        return False


def test_sigkill_at_five_points_then_rerun(together, tmp_path):
    reference = together[0]
    expected = {name: framemd5(reference / "renders" / name) for name in OUTPUTS}
    pieces_total = len(list((reference / "renders/cache/pieces").glob("*.m*")))
    root = demo_at_256(tmp_path)
    pieces = root / "renders/cache/pieces"
    made: list[str] = []
    points = [
        ("a take under way", lambda b: b.progress("s010")),
        ("three takes made, others under way",
         lambda b: len(b.made()) >= 3 and any(b.progress(s) for s in CUT[:-1] if s not in made + b.made())),
        ("the credits under way", lambda b: b.progress("s090")),
        ("the film starting", lambda b: any(line.startswith("film: rendering") for line in list(b.lines))),
        ("half of the film's pieces encoded", lambda b: len(list(pieces.glob("*.m*"))) >= pieces_total // 2),
    ]
    for point, condition in points:
        batch = Batch(root)
        batch.kill_when(point, condition)
        made.extend(batch.made())
        assert_no_orphans(root)
        assert_store_consistent(root)
        if point == "the credits under way":
            assert not (root / "renders/racines_master.mov").exists()
    assert not (root / "renders/racines_review.mp4").exists()

    final = start(root)
    output = final.communicate(timeout=300)[0]
    assert final.returncode == 0, output
    made.extend(line.split()[1] for line in output.splitlines() if line.startswith("made "))
    assert versions(root) == {shot: ["v001"] for shot in CUT}  # no finished take was made twice
    assert len(made) == len(set(made)), made
    assert not list((root / "renders").rglob(".*partial*"))
    summary = json.loads(next((root / "renders/dailies").glob("*/summary.json")).read_text())
    assert {s["state"] for s in summary["shots"]} == {"made"}  # the night's work, across the killed runs
    for name in OUTPUTS:
        assert framemd5(root / "renders" / name) == expected[name], name
