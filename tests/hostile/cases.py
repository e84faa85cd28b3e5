"""Broken and hostile inputs, one row each: what to break in a prepared tiny project, the command
to run, and the words its message must hold (the file, and the field or line).

Each ``setup`` receives a fresh copy of the project (``root``) and returns the command line after
``--project ROOT``; :mod:`tests.test_hostile` runs it once and checks the exit code, that no
traceback shows, that the words are there, that nothing under shots/, renders/ or edl/ changed,
and that it ended within the time bound. Small inputs are written here; the larger ones are
made by a few lines of code (a billion laughs of 1 kB, an EDL of 5 MB); a few are files under
``files/``.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import opentimelineio as otio
from PIL import Image

FILES = Path(__file__).parent / "files"
REELS = {"s010": "RTEST000", "s020": "RTEST001", "s030": "RTEST002", "s040": "RTEST003"}
FRAMES = {"s010": 24, "s020": 24, "s030": 12, "s040": 12}
HANDLES = 8


@dataclass(frozen=True)
class Case:
    id: str
    kind: str                              # the kind of file broken
    setup: Callable[[Path], list[str]]     # breaks the project copy, returns the command line
    names: tuple[str, ...]                 # words the message must hold: the file, the field or line
    code: int = 2


def fake_takes(root: Path) -> None:
    """Takes as conform sees them (manifests, empty media): enough to match a cut's reels."""
    for index, (shot_id, count) in enumerate(FRAMES.items()):
        folder = root / "renders" / "takes" / shot_id / "v001"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{shot_id}_v001.mov").write_bytes(b"")
        (folder / "manifest.json").write_text(json.dumps({
            "cache_key": f"key{index}", "frames": count + 2 * HANDLES, "shot_frames": count, "handles": HANDLES,
            "film": {"width": 256, "height": 144, "frame_rate": "24"},
            "media": {"editorial": f"{shot_id}_v001.mov", "lossless": "frames.mkv", "reel": REELS[shot_id]},
            "generator": {"name": "still", "settings": {}}}))


# --- helpers ----------------------------------------------------------------------------

def after(_done: object, *args: str) -> list[str]:
    """The command line, once the arguments before it (what breaks the project) are evaluated."""
    return list(args)


def shot(root: Path, shot_id: str, text: str) -> Path:
    path = root / "shots" / f"{shot_id}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def edit_shot(root: Path, shot_id: str, old: str, new: str) -> None:
    path = root / "shots" / f"{shot_id}.yaml"
    text = path.read_text()
    assert old in text, (old, text)
    path.write_text(text.replace(old, new))


def edit_film(root: Path, old: str, new: str) -> None:
    edit_shot(root, "film", old, new)


def still(photo: str) -> str:
    return f"source: {{photo: {photo}, contributor: Bao, consent: granted}}\nduration: 12\ngenerator: {{kind: still}}\n"


def photo_case(make: Callable[[Path], str]) -> Callable[[Path], list[str]]:
    """s030 shows the photograph ``make`` writes (it returns the path as s030 names it)."""
    def setup(root: Path) -> list[str]:
        shot(root, "s030", still(make(root)))
        return ["validate"]
    return setup


