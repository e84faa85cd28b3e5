"""Batches as cron runs them, as separate processes on the demo film (256x144): two started
together (one waits or refuses, nothing is corrupted), and a batch SIGKILLed at five points
and run again each time, whose film is frame-identical to an uninterrupted batch's, with no
finished take made twice."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from racines.takes.store import VERSION, TakeStore
from tests.conftest import REPO
from tests.test_director import framemd5

CUT = ["s010", "s020", "s030", "s040", "s050", "s060", "s070", "s080", "s090"]
OUTPUTS = ("racines_master.mov", "racines_review.mp4")


def demo_at_256(folder: Path) -> Path:
    root = folder / "demo"
    shutil.copytree(REPO / "shots", root / "shots", ignore=shutil.ignore_patterns("reviews"))
    film = root / "shots/film.yaml"
    film.write_text(film.read_text().replace("resolution: 1280x720", "resolution: 256x144"))
    return root


def start(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "racines.cli", "--project", str(root), "batch", "--backoff", "0",
                             *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)


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


@pytest.fixture(scope="module")
def together(tmp_path_factory):
    """Two batches started at the same moment, then a third while the winner is running."""
    root = demo_at_256(tmp_path_factory.mktemp("together"))
    first, waiting = start(root), start(root, "--wait", "600")
    opening = first.stdout.readline()  # "batch: ..." if it holds the lock, else its refusal
    third = subprocess.run([sys.executable, "-m", "racines.cli", "--project", str(root), "batch"],
                           capture_output=True, text=True, timeout=120)
    outputs = [opening + first.communicate(timeout=300)[0], waiting.communicate(timeout=300)[0]]
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


def test_sigkill_at_five_points_then_rerun(together, tmp_path):
    reference = together[0]
    expected = {name: framemd5(reference / "renders" / name) for name in OUTPUTS}
    pieces_total = len(list((reference / "renders/cache/pieces").glob("*.m*")))
    root = demo_at_256(tmp_path)
    pieces = root / "renders/cache/pieces"
    made: list[str] = []

    def kill_on_line(point: str, trigger) -> None:
        process = start(root)
        seen = []
        for line in process.stdout:
            seen.append(line)
            if trigger(line, seen):
                break
        else:
            pytest.fail(f"the batch ended before the kill point '{point}':\n{''.join(seen)}")
        kill(process, point, seen)

    def kill(process: subprocess.Popen, point: str, seen: list[str]) -> None:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL, f"the batch had ended before the kill at '{point}'"
        made.extend(line.split()[1] for line in seen if line.startswith("made "))
        assert_store_consistent(root)

    kill_on_line("a take under way", lambda line, seen: line.startswith("start "))
    kill_on_line("three takes made, others under way",
                 lambda line, seen: sum(s.startswith("made ") for s in seen) == 3)
    kill_on_line("the credits under way", lambda line, seen: line.startswith("start s090"))
    assert not (root / "renders/racines_master.mov").exists()
    kill_on_line("the film starting", lambda line, seen: line.startswith("film: rendering"))

    process, seen = start(root), []  # the fifth: half of the film's pieces encoded
    for line in process.stdout:
        seen.append(line)
        if line.startswith("film: rendering"):
            break
    while process.poll() is None and len(list(pieces.glob("*.m*"))) < pieces_total // 2:
        time.sleep(0.005)
    kill(process, "half of the film's pieces encoded", seen)
    assert not (root / "renders/racines_review.mp4").exists()

    final = start(root)
    output = final.communicate(timeout=300)[0]
    assert final.returncode == 0, output
    made.extend(line.split()[1] for line in output.splitlines() if line.startswith("made "))
    assert versions(root) == {shot: ["v001"] for shot in CUT}  # no finished take was made twice
    assert len(made) == len(set(made)), made
    assert not list((root / "renders").rglob(".*partial*"))
    for name in OUTPUTS:
        assert framemd5(root / "renders" / name) == expected[name], name
