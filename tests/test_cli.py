"""The command line end to end: render, render --shot, edl, consent, exit codes, and the demo film."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pycmx
import pytest
import yaml
from click.testing import CliRunner

from racines import __version__
from racines.cli import main
from racines.film.loader import load_film
from racines.takes.store import TakeStore
from tests.conftest import ffprobe, tree_digest, video_stream


def run(root, *args):
    return CliRunner().invoke(main, ["--project", str(root), *args])


def test_version_and_help():
    out = subprocess.run([sys.executable, "-m", "racines.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and __version__ in out.stdout
    assert "validate" in CliRunner().invoke(main, ["--help"]).output


def test_render_one_shot_makes_only_its_take(tiny_project):
    result = run(tiny_project, "render", "--shot", "s030")
    assert result.exit_code == 0, result.output
    store = TakeStore(tiny_project)
    assert [t.version for t in store.takes("s030")] == ["v001"]
    assert store.takes("s010") == [] and not (tiny_project / "edl").exists()
    assert not list((tiny_project / "renders").glob("*.mov"))


def test_unknown_shot_is_a_usage_error(tiny_project):
    result = run(tiny_project, "render", "--shot", "s999")
    assert result.exit_code == 2 and "no shot named s999" in result.output


def test_edl_before_any_render_says_what_to_do(tiny_project):
    result = run(tiny_project, "edl")
    assert result.exit_code == 2 and "racines render" in result.output


def test_rerender_reuses_takes_and_edl_command_rewrites_exports(tiny_project):
    assert run(tiny_project, "render", "--no-review").exit_code == 0
    leftover = tiny_project / "renders" / ".tiny_film_master.k3j2.partial.mov"
    leftover.write_bytes(b"what a killed render left")
    takes = tree_digest(tiny_project / "renders" / "takes")
    result = run(tiny_project, "render", "--no-review")
    assert result.exit_code == 0 and result.output.count("(unchanged)") == 4
    assert tree_digest(tiny_project / "renders" / "takes") == takes
    assert not leftover.exists()
    (tiny_project / "edl" / "tiny_film.edl").unlink()
    assert run(tiny_project, "edl").exit_code == 0
    assert (tiny_project / "edl" / "tiny_film.edl").read_text().startswith("TITLE: Tiny Film")


def test_withdrawn_consent_stops_and_skip_unconsented_leaves_the_shot_out(tiny_project):
    shot = tiny_project / "shots" / "s030.yaml"
    shot.write_text(shot.read_text().replace("consent: granted", "consent: withdrawn"))
    refused = run(tiny_project, "render")
    assert refused.exit_code == 2 and "s030" in refused.output and "Bao" in refused.output
    assert not (tiny_project / "renders").exists()
    result = run(tiny_project, "render", "--skip-unconsented", "--no-review")
    assert result.exit_code == 0, result.output
    assert not TakeStore(tiny_project).takes("s030")
    master = video_stream(ffprobe(tiny_project / "renders" / "tiny_film_master.mov", count_frames=True))
    assert int(master["nb_read_frames"]) == 24 + 24 + 12 - 6 - 4
    manifest = TakeStore(tiny_project).latest("s040").manifest
    assert manifest["generator"]["name"] == "credits"


def test_debug_shows_a_traceback(tiny_project):
    (tiny_project / "shots" / "s030.yaml").write_text("duration: [\n")
    quiet, loud = run(tiny_project, "validate"), CliRunner().invoke(main, ["--project", str(tiny_project), "--debug", "validate"])
    assert quiet.exit_code == loud.exit_code == 2
    assert "Traceback" not in quiet.output and "Traceback" in loud.output


def test_the_demo_film_renders_with_its_acceptance_properties(demo_copy):
    """The demo project itself, at a small resolution so the test stays quick."""
    film_file = demo_copy / "shots" / "film.yaml"
    film_file.write_text(film_file.read_text().replace("resolution: 1280x720", "resolution: 320x180"))
    result = run(demo_copy, "render")
    assert result.exit_code == 0, result.output
    film = load_film(demo_copy)
    shots = film.shots_in_cut()
    assert 6 <= len(shots) <= 10
    expected = sum(s.frames for s in shots) - sum(s.dissolve_frames for s in shots)
    assert 30 * 24 <= expected <= 60 * 24
    video = video_stream(ffprobe(demo_copy / "renders" / "racines_master.mov", count_frames=True))
    assert (video["codec_name"], video["profile"], video["pix_fmt"]) == ("prores", "HQ", "yuv422p10le")
    assert video["r_frame_rate"] == "24/1" and video["tags"]["timecode"] == "01:00:00:00"
    assert (video["color_primaries"], video["color_transfer"], video["color_space"]) == ("bt709",) * 3
    assert int(video["nb_read_frames"]) == expected
    edl = pycmx.parse_cmx3600(io.StringIO((demo_copy / "edl" / "racines.edl").read_text()))
    edits = [e for ev in edl.events for e in ev.edits]
    shown = [e for e in edits if e.record_in != e.record_out]
    assert len(shown) == len(shots) and edits[0].record_in == "01:00:00:00"
    assert len({e.source for e in shown}) == len(shots)
    dissolves = [e.transition.effect_duration for e in edits if e.transition.kind == "D"]
    assert dissolves == [s.dissolve_frames for s in shots if s.dissolve_frames]
    credits = json.loads((demo_copy / "renders" / "takes" / "s090" / "v001" / "manifest.json").read_text())
    assert credits["generator"]["name"] == "credits"
    contributors = {yaml.safe_load(p.read_text())["source"]["contributor"]
                    for p in (demo_copy / "shots").glob("s0[1-8]0.yaml")}
    assert contributors == {"NASA", "Rachel Michetti", "Stefan van der Walt", "Lav Varshney", "SpaceX"}
    # the sound: 24-bit PCM as long as the picture to the sample, at -23 LUFS by two meters
    from tests.sound_fixtures import ebur128, pyloudnorm_lufs

    master = demo_copy / "renders" / "racines_master.mov"
    (audio,) = [s for s in ffprobe(master)["streams"] if s["codec_type"] == "audio"]
    assert (audio["codec_name"], audio["sample_rate"], audio["channels"]) == ("pcm_s24le", "48000", 2)
    assert int(audio["duration_ts"]) == expected * 2000
    integrated, peak = ebur128(master)
    assert abs(integrated + 23) <= 0.5 and abs(pyloudnorm_lufs(master) + 23) <= 0.5 and peak <= -1
    assert abs(ebur128(demo_copy / "renders" / "racines_review.mp4")[0] + 16) <= 1
    lines = credits["cache_inputs"]["derived"]
    assert ["head", "Voices"] in lines and ["body", "the racines project, CC0"] in lines


@pytest.mark.parametrize("which", ["shot", "film"])
def test_schema_prints_json(which):
    document = json.loads(CliRunner().invoke(main, ["schema", which]).output)
    assert document["type"] == "object" and document["additionalProperties"] is False


def test_project_and_debug_after_the_command_name(tiny_project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the project: --project after the command must be what counts
    validated = CliRunner().invoke(main, ["validate", "--project", str(tiny_project)])
    assert validated.exit_code == 0 and validated.output.startswith("ok: "), validated.output
    out = subprocess.run([sys.executable, "-m", "racines.cli", "render", "--project", str(tiny_project),
                          "--shot", "s030", "--quiet"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert [t.version for t in TakeStore(tiny_project).takes("s030")] == ["v001"]
    # the last --project given wins, as with any repeated option
    moved = CliRunner().invoke(main, ["--project", str(tmp_path / "elsewhere"), "takes", "s030",
                                      "--project", str(tiny_project)])
    assert moved.exit_code == 0 and "v001" in moved.output, moved.output


def test_errors_are_exit_codes_before_or_after_debug(tiny_project, tmp_path):
    missing = tmp_path / "no-such-project"
    quiet = CliRunner().invoke(main, ["validate", "--project", str(missing)])
    assert quiet.exit_code == 2 and "Traceback" not in quiet.output
    loud = CliRunner().invoke(main, ["validate", "--project", str(missing), "--debug"])
    assert loud.exit_code == 2
    unknown = CliRunner().invoke(main, ["render", "--project", str(tiny_project), "--shot", "s999"])
    assert unknown.exit_code == 2 and "no shot named s999" in unknown.output


def test_racines_edl_rewrites_an_aaf_older_than_the_cut(tiny_project):
    import aaf2

    assert run(tiny_project, "render", "--no-master").exit_code == 0
    assert run(tiny_project, "edl").exit_code == 0
    aaf_path = tiny_project / "edl" / "tiny_film.aaf"

    def sequence_length() -> int:
        with aaf2.open(str(aaf_path), "r") as handle:
            composition = next(iter(handle.content.toplevel()))
            return max(slot.segment.length for slot in composition.slots if slot.media_kind == "Picture")

    before = sequence_length()
    shot = tiny_project / "shots" / "s030.yaml"
    shot.write_text(shot.read_text().replace("duration: 12", "duration: 18"))
    # a render rewrites the text exports and leaves the slow AAF to racines edl
    assert run(tiny_project, "render", "--no-master").exit_code == 0
    result = run(tiny_project, "edl")
    assert result.exit_code == 0 and "wrote edl/tiny_film.aaf" in result.output, result.output
    assert sequence_length() == before + 6
