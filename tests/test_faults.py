"""A copy of the demo project with one fault: exit code 2, a message naming file and field,
and renders/ left exactly as it was."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from racines.cli import main
from tests.conftest import tree_digest


def replace_in(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def fault_malformed_yaml(root):
    replace_in(root / "shots/s030.yaml", "  kind: kenburns", "  kind: [kenburns")


def fault_unknown_key(root):
    replace_in(root / "shots/s030.yaml", "  easing: ease-out", "  easing: ease-out\n  speeed: 2")


def fault_negative_duration(root):
    replace_in(root / "shots/s050.yaml", "duration: 3s", "duration: -3")


def fault_missing_photograph(root):
    (root / "shots/photos/cat_1975.jpg").unlink()


def fault_photo_outside_project(root):
    replace_in(root / "shots/s050.yaml", "photos/cat_1975.jpg", "../../cat_1975.jpg")
    (root.parent / "cat_1975.jpg").write_bytes(b"not even looked at")


def fault_text_file_as_photograph(root):
    (root / "shots/photos/letter.txt").write_text("Dear family,\n")
    replace_in(root / "shots/s050.yaml", "photos/cat_1975.jpg", "photos/letter.txt")


def fault_withdrawn_consent(root):
    replace_in(root / "shots/s050.yaml", "consent: granted", "consent: withdrawn")


def fault_dissolve_longer_than_shots(root):
    replace_in(root / "shots/s050.yaml", "transition: {dissolve: 12}", "transition: {dissolve: 200}")


FAULTS = [
    (fault_malformed_yaml, "shots/s030.yaml", "malformed YAML"),
    (fault_unknown_key, "shots/s030.yaml", "generator.speeed"),
    (fault_negative_duration, "shots/s050.yaml", "duration"),
    (fault_missing_photograph, "shots/s050.yaml", "source.photo"),
    (fault_photo_outside_project, "shots/s050.yaml", "leaves the project"),
    (fault_text_file_as_photograph, "shots/s050.yaml", "not a readable image"),
    (fault_withdrawn_consent, "shots/s050.yaml", "Stefan van der Walt"),
    (fault_dissolve_longer_than_shots, "shots/s050.yaml", "transition.dissolve"),
]


@pytest.mark.parametrize("fault, file, words", FAULTS, ids=[f[0].__name__[6:] for f in FAULTS])
@pytest.mark.parametrize("command", [["render"], ["render", "--shot", "s050"], ["edl"]])
def test_fault_stops_before_any_work(demo_copy, fault, file, words, command):
    renders = demo_copy / "renders"
    (renders / "takes" / "s050" / "v001").mkdir(parents=True)
    (renders / "takes" / "s050" / "v001" / "manifest.json").write_text('{"approved": true}\n')
    (renders / "racines_master.mov").write_bytes(b"an earlier master")
    before = tree_digest(renders)
    fault(demo_copy)
    result = CliRunner().invoke(main, ["--project", str(demo_copy), *command])
    assert result.exit_code == 2, result.output
    assert file in result.output and words in result.output
    assert "fix:" in result.output
    assert tree_digest(renders) == before
    assert not (demo_copy / "edl").exists()


@pytest.mark.parametrize("fault", [f[0] for f in FAULTS if f[0] is not fault_withdrawn_consent])
def test_validate_reports_the_fault(demo_copy, fault):
    fault(demo_copy)
    result = CliRunner().invoke(main, ["--project", str(demo_copy), "validate"])
    assert result.exit_code == 2 and "problem" in result.output


def test_validate_accepts_the_demo(demo_copy):
    result = CliRunner().invoke(main, ["--project", str(demo_copy), "validate"])
    assert result.exit_code == 0, result.output
    assert "9 in the cut" in result.output and "1002 frames" in result.output
