"""The director's loop: what invalidates a take and what does not, approvals, status,
provenance that survives a remux, previews and contact sheets, and a store that a SIGKILL
cannot corrupt."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from racines.cli import main
from racines.film.loader import load_film
from racines.media.ffmpeg import ffmpeg_exe
from racines.media.probe import read_tags
from racines.pipeline import film_status, make_takes
from racines.render import deliver
from racines.takes.cache import HashCache, key_of
from racines.takes.make import take_inputs
from racines.takes.store import TakeStore
from tests.conftest import decode_frames, framemd5, top_boxes, write_tiny_project


def run(root, *args):
    return CliRunner().invoke(main, ["--project", str(root), *args])


def key(root, shot_id="s010"):
    film = load_film(root)
    return key_of(take_inputs(film.shots[shot_id], film, HashCache()))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize("change", [
    lambda root: (root / "shots/s010.yaml").write_text(
        "# a comment\ntransition: {dissolve: 6}\n"
        "generator:\n  end: {zoom: 1.5, y: 0.3, x: 0.3}\n  start: {zoom: 1.0, x: 0.5, y: 0.5}\n  seed: 7\n"
        "  kind: kenburns\nduration: 24\n"
        "source: {consent: granted, credit: The A. family, contributor: Amina, photo: photos/grid.png}\n"),
    lambda root: edit(root / "shots/film.yaml", "title: Tiny Film", "title: Another Title"),
    lambda root: (root / "shots/s010.yaml").write_text((root / "shots/s010.yaml").read_text() + "notes: slower\n"),
    lambda root: edit(root / "shots/film.yaml", "cut: [s010, s020, s030, s040]", "cut: [s020, s010, s030, s040]"),
    lambda root: os.utime(root / "shots/photos/grid.png", (1, 1)),
], ids=["key order, layout and comments", "title", "notes", "cut order", "photo touched, same bytes"])
def test_changes_that_keep_the_pixels_keep_the_key(tiny_project, change):
    before = key(tiny_project)
    change(tiny_project)
    assert key(tiny_project) == before


@pytest.mark.parametrize("change, reason", [
    (lambda root: edit(root / "shots/s010.yaml", "seed: 7", "seed: 8"), "generator.seed: 7 -> 8"),
    (lambda root: edit(root / "shots/s010.yaml", "  seed: 7", "  seed: 7\n  prompt: jasmine at dusk"),
     "generator.prompt:  -> jasmine at dusk"),
    (lambda root: (root / "shots/photos/grid.png").write_bytes(
        (root / "shots/photos/bloom.png").read_bytes()), "photo: the file's content changed"),
    (lambda root: edit(root / "shots/film.yaml", "256x144", "320x180"), "film size: 256x144 -> 320x180"),
    (lambda root: edit(root / "shots/s010.yaml", "duration: 24", "duration: 25"), "frames: 24 -> 25"),
], ids=["seed", "prompt", "photograph bytes", "resolution", "duration"])
def test_changes_to_the_pixels_change_the_key_and_status_says_why(tiny_project, change, reason):
    make_takes(load_film(tiny_project), ["s010"])
    before = key(tiny_project)
    change(tiny_project)
    assert key(tiny_project) != before
    result = run(tiny_project, "status", "--why")
    assert result.exit_code == 0
    s010 = result.output.split("s010", 1)[1].split("s020")[0]
    assert "stale" in s010 and reason in s010


def test_status_reports_every_state(tiny_project):
    shot = tiny_project / "shots/s030.yaml"
    make_takes(load_film(tiny_project), ["s010", "s020"])
    edit(tiny_project / "shots/s020.yaml", "hold_start: 2", "hold_start: 3")
    edit(shot, "consent: granted", "consent: pending")
    states = {s.shot_id: s.state for s in film_status(load_film(tiny_project))}
    assert states == {"s010": "up to date", "s020": "stale", "s030": "unconsented", "s040": "missing"}
    TakeStore(tiny_project).record_failure("s020", key(tiny_project, "s020"), "RenderFailed: ffmpeg fell over")
    failed = next(s for s in film_status(load_film(tiny_project)) if s.shot_id == "s020")
    assert failed.state == "failed" and "fell over" in failed.reasons[0]


def test_approved_take_is_the_one_the_timeline_uses(tiny_project):
    assert run(tiny_project, "render", "--shot", "s030").exit_code == 0
    edit(tiny_project / "shots/s030.yaml", "{kind: still}", "{kind: still, seed: 1}")
    assert run(tiny_project, "render", "--shot", "s030").exit_code == 0
    film = load_film(tiny_project)
    assert selected_takes_of(film)["s030"] == "v002"  # the newest when none is approved
    result = run(tiny_project, "approve", "s030", "v001", "--note", "the first light")
    assert result.exit_code == 0, result.output
    assert selected_takes_of(film)["s030"] == "v001"
    # a render cuts with the approved take, though the shot as it stands matches v002
    assert run(tiny_project, "render", "--no-review").exit_code == 0
    cut = (tiny_project / "edl/tiny_film.otio").read_text()
    assert "s030/v001/s030_v001.mov" in cut and "s030/v002" not in cut
    listing = run(tiny_project, "takes", "s030").output
    assert "* v001  approved" in listing and "the first light" in listing and "  v002  review" not in listing
    review = (tiny_project / "shots/reviews/s030.yaml").read_text()
    assert "approved: v001" in review and "approved_key:" in review
    assert run(tiny_project, "review", "s030", "v002", "retake", "--note", "too dark").exit_code == 0
    assert "retake" in run(tiny_project, "takes", "s030").output
    bad = run(tiny_project, "approve", "s030", "v009")
    assert bad.exit_code == 2 and "no take v009" in bad.output


def selected_takes_of(film):
    from racines.takes.resolve import Resolver

    return {s: take.version for s, take in Resolver(film).cut_takes().items() if take is not None}


def test_provenance_is_printed_and_survives_a_remux(tiny_project, tmp_path):
    make_takes(load_film(tiny_project), ["s010"])
    result = run(tiny_project, "provenance", "s010")
    assert result.exit_code == 0, result.output
    assert "Amina (consent: granted" in result.output and "seed         7" in result.output
    assert "matching the manifest" in result.output
    take = TakeStore(tiny_project).latest("s010")
    remuxed = tmp_path / "remuxed.mov"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(take.media), "-c", "copy", str(remuxed)], check=True)
    comment = read_tags(remuxed)["comment"]
    embedded = json.loads(comment.removeprefix("racines provenance "))
    assert embedded["source"]["contributor"] == "Amina" and embedded["cache_key"] == take.cache_key
    assert embedded["generator"]["settings"]["seed"] == 7


def test_preview_and_contact_sheets(tiny_project):
    result = run(tiny_project, "preview", "s010")
    assert result.exit_code == 0, result.output
    assert len(decode_frames(tiny_project / "renders/previews/s010.mp4", "gray", 64, 36)) == 24
    assert not (tiny_project / "renders" / "takes").exists()  # a preview is not a take
    assert run(tiny_project, "render", "--no-review").exit_code == 0
    take = TakeStore(tiny_project).latest("s020")
    assert Image.open(take.folder / "contact.jpg").size == (6 * 200, 112)
    assert Image.open(take.folder / "thumbnail.jpg").width == 200
    assert run(tiny_project, "contact-sheet").exit_code == 0
    sheet = Image.open(tiny_project / "renders/tiny_film_contact_sheet.jpg")
    assert sheet.size == (260 + 6 * 200, 4 * 112)


def test_changing_one_shot_of_the_demo_regenerates_exactly_one_take(demo_copy):
    film_file = demo_copy / "shots" / "film.yaml"
    edit(film_file, "resolution: 1280x720", "resolution: 256x144")
    assert run(demo_copy, "render", "--no-review").exit_code == 0
    store = TakeStore(demo_copy)
    before = {s: [t.version for t in store.takes(s)] for s in load_film(demo_copy).cut}
    edit(demo_copy / "shots/s050.yaml", "still", "still\n  seed: 5")
    result = run(demo_copy, "render", "--no-review")
    assert result.exit_code == 0, result.output
    assert result.output.count("(new)") == 1 and "take s050 v002 (new)" in result.output
    after = {s: [t.version for t in store.takes(s)] for s in load_film(demo_copy).cut}
    assert sum(len(v) for v in after.values()) == sum(len(v) for v in before.values()) + 1


SLOW_SHOT = """\
source: {photo: photos/grid.png, contributor: Amina, consent: granted}
duration: 240
generator: {kind: kenburns, end: {x: 0.2, y: 0.2, zoom: 2.0}}
"""


def test_sigkill_mid_take_leaves_a_consistent_store_and_the_rerun_finishes(tmp_path):
    root = write_tiny_project(tmp_path / "film", {"s010": SLOW_SHOT}, film=(
        "title: Killed\nresolution: 640x360\ncut: [s010]\n"))
    shot_folder = root / "renders/takes/s010"
    command = [sys.executable, "-m", "racines.cli", "--project", str(root), "render", "--no-review"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the take is being written, then kill
        partial = list(shot_folder.glob(".v001.*.partial")) if shot_folder.exists() else []
        if partial and any(p.stat().st_size > 0 for p in partial[0].iterdir()):
            break
        time.sleep(0.01)
    else:
        pytest.fail("the render never started writing the take")
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert TakeStore(root).takes("s010") == []          # no half-written take behind a version
    assert not (root / "renders/killed_master.mov").exists()
    rerun = subprocess.run(command, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    takes = TakeStore(root).takes("s010")
    assert [t.version for t in takes] == ["v001"]
    assert not list(shot_folder.glob(".*partial*"))
    assert len(decode_frames(takes[0].lossless, "gray", 640, 360)) == 240 + 2 * 8  # handles
    assert len(decode_frames(root / "renders/killed_master.mov", "gray", 640, 360)) == 240


def test_unchanged_film_is_not_rendered_again(tiny_project):
    assert run(tiny_project, "render").exit_code == 0
    master = tiny_project / "renders/tiny_film_master.mov"
    stamp = master.stat().st_mtime_ns
    again = run(tiny_project, "render")
    assert again.exit_code == 0 and "unchanged renders/tiny_film_master.mov" in again.output
    assert master.stat().st_mtime_ns == stamp


@pytest.mark.parametrize("chunk", [16, 2], ids=["pieces", "chunks of 2 pieces"])
def test_changing_one_shot_re_encodes_only_its_pieces_and_matches_a_full_render(tiny_project, monkeypatch, chunk):
    monkeypatch.setattr(deliver, "POLICY", deliver.Policy(chunk=chunk))  # 2: the review copy (6 pieces) is joined from 3 chunks
    assert run(tiny_project, "render").exit_code == 0
    chunks = {p.name: p.stat().st_mtime_ns for p in (tiny_project / "renders/cache/pieces").glob("chunk-*")}
    assert len(chunks) == (3 if chunk == 2 else 0)
    # s030 sits between a 4-frame dissolve (from s020) and a cut (to s040): its dissolve and solo pieces
    pieces = tiny_project / "renders/cache/pieces"
    (pieces / ".burnin.k1ll3d.partial").mkdir()  # what a render killed mid-piece leaves
    (pieces / ".burnin.k1ll3d.partial" / "label0000.txt").write_text("s030 v001")
    (pieces / ".0123abcd.k1ll3d.partial.mp4").write_bytes(b"half a piece")
    edit(tiny_project / "shots/s030.yaml", "{kind: still}", "{kind: still, seed: 3}")
    result = run(tiny_project, "render")
    assert result.exit_code == 0, result.output
    assert "2 piece(s) of the film encoded" in result.output
    assert not [p.name for p in pieces.iterdir() if p.name.startswith(".")]  # swept, and none of its own left
    # both deliverables take the two pieces' frames in place: nothing else is copied, no chunk joined
    assert top_boxes(tiny_project / "renders/tiny_film_master.mov") == ["ftyp", "wide", "mdat", "free", "mdat", "moov"]
    assert top_boxes(tiny_project / "renders/tiny_film_review.mp4") == ["ftyp", "free", "free", "mdat", "mdat", "moov"]
    after = {p.name: p.stat().st_mtime_ns for p in pieces.glob("chunk-*")}
    if chunk == 2:  # the chunk of s010's pieces is kept for a later full join; those of s030's are stale
        kept = set(after) & set(chunks)
        assert len(after) == 1 and len(kept) == 1 and all(after[name] == chunks[name] for name in kept)
    assert sorted(p.name for p in (tiny_project / "renders").iterdir() if p.is_file() and p.name != ".batch.lock") == [
        "tiny_film_master.ffconcat", "tiny_film_master.mov", "tiny_film_review.ffconcat", "tiny_film_review.mp4"]
    incremental = {name: framemd5(tiny_project / "renders" / name)
                   for name in ("tiny_film_master.mov", "tiny_film_review.mp4")}
    for leftover in [*(tiny_project / "renders/cache/pieces").iterdir(), *(tiny_project / "renders").glob("tiny_film_*")]:
        leftover.unlink()
    full = run(tiny_project, "render")
    assert full.exit_code == 0 and "6 piece(s) of the film encoded" in full.output
    for name, hashes in incremental.items():
        assert framemd5(tiny_project / "renders" / name) == hashes and len(hashes) == 62


def test_an_approved_take_of_another_resolution_is_refused_clearly(tiny_project):
    assert run(tiny_project, "render", "--no-review").exit_code == 0
    assert run(tiny_project, "approve", "s030", "v001").exit_code == 0
    edit(tiny_project / "shots/film.yaml", "256x144", "320x180")
    result = run(tiny_project, "render", "--no-review")
    assert result.exit_code == 2 and "s030 (v001) was made at 256x144" in result.output
    assert "approve the new take" in result.output


def test_a_render_without_review_keeps_the_review_cache(tiny_project):
    assert run(tiny_project, "render").exit_code == 0
    edit(tiny_project / "shots/s030.yaml", "{kind: still}", "{kind: still, seed: 3}")
    assert run(tiny_project, "render", "--no-review").exit_code == 0
    edit(tiny_project / "shots/s030.yaml", "seed: 3", "seed: 4")
    result = run(tiny_project, "render")
    assert result.exit_code == 0 and "2 piece(s) of the film encoded" in result.output, result.output


def test_a_render_without_the_master_leaves_it_untouched(tiny_project):
    assert run(tiny_project, "render").exit_code == 0
    master, review = tiny_project / "renders/tiny_film_master.mov", tiny_project / "renders/tiny_film_review.mp4"
    before = master.read_bytes(), master.stat().st_mtime_ns, framemd5(review)
    edit(tiny_project / "shots/s030.yaml", "{kind: still}", "{kind: still, seed: 3}")
    quick = run(tiny_project, "render", "--no-master")
    assert quick.exit_code == 0 and "wrote renders/tiny_film_review.mp4 (62 frames)" in quick.output, quick.output
    assert "master" not in quick.output and (master.read_bytes(), master.stat().st_mtime_ns) == before[:2]
    assert framemd5(review) != before[2]
    full = run(tiny_project, "render")  # the master catches up; the review copy is already current
    assert full.exit_code == 0 and "1 piece(s) of the film encoded" in full.output, full.output
    assert master.stat().st_mtime_ns != before[1]  # written again (a still's seed leaves its pixels alone)
    neither = run(tiny_project, "render", "--no-master", "--no-review")
    assert neither.exit_code == 2 and "leave no film to render" in neither.output


def test_a_change_patches_the_master_in_place_and_a_crash_before_the_switch_keeps_the_old_film(
        tiny_project, monkeypatch):
    from racines.render import quicktime

    assert run(tiny_project, "render", "--no-review").exit_code == 0
    master = tiny_project / "renders/tiny_film_master.mov"
    assert top_boxes(master) == ["ftyp", "wide", "mdat", "moov"]
    first_film = framemd5(master)
    # the process dies after the new frames and index are on disk, before the old index is retired
    monkeypatch.setattr(quicktime, "switch_index", lambda handle, old: (_ for _ in ()).throw(KeyboardInterrupt()))
    edit(tiny_project / "shots/s010.yaml", "zoom: 1.5}", "zoom: 1.4}")
    with pytest.raises(KeyboardInterrupt):
        deliver_master(tiny_project)
    assert top_boxes(master) == ["ftyp", "wide", "mdat", "moov", "mdat", "moov"]
    assert framemd5(master) == first_film  # readers take the first index: the film as it was
    monkeypatch.undo()
    # the next render finds a master it did not leave (its stamp changed) and joins it whole
    assert run(tiny_project, "render", "--no-review").exit_code == 0
    assert top_boxes(master) == ["ftyp", "wide", "mdat", "moov"]
    second_film = framemd5(master)
    assert second_film != first_film and len(second_film) == 62
    # an ordinary change: the changed frames appended, the old index retired, frames as a full join
    edit(tiny_project / "shots/s010.yaml", "zoom: 1.4}", "zoom: 1.3}")
    assert run(tiny_project, "render", "--no-review").exit_code == 0
    assert top_boxes(master) == ["ftyp", "wide", "mdat", "free", "mdat", "moov"]
    patched = framemd5(master)
    for leftover in (tiny_project / "renders").glob("tiny_film_*"):
        leftover.unlink()
    assert run(tiny_project, "render", "--no-review").exit_code == 0
    assert framemd5(master) == patched and patched != second_film
    # a change of size (every take made again) is joined whole, never patched into the old track
    edit(tiny_project / "shots/film.yaml", "256x144", "320x180")
    assert run(tiny_project, "render", "--no-review").exit_code == 0
    assert top_boxes(master) == ["ftyp", "wide", "mdat", "moov"]
    assert len(decode_frames(master, "gray", 320, 180)) == 62
    edit(tiny_project / "shots/film.yaml", "320x180", "256x144")
    assert run(tiny_project, "render", "--no-review").exit_code == 0
    # once dead frames would outweigh live ones, the master is joined whole again (compacted)
    monkeypatch.setattr(deliver, "POLICY", deliver.Policy(live_min=0.99))
    edit(tiny_project / "shots/s010.yaml", "zoom: 1.3}", "zoom: 1.2}")
    assert run(tiny_project, "render", "--no-review").exit_code == 0
    assert run(tiny_project, "render", "--no-review").exit_code == 0
    edit(tiny_project / "shots/s010.yaml", "zoom: 1.2}", "zoom: 1.1}")
    assert run(tiny_project, "render", "--no-review").exit_code == 0
    assert top_boxes(master) == ["ftyp", "wide", "mdat", "moov"]


def deliver_master(root: Path) -> None:
    """The render's steps up to the master, in this process (so that a patched function applies)."""
    from racines import pipeline

    film = pipeline.load(root)
    takes, _ = pipeline.make_takes(film, list(film.cut))
    timeline, _ = pipeline.export_edit(film, takes)
    pipeline.render_film(film, timeline, review=False)
