"""Takes: lossless frames equal to the generator's, editorial media that conforms,
a manifest, a cache that skips unchanged shots, and nothing half-written on failure."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from racines.errors import RenderFailed
from racines.film.loader import load_film
from racines.generators import get_generator
from racines.takes.make import make_take
from racines.takes.store import TakeStore
from tests.conftest import decode_frames, ffprobe, video_stream


def md5s(frames):
    return [hashlib.md5(bytes(f)).hexdigest() for f in frames]


def test_lossless_frames_are_bit_exact(tiny_project):
    film = load_film(tiny_project)
    shot = film.shots["s010"]
    take, made = make_take(film, shot, TakeStore(film.root))
    assert made and take.version == "v001"
    generated = [np.ascontiguousarray(f).tobytes()
                 for f in get_generator("kenburns").frames_with_handles(shot, film, film.handles)]
    assert len(generated) == 24 + 2 * 8
    decoded = decode_frames(take.lossless, "rgb24", 256, 144)
    assert md5s(decoded) == md5s(generated)


def test_editorial_media_is_prores_hq_with_timecode_and_reel(tiny_project):
    film = load_film(tiny_project)
    take, _ = make_take(film, film.shots["s020"], TakeStore(film.root))
    probe = ffprobe(take.media, count_frames=True)
    video = video_stream(probe)
    assert (video["codec_name"], video["profile"], video["pix_fmt"]) == ("prores", "HQ", "yuv422p10le")
    assert (video["color_primaries"], video["color_transfer"], video["color_space"]) == ("bt709",) * 3
    assert video["r_frame_rate"] == "24/1" and int(video["nb_read_frames"]) == 24 + 2 * 8  # handles
    data = next(s for s in probe["streams"] if s["codec_type"] == "data")
    assert data["tags"]["reel_name"] == take.reel and data["tags"]["timecode"] == "00:00:00:00"
    assert len(take.reel) == 8
    tags = probe["format"]["tags"]
    assert tags["racines_shot"] == "s020" and tags["racines_take"] == "v001"
    assert tags["racines_contributor"] == "Amina" and tags["racines_consent"] == "granted"


def test_manifest_records_provenance(tiny_project):
    film = load_film(tiny_project)
    take, _ = make_take(film, film.shots["s010"], TakeStore(film.root))
    manifest = json.loads((take.folder / "manifest.json").read_text())
    assert manifest["source"]["contributor"] == "Amina"
    assert manifest["source"]["sha256"] == hashlib.sha256((film.root / "shots/photos/grid.png").read_bytes()).hexdigest()
    assert manifest["generator"]["name"] == "kenburns" and manifest["generator"]["settings"]["seed"] == 7
    assert (manifest["frames"], manifest["shot_frames"], manifest["handles"]) == (40, 24, 8)
    assert manifest["media"]["reel"] == take.reel
    assert {"racines", "ffmpeg", "numpy"} <= set(manifest["software"])
    assert manifest["timings"]["generate_and_encode_s"] > 0


def test_unchanged_shot_reuses_its_take_and_a_change_makes_a_new_one(tiny_project):
    store = TakeStore(tiny_project)
    film = load_film(tiny_project)
    first, made = make_take(film, film.shots["s030"], store)
    again, made_again = make_take(film, film.shots["s030"], store)
    assert made and not made_again and again.folder == first.folder
    # notes do not change pixels; a new seed does
    shot_file = tiny_project / "shots" / "s030.yaml"
    shot_file.write_text(shot_file.read_text() + "notes: lovely\n")
    film = load_film(tiny_project)
    assert not make_take(film, film.shots["s030"], store)[1]
    shot_file.write_text(shot_file.read_text().replace("{kind: still}", "{kind: still, seed: 3}"))
    film = load_film(tiny_project)
    newer, made = make_take(film, film.shots["s030"], store)
    assert made and newer.version == "v002" and first.folder.is_dir()
    assert newer.reel != first.reel


def test_failed_generation_leaves_no_take_and_no_partial_files(tiny_project, monkeypatch):
    film = load_film(tiny_project)
    store = TakeStore(film.root)

    def broken(self, shot, film, derived=None):
        yield np.zeros((144, 256, 3), np.uint8)
        raise RuntimeError("the generator fell over")

    monkeypatch.setattr(type(get_generator("still")), "frames", broken)
    with pytest.raises(RuntimeError, match="fell over"):
        make_take(film, film.shots["s030"], store)
    assert [p.name for p in store.shot_folder("s030").iterdir()] == ["failed.json"]
    assert store.takes("s030") == [] and "fell over" in store.failure("s030")["error"]


def test_generator_frame_count_is_enforced(tiny_project, monkeypatch):
    film = load_film(tiny_project)

    def short(self, shot, film, derived=None):
        yield np.zeros((144, 256, 3), np.uint8)

    monkeypatch.setattr(type(get_generator("still")), "frames", short)
    with pytest.raises(RenderFailed, match="made 17 frames for shot s030"):
        make_take(film, film.shots["s030"], TakeStore(film.root))
