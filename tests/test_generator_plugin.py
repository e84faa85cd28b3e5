"""A generator installed by another package, through the ``racines.generators`` entry point:
shot files name it, validation checks its settings, racines schema lists it, and it renders.
The film layer learns a kind only from its settings model: the loader also takes kinds handed
to it, with no entry point at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pytest

from racines.errors import ValidationFailed
from racines.film.loader import load_film
from racines.film.schema import GeneratorBase, Kinds, KindSettings, installed_kinds
from racines.generators.registry import derives_from_takes
from tests.conftest import decode_frames, write_tiny_project

PLUGIN = '''\
"""A generator of one colour, from a package other than racines."""
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from racines.film.schema import GeneratorBase
from racines.generators.base import Generator


class SolidSettings(GeneratorBase):
    """Every frame one colour."""

    kind: Literal["solid"]
    colour: list[Annotated[int, Field(ge=0, le=255)]] = Field([255, 0, 0], min_length=3, max_length=3)


class SolidGenerator(Generator):
    name = "solid"
    version = "1"
    settings = SolidSettings

    def frames(self, shot, film, derived=None):
        frame = np.empty((film.height, film.width, 3), np.uint8)
        frame[:] = shot.generator.colour
        for _ in range(shot.frames):
            yield frame
'''

FILM = "title: Plugin\nframe_rate: 24\nresolution: 128x72\ncut: [s010]\n"
SOURCE = "source: {photo: photos/grid.png, contributor: Amina, consent: granted}\n"


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    """A folder holding an installed package: its module and its dist-info with the entry point."""
    site = tmp_path / "site"
    (site / "racines_plugin_demo").mkdir(parents=True)
    (site / "racines_plugin_demo" / "__init__.py").write_text(PLUGIN)
    info = site / "racines_plugin_demo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: racines-plugin-demo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[racines.generators]\nsolid = racines_plugin_demo:SolidGenerator\n")
    return site


def racines(site: Path, root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "racines.cli", "--project", str(root), *args],
                          capture_output=True, text=True, env=env, cwd=root, timeout=300)


def test_a_generator_from_another_package_renders_the_shot_that_names_it(tmp_path, plugin_path):
    root = write_tiny_project(tmp_path / "film", {"s010": SOURCE + "duration: 6\n"
                                                  "generator: {kind: solid, colour: [30, 160, 90], seed: 4}\n"}, FILM)
    made = racines(plugin_path, root, "render", "--shot", "s010")
    assert made.returncode == 0, made.stderr
    take = root / "renders" / "takes" / "s010" / "v001"
    manifest = json.loads((take / "manifest.json").read_text())
    assert manifest["generator"]["name"] == "solid"
    assert manifest["generator"]["settings"]["colour"] == [30, 160, 90]
    frames = decode_frames(take / "frames.mkv", "rgb24", 128, 72)
    assert len(frames) == 6 + 2 * 8  # the shot and its handles
    for raw in frames:
        pixels = np.frombuffer(raw, np.uint8).reshape(72, 128, 3)
        assert (pixels == [30, 160, 90]).all()

    schema = racines(plugin_path, root, "schema")
    assert schema.returncode == 0, schema.stderr
    document = json.loads(schema.stdout)
    assert "solid" in document["properties"]["generator"]["discriminator"]["mapping"]
    assert document["$defs"]["SolidSettings"]["properties"]["colour"]["default"] == [255, 0, 0]
    assert "morph" in document["properties"]["generator"]["discriminator"]["mapping"]  # racines' own kinds stay


def test_validate_locates_a_bad_setting_of_the_plugin_and_lists_it_among_the_kinds(tmp_path, plugin_path):
    shots = {"s010": SOURCE + "duration: 6\ngenerator:\n  kind: solid\n  colour: [30, 300, 90]\n",
             "s020": SOURCE + "duration: 6\ngenerator: {kind: slid}\n"}
    root = write_tiny_project(tmp_path / "film", shots, FILM.replace("[s010]", "[s010, s020]"))
    checked = racines(plugin_path, root, "validate")
    assert checked.returncode == 2, checked.stdout + checked.stderr
    assert "shots/s010.yaml:5: generator.colour.1: Input should be less than or equal to 255 (got 300)" \
        in checked.stderr
    unknown = next(line for line in checked.stderr.splitlines() if line.startswith("shots/s020.yaml:3: generator"))
    fix = checked.stderr.split(unknown, 1)[1].splitlines()[1]
    assert "'slid'" in unknown and "solid" in fix and "kenburns" in fix

    # without the package on the path the kind is unknown, and said so in the same terms
    without = racines(tmp_path / "nowhere", root, "validate")
    assert without.returncode == 2 and "shots/s010.yaml:3: generator" in without.stderr
    assert "solid" not in without.stderr.split("shots/s010.yaml:3:", 1)[1].splitlines()[1]


class Glow(GeneratorBase):
    """A kind handed to the loader: an image of its own, and a rule across its values."""

    kind: Literal["glow"]
    halo: str
    rise: int = 0

    images: ClassVar[tuple[str, ...]] = ("halo",)
    photograph: ClassVar[bool] = False

    def problems(self, frames: int):
        return [(("rise",), f"rises over {self.rise} frames of a {frames}-frame shot", self.rise,
                 "make rise shorter than the shot")] if self.rise >= frames else []


def test_the_loader_knows_a_kind_only_by_the_settings_model_handed_to_it(tmp_path):
    kinds = Kinds({"glow": Glow})
    root = write_tiny_project(tmp_path / "ok", {"s010": "duration: 6\ngenerator: {kind: glow, halo: photos/bloom.png}\n"},
                              FILM)
    shot = load_film(root, kinds=kinds).shots["s010"]
    assert isinstance(shot.generator, Glow) and shot.source is None and shot.consented  # no photograph needed
    assert shot.assets["halo"] == root / "shots" / "photos" / "bloom.png"

    broken = write_tiny_project(tmp_path / "broken", {
        "s010": "duration: 6\ngenerator: {kind: glow, halo: photos/none.png, rise: 9}\n"}, FILM)
    with pytest.raises(ValidationFailed) as caught:
        load_film(broken, kinds=kinds)
    found = {problem.field: problem for problem in caught.value.problems}
    assert set(found) == {"generator.halo", "generator.rise"}
    assert found["generator.halo"].value == "photos/none.png" and found["generator.halo"].line == 2
    assert found["generator.rise"].value == 9 and found["generator.rise"].fix == "make rise shorter than the shot"
    with pytest.raises(ValidationFailed) as caught:
        load_film(write_tiny_project(tmp_path / "morph", {"s010": SOURCE + "duration: 6\ngenerator: {kind: morph}\n"},
                                     FILM), kinds=kinds)
    assert "one of: glow" in caught.value.problems[0].fix


def test_every_installed_kind_has_a_settings_model_and_capabilities_not_names_decide():
    kinds = installed_kinds()
    assert {"still", "kenburns", "morph", "credits"} <= set(kinds.names("generator"))
    assert {"svd", "wan-i2v", "wan-flf2v", "ltx", "cogvideox", "keyframe"} <= set(kinds.names("final"))
    assert all(issubclass(model, KindSettings) for model in kinds.settings.values())
    assert [kind for kind in kinds.settings if derives_from_takes(kind)] == ["credits"]
    assert sorted(kind for kind, model in kinds.settings.items() if not model.photograph) == [
        "credits", "latent-walk", "walk"]  # the end credits, and walks made from prompts alone
