"""Broken and hostile inputs: nothing lost, nothing injected, nothing hangs.

The corpus (tests/hostile/cases.py) breaks every kind of file racines reads, one case at a
time, in a copy of a prepared tiny project; each command must refuse with its exit code and a
message naming the file and the field or line, show no traceback, change nothing under shots/,
renders/ or edl/, and end within the time bound. The tests after it cover what is accepted but
made safe: texts on their way into the exports, multi-line credits, long tags, the photographs'
decode cache, bounded messages.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import time
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
from click.testing import CliRunner

from racines.cli import main
from racines.errors import ValidationFailed
from tests.conftest import TINY_SHOTS, tree_digest, write_tiny_project
from tests.hostile.cases import CASES, edl_line, fake_takes

TIME_BOUND_S = 20


@pytest.fixture(scope="session")
def hostile_template(tmp_path_factory) -> Path:
    """The tiny film with takes conform can match, used once already (the photographs' decode
    cache and the decisions' lock file exist), so that a refused command has nothing to add."""
    root = write_tiny_project(tmp_path_factory.mktemp("hostile") / "film")
    fake_takes(root)
    (root / "renders" / ".reviews.lock").touch()
    result = CliRunner().invoke(main, ["--project", str(root), "validate"])
    assert result.exit_code == 0, result.output
    return root


def run(root: Path, *args: str):
    return CliRunner().invoke(main, ["--project", str(root), *args])


def digest(root: Path) -> dict[str, dict[str, str]]:
    return {name: tree_digest(root / name) for name in ("shots", "renders", "edl")}


@contextlib.contextmanager
def deadline(seconds: float):
    """Interrupt a command that runs past ``seconds`` (it then fails its case instead of hanging the run)."""
    def expire(_signum, _frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_corpus_covers_every_kind_of_input():
    kinds = {case.kind for case in CASES}
    assert len(CASES) >= 60 and len({case.id for case in CASES}) == len(CASES)
    assert kinds >= {"shot file", "film.yaml", "models.yaml", "photograph", "review file", "EDL", "XML", "OTIO", "AAF",
                     "interpolate"}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_input_is_refused_naming_the_file_and_nothing_changes(case, hostile_template, tmp_path):
    root = tmp_path / "film"
    shutil.copytree(hostile_template, root, symlinks=True)
    args = case.setup(root)
    before = digest(root)
    started = time.monotonic()
    with deadline(TIME_BOUND_S + 5):
        result = CliRunner().invoke(main, ["--project", str(root), *args])
    elapsed = time.monotonic() - started
    output = result.output
    assert result.exit_code == case.code, output[-3000:]
    assert "Traceback" not in output and "internal error" not in output, output[-3000:]
    missing = [word for word in case.names if word not in output]
    assert not missing, f"{missing} not in:\n{output[-3000:]}"
    assert len(output) < 20_000, "a message quotes the input at length"
    assert digest(root) == before
    assert elapsed < TIME_BOUND_S


# --- what is accepted, made safe --------------------------------------------------------------

HOSTILE_TITLE = "Evil\n002  AX       V     C        00:00:00:00 00:00:01:00 01:00:00:00 01:00:01:00\nFCM: DROP FRAME"


def exported(root: Path) -> tuple[dict[str, str], otio.schema.Timeline]:
    from racines.edit.exports import export_texts
    from racines.film.loader import load_film
    from racines.pipeline import cut_timeline, selected_takes

    film = load_film(root)
    timeline = cut_timeline(film, selected_takes(film))
    return export_texts(timeline, film.rate, film.drop_frame, root / "edl"), timeline


def test_a_title_with_line_breaks_adds_no_line_to_the_edl(tmp_path):
    root = write_tiny_project(tmp_path / "film", film=f"title: {json.dumps(HOSTILE_TITLE)}\nresolution: 256x144\n"
                                                      "cut: [s010, s020, s030, s040]\n")
    fake_takes(root)
    texts, _ = exported(root)
    lines = texts["edl"].splitlines()
    assert lines[0].startswith("TITLE: Evil 002") and len(lines[0]) <= len("TITLE: ") + 70
    assert [line for line in lines if line.startswith("FCM")] == ["FCM: NON-DROP FRAME"]
    assert not any(" AX " in line for line in lines[1:])  # no event of the title's making
    assert all("\n" not in (name.text or "") for name in ET.fromstring(texts["xml"]).iter("name"))
    assert "\n" not in json.loads(texts["otio"])["name"]


def test_control_characters_in_texts_leave_every_export_readable(tmp_path):
    from racines.edit.exports import write_aaf

    shots = dict(TINY_SHOTS)
    shots["s030"] += 'notes: "a note\\x01 with\\x0c controls\\x1b[31m and\\nlines"\n'
    shots["s030"] = shots["s030"].replace("contributor: Bao", 'contributor: "Bao\\x02"')
    root = write_tiny_project(tmp_path / "film", shots, film='title: "Tiny\\x00\\x07 Film"\nresolution: 256x144\n'
                                                              "cut: [s010, s020, s030, s040]\n")
    fake_takes(root)
    texts, timeline = exported(root)
    document = ET.fromstring(texts["xml"])  # XML 1.0 has no place for control characters
    assert all("\x01" not in (element.text or "") for element in document.iter())
    assert "\x1b" not in texts["edl"] and "\x00" not in texts["edl"]
    assert json.loads(texts["otio"])["name"] == "Tiny Film"
    write_aaf(timeline, tmp_path / "cut.aaf")
    assert (tmp_path / "cut.aaf").stat().st_size > 0


def test_text_is_cleaned_for_each_format():
    from racines.edit.text import clean, edl_field, one_line

    assert clean("a\x00b\x1b[2J\r\nc\td\u2028") == "ab[2J\nc\td\u2028"  # XML 1.0 holds U+2028
    assert one_line("one\ntwo\r\nthree\x85four\u2029five\x07") == "one two three four five"
    assert edl_field("x" * 500, 70) == "x" * 67 + "..." and edl_field("short") == "short"


def test_the_credits_card_draws_text_with_line_breaks():
    from racines.generators.credits import render_card

    one = render_card([["title", "Racines"], ["body", "Amina"]], 256, 144)
    two = render_card([["title", "Racines\nII"], ["body", "Amina\rB."], ["body", "x\u2028y"]], 256, 144)
    assert one.shape == two.shape == (144, 256, 3) and not np.array_equal(one, two)


def test_a_long_tag_goes_to_ffmpeg_by_file(tmp_path):
    import ffmpeg

    from racines.media import presets
    from racines.media.ffmpeg import FrameWriter, raw_input
    from racines.media.probe import read_tags

    out = tmp_path / "take.mov"
    stream = presets.to_bt709(raw_input(64, 48, "24"), "yuv422p10le")
    output = stream.output(str(out), movflags="+use_metadata_tags", **presets.prores_hq("00:00:00:00", "RTEST000"))
    tags = {"comment": "racines provenance " + "p" * 300_000, "title": "a=b;c#d\\e\nf", "racines_shot": "s010"}
    with FrameWriter(ffmpeg.merge_outputs(output), "a test", metadata={str(out): tags}) as writer:
        for _ in range(2):
            writer.write(np.zeros((48, 64, 3), np.uint8))
    read = read_tags(out)
    assert read["comment"] == tags["comment"] and read["title"] == tags["title"] and read["racines_shot"] == "s010"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.mov"]  # the metadata file is gone


def test_validation_decodes_each_photograph_once_by_content(tiny_project, monkeypatch):
    from racines.film import images
    from racines.pipeline import validate

    decoded = []
    real = images.check_image
    monkeypatch.setattr(images, "check_image", lambda path: decoded.append(path.name) or real(path))
    validate(tiny_project)
    assert sorted(decoded) == ["bloom.png", "grid.png"]
    decoded.clear()
    validate(tiny_project)
    assert decoded == []  # remembered in renders/cache/, by content
    photos = tiny_project / "shots" / "photos"
    shutil.copy(photos / "grid.png", photos / "copy.png")
    shot = tiny_project / "shots" / "s030.yaml"
    shot.write_text(shot.read_text().replace("photos/bloom.png", "photos/copy.png"))
    validate(tiny_project)
    assert decoded == []  # the same bytes under another name
    (photos / "grid.png").write_bytes((photos / "bloom.png").read_bytes()[:-100])
    with pytest.raises(ValidationFailed, match="truncated"):
        validate(tiny_project)


def test_a_refused_command_writes_no_decode_cache(tiny_project):
    from racines.pipeline import validate

    shot = tiny_project / "shots" / "s030.yaml"
    shot.write_text(shot.read_text().replace("consent: granted", "consent: withdrawn"))
    assert run(tiny_project, "render").exit_code == 2  # the shot files load; consent refuses
    (tiny_project / "shots" / "s010.yaml").write_text("duration: [\n")
    with pytest.raises(ValidationFailed):
        validate(tiny_project)
    assert not (tiny_project / "renders").exists()


def test_messages_quote_a_value_in_at_most_200_characters():
    from racines.errors import Problem

    laughs: object = ["lol"] * 9
    for _ in range(9):
        laughs = [laughs] * 9  # 387 million strings if printed whole
    text = str(Problem("shots/s010.yaml", "f" * 1000, "bad", value=laughs, has_value=True, line=3))
    assert len(text) < 700 and text.startswith("shots/s010.yaml:3: ") and "\u2026" in text


def test_reading_a_cut_of_the_largest_size_stays_quick(tmp_path):
    from racines.edit.conform import MAX_EVENTS, read_cut
    from racines.edit.timecode import to_timecode

    rate = Fraction(24)
    lines = ["TITLE: LONG", "FCM: NON-DROP FRAME", ""]
    for index in range(MAX_EVENTS):
        record = 86400 + index * 24
        lines.append(edl_line(1 + index % 999, "RTEST000", "00:00:00:08", "00:00:01:08",
                              to_timecode(record, rate), to_timecode(record + 24, rate)))
    path = tmp_path / "long.edl"
    path.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    events = read_cut(path, rate)
    assert len(events) == MAX_EVENTS and events[-1].record_in == (MAX_EVENTS - 1) * 24
    assert time.monotonic() - started < 15
