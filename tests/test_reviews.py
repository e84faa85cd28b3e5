"""The director's decisions: serialised between processes, written whole, validated on read."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
from click.testing import CliRunner

from racines.errors import ExitCode, RacinesError
from racines.takes.reviews import load_review, review_path, set_status
from racines.takes.store import TakeStore
from tests.conftest import write_tiny_project


def fake_takes(root: Path, shot_id: str, count: int) -> None:
    """Take folders holding only a manifest: all that decisions read of a take."""
    for number in range(1, count + 1):
        folder = root / "renders" / "takes" / shot_id / f"v{number:03d}"
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps({
            "shot": shot_id, "take": folder.name, "cache_key": f"key{number}", "frames": 28,
            "media": {"editorial": f"{shot_id}_{folder.name}.mov", "lossless": "frames.mkv", "reel": f"R{number:07d}"}}))


def _decide(root: str, version: str, status: str, note: str, barrier) -> None:
    barrier.wait()  # both processes read the file at the same moment: the race a lock must close
    set_status(Path(root), TakeStore(Path(root)), "s030", version, status, note)


def _decide_together(root: Path, decisions: list[tuple[str, str, str]]) -> None:
    """One forked process per (version, status, note), all released at once by a barrier."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(decisions))
    workers = [context.Process(target=_decide, args=(str(root), version, status, note, barrier))
               for version, status, note in decisions]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0


def test_two_processes_deciding_on_one_shot_lose_no_decision(tmp_path):
    root = write_tiny_project(tmp_path / "film")
    fake_takes(root, "s030", 2)
    lost = []
    for round_ in range(40):
        _decide_together(root, [("v001", "review", f"first {round_}"), ("v002", "retake", f"second {round_}")])
        review = load_review(root, "s030")
        if (review.note_of("v001"), review.note_of("v002")) != (f"first {round_}", f"second {round_}"):
            lost.append(round_)
    assert not lost, f"{len(lost)} of 40 rounds lost a decision"
    assert (review.status_of("v001"), review.status_of("v002")) == ("review", "retake")


def test_two_processes_approving_leave_one_approved_take_and_both_decisions(tmp_path):
    root = write_tiny_project(tmp_path / "film")
    fake_takes(root, "s030", 2)
    for round_ in range(10):
        _decide_together(root, [(v, "approved", f"{v} {round_}") for v in ("v001", "v002")])
        review = load_review(root, "s030")
        assert {review.note_of("v001"), review.note_of("v002")} == {f"v001 {round_}", f"v002 {round_}"}
        statuses = sorted(review.status_of(v) for v in ("v001", "v002"))
        assert statuses == ["approved", "review"]
        assert review.status_of(review.approved) == "approved" and review.approved_key == f"key{review.approved[-1]}"


def test_a_decision_leaves_no_temporary_file_and_keeps_the_others(tmp_path):
    root = write_tiny_project(tmp_path / "film")
    fake_takes(root, "s030", 2)
    set_status(root, TakeStore(root), "s030", "v001", "approved", "the first light")
    set_status(root, TakeStore(root), "s030", "v002", "retake", "too dark")
    review = load_review(root, "s030")
    assert (review.approved, review.approved_key) == ("v001", "key1")
    assert (review.note_of("v001"), review.note_of("v002"), review.status_of("v002")) == \
        ("the first light", "too dark", "retake")
    assert [p.name for p in review_path(root, "s030").parent.iterdir()] == ["s030.yaml"]


BAD_REVIEWS = {
    "unknown status": ("approved: null\ntakes:\n  v001: {status: maybe, by: ana}\n",
                       ["shots/reviews/s030.yaml", "takes.v001.status", "maybe", "wip, review, approved, retake"]),
    "not a version": ("takes:\n  first: {status: wip}\n", ["shots/reviews/s030.yaml", "takes.first", "v001"]),
    "unknown field": ("takes:\n  v001: {status: wip, stauts: review}\n",
                      ["shots/reviews/s030.yaml", "takes.v001.stauts"]),
    "takes not a mapping": ("takes: [v001]\n", ["shots/reviews/s030.yaml", "takes"]),
    "not a mapping": ("- v001\n", ["shots/reviews/s030.yaml", "a mapping"]),
    "malformed YAML": ("takes: {v001: [\n", ["shots/reviews/s030.yaml", "malformed YAML"]),
}


@pytest.mark.parametrize("text, words", BAD_REVIEWS.values(), ids=BAD_REVIEWS.keys())
def test_a_damaged_reviews_file_is_refused_naming_the_file_and_the_field(tmp_path, text, words):
    root = write_tiny_project(tmp_path / "film")
    fake_takes(root, "s030", 1)
    review_path(root, "s030").parent.mkdir(parents=True)
    review_path(root, "s030").write_text(text)
    with pytest.raises(RacinesError) as raised:
        load_review(root, "s030")
    assert raised.value.exit_code == ExitCode.INVALID_INPUT
    for word in words:
        assert word in str(raised.value)
    from racines.cli import main

    result = CliRunner().invoke(main, ["--project", str(root), "takes", "s030"])
    assert result.exit_code == 2 and "shots/reviews/s030.yaml" in result.output


def test_a_hand_written_reviews_file_reads(tmp_path):
    root = write_tiny_project(tmp_path / "film")
    fake_takes(root, "s030", 2)
    review_path(root, "s030").parent.mkdir(parents=True)
    review_path(root, "s030").write_text(
        "# decided in the screening room\napproved: v002\napproved_key: key2\ntakes:\n"
        "  v001: {status: retake, by: 7, at: 2026-03-01, note: 42}\n  v002: {status: approved}\n")
    review = load_review(root, "s030")
    assert (review.approved, review.status_of("v001"), review.note_of("v001")) == ("v002", "retake", "42")
    assert review.status_of("v003") == "wip"
    set_status(root, TakeStore(root), "s030", "v001", "review")
    assert load_review(root, "s030").takes["v001"]["status"] == "review"
