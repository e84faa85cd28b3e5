"""The batch over the demo film (at 256x144) on a machine without model weights, at the final
profile, with one photograph cut short after it was checked: the three shots whose final:
model is missing fail alone (not retried), so does the shot with the damaged photograph, the
others render; the failures are in the dailies page and summary.json, the exit code says
partial failure; the page, opened in headless Chromium, lists every shot and every picture on
it loads. Then the photograph is restored and a draft batch finishes the film."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from racines.cli import main
from racines.takes.store import TakeStore
from tests.test_batch_local import cut_short_after_validation

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CUT = ["s010", "s020", "s030", "s040", "s050", "s060", "s070", "s080", "s090"]
FINALS = ("s020", "s030", "s040")  # the demo shots with a final: block


class Dom(HTMLParser):
    """The shot cards and pictures of a page as Chromium left it after loading."""

    def __init__(self, text: str):
        super().__init__()
        self.shots: dict[str, dict] = {}
        self.images: list[dict] = []
        self.videos: list[dict] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "article" and "data-shot" in attrs:
            self.shots[attrs["data-shot"]] = attrs
        elif tag == "img":
            self.images.append(attrs)
        elif tag == "video":
            self.videos.append(attrs)


def loaded_dom(page: Path, tmp_path: Path) -> Dom:
    chromium = shutil.which("chromium") or pytest.fail(
        "chromium not found: `make system-deps` installs Debian's chromium (as root)")
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)  # a new empty profile each time
    out = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "</html>" in out.stdout, out.stderr[-2000:]
    return Dom(out.stdout)


def batch(root: Path, *args: str):
    return CliRunner().invoke(main, ["--project", str(root), "batch", "--backoff", "0", *args])


def test_failing_shots_on_the_demo(demo_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))  # no weights, whatever this machine holds
    film = demo_copy / "shots/film.yaml"
    film.write_text(film.read_text().replace("resolution: 1280x720", "resolution: 256x144"))
    photo = demo_copy / "shots/photos/cat_1975.jpg"
    original = photo.read_bytes()
    # a copy that stopped half-way while the batch ran: validation decodes every photograph whole
    cut_short_after_validation(monkeypatch, photo, len(photo.read_bytes()) // 2)

    result = batch(demo_copy)  # the nightly default: --profile final
    assert result.exit_code == 4, result.output
    assert "profile final (3 shots by diffusion (ltx, svd, wan-flf2v), 6 without a final: block at draft)" \
        in result.output
    for shot in FINALS:
        assert f"failed {shot} (missing model: not retried" in result.output
    assert "failed s050 (invalid input: not retried" in result.output
    store = TakeStore(demo_copy)
    made = [s for s in CUT if store.takes(s)]
    assert made == [s for s in CUT if s not in (*FINALS, "s050", "s090")]  # all the others
    assert "blocked s090: waiting for a take of s020, s030, s040, s050" in result.output
    assert not (demo_copy / "renders/racines_master.mov").exists()

    folder = next((demo_copy / "renders/dailies").iterdir())
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["exit_code"] == 4 and summary["outcome"] == "partial failure" and summary["profile"] == "final"
    shots = {s["shot_id"]: s for s in summary["shots"]}
    assert list(shots) == CUT
    assert shots["s050"]["state"] == "failed" and shots["s050"]["error_kind"] == "invalid input"
    assert "cat_1975.jpg: the photograph cannot be decoded" in shots["s050"]["error"]
    assert shots["s030"]["state"] == "failed" and shots["s030"]["error_kind"] == "missing model"
    assert shots["s030"]["attempts"] == 1 and "the model 'svd-xt'" in shots["s030"]["error"]
    assert "hf download stabilityai/stable-video-diffusion-img2vid-xt" in shots["s030"]["error"]
    assert shots["s090"]["state"] == "blocked" and summary["film"]["state"] == "not rendered"
    assert all(shots[s]["state"] == "made" and shots[s]["take"]["version"] == "v001" for s in made)
    assert "cat_1975.jpg" in (demo_copy / shots["s050"]["log"]).read_text()

    dom = loaded_dom(folder / "index.html", tmp_path)
    assert list(dom.shots) == CUT
    assert {s: a["data-state"] for s, a in dom.shots.items() if a["data-state"] != "made"} == {
        "s020": "failed", "s030": "failed", "s040": "failed", "s050": "failed", "s090": "blocked"}
    assert len(dom.images) == 2 * len(made)  # a thumbnail and a contact sheet per take
    assert all(img.get("data-loaded") == "yes" for img in dom.images), dom.images
    page = (folder / "index.html").read_text()
    assert "cat_1975.jpg: the photograph cannot be decoded" in page and 'href="logs/s050.log"' in page
    assert "install the model where the message says" in page

    # the check can fail: a page whose picture points nowhere is caught
    broken = folder / "broken.html"
    broken.write_text(page.replace("takes/s010/v001/thumbnail.jpg", "takes/s010/v001/missing.jpg"))
    assert [img["src"] for img in loaded_dom(broken, tmp_path).images if img.get("data-loaded") == "no"] == [
        "../../takes/s010/v001/missing.jpg"]
    broken.unlink()

    monkeypatch.undo()  # the photograph is cut short no more
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    photo.write_bytes(original)  # the photograph is copied again; a draft batch finishes the film
    fixed = batch(demo_copy, "--profile", "draft")
    assert fixed.exit_code == 0, fixed.output
    redone = [*FINALS, "s050", "s090"]
    assert sorted(line.split()[1] for line in fixed.output.splitlines() if line.startswith("made ")) == redone
    assert all([t.version for t in store.takes(s)] == ["v001"] for s in CUT)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["film"]["state"] == "rendered" and summary["film"]["review"] == "renders/racines_review.mp4"
    # the page still shows the night's work: the takes the first batch made are "made" too
    assert {s["shot_id"]: s["made_earlier"] for s in summary["shots"]} == {s: s not in redone for s in CUT}
    dom = loaded_dom(folder / "index.html", tmp_path)
    assert {s: a["data-state"] for s, a in dom.shots.items()} == {s: "made" for s in CUT}
    assert len(dom.images) == 2 * len(CUT) and all(img.get("data-loaded") == "yes" for img in dom.images)
    assert [v["src"] for v in dom.videos] == ["../../racines_review.mp4"]
    assert batch(demo_copy, "--profile", "draft").exit_code == 5
