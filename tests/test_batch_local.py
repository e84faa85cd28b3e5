"""`racines batch` with the local executor on the tiny film: crash isolation and retries, the
credits after the takes they credit, nothing redone, the lock, consent, invalid projects, and
a dailies page that escapes what it shows."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from click.testing import CliRunner

from racines.cli import main
from racines.core.lock import project_lock
from racines.generators.kenburns import KenBurnsGenerator
from racines.takes.store import TakeStore
from tests.conftest import TINY_SHOTS, framemd5, tree_digest, write_tiny_project


def batch(root: Path, *args: str):
    return CliRunner().invoke(main, ["--project", str(root), "batch", *args])


def dailies(root: Path) -> Path:
    (folder,) = (root / "renders" / "dailies").iterdir()
    return folder


def summary(root: Path) -> dict:
    return json.loads((dailies(root) / "summary.json").read_text())


def versions(root: Path) -> dict[str, list[str]]:
    store = TakeStore(root)
    return {shot: [t.version for t in store.takes(shot)] for shot in ("s010", "s020", "s030", "s040")}


def test_a_crashed_worker_is_retried_and_the_credits_come_after_the_takes(tiny_project, monkeypatch, tmp_path):
    marker = tmp_path / "crashed-once"
    original = KenBurnsGenerator.frames_with_handles

    def crash_once(self, shot, film, handles, derived=None):
        if not marker.exists():  # the worker dies mid-take, as under the kernel's out-of-memory killer
            marker.write_text("")
            os.kill(os.getpid(), signal.SIGKILL)
        yield from original(self, shot, film, handles, derived)

    monkeypatch.setattr(KenBurnsGenerator, "frames_with_handles", crash_once)  # forked workers inherit it
    result = batch(tiny_project, "--backoff", "0", "--jobs", "2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("retry s010 in 0 s (worker lost: attempt 2 of 3") and "SIGKILL" in line
               for line in lines), result.output
    # the credits card starts only once every take it credits is made
    credits_start = lines.index("start s040 (credits, 12 frames)")
    for shot in ("s010", "s020", "s030"):
        assert any(line.startswith(f"made {shot} v001") for line in lines[:credits_start]), result.output
    assert versions(tiny_project) == {s: ["v001"] for s in ("s010", "s020", "s030", "s040")}
    assert not list((tiny_project / "renders/takes").glob("*/.*partial*"))  # the killed attempt's staging is gone
    credits = TakeStore(tiny_project).latest("s040").manifest["cache_inputs"]["derived"]
    assert ["body", "The A. family (Amina)"] in credits and ["body", "Bao"] in credits

    shots = {s["shot_id"]: s for s in summary(tiny_project)["shots"]}
    assert shots["s010"]["state"] == "made" and shots["s010"]["attempts"] == 2
    assert all(shots[s]["attempts"] == 1 and shots[s]["state"] == "made" for s in ("s020", "s030", "s040"))
    log = (tiny_project / shots["s010"]["log"]).read_text()
    assert "s010 attempt 1" in log and "died without a result: SIGKILL" in log
    assert "s010 attempt 2" in log and "made v001" in log
    assert summary(tiny_project)["film"]["state"] == "rendered"


def test_nothing_is_redone_and_one_change_makes_one_take(tiny_project):
    assert batch(tiny_project).exit_code == 0
    master = tiny_project / "renders/tiny_film_master.mov"
    stamp = master.stat().st_mtime_ns
    again = batch(tiny_project)
    assert again.exit_code == 5, again.output
    assert "start " not in again.output and "film: unchanged" in again.output
    assert master.stat().st_mtime_ns == stamp
    assert summary(tiny_project)["outcome"] == "nothing to do"
    assert {(s["state"], s["made_earlier"]) for s in summary(tiny_project)["shots"]} == {("made", True)}

    shot = tiny_project / "shots/s030.yaml"
    shot.write_text(shot.read_text().replace("{kind: still}", "{kind: still, seed: 3}"))
    changed = batch(tiny_project)
    assert changed.exit_code == 0, changed.output
    assert [line.split()[:3] for line in changed.output.splitlines() if line.startswith("made ")] == [
        ["made", "s030", "v002"]]
    assert "up to date s040" in changed.output and "film: rendered" in changed.output  # credits unchanged
    assert versions(tiny_project) == {"s010": ["v001"], "s020": ["v001"], "s030": ["v001", "v002"], "s040": ["v001"]}

    # with an approved take, the night's new take is shown, and the cut (and the film) keep the approved one
    assert CliRunner().invoke(main, ["--project", str(tiny_project), "approve", "s030", "v002"]).exit_code == 0
    shot.write_text(shot.read_text().replace("seed: 3", "seed: 4"))
    approved = batch(tiny_project)
    assert approved.exit_code == 0 and "film: unchanged" in approved.output, approved.output
    s030 = next(s for s in summary(tiny_project)["shots"] if s["shot_id"] == "s030")
    assert (s030["state"], s030["take"]["version"], s030["cut_uses"]) == ("made", "v003", "v002")
    page = (dailies(tiny_project) / "index.html").read_text()
    assert "made v003 · the cut keeps the approved v002" in page and "takes/s030/v003/thumbnail.jpg" in page


def test_the_film_encoded_piece_by_piece_in_parallel_matches_the_serial_render(tiny_project):
    result = batch(tiny_project, "--jobs", "2")
    assert result.exit_code == 0 and "2 at once" in result.output, result.output
    films = ("tiny_film_master.mov", "tiny_film_review.mp4")
    parallel = {name: framemd5(tiny_project / "renders" / name) for name in films}
    for leftover in [*(tiny_project / "renders/cache/pieces").iterdir(), *(tiny_project / "renders").glob("tiny_film_*")]:
        leftover.unlink()
    serial = CliRunner().invoke(main, ["--project", str(tiny_project), "render"])
    assert serial.exit_code == 0 and "6 piece(s) of the film encoded" in serial.output, serial.output
    assert {name: framemd5(tiny_project / "renders" / name) for name in films} == parallel


def test_weightless_shots_run_on_cpu_slots_with_the_gpus_hidden(tiny_project, monkeypatch):
    # the GPUs go to shots with model weights, a worker each pinned to its GPU (the diffusion shots'
    # side: tests/test_final_profile_memory.py); weightless shots run beside them and see no GPU
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    result = batch(tiny_project)
    assert result.exit_code == 0 and "2 for model weights (GPUs 3, 5)" in result.output, result.output
    hidden = [re.findall(r"CUDA_VISIBLE_DEVICES=(\S*)", (dailies(tiny_project) / "logs" / f"{s}.log").read_text())
              for s in ("s010", "s020", "s030", "s040")]
    assert all(p == [""] for p in hidden), hidden


def test_sigterm_stops_the_workers_and_says_so_in_the_dailies(tiny_project):
    process = subprocess.Popen([sys.executable, "-m", "racines.cli", "--project", str(tiny_project), "batch"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout.readline().startswith("batch: ")
    assert process.stdout.readline().startswith("start ")
    process.send_signal(signal.SIGTERM)  # what cron's timeout or systemd sends
    try:
        output = process.communicate(timeout=60)[0]
    finally:
        process.kill()  # a hung batch must not outlive the test
    assert process.returncode == 130, output
    assert "interrupted; nothing half-written was kept" in output
    done = summary(tiny_project)
    assert done["outcome"] == "interrupted" and "interrupted" in {s["state"] for s in done["shots"]}
    assert not list((tiny_project / "renders/takes").glob("*/.*partial*"))
    with project_lock(tiny_project, wait_s=0):
        pass


def test_a_second_batch_refuses_or_waits(tiny_project):
    with project_lock(tiny_project):
        refused = batch(tiny_project)
        assert refused.exit_code == 75, refused.output
        assert "renders/.batch.lock" in refused.output and f"pid {os.getpid()}" in refused.output
        assert "--wait SECONDS" in refused.output
        started = time.monotonic()
        impatient = batch(tiny_project, "--wait", "0.6")
        assert impatient.exit_code == 75 and time.monotonic() - started >= 0.6
    assert not (tiny_project / "renders/takes").exists()  # refused batches did nothing

    held, release = threading.Event(), threading.Event()

    def hold():
        with project_lock(tiny_project):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    threading.Timer(1.0, release.set).start()
    patient = batch(tiny_project, "--wait", "60")
    holder.join()
    assert patient.exit_code == 0, patient.output
    assert patient.output.startswith("waiting up to 60 s for the batch that holds")


def lock_holder(root: Path, command: str, seconds: float) -> subprocess.Popen:
    """Another process that holds the project's lock as ``command`` for ``seconds``; returned
    once it holds it."""
    code = ("import sys, time\nfrom racines.core.lock import project_lock\n"
            "with project_lock(sys.argv[1], command=sys.argv[2]):\n    print('held', flush=True)\n"
            "    time.sleep(float(sys.argv[3]))\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(root), command, str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    if holder.stdout.readline().strip() != "held":
        holder.kill()
        raise AssertionError("the holder process did not take the lock")
    return holder


def test_a_killed_holder_leaves_no_stale_lock(tiny_project):
    holder = lock_holder(tiny_project, "batch", 120)
    try:
        assert batch(tiny_project).exit_code == 75
    finally:
        holder.kill()
        holder.wait()
    with project_lock(tiny_project, wait_s=0):  # released by the kernel with the process
        pass


def test_consent_stops_the_batch_unless_unconsented_shots_are_skipped(tiny_project):
    shot = tiny_project / "shots/s030.yaml"
    shot.write_text(shot.read_text().replace("consent: granted", "consent: pending"))
    stopped = batch(tiny_project)
    assert stopped.exit_code == 2 and "s030" in stopped.output and "--skip-unconsented" in stopped.output
    assert not (tiny_project / "renders/takes").exists()
    assert "consent &#x27;pending&#x27;" in (dailies(tiny_project) / "index.html").read_text()
    skipped = batch(tiny_project, "--skip-unconsented")
    assert skipped.exit_code == 0, skipped.output
    shots = {s["shot_id"]: s for s in summary(tiny_project)["shots"]}
    assert list(shots) == ["s010", "s020", "s030", "s040"]  # in the order of the cut
    assert shots["s030"]["state"] == "unconsented" and shots["s030"]["take"] is None
    assert {shots[s]["state"] for s in ("s010", "s020", "s040")} == {"made"}
    assert summary(tiny_project)["film"]["frames"] == 24 + 24 + 12 - 6 - 4


def test_invalid_shot_files_stop_the_batch_before_any_work(tiny_project):
    assert batch(tiny_project).exit_code == 0
    before = tree_digest(tiny_project / "renders/takes"), tree_digest(tiny_project / "edl")
    shot = tiny_project / "shots/s020.yaml"
    shot.write_text(shot.read_text().replace("duration: 1s", "duration: -3"))
    result = batch(tiny_project)
    assert result.exit_code == 2 and "shots/s020.yaml" in result.output and "fix:" in result.output
    assert (tree_digest(tiny_project / "renders/takes"), tree_digest(tiny_project / "edl")) == before
    page = (dailies(tiny_project) / "index.html").read_text()
    assert 'id="fatal"' in page and "shots/s020.yaml" in page and summary(tiny_project)["exit_code"] == 2


def cut_short_after_validation(monkeypatch, photo: Path, keep: int) -> None:
    """The photograph is cut short once the batch has validated the project (a sync still
    running), so that its shot fails in its worker: validation decodes every photograph whole."""
    from racines import pipeline

    load = pipeline.load

    def load_then_cut(*args, **kwargs):
        film = load(*args, **kwargs)
        photo.write_bytes(photo.read_bytes()[:keep])
        return film

    monkeypatch.setattr(pipeline, "load", load_then_cut)


def test_the_page_escapes_titles_and_errors(tmp_path, monkeypatch):
    title = 'Nos <script>alert("racines")</script> & "racines"'
    root = write_tiny_project(tmp_path / "film", {
        "s010": TINY_SHOTS["s010"].replace("transition: {dissolve: 6}", "transition: cut"),
        "s030": "source: {photo: \"photos/Bao & <family>.jpg\", contributor: Bao, consent: granted}\n"
                "duration: 12\ngenerator: {kind: still}\n"},
        film=f"title: '{title}'\nresolution: 256x144\ncut: [s010, s030]\n")
    from PIL import Image

    photo = root / "shots/photos/Bao & <family>.jpg"
    Image.open(root / "shots/photos/bloom.png").convert("RGB").save(photo, quality=90)
    cut_short_after_validation(monkeypatch, photo, 2000)
    result = batch(root)
    assert result.exit_code == 4, result.output
    page = (dailies(root) / "index.html").read_text()
    assert "<script>alert" not in page and "Bao & <family>" not in page
    assert "Nos &lt;script&gt;alert(&quot;racines&quot;)&lt;/script&gt; &amp; &quot;racines&quot;" in page
    assert "Bao &amp; &lt;family&gt;.jpg: the photograph cannot be decoded" in page
    assert page.count("<script>") == 1  # only the page's own picture check
    assert "http" not in page.replace('name="viewport"', "")  # no external resource


def test_the_plan_starts_with_the_shots_expected_to_take_longest(tiny_project):
    """Never timed: frames weighted by the generator's cost (the 24-frame morph before the
    24-frame Ken Burns shot, both before the 12-frame still). Timed once: the last take's pace."""
    from racines.batch.plan import make_plan
    from racines.film.loader import load_film

    assert make_plan(load_film(tiny_project)).first == ("s020", "s010", "s030")
    assert batch(tiny_project, "--profile", "draft", "--jobs", "1").exit_code == 0
    store = TakeStore(tiny_project)
    manifest = store.latest("s030").folder / "manifest.json"
    data = json.loads(manifest.read_text())
    data["timings"]["generate_and_encode_s"] = 600.0  # as if the still had been slow to make
    manifest.write_text(json.dumps(data))
    for shot_id, seed in (("s010", "seed: 7"), ("s030", "{kind: still}"), ("s020", "hold_start: 2")):
        text = (tiny_project / "shots" / f"{shot_id}.yaml").read_text()
        new = {"s010": "seed: 8", "s030": "{kind: still, seed: 2}", "s020": "hold_start: 3"}[shot_id]
        (tiny_project / "shots" / f"{shot_id}.yaml").write_text(text.replace(seed, new))
    assert make_plan(load_film(tiny_project)).first == ("s030", "s020", "s010")


