"""The take's manifest: a typed, versioned model; manifests written before the version field
still read, as takes the cut can use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from racines.cli import main
from racines.film.loader import load_film
from racines.pipeline import film_status
from racines.takes.make import make_take
from racines.takes.manifest import SCHEMA_VERSION, TakeManifest
from racines.takes.resolve import Resolver
from racines.takes.store import Take, TakeStore

# written by racines before schema_version existed (racines render --shot s010 on the demo)
OLD_MANIFEST = Path(__file__).parent / "data" / "take_manifest_v1.json"


def put_manifest(root: Path, shot_id: str, version: str, manifest: dict) -> Path:
    folder = root / "renders" / "takes" / shot_id / version
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_a_new_manifest_is_written_from_the_model_with_its_version(tiny_project):
    film = load_film(tiny_project)
    take, _ = make_take(film, film.shots["s010"], TakeStore(film.root))
    written = json.loads((take.folder / "manifest.json").read_text())
    assert written["schema_version"] == SCHEMA_VERSION and "schema" not in written
    again = TakeStore(film.root).latest("s010")
    assert again.info == take.info and again.info.to_json() == written
    assert (again.info.handles, again.info.shot_frames, again.info.frames) == (8, 24, 40)
    assert again.info.source.contributor == "Amina" and again.info.generator.settings["seed"] == 7
    assert again.info.film.width == 256 and again.info.media.reel == again.reel
    assert again.manifest["generator"]["settings"]["seed"] == 7  # the mapping view, for readers of dicts


def test_an_old_manifest_reads_and_its_take_is_used(demo_copy):
    old = json.loads(OLD_MANIFEST.read_text())
    assert "schema_version" not in old and old["schema"] == "racines.take/1"
    film = load_film(demo_copy)
    inputs = Resolver(film).inputs("s010")
    # as if this machine had made it: the same libraries, so the same key
    old["cache_inputs"], old["cache_key"] = json.loads(json.dumps(inputs)), Resolver(film).key("s010")
    put_manifest(demo_copy, "s010", "v001", old)

    take = TakeStore(demo_copy).latest("s010")
    assert take is not None and take.info.schema_version == 1
    assert (take.info.shot, take.info.take, take.info.frames, take.info.shot_frames, take.info.handles) == \
        ("s010", "v001", 160, 144, 8)
    assert take.info.source.credit.startswith("Eileen Collins") and take.info.generator.name == "kenburns"
    assert take.info.media.editorial == "s010_v001.mov" and take.media.name == "s010_v001.mov"
    assert take.info.timings == {"generate_and_encode_s": 7.745}
    state = next(s for s in film_status(film) if s.shot_id == "s010")
    assert (state.state, state.selected.version) == ("up to date", "v001")
    listing = CliRunner().invoke(main, ["--project", str(demo_copy), "takes", "s010"])
    assert listing.exit_code == 0 and "* v001" in listing.output and "seed 0" in listing.output


def test_an_older_manifest_without_handles_or_profile_reads_with_what_their_absence_meant(tiny_project):
    first = json.loads(OLD_MANIFEST.read_text())
    for name in ("handles", "shot_frames", "profile", "cache_inputs", "assets", "timings"):
        first.pop(name)
    first["generator"].pop("description")
    first["frames"] = 144
    put_manifest(tiny_project, "s010", "v001", first)
    take = TakeStore(tiny_project).latest("s010")
    assert (take.info.frames, take.info.shot_frames, take.info.handles, take.info.profile) == (144, 144, 0, "draft")
    assert take.info.generator.description == "" and take.info.cache_inputs == {}


@pytest.mark.parametrize("change", [
    lambda m: m.update(schema_version=SCHEMA_VERSION + 1),
    lambda m: m.pop("cache_key"),
    lambda m: m["media"].pop("reel"),
    lambda m: m.update(frames="many"),
], ids=["a newer version", "no cache key", "no reel", "frames not a number"])
def test_a_manifest_that_does_not_validate_is_not_a_usable_take(tiny_project, change):
    manifest = json.loads(OLD_MANIFEST.read_text())
    change(manifest)
    put_manifest(tiny_project, "s010", "v001", manifest)
    assert TakeStore(tiny_project).takes("s010") == []
    with pytest.raises(ValueError):
        TakeManifest.read(manifest, "s010", "v001")


def test_a_take_given_a_mapping_validates_it():
    take = Take("s010", "v003", Path("/nowhere"), {"cache_key": "k", "frames": 40, "handles": 8,
                                                   "media": {"editorial": "a.mov", "lossless": "f.mkv", "reel": "R1"}})
    assert (take.info.shot, take.info.take, take.info.shot_frames, take.info.schema_version) == ("s010", "v003", 24, 1)
    assert take.media == Path("/nowhere/a.mov")