def billion_laughs(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels in a few bytes (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def jpeg_bytes() -> bytes:
    rng = np.random.default_rng(7)
    image = Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    import io
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def write_photo(root: Path, name: str, data: bytes) -> str:
    (root / "shots" / "photos" / name).write_bytes(data)
    return f"photos/{name}"


def edl_line(number: int, reel: str, source_in: str, source_out: str, record_in: str, record_out: str) -> str:
    return f"{number:03d}  {reel:<8} V     C        {source_in} {source_out} {record_in} {record_out}"


GOOD_EDL = "\n".join(["TITLE: Tiny Film", "FCM: NON-DROP FRAME", "",
                      edl_line(1, "RTEST000", "00:00:00:08", "00:00:01:08", "01:00:00:00", "01:00:01:00"),
                      edl_line(2, "RTEST001", "00:00:00:08", "00:00:01:08", "01:00:01:00", "01:00:02:00"),
                      edl_line(3, "RTEST002", "00:00:00:08", "00:00:00:20", "01:00:02:00", "01:00:02:12"),
                      edl_line(4, "RTEST003", "00:00:00:08", "00:00:00:20", "01:00:02:12", "01:00:03:00")]) + "\n"


def cut_file(name: str, data: str | bytes) -> Callable[[Path], list[str]]:
    def setup(root: Path) -> list[str]:
        path = root / name
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return ["conform", str(path)]
    return setup


def otio_cut(cut: list[tuple[str, int, int, int]]) -> str:
    """A cut as an editor's .otio: (shot, first take frame used, frames used, dissolve after)."""
    rate = 24.0
    rt, tr = otio.opentime.RationalTime, otio.opentime.TimeRange
    timeline = otio.schema.Timeline(name="edited", global_start_time=rt(86400, rate))
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    previous = 0
    for shot_id, used_in, used, dissolve_after in cut:
        lead = previous // 2 if previous else 0
        tail = dissolve_after - dissolve_after // 2 if dissolve_after else 0
        if previous:
            track.append(otio.schema.Transition(transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                                                in_offset=rt(previous // 2, rate),
                                                out_offset=rt(previous - previous // 2, rate)))
        clip = otio.schema.Clip(name=f"{shot_id}_v001",
                                source_range=tr(rt(used_in + lead, rate), rt(used - lead - tail, rate)))
        clip.metadata["cmx_3600"] = {"reel": REELS[shot_id]}
        track.append(clip)
        previous = dissolve_after
    return otio.adapters.write_to_string(timeline, "otio_json")


def review_file(text: str, *command: str) -> Callable[[Path], list[str]]:
    def setup(root: Path) -> list[str]:
        folder = root / "shots" / "reviews"
        folder.mkdir(exist_ok=True)
        (folder / "s010.yaml").write_text(text, encoding="utf-8")
        return list(command or ["validate"])
    return setup


def models_file(text: str, final: str = "", *command: str) -> Callable[[Path], list[str]]:
    """models.yaml as given; ``final``: a final: block for s030 that names a model."""
    def setup(root: Path) -> list[str]:
        outside = root.parent / "elsewhere" / "model"
        outside.mkdir(parents=True, exist_ok=True)
        (root / "models").mkdir(exist_ok=True)
        if not (root / "models" / "linked").is_symlink():
            (root / "models" / "linked").symlink_to(outside)
        (root / "models.yaml").write_text(text.replace("OUTSIDE", str(outside)), encoding="utf-8")
        if final:
            edit_shot(root, "s030", "generator: {kind: still}", f"generator: {{kind: still}}\nfinal: {final}")
        return list(command or ["validate"])
    return setup


def interpolate(make: Callable[[Path], tuple[str, str]], *options: str) -> Callable[[Path], list[str]]:
    def setup(root: Path) -> list[str]:
        source, output = make(root)
        return ["interpolate", source, output, *(options or ("--fps", "24")), "--quiet"]
    return setup


def tiny_video(root: Path) -> Path:
    import subprocess

    from racines.media.ffmpeg import ffmpeg_exe

    path = root / "clip.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=12", "-t", "1",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


# --- the table ----------------------------------------------------------------------------

CASES: list[Case] = [
    # shot files: YAML itself
    Case("shot-billion-laughs", "shot file", lambda r: after(shot(r, "s030", billion_laughs() + "duration: *l9\n"),
                                                             "validate"),
         ("shots/s030.yaml", "aliases")),
    Case("shot-deep-nesting", "shot file", lambda r: after(shot(r, "s030", "duration: " + "[" * 200 + "]" * 200 + "\n"),
                                                      "validate"), ("shots/s030.yaml", "nests deeper")),
    Case("shot-2MB", "shot file", lambda r: after(shot(r, "s030", still("photos/bloom.png") + "notes: '" + "x" * 2_000_000
                                                  + "'\n"), "validate"), ("shots/s030.yaml", "larger than")),
    Case("shot-not-utf8", "shot file", lambda r: after((r / "shots/s030.yaml").write_bytes(b"duration: \xff\xfe\n"),
                                                  "validate"), ("shots/s030.yaml", "UTF-8")),
    Case("shot-raw-nul", "shot file", lambda r: after((r / "shots/s030.yaml").write_bytes(b"duration: 1\x002\n"),
                                                 "validate"), ("shots/s030.yaml", "malformed YAML")),
    Case("shot-impossible-date", "shot file", lambda r: after(shot(r, "s030", still("photos/bloom.png").replace(
        "duration: 12", "duration: 2001-02-31")), "validate"), ("shots/s030.yaml", "YAML cannot read")),
    Case("shot-5000-digit-number", "shot file", lambda r: after(shot(r, "s030", still("photos/bloom.png").replace(
        "duration: 12", "duration: " + "9" * 5000)), "validate"), ("shots/s030.yaml", "YAML cannot read")),
    Case("shot-python-tag", "shot file", lambda r: after(shot(r, "s030", "duration: !!python/object/apply:os.system "
                                                         "['true']\n"), "validate"),
         ("shots/s030.yaml", "YAML cannot read")),
    Case("shot-tab-indent", "shot file", lambda r: after(shot(r, "s030", "generator:\n\tkind: still\n"), "validate"),
         ("shots/s030.yaml:2", "malformed YAML")),
    Case("shot-top-level-list", "shot file", lambda r: after(shot(r, "s030", "- duration: 12\n"), "validate"),
         ("shots/s030.yaml", "mapping")),
    Case("shot-duplicate-key", "shot file", lambda r: after(shot(r, "s030", still("photos/bloom.png") + "duration: 13\n"),
                                                       "validate"), ("shots/s030.yaml:4", "duration")),
    Case("shot-is-a-folder", "shot file", lambda r: after((r / "shots/s050.yaml").mkdir(), "validate"),
         ("shots/s050.yaml", "folder")),
    Case("shot-is-a-fifo", "shot file", lambda r: after(os.mkfifo(r / "shots/s050.yaml"), "validate"),
         ("shots/s050.yaml", "not a regular file")),
    Case("shot-links-to-dev-zero", "shot file", lambda r: after((r / "shots/s050.yaml").symlink_to("/dev/zero"),
                                                           "validate"), ("shots/s050.yaml", "outside the project")),
    Case("shot-links-outside", "shot file", lambda r: after((r / "shots/s050.yaml").symlink_to("/etc/hostname"),
                                                       "validate"), ("shots/s050.yaml", "outside the project")),
    Case("shot-link-loop", "shot file", lambda r: after((r / "shots/s050.yaml").symlink_to(r / "shots/s050.yaml"),
                                                   "validate"), ("shots/s050.yaml", "cannot be opened")),
    Case("shot-bad-id", "shot file", lambda r: after(shot(r, "s 0$0", still("photos/bloom.png")), "validate"),
         ("shots/s 0$0.yaml", "shot id")),
    # shot files: values
    Case("shot-duration-huge", "shot file", lambda r: after(edit_shot(r, "s030", "duration: 12", "duration: 99999999999"),
                                                       "validate"), ("shots/s030.yaml:2", "duration", "hour")),
    Case("shot-duration-huge-seconds", "shot file", lambda r: after(edit_shot(r, "s030", "duration: 12",
                                                                         "duration: 99999999s"), "validate"),
         ("shots/s030.yaml:2", "duration")),
    Case("shot-duration-long-text", "shot file", lambda r: after(edit_shot(r, "s030", "duration: 12",
                                                                      "duration: '" + "1" * 400 + "s'"), "validate"),
         ("shots/s030.yaml:2", "duration")),
    Case("shot-duration-zero", "shot file", lambda r: after(edit_shot(r, "s030", "duration: 12", "duration: 0"),
                                                       "validate"), ("shots/s030.yaml:2", "duration")),
    Case("shot-dissolve-huge", "shot file", lambda r: after(edit_shot(r, "s020", "{dissolve: 4}", "{dissolve: 99999999s}"),
                                                       "validate"), ("shots/s020.yaml:4", "transition.dissolve")),
    Case("shot-trim-huge", "shot file", lambda r: after(edit_shot(r, "s030", "duration: 12",
                                                             "duration: 12\ntrim: {head: 1000000000000, tail: 0}"),
                                                   "validate"), ("shots/s030.yaml", "trim")),
    Case("shot-seed-huge", "shot file", lambda r: after(edit_shot(r, "s010", "seed: 7", "seed: 1" + "0" * 30),
                                                   "validate"), ("shots/s010.yaml:5", "generator.seed")),
    Case("shot-prompt-300kB", "shot file", lambda r: after(edit_shot(r, "s030", "{kind: still}",
                                                                "{kind: still, prompt: '" + "jasmine " * 40000 + "'}"),
                                                      "validate"), ("shots/s030.yaml:3", "generator.prompt", "4000")),
    Case("shot-notes-long", "shot file", lambda r: after(edit_shot(r, "s030", "duration: 12",
                                                              "duration: 12\nnotes: '" + "n" * 9000 + "'"),
                                                    "validate"), ("shots/s030.yaml:3", "notes")),
    Case("shot-contributor-long", "shot file", lambda r: after(edit_shot(r, "s030", "contributor: Bao",
                                                                    "contributor: " + "B" * 500), "validate"),
         ("shots/s030.yaml:1", "source.contributor")),
    Case("credits-heading-long", "shot file", lambda r: after(edit_shot(r, "s040", "heading: Tiny",
                                                                   "heading: " + "T" * 300), "validate"),
         ("shots/s040.yaml:2", "generator.heading")),
    Case("credits-many-lines", "shot file", lambda r: after(edit_shot(r, "s040", "heading: Tiny",
                                                                 "heading: Tiny, extra_lines: [" + "a, " * 200 + "a]"),
                                                       "validate"), ("shots/s040.yaml:2", "generator.extra_lines")),
    Case("shot-unknown-kind", "shot file", lambda r: after(edit_shot(r, "s030", "{kind: still}", "{kind: sora}"),
                                                      "validate"), ("shots/s030.yaml:3", "generator")),
    Case("shot-consent-maybe", "shot file", lambda r: after(edit_shot(r, "s030", "consent: granted", "consent: maybe"),
                                                       "validate"), ("shots/s030.yaml:1", "source.consent")),
    # photographs
    Case("photo-truncated-jpeg", "photograph", photo_case(lambda r: write_photo(r, "cut.jpg", jpeg_bytes()[:1500])),
         ("shots/s030.yaml:1", "source.photo", "truncated")),
    Case("photo-jpeg-missing-its-end", "photograph",
         photo_case(lambda r: write_photo(r, "end.jpg", jpeg_bytes()[:-200])), ("shots/s030.yaml:1", "truncated")),
    Case("photo-zero-bytes", "photograph", photo_case(lambda r: write_photo(r, "empty.jpg", b"")),
         ("shots/s030.yaml:1", "source.photo")),
    Case("photo-huge-dimensions", "photograph",
         photo_case(lambda r: write_photo(r, "huge.png", png_header(100_000, 100_000))),
         ("shots/s030.yaml:1", "source.photo", "pixel")),
    Case("photo-bomb-under-pillow-limit", "photograph",
         photo_case(lambda r: write_photo(r, "bomb.png", png_header(14_000, 14_000))),
         ("shots/s030.yaml:1", "source.photo", "pixel limit")),
    Case("photo-corrupt-png-data", "photograph",
         photo_case(lambda r: write_photo(r, "bad.png", png_header(64, 64))), ("shots/s030.yaml:1", "source.photo")),
    Case("photo-text-named-jpg", "photograph",
         photo_case(lambda r: write_photo(r, "notes.jpg", b"these are my notes, not a photograph\n")),
         ("shots/s030.yaml:1", "source.photo")),
    Case("photo-gif", "photograph", photo_case(lambda r: write_photo(r, "anim.png", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")),
         ("shots/s030.yaml:1", "source.photo")),
    Case("photo-links-outside", "photograph",
         photo_case(lambda r: [(r / "shots/photos/out.png").symlink_to(r.parent / "outside.png"),
                               Image.new("RGB", (64, 64)).save(r.parent / "outside.png"), "photos/out.png"][2]),
         ("shots/s030.yaml:1", "source.photo", "leaves the project")),
    Case("photo-link-loop", "photograph",
         photo_case(lambda r: [(r / "shots/photos/loop.png").symlink_to(r / "shots/photos/loop.png"),
                               "photos/loop.png"][1]), ("shots/s030.yaml:1", "source.photo")),
    Case("photo-is-a-folder", "photograph", photo_case(lambda r: [(r / "shots/photos/dir.png").mkdir(),
                                                                  "photos/dir.png"][1]),
         ("shots/s030.yaml:1", "source.photo", "not a file")),
    Case("photo-is-a-fifo", "photograph", photo_case(lambda r: [os.mkfifo(r / "shots/photos/pipe.png"),
                                                                "photos/pipe.png"][1]),
         ("shots/s030.yaml:1", "source.photo", "not a file")),
    Case("photo-nul-in-path", "photograph", photo_case(lambda r: '"photos/blo\\0om.png"'),
         ("shots/s030.yaml:1", "source.photo", "NUL")),
    Case("photo-name-too-long", "photograph", photo_case(lambda r: "photos/" + "a" * 300 + ".png"),
         ("shots/s030.yaml:1", "source.photo", "255")),
    Case("photo-path-too-long", "photograph", photo_case(lambda r: "/".join(["abcdefgh"] * 600) + ".png"),
         ("shots/s030.yaml:1", "source.photo")),
    Case("photo-absolute", "photograph", photo_case(lambda r: "/etc/passwd"),
         ("shots/s030.yaml:1", "source.photo", "absolute")),
    Case("photo-dot-dot", "photograph", photo_case(lambda r: "../../../etc/passwd"),
         ("shots/s030.yaml:1", "source.photo", "leaves the project")),
    Case("photo-url", "photograph", photo_case(lambda r: "'https://example.org/cat.jpg'"),
         ("shots/s030.yaml:1", "source.photo", "URL")),
    Case("morph-target-truncated", "photograph",
         lambda r: after(edit_shot(r, "s020", "photos/bloom.png", write_photo(r, "t.jpg", jpeg_bytes()[:900])),
                    "validate"), ("shots/s020.yaml:3", "generator.target")),
    # film.yaml
    Case("film-timecode-25h", "film.yaml", lambda r: after(edit_film(r, '"01:00:00:00"', '"25:00:00:00"'), "validate"),
         ("shots/film.yaml:4", "timecode_start", "25:00:00:00")),
    Case("film-timecode-61-minutes", "film.yaml", lambda r: after(edit_film(r, '"01:00:00:00"', '"01:61:00:00"'),
                                                             "validate"), ("shots/film.yaml:4", "timecode_start")),
    Case("film-timecode-frames-past-rate", "film.yaml", lambda r: after(edit_film(r, '"01:00:00:00"', '"01:00:00:30"'),
                                                                   "validate"),
         ("shots/film.yaml:4", "timecode_start")),
    Case("film-timecode-drop-at-24", "film.yaml", lambda r: after(edit_film(r, '"01:00:00:00"', '"01:00:00;00"'),
                                                             "validate"), ("shots/film.yaml:4", "timecode_start")),
    Case("film-runs-past-midnight", "film.yaml", lambda r: after(edit_film(r, '"01:00:00:00"', '"23:59:59:00"'),
                                                            "validate"),
         ("shots/film.yaml:4", "timecode_start", "24:00:00:00")),
    Case("film-rate-decimal", "film.yaml", lambda r: after(edit_film(r, "frame_rate: 24", "frame_rate: 23.976"),
                                                      "validate"), ("shots/film.yaml:2", "frame_rate")),
    Case("film-rate-zero-division", "film.yaml", lambda r: after(edit_film(r, "frame_rate: 24", "frame_rate: '1/0'"),
                                                            "validate"), ("shots/film.yaml:2", "frame_rate")),
    Case("film-resolution-huge", "film.yaml", lambda r: after(edit_film(r, "resolution: 256x144",
                                                                   "resolution: 100000x100000"), "validate"),
         ("shots/film.yaml:3", "resolution")),
    Case("film-handles-huge", "film.yaml", lambda r: after(edit_film(r, "cut:", "handles: 100000000\ncut:"),
                                                      "validate"), ("shots/film.yaml:5", "handles")),
    Case("film-title-long", "film.yaml", lambda r: after(edit_film(r, "title: Tiny Film", "title: " + "T" * 1000),
                                                    "validate"), ("shots/film.yaml:1", "title")),
    Case("film-cut-100k-ids", "film.yaml", lambda r: after(edit_film(r, "cut: [s010, s020, s030, s040]",
                                                                "cut: [" + "s010, " * 100_000 + "s040]"),
                                                      "validate"), ("shots/film.yaml", "values")),
    Case("film-billion-laughs", "film.yaml", lambda r: after(edit_film(r, "title: Tiny Film",
                                                                  billion_laughs() + "title: *l9"), "validate"),
         ("shots/film.yaml", "aliases")),
    Case("film-missing", "film.yaml", lambda r: after((r / "shots/film.yaml").unlink(), "validate"),
         ("shots/film.yaml", "no film settings")),
    Case("film-empty", "film.yaml", lambda r: after((r / "shots/film.yaml").write_text(""), "validate"),
         ("shots/film.yaml", "mapping")),
    # models.yaml
    Case("models-relative-outside-render", "models.yaml",
         models_file("models:\n  escape: {path: ../elsewhere/model}\n", "{kind: keyframe, model: escape}",
                     "render", "--profile", "final"), ("models.yaml", "models.escape.path")),
    Case("models-absolute-outside", "models.yaml", models_file("models:\n  escape: {path: OUTSIDE}\n"),
         ("models.yaml:2", "models.escape.path")),
    Case("models-absolute-outside-models-command", "models.yaml",
         models_file("models:\n  escape: {path: OUTSIDE}\n", "", "models"), ("models.yaml:2", "models.escape.path")),
    Case("models-symlink-out-render", "models.yaml",
         models_file("models:\n  linked: {path: models/linked}\n", "{kind: keyframe, model: linked}",
                     "render", "--profile", "final"), ("models.yaml", "models.linked.path")),
    Case("models-symlink-out-validate-final", "models.yaml",
         models_file("models:\n  linked: {path: models/linked}\n", "{kind: keyframe, model: linked}",
                     "validate", "--profile", "final"), ("models.yaml", "models.linked.path")),
    Case("models-nul-in-path", "models.yaml", models_file('models:\n  nul: {path: "models/a\\0b"}\n'),
         ("models.yaml:2", "models.nul.path", "NUL")),
    Case("models-revision-dot-dot", "models.yaml",
         models_file("models:\n  up: {repo: a/b, revision: ../../../../etc}\n"), ("models.yaml:2", "revision")),
    Case("models-as-a-list", "models.yaml", models_file("models: [a, b]\n"), ("models.yaml:1", "models")),
    Case("models-billion-laughs", "models.yaml", models_file(billion_laughs() + "models: *l9\n"),
         ("models.yaml", "aliases")),
    # review files
    Case("review-status-maybe", "review file", review_file("takes:\n  v001: {status: maybe}\n"),
         ("shots/reviews/s010.yaml", "takes.v001.status", "maybe")),
    Case("review-status-maybe-takes", "review file", review_file("takes:\n  v001: {status: maybe}\n", "takes", "s010"),
         ("shots/reviews/s010.yaml", "takes.v001.status")),
    Case("review-impossible-date", "review file", review_file("takes:\n  v001: {at: 2001-02-31}\n"),
         ("shots/reviews/s010.yaml", "malformed YAML")),
    Case("review-billion-laughs", "review file", review_file(billion_laughs() + "takes: {v001: {note: *l9}}\n",
                                                             "takes", "s010"), ("shots/reviews/s010.yaml",)),
    Case("review-not-a-mapping", "review file", review_file("- v001\n"), ("shots/reviews/s010.yaml", "mapping")),
    Case("review-2MB", "review file", review_file("takes: {v001: {note: '" + "n" * 2_000_000 + "'}}\n"),
         ("shots/reviews/s010.yaml", "larger than")),
    Case("approve-note-too-long", "review file",
         review_file("takes:\n  v001: {status: review, note: the first cut}\n", "approve", "s010", "v001", "--note",
                     "n" * 5000), ("shots/reviews/s010.yaml", "4000")),
    # cuts for conform
    Case("edl-reels-match-nothing", "EDL", cut_file("cut.edl", GOOD_EDL.replace("RTEST", "NOPE0")),
         ("cut.edl", "NOPE0000", "NOPE0003", "nothing was written")),
    Case("edl-reels-match-nothing-dry-run", "EDL",
         lambda r: cut_file("cut.edl", GOOD_EDL.replace("RTEST", "NOPE0"))(r) + ["--dry-run"], ("cut.edl", "NOPE0000")),
    Case("edl-record-out-before-in", "EDL",
         cut_file("cut.edl", GOOD_EDL.replace("01:00:01:00 01:00:02:00", "01:00:02:00 01:00:01:00")),
         ("cut.edl:5", "event 002", "record out")),
    Case("edl-source-out-before-in", "EDL",
         cut_file("cut.edl", GOOD_EDL.replace("00:00:00:08 00:00:01:08 01:00:00:00", "00:00:01:08 00:00:00:08 01:00:00:00")),
         ("cut.edl:4", "event 001", "source out")),
    Case("edl-empty", "EDL", cut_file("cut.edl", ""), ("cut.edl",)),
    Case("edl-binary", "EDL", cut_file("cut.edl", bytes(range(256)) * 40), ("cut.edl",)),
    Case("edl-5MB", "EDL", cut_file("cut.edl", "* COMMENT: " + "x" * 100 + "\n" * 1 + ("* " + "y" * 98 + "\n") * 50_000),
         ("cut.edl", "larger than")),
    Case("edl-6000-events", "EDL", cut_file("cut.edl", "TITLE: X\n" + "".join(
        edl_line(1 + i % 999, "RTEST000", "00:00:00:08", "00:00:00:09", "01:00:00:00", "01:00:00:01") + "\n"
        for i in range(6000))), ("cut.edl", "5000")),
    Case("edl-bad-timecode", "EDL", cut_file("cut.edl", GOOD_EDL.replace("01:00:02:12 01:00:03:00",
                                                                         "01:00:02:12 01:00:03:99")), ("cut.edl",)),
    Case("edl-is-a-folder", "EDL", lambda r: after((r / "cut.edl").mkdir(), "conform", str(r / "cut.edl")),
         ("cut.edl", "is a directory")),
    Case("edl-is-a-fifo", "EDL", lambda r: after(os.mkfifo(r / "cut.edl"), "conform", str(r / "cut.edl")),
         ("cut.edl", "not a regular file")),
    Case("edl-links-to-dev-zero", "EDL", lambda r: after((r / "cut.edl").symlink_to("/dev/zero"),
                                                    "conform", str(r / "cut.edl")),
         ("cut.edl", "not a regular file")),
    Case("edl-missing", "EDL", lambda r: ["conform", str(r / "nope.edl")], ("nope.edl", "no such file")),
    Case("cut-unknown-suffix", "EDL", cut_file("cut.txt", GOOD_EDL), ("cut.txt", "suffix")),
    Case("edl-latin1-unknown-reels", "EDL",
         cut_file("cut.edl", GOOD_EDL.replace("RTEST", "NOPE0").replace("Tiny Film", "Gen\xe8ve").encode("latin-1")),
         ("cut.edl", "NOPE0000")),
    Case("edl-hostile-clip-names", "EDL", cut_file("cut.edl", GOOD_EDL.replace("RTEST", "NOPE0") +
                                                   "* FROM CLIP NAME:  \x1b[2J" + "z" * 5000 + "\n"),
         ("cut.edl", "NOPE0000")),
    Case("xml-malformed", "XML", cut_file("cut.xml", "<xmeml><project><children>"), ("cut.xml:1", "XML")),
    Case("xml-billion-laughs", "XML", lambda r: cut_file("cut.xml", (FILES / "laughs.xml").read_text())(r),
         ("cut.xml",)),
    Case("xml-external-entity", "XML", lambda r: cut_file("cut.xml", (FILES / "entity.xml").read_text())(r),
         ("cut.xml",)),
    Case("xml-no-sequence", "XML", cut_file("cut.xml", '<?xml version="1.0"?><xmeml version="5"></xmeml>'),
         ("cut.xml",)),
    Case("otio-malformed-json", "OTIO", cut_file("cut.otio", '{"OTIO_SCHEMA": "Timeline.1", "tracks": '),
         ("cut.otio:1", "JSON")),
    Case("otio-deep-nesting", "OTIO", cut_file("cut.otio", '{"a":' * 200_000 + "1" + "}" * 200_000),
         ("cut.otio", "nests")),
    Case("otio-not-a-timeline", "OTIO",
         cut_file("cut.otio", '{"OTIO_SCHEMA": "SerializableCollection.1", "name": "x", "children": []}'),
         ("cut.otio", "no timeline")),
    Case("otio-a-list", "OTIO", cut_file("cut.otio", "[1, 2, 3]"), ("cut.otio", "no timeline")),
    Case("otio-negative-duration", "OTIO",
         lambda r: cut_file("cut.otio", otio_cut([("s010", 8, 24, 0), ("s020", 8, 24, 0)]).replace(
             '"value": 24.0', '"value": -24.0', 1))(r), ("cut.otio", "out")),
    Case("otio-conform-leaves-invalid-files", "OTIO",
         lambda r: cut_file("cut.otio", otio_cut([("s010", 8, 24, 0), ("s020", 8, 24, 0), ("s030", 8, 12, 20),
                                                  ("s040", 8, 12, 0)]))(r),
         ("cut.otio", "invalid", "shots/s030.yaml", "transition.dissolve")),
    Case("aaf-garbage", "AAF", cut_file("cut.aaf", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4000)), ("cut.aaf",)),
    Case("aaf-zero-bytes", "AAF", cut_file("cut.aaf", b""), ("cut.aaf",)),
    Case("aaf-text", "AAF", cut_file("cut.aaf", GOOD_EDL), ("cut.aaf",)),
    # racines interpolate
    Case("interpolate-missing", "interpolate", interpolate(lambda r: (str(r / "none.mov"), str(r / "out.mov"))),
         ("none.mov", "no such file")),
    Case("interpolate-text-as-video", "interpolate",
         interpolate(lambda r: after((r / "notes.mp4").write_text("not a video"), str(r / "notes.mp4"), str(r / "o.mov"))),
         ("notes.mp4", "not a video")),
    Case("interpolate-zero-bytes", "interpolate",
         interpolate(lambda r: after((r / "empty.mov").write_bytes(b""), str(r / "empty.mov"), str(r / "o.mov"))),
         ("empty.mov",)),
    Case("interpolate-fifo", "interpolate",
         interpolate(lambda r: after(os.mkfifo(r / "pipe.mov"), str(r / "pipe.mov"), str(r / "o.mov"))), ("pipe.mov",)),
    Case("interpolate-huge-frames", "interpolate",
         interpolate(lambda r: after((r / "huge.y4m").write_bytes(b"YUV4MPEG2 W10000 H10000 F24:1 Ip A1:1 C420jpeg\n"
                                                             b"FRAME\nabcdefgh"), str(r / "huge.y4m"),
                                str(r / "o.mov"))), ("huge.y4m", "10000x10000")),
    Case("interpolate-decimal-rate", "interpolate",
         interpolate(lambda r: (str(tiny_video(r)), str(r / "o.mov")), "--fps", "23.976"), ("--fps", "24000/1001")),
    Case("interpolate-zero-rate", "interpolate",
         interpolate(lambda r: (str(tiny_video(r)), str(r / "o.mov")), "--fps", "1/0"), ("--fps", "1/0")),
    Case("interpolate-huge-rate", "interpolate",
         interpolate(lambda r: (str(tiny_video(r)), str(r / "o.mov")), "--fps", "9" * 40), ("--fps", "1000")),
    Case("interpolate-unknown-output", "interpolate",
         interpolate(lambda r: (str(tiny_video(r)), str(r / "o.avi"))), ("o.avi", ".mov")),
    Case("interpolate-over-its-input", "interpolate",
         interpolate(lambda r: (str(tiny_video(r)), str(r / "clip.mp4"))), ("clip.mp4", "overwrite")),
]
