"""The Ray executor on a local Ray instance (CPU, with one logical GPU; started once for the
module): the same takes and the same film as the local executor, and a failing shot reported
the same way."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import ray
from click.testing import CliRunner

from racines.cli import main
from racines.takes.store import TakeStore
from tests.conftest import framemd5, write_tiny_project

SHOTS = ("s010", "s020", "s030", "s040")


@pytest.fixture(scope="module")
def local_ray():
    # a throwaway instance: Ray 2.60's token auth would write a token into the home folder
    before = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    # one logical GPU: the tasks reserve it (num_gpus=1) and Ray pins them with CUDA_VISIBLE_DEVICES,
    # as on a GPU machine; the weightless generators run on the CPU all the same
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    if before is None:
        os.environ.pop("RAY_AUTH_MODE", None)
    else:
        os.environ["RAY_AUTH_MODE"] = before


def batch(root, *args):
    return CliRunner().invoke(main, ["--project", str(root), "batch", "--backoff", "0", *args])


def test_ray_makes_the_same_takes_and_film_as_the_local_executor(local_ray, tmp_path):
    local, on_ray = write_tiny_project(tmp_path / "local"), write_tiny_project(tmp_path / "ray")
    # in its own process: the local executor forks, and this one runs Ray's threads
    reference = subprocess.run([sys.executable, "-m", "racines.cli", "--project", str(local), "batch"],
                               capture_output=True, text=True)
    assert reference.returncode == 0, reference.stdout + reference.stderr
    result = batch(on_ray, "--executor", "ray")
    assert result.exit_code == 0, result.output
    assert "ray executor (local instance, 1 task at once, 1 GPU, an actor per GPU)" in result.output
    lines = result.output.splitlines()
    assert lines.index("start s040 (credits, 12 frames)") > max(
        i for i, line in enumerate(lines) if line.startswith(("made s010", "made s020", "made s030")))
    for shot in SHOTS:
        mine, theirs = TakeStore(on_ray).latest(shot), TakeStore(local).latest(shot)
        assert (mine.version, mine.cache_key) == (theirs.version, theirs.cache_key), shot
        assert framemd5(mine.lossless) == framemd5(theirs.lossless), shot
    assert framemd5(on_ray / "renders/tiny_film_master.mov") == framemd5(local / "renders/tiny_film_master.mov")
    summary = json.loads(next((on_ray / "renders/dailies").glob("*/summary.json")).read_text())
    assert summary["executor"].startswith("ray executor") and {s["state"] for s in summary["shots"]} == {"made"}
    assert "CUDA_VISIBLE_DEVICES=0" in next(on_ray.glob("renders/dailies/*/logs/s010.log")).read_text()
    assert ray.is_initialized()  # the batch leaves alone an instance it did not start


def test_a_failing_shot_on_ray_is_reported_like_on_the_local_executor(local_ray, tmp_path, monkeypatch):
    from PIL import Image

    from tests.test_batch_local import cut_short_after_validation

    root = write_tiny_project(tmp_path / "film")
    shot = root / "shots/s030.yaml"
    shot.write_text(shot.read_text().replace("photos/bloom.png", "photos/bloom.jpg"))
    photo = root / "shots/photos/bloom.jpg"
    Image.open(root / "shots/photos/bloom.png").convert("RGB").save(photo, quality=90)
    cut_short_after_validation(monkeypatch, photo, 1500)
    result = batch(root, "--executor", "ray")
    assert result.exit_code == 4, result.output
    summary = json.loads(next((root / "renders/dailies").glob("*/summary.json")).read_text())
    shots = {s["shot_id"]: s for s in summary["shots"]}
    assert shots["s030"]["state"] == "failed" and shots["s030"]["error_kind"] == "invalid input"
    assert shots["s030"]["error"].startswith("NotAnImage: ") and "bloom.jpg" in shots["s030"]["error"]
    assert shots["s030"]["attempts"] == 1 and shots["s040"]["state"] == "blocked"
    assert shots["s010"]["state"] == shots["s020"]["state"] == "made"
    assert "bloom.jpg: the photograph cannot be decoded" in (root / shots["s030"]["log"]).read_text()
