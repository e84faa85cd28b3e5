"""The film's pieces encoded ahead, in the batch's idle slots: only pieces of settled shots,
under the keys the film's render uses, so that the render encodes only the rest and the
film is the same as one rendered in one go."""

from __future__ import annotations

import shutil
import time

from click.testing import CliRunner

from racines import pipeline
from racines.batch.ahead import FilmAhead, settled_timeline
from racines.cli import main
from racines.render.deliver import encode_pieces_ahead
from tests.test_batch_local import batch, summary
from tests.conftest import framemd5

FILMS = ("tiny_film_master.mov", "tiny_film_review.mp4")


def takes_only(root):
    """The tiny film rendered once, then its deliverables and pieces removed: takes alone."""
    assert CliRunner().invoke(main, ["--project", str(root), "render"]).exit_code == 0
    whole = {name: framemd5(root / "renders" / name) for name in FILMS}
    shutil.rmtree(root / "renders" / "cache")
    for name in FILMS:
        (root / "renders" / name).unlink()
    return whole


def pieces(root):
    return sorted(p.name for p in (root / "renders" / "cache" / "pieces").iterdir())


def ahead_of(film, pending, keep_going=lambda: True):
    timeline, ready = settled_timeline(film, frozenset(pending))
    return encode_pieces_ahead(timeline, film.root / "edl", film.root / "renders", film.width, film.height,
                               film.rate, ready, keep_going=keep_going), ready


def wait_until_done(ahead: FilmAhead) -> None:
    deadline = time.monotonic() + 60
    while ahead.running() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_only_pieces_of_settled_shots_are_encoded_and_the_render_encodes_the_rest(tiny_project):
    whole = takes_only(tiny_project)
    film = pipeline.load(tiny_project)
    # s020 still to come: its solo stretch and both dissolves wait; s010, s030 and the credits do not
    encoded, ready = ahead_of(film, {"s020"})
    assert encoded == 3 and len(pieces(tiny_project)) == 3  # review pieces; the master copies solo stretches
    assert {path.parent.parent.name for path in ready} == {"s010", "s030", "s040"}

    timeline, _ = pipeline.export_edit(film, pipeline.selected_takes(film))
    result = pipeline.render_film(film, timeline)
    assert result.pieces_encoded == 6 - 3
    assert {name: framemd5(tiny_project / "renders" / name) for name in FILMS} == whole


def test_stopping_between_pieces_and_nothing_settled(tiny_project):
    takes_only(tiny_project)
    film = pipeline.load(tiny_project)
    assert ahead_of(film, set(), keep_going=lambda: False)[0] == 0
    assert ahead_of(film, set(film.cut))[0] == 0
    assert not (tiny_project / "renders" / "cache" / "pieces").exists()


def test_the_process_runs_once_per_set_of_settled_shots(tiny_project):
    takes_only(tiny_project)
    film = pipeline.load(tiny_project)
    ahead = FilmAhead(film, review=True, fork=True)
    ahead.offer(frozenset({"s020"}))
    assert ahead.running()
    wait_until_done(ahead)
    ahead.offer(frozenset({"s020"}))  # the same shots are settled: nothing new to encode
    assert not ahead.running()
    ahead.finish()
    assert ahead.encoded == 3 and len(pieces(tiny_project)) == 3


def test_every_piece_of_a_parallel_batch_is_encoded_once(tiny_project):
    result = batch(tiny_project, "--jobs", "2")
    assert result.exit_code == 0, result.output
    film = summary(tiny_project)["film"]
    # ahead in an idle slot (while the credits wait on the other takes) or in the film phase, never both
    assert film["pieces_encoded"] + film["pieces_encoded_ahead"] == 6, film
    assert not [p for p in (tiny_project / "renders").rglob("*") if ".partial" in p.name]


def test_a_failing_pass_is_not_started_again_for_the_same_shots(tiny_project, monkeypatch):
    takes_only(tiny_project)
    film = pipeline.load(tiny_project)
    ahead = FilmAhead(film, review=True, fork=True)
    monkeypatch.setattr("racines.batch.ahead.encode_pieces_ahead", lambda *a, **k: 1 / 0)  # forked: inherited
    ahead.offer(frozenset({"s020"}))
    wait_until_done(ahead)
    ahead.offer(frozenset({"s020"}))
    assert not ahead.running()  # no loop of failing processes, one per poll of the scheduler
    ahead.finish()
    assert ahead.encoded == 0 and not (tiny_project / "renders" / "cache" / "pieces").exists()