def test_workers_are_forked_with_the_morph_engine_already_imported(tiny_project, tmp_path):
    # in a fresh interpreter: the batch process imports torch and the engine once, before it
    # forks the morph's worker, and no earlier (a cache-key check never needs them)
    script = f"""
import sys
from pathlib import Path
from racines import pipeline
from racines.batch.executors import LocalExecutor
from racines.batch.task import ShotTask
film = pipeline.load(Path({str(tiny_project)!r}), "draft")
morph = next(s.id for s in film.shots.values() if s.kind == "morph")
assert "torch" not in sys.modules
executor = LocalExecutor(jobs=1)
executor.start(film, ShotTask(morph, 1, Path({str(tmp_path / 'morph.log')!r}), "draft", "local"))
assert "torch" in sys.modules and "racines.motion.morph" in sys.modules
(outcome,) = executor.wait(None)
print(outcome.ok, outcome.version)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "v001"], done.stdout


def test_a_render_waits_for_or_refuses_a_running_batch_and_the_other_way_round(tiny_project):
    render = ["--project", str(tiny_project), "render", "--quiet"]
    with project_lock(tiny_project):  # a batch is running
        refused = CliRunner().invoke(main, render)
        assert refused.exit_code == 75, refused.output
        assert "another batch holds" in refused.output and "--wait SECONDS" in refused.output
    assert not (tiny_project / "renders/takes").exists()  # the refused render made nothing
    holder = lock_holder(tiny_project, "render", 2)
    try:
        busy = batch(tiny_project)
        assert busy.exit_code == 75 and "another render holds" in busy.output, busy.output
        waited = CliRunner().invoke(main, [*render[:-1], "--wait", "60", "--quiet"])
    finally:
        holder.wait()
    assert waited.exit_code == 0, waited.output
    assert "waiting up to 60 s for the render that holds" in waited.output
    assert len(list((tiny_project / "renders").glob("*_master.mov"))) == 1


def test_a_module_that_cannot_be_preloaded_is_left_to_the_shot(tiny_project, monkeypatch):
    from racines.generators.morph import MorphGenerator

    # the batch process must not fall over on a generator's import: the shot's worker owns that failure
    monkeypatch.setattr(MorphGenerator, "runtime_modules", ("racines_has_no_such_module",))
    result = batch(tiny_project, "--jobs", "1")
    assert result.exit_code == 0, result.output
    states = {entry["shot_id"]: entry["state"] for entry in summary(tiny_project)["shots"]}
    assert states["s020"] == "made", states  # s020 is the tiny film's morph
