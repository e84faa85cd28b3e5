"""One answer to "which take does the cut use?": status, render, conform, the take listing,
the batch's plan and its dailies all agree, and where a shot stands reads the same everywhere."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from racines import pipeline
from racines.batch import report
from racines.batch.plan import check_dependent, make_plan
from racines.batch.run import FilmRecord, ShotRecord
from racines.film.loader import load_film
from racines.takes.cache import key_of
from racines.takes.resolve import Resolver, film_status, shot_takes
from racines.takes.reviews import set_status
from racines.takes.store import TakeStore

S030 = "source: {photo: photos/bloom.png, contributor: Bao, consent: granted}\nduration: 12\ngenerator: {kind: still%s}\n"


def fake_take(root: Path, shot_id: str, version: str, inputs: dict, frames: int) -> None:
    """A take folder with its manifest and an empty media file: what the cut's choice reads."""
    inputs = json.loads(json.dumps(inputs))
    folder = root / "renders" / "takes" / shot_id / version
    folder.mkdir(parents=True)
    (folder / f"{shot_id}_{version}.mov").write_bytes(b"")
    (folder / "manifest.json").write_text(json.dumps({
        "schema_version": 2, "shot": shot_id, "take": version, "cache_key": key_of(inputs), "cache_inputs": inputs,
        "frames": frames + 16, "shot_frames": frames, "handles": 8, "film": {"width": 256, "height": 144, "frame_rate": "24"},
        "media": {"editorial": f"{shot_id}_{version}.mov", "lossless": "frames.mkv",
                  "reel": f"R{shot_id[1:]}{version[1:]}"[:8].ljust(8, "0")},
        "generator": {"name": "still", "settings": {}}}))


def inputs_with(root: Path, shot_id: str, text: str) -> dict:
    (root / "shots" / f"{shot_id}.yaml").write_text(text)
    return Resolver(load_film(root)).inputs(shot_id)


def newest_is_not_the_shot_as_it_stands(root: Path) -> None:
    """s030's newest take, v002, was made with seed 1; the shot file went back to v001's settings."""
    film = load_film(root)
    resolver = Resolver(film)
    for shot_id in ("s010", "s020"):
        fake_take(root, shot_id, "v001", resolver.inputs(shot_id), film.shots[shot_id].frames)
    fake_take(root, "s030", "v002", inputs_with(root, "s030", S030 % ", seed: 1"), 12)
    fake_take(root, "s030", "v001", inputs_with(root, "s030", S030 % ""), 12)
    fake_take(root, "s040", "v001", Resolver(load_film(root)).inputs("s040"), 12)


def dailies_cut_uses(root: Path, film) -> dict[str, str]:
    context = report.Context(root=root, folder=root / "renders" / "dailies" / "today",
                             started=datetime.now().astimezone(), machine={}, profile="draft")
    records = {s: ShotRecord(s, film.shots[s].kind, film.shots[s].frames, "up to date", state="up to date")
               for s in film.cut}
    report.write(context, film, records, FilmRecord(), 0)
    summary = json.loads((context.folder / report.SUMMARY).read_text())
    return {shot["shot_id"]: shot["cut_uses"] for shot in summary["shots"]}


def test_every_caller_uses_the_take_made_from_the_shot_as_it_stands(tiny_project):
    newest_is_not_the_shot_as_it_stands(tiny_project)
    film = load_film(tiny_project)
    assert TakeStore(tiny_project).latest("s030").version == "v002"
    assert {s.shot_id: s.selected.version for s in film_status(film)}["s030"] == "v001"
    assert {s.shot_id: s.state for s in film_status(film)} == dict.fromkeys(film.cut, "up to date")
    assert pipeline.selected_takes(film)["s030"].version == "v001"
    assert shot_takes(film, "s030").selected.version == "v001"
    assert dailies_cut_uses(tiny_project, film)["s030"] == "v001"
    # the film's own cut, sent back: nothing to say, least of all that racines uses another take
    pipeline.export_edit(film, pipeline.selected_takes(film))
    conformed = pipeline.conform_cut(film, tiny_project / "edl" / "tiny_film.otio", write=False)
    assert not conformed.changed, conformed.lines


def test_an_approved_take_wins_until_it_is_gone(tiny_project):
    newest_is_not_the_shot_as_it_stands(tiny_project)
    set_status(tiny_project, TakeStore(tiny_project), "s030", "v002", "approved")
    film = load_film(tiny_project)
    assert pipeline.selected_takes(film)["s030"].version == "v002"
    assert next(s for s in film_status(film) if s.shot_id == "s030").review == "approved"
    assert dailies_cut_uses(tiny_project, film)["s030"] == "v002"
    listing = shot_takes(film, "s030")
    assert (listing.selected.version, [t.version for t in listing.takes]) == ("v002", ["v001", "v002"])
    # an approval names pixels by cache key: on a machine without that take, the shot as it stands
    (tiny_project / "renders" / "takes" / "s030" / "v002" / "manifest.json").unlink()
    assert pipeline.selected_takes(load_film(tiny_project))["s030"].version == "v001"


def test_the_plan_keys_are_the_status_keys_and_the_credits_wait_for_every_take(tiny_project):
    newest_is_not_the_shot_as_it_stands(tiny_project)
    (tiny_project / "shots" / "s010.yaml").write_text(
        (tiny_project / "shots" / "s010.yaml").read_text().replace("seed: 7", "seed: 8"))
    film = load_film(tiny_project)
    plan = make_plan(film)
    assert plan.first == ("s010",) and plan.keys["s010"] == Resolver(film).key("s010") == plan.states["s010"].key
    assert "generator.seed: 7 -> 8" in plan.states["s010"].reasons
    assert check_dependent(film, "s040")[0] == "up to date"
    for manifest in (tiny_project / "renders" / "takes" / "s020").glob("*/manifest.json"):
        manifest.unlink()
    state, key, reasons = check_dependent(film, "s040")
    assert (state, key) == ("blocked", None) and "s020" in reasons[0]
